"""The trainer: recipes, metrics, checkpoints, and resume == uninterrupted run (bit for bit on CPU)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import nas.train.trainer as training
from nas.train.data import DataSource, load_data
from nas.train.data.memory import InMemoryDataset
from nas.train.schedule import cyclic_lr
from nas.train.trainer import (
    CHECKPOINT_NAME,
    RECIPES,
    Trainer,
    TrainingDivergedError,
    get_recipe,
    load_checkpoint,
    topk_correct,
    train,
)
from search_spaces import EESPConfig, build
from search_spaces.errors import EspnasError
from tests.nas.datafiles import write_cifar, write_folder

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = EESPConfig(channels=(16, 32, 64, 128, 256), depths=(0, 1, 1, 1), head_channels=64, num_classes=10)


def small_digits(n_train: int = 192, n_val: int = 64) -> DataSource:
    """A slice of the digits: enough to train a few steps per epoch in well under a second."""
    full = load_data("digits", 32)
    common = {"image_size": 32, "mean": full.train.mean, "std": full.train.std}
    train_ds = InMemoryDataset(
        full.train.images[:n_train], full.train.labels[:n_train], augment=True, flip=False, **common
    )
    val_ds = InMemoryDataset(full.val.images[:n_val], full.val.labels[:n_val], **common)
    return DataSource("digits-small", train_ds, val_ds, 10, full.class_names, 32)


class KilledError(Exception):
    """Stands in for the process being killed."""


@dataclasses.dataclass(frozen=True)
class DyingSource(DataSource):
    """A data source whose training loader dies after `die_after` batches of epoch `die_epoch`."""

    die_epoch: int = -1
    die_after: int = 0

    def loader(self, split, batch_size, *, seed=0, epoch=0, workers=None):
        inner = super().loader(split, batch_size, seed=seed, epoch=epoch, workers=workers)
        if split != "train" or epoch != self.die_epoch:
            return inner

        return DyingLoader(inner, self.die_after)


class DyingLoader:
    def __init__(self, inner, die_after):
        self.inner, self.die_after = inner, die_after

    def __len__(self):
        return len(self.inner)

    def __iter__(self):
        for i, batch in enumerate(self.inner):
            if i == self.die_after:
                raise KilledError
            yield batch


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def comparable(history):
    timing = {"seconds", "train_seconds", "images_per_s"}
    return [{k: v for k, v in h.items() if k not in timing} for h in history]


def test_resume_after_a_kill_mid_epoch_equals_an_uninterrupted_run(tmp_path):
    data = small_digits()
    kwargs = {"recipe": "short", "epochs": 3, "batch_size": 32, "seed": 5, "progress": False}
    whole = train(TINY, data, out_dir=tmp_path / "whole", **kwargs)

    dying = DyingSource(**{f.name: getattr(data, f.name) for f in dataclasses.fields(data)}, die_epoch=1, die_after=2)
    with pytest.raises(KilledError):
        train(TINY, dying, out_dir=tmp_path / "killed", **kwargs)
    assert load_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME)["epoch"] == 1  # the last complete epoch
    resumed = train(TINY, data, out_dir=tmp_path / "killed", resume=True, **kwargs)

    a, b = weights(whole.model), weights(resumed.model)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert comparable(resumed.history) == comparable(whole.history)
    assert resumed.final_top1 == whole.final_top1


def test_a_kill_while_writing_the_checkpoint_leaves_the_previous_one(tmp_path, monkeypatch):
    data = small_digits(96, 32)
    kwargs = {"epochs": 2, "batch_size": 32, "seed": 1, "progress": False}
    whole = train(TINY, data, out_dir=tmp_path / "whole", **kwargs)

    real_save = torch.save
    calls = {"n": 0}

    def save_then_die(obj, fh):
        calls["n"] += 1
        if calls["n"] == 3:  # initial checkpoint, epoch 1, then die half-way through epoch 2's
            fh.write(b"partial bytes")
            raise KilledError
        real_save(obj, fh)

    monkeypatch.setattr(training.torch, "save", save_then_die)
    with pytest.raises(KilledError):
        train(TINY, data, out_dir=tmp_path / "run", **kwargs)
    monkeypatch.setattr(training.torch, "save", real_save)
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")] == []
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)["epoch"] == 1
    resumed = train(TINY, data, out_dir=tmp_path / "run", resume=True, **kwargs)
    for key, value in weights(whole.model).items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_result_history_and_checkpoint_contents(tmp_path):
    data = small_digits(96, 40)
    result = train(TINY, data, epochs=2, batch_size=32, out_dir=tmp_path, progress=False)
    assert not result.model.training
    assert len(result.history) == 2
    keys = {"epoch", "train_loss", "train_acc", "val_top1", "val_top5", "val_loss", "lr", "seconds", "images_per_s"}
    assert keys <= result.history[-1].keys()
    assert result.final_top1 == result.history[-1]["val_top1"]
    assert 0.0 <= result.final_top1 <= result.final_top5 <= 1.0
    assert result.history[0]["images"] == 96  # 3 full batches of 32
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["epoch"] == 2 and ckpt["config"] == result.config.to_json()
    assert {"model", "optimizer", "schedule", "rng", "settings", "history"} <= ckpt.keys()
    assert EESPConfig.from_json((tmp_path / "config.json").read_text()) == result.config
    assert len(json.loads((tmp_path / "history.json").read_text())) == 2
    # Resuming a finished run trains nothing and returns the same numbers.
    again = train(TINY, data, out_dir=tmp_path, resume=True, progress=False)
    assert again.history == result.history


def test_config_is_adapted_to_the_data():
    data = small_digits(64, 16)
    cfg = TINY.replace(num_classes=1000, input_size=(224, 224))
    result = train(cfg, data, epochs=1, batch_size=32, progress=False)
    assert result.config.num_classes == 10 and result.config.input_size == (32, 32)
    assert result.model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_resume_errors_are_one_line(tmp_path):
    data = small_digits(64, 16)
    with pytest.raises(EspnasError, match="no checkpoint at") as err:
        train(TINY, data, out_dir=tmp_path, resume=True, progress=False)
    assert "\n" not in str(err.value)
    train(TINY, data, epochs=1, batch_size=32, out_dir=tmp_path, progress=False)
    with pytest.raises(EspnasError, match="is for config") as err:
        train(TINY.replace(head_channels=128), data, out_dir=tmp_path, resume=True, progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(EspnasError, match="seed=0, not 3"):
        train(TINY, data, out_dir=tmp_path, resume=True, seed=3, progress=False)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"junk")
    with pytest.raises(EspnasError, match="not a readable espnas checkpoint"):
        train(TINY, data, out_dir=tmp_path, resume=True, progress=False)


def test_paper_recipe_uses_eq1_per_epoch_and_nesterov_sgd():
    paper = get_recipe("paper")
    assert (paper.optimizer, paper.weight_decay, paper.batch_size, paper.epochs) == ("sgd", 4e-5, 512, 300)
    data = small_digits(64, 16)
    torch.manual_seed(0)
    trainer = Trainer(build(TINY), data, paper, epochs=300, batch_size=32)
    opt = trainer.optimizer
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    seen = []
    real_step = opt.step

    def spy(*args, **kwargs):
        seen.append(opt.param_groups[0]["lr"])
        return real_step(*args, **kwargs)

    opt.step = spy
    for _ in range(2):
        trainer.run_epoch()
    assert seen == [cyclic_lr(0)] * 2 + [cyclic_lr(1)] * 2 == [0.1, 0.1, 0.5, 0.5]


def test_gradient_clipping_bounds_the_norm():
    data = small_digits(64, 16)
    recipe = RECIPES["short"].replace(grad_clip=1e-3)
    torch.manual_seed(0)
    trainer = Trainer(build(TINY), data, recipe, epochs=1, batch_size=32)
    norms = []
    real_step = trainer.optimizer.step

    def spy(*args, **kwargs):
        grads = [p.grad.norm() for p in trainer.model.parameters() if p.grad is not None]
        norms.append(torch.stack(grads).norm().item())
        return real_step(*args, **kwargs)

    trainer.optimizer.step = spy
    trainer.run_epoch()
    assert norms and max(norms) <= 1e-3 * 1.001


@dataclasses.dataclass(frozen=True)
class RecordingSource(DataSource):
    """A data source that keeps the labels of every training batch it hands out, in order."""

    labels_seen: list = dataclasses.field(default_factory=list)

    def loader(self, split, batch_size, *, seed=0, epoch=0, workers=None):
        inner = super().loader(split, batch_size, seed=seed, epoch=epoch, workers=workers)
        if split != "train":
            return inner
        batches = list(inner)
        self.labels_seen.extend(y.clone() for _, y in batches)
        return batches


def _smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """By hand: the target is 1 - eps on the label plus eps spread evenly over all classes."""
    logp = logits.log_softmax(dim=1)
    nll = -logp[torch.arange(len(labels)), labels]
    return ((1 - eps) * nll - eps * logp.mean(dim=1)).mean()


def test_adam_recipe_and_label_smoothing_train(monkeypatch):
    # The training loss the trainer reports is the smoothed cross-entropy of the logits it saw: recomputed by
    # hand from the logits (a forward hook) and the labels (the loader), and far from the plain one.
    small = small_digits(64, 16)
    data = RecordingSource(small.name, small.train, small.val, small.num_classes, small.class_names, small.image_size)
    logits: list[torch.Tensor] = []

    def sharpened(module, args, out):
        # The classifier starts at std 0.001: nearly uniform logits, where smoothing changes the loss by nothing;
        # scaled up, the smoothed and the plain cross-entropy differ clearly.
        out = 300 * out
        if module.training:
            logits.append(out.detach().clone())
        return out

    def build_with_hook(config):
        model = build(config)
        model.register_forward_hook(sharpened)
        return model

    monkeypatch.setattr(training, "build", build_with_hook)
    eps = 0.3
    result = train(TINY, data, recipe="adam", epochs=1, batch_size=32, label_smoothing=eps, progress=False)
    assert result.settings["recipe"]["optimizer"] == "adam"
    assert len(logits) == len(data.labels_seen) == 2  # 64 images, batches of 32
    z, y = torch.cat(logits), torch.cat(data.labels_seen)
    reported = result.history[0]["train_loss"]
    assert reported == pytest.approx(_smoothed_cross_entropy(z, y, eps).item(), rel=1e-5)
    assert abs(reported - _smoothed_cross_entropy(z, y, 0.0).item()) > 0.05


def test_nan_loss_raises_diverged():
    data = small_digits(64, 16)
    bad = dataclasses.replace(
        data,
        train=InMemoryDataset(
            torch.full((64, 1, 8, 8), float("nan")), data.train.labels[:64], image_size=32, mean=(0.0,), std=(1.0,)
        ),
    )
    torch.manual_seed(0)
    with pytest.raises(TrainingDivergedError, match="nan"):
        Trainer(build(TINY), bad, get_recipe("short"), epochs=1, batch_size=32).run_epoch()


def test_unknown_recipe_and_device():
    with pytest.raises(EspnasError, match="unknown recipe 'fast'; valid: paper, short, adam"):
        get_recipe("fast")
    with pytest.raises(EspnasError, match="device"):
        train(TINY, small_digits(32, 8), epochs=1, device="tpu", progress=False)


def test_topk_correct_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 1, 0])  # ranks 1, 2 and 3
    top1, top5 = topk_correct(logits, labels)
    assert (top1.item(), top5.item()) == (1, 3)  # only 3 classes: top-5 is everything
    top1, top2 = topk_correct(logits, labels, ks=(1, 2))
    assert (top1.item(), top2.item()) == (1, 2)


def _conv_output_dtypes(trainer: Trainer) -> dict[str, set[torch.dtype]]:
    """Runs one training step, BN recalibration and validation; the dtype the first conv gave out in each."""
    seen: dict[str, set[torch.dtype]] = {}
    phase = ["train"]
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda m, a, out: seen.setdefault(phase[0], set()).add(out.dtype))
    trainer.train_epoch(0)
    phase[0] = "recalibrate"
    trainer.recalibrate_bn(0, batches=1)
    phase[0] = "evaluate"
    trainer.evaluate()
    return seen


@pytest.mark.parametrize("amp", [True, False])
def test_the_amp_setting_decides_the_forwards_precision(amp):
    # AMP is on only on CUDA, so on CPU the setting is turned on by hand: the trainer's own autocast then
    # runs every forward (training, BN recalibration, validation) in float16, and in float32 when off.
    torch.manual_seed(0)
    trainer = Trainer(build(TINY), small_digits(32, 16), get_recipe("short"), epochs=1, batch_size=16, max_steps=1)
    assert trainer.amp is False  # the default on CPU
    trainer.amp = amp
    want = torch.float16 if amp else torch.float32
    assert _conv_output_dtypes(trainer) == {"train": {want}, "recalibrate": {want}, "evaluate": {want}}
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # the weights stay fp32


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_training_on_gpu():
    torch.manual_seed(0)
    trainer = Trainer(build(TINY), small_digits(), get_recipe("short"), epochs=1, batch_size=32, device="cuda")
    assert trainer.amp and trainer.scaler.is_enabled()  # on by default on CUDA, with its gradient scaler
    seen = _conv_output_dtypes(trainer)
    assert seen == {"train": {torch.float16}, "recalibrate": {torch.float16}, "evaluate": {torch.float16}}
    assert all(p.is_cuda and p.dtype == torch.float32 for p in trainer.model.parameters())
    assert trainer.steps_done == len(trainer.data.loader("train", 32)) and trainer.scaler.get_scale() > 0


def test_paper_crop_scale_follows_the_80m_flop_rule():
    assert training.paper_crop_scale(EESPConfig.from_scale(0.5)) == (0.2, 1.0)  # 28M
    assert training.paper_crop_scale(EESPConfig.from_scale(1.0)) == (0.08, 1.0)  # 86M


def test_trains_on_an_image_folder_and_on_cifar(tmp_path):
    write_folder(tmp_path / "folder", {"a": 8, "b": 8})
    folder = load_data(tmp_path / "folder", 32, workers=0)
    result = train(TINY, folder, epochs=1, batch_size=4, progress=False)
    assert result.config.num_classes == 2 and len(result.history) == 1
    write_cifar(tmp_path / "cifar", per_batch=8)
    cifar = load_data(tmp_path / "cifar", 32)
    result = train(TINY, cifar, epochs=1, batch_size=8, progress=False)
    assert result.config.num_classes == 10 and result.history[0]["images"] == 40


def test_recalibrate_bn_averages_batch_statistics_exactly():
    data = small_digits(128, 16)
    torch.manual_seed(0)
    trainer = Trainer(build(TINY), data, get_recipe("short"), epochs=1, batch_size=32)
    norms = [m for m in trainer.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    first = norms[0]
    inputs = []
    handle = first.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    trainer.recalibrate_bn(epoch=0, batches=3)
    handle.remove()
    assert len(inputs) == 3
    expected = torch.stack([x.mean(dim=(0, 2, 3)) for x in inputs]).mean(0)
    assert torch.allclose(first.running_mean, expected, atol=1e-5)
    assert all(m.momentum == 0.1 for m in norms)  # restored

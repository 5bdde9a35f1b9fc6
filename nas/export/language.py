"""Export of an ERU (or LSTM) language model: trained, written as safetensors, ONNX and TorchScript, each verified.

The directory holds config.json (the ERU/LSTM config), model.safetensors (the state dict; a tied decoder's
weight is the embedding's and is stored once, under `embedding.weight`), training.json, verification.json and
manifest.json (kind "language") with every file's sha256 and size, and manifest.sha256. `nas.load(dir)` checks
them and rebuilds the model from config.json and the weights (nothing is unpickled).

ONNX and TorchScript hold the one-token step, the form a generating deployment runs: inputs `tokens`
(batch x 1, int64) and the recurrent state (per layer h, c, and for the ERU the convolution's last 2*max(d)
reduced frames), outputs the logits and the new state. Both are checked by feeding the same 12 tokens one at a
time through the file and through the eager model from the zero state (batches 1 and 3; max |out - ref| /
max |ref| within `rtol`). The recurrence over a whole sequence is a Python loop in eager mode; the exporters
see one step of it, which is why the files are steps and not sequence models.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.export.formats import FORMATS, FormatCheck, max_rel_error, parse_formats, quiet_torch, write_onnx
from nas.export.layout import (
    CONFIG_FILE,
    LM_WEIGHTS_FORMAT,
    ONNX_FILE,
    TORCHSCRIPT_FILE,
    TRAINING_FILE,
    VERIFICATION_FILE,
    WEIGHTS_FILE,
    ExportError,
    check_target,
    move_into_place,
    write_json,
    write_manifest,
)
from nas.export.loading import load_language
from results.files import atomic_path, write_text_atomic
from results.timestamps import now_iso

CHECK_TOKENS = 12
CHECK_BATCHES = (1, 3)
DEFAULT_RTOL = 1e-4


@dataclass
class LanguageExport:
    """What `export_language` wrote and checked."""

    path: Path
    config: Any
    checks: list[FormatCheck]
    training: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        checks = ", ".join(f"{c.format} {c.max_rel_error:.1e}" for c in self.checks)
        ppl = self.training.get("val_ppl")
        quality = "untrained" if ppl is None else f"val perplexity {ppl:.2f}"
        lines = [f"exported {self.config.arch_id} to {self.path}: {quality}; checked against eager: {checks}"]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"load it with: nas.load({str(self.path)!r})")
        return "\n".join(lines)


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"export: {message}", file=sys.stderr, flush=True)


class LanguageStep:
    """Builds the one-token step module of a language model (kept out of module scope: torch loads late)."""

    @staticmethod
    def make(model: Any) -> Any:
        from torch import nn

        class Step(nn.Module):
            def __init__(self, lm: nn.Module) -> None:
                super().__init__()
                self.lm = lm
                self.sizes = [len(s) for s in lm.init_state(1)]

            def forward(self, tokens, *flat):  # type: ignore[no-untyped-def]
                state, i = [], 0
                for n in self.sizes:
                    state.append(tuple(flat[i : i + n]))
                    i += n
                logits, new = self.lm(tokens, state)
                return (logits, *[t for s in new for t in s])

        return Step(model).eval()


def _flat(state: Sequence[Sequence[Any]]) -> list[Any]:
    return [t for s in state for t in s]


def _state_names(model: Any) -> list[str]:
    names = []
    for i, s in enumerate(model.init_state(1)):
        names += [f"{part}{i}" for part in ("h", "c", "past")[: len(s)]]
    return names


def _check_tokens(vocab: int, batch: int, seed: int) -> Any:
    import torch

    return torch.randint(0, vocab, (batch, CHECK_TOKENS), generator=torch.Generator().manual_seed(seed + batch))


def _run_steps(run_step: Any, model: Any, tokens: Any) -> Any:
    """Feed `tokens` one at a time through `run_step(tokens_t, flat_state) -> (logits, flat_state)`."""
    import torch

    flat = [t.clone() for t in _flat(model.init_state(tokens.shape[0]))]
    outs = []
    for t in range(tokens.shape[1]):
        logits, flat = run_step(tokens[:, t : t + 1], flat)
        outs.append(torch.as_tensor(logits))
    return torch.cat(outs, 1)


def save_language_weights(path: Path, model: Any, config: Any) -> None:
    from safetensors.torch import save_file

    tensors = {
        name: t.detach().cpu().contiguous().clone()
        for name, t in model.state_dict().items()
        if not (config.tie_weights and name == "decoder.weight")
    }
    metadata = {"format": LM_WEIGHTS_FORMAT, "arch_id": config.arch_id, "config": config.to_json()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _eager_reference(model: Any, seed: int) -> dict[int, Any]:
    import torch

    with torch.no_grad():
        return {b: model(_check_tokens(model.config.vocab_size, b, seed))[0] for b in CHECK_BATCHES}


def _check(name: str, file: str, runtime: str, outputs: dict[int, Any], reference: dict[int, Any], rtol: float):
    return FormatCheck(
        name,
        file,
        max_rel_error([outputs[b] for b in CHECK_BATCHES], [reference[b] for b in CHECK_BATCHES]),
        rtol,
        CHECK_BATCHES,
        runtime,
    )


def export_onnx_step(path: Path, model: Any, reference: dict[int, Any], seed: int, rtol: float) -> FormatCheck:
    """model.onnx: the one-token step with a dynamic batch, run by onnxruntime token by token."""
    import onnxruntime
    import torch

    step = LanguageStep.make(model)
    example_state = _flat(model.init_state(2))
    example = (torch.zeros((2, 1), dtype=torch.long), *example_state)
    names = _state_names(model)
    batch = torch.export.Dim("batch", min=1, max=4096)
    # The state arrives as *flat (one tuple argument to torch.export); torch.nn.LSTM keeps it as (1, B, H).
    dims = [{1: batch} if t.dim() == 3 and t.shape[0] == 1 else {0: batch} for t in example_state]
    dynamic = ({0: batch}, tuple(dims))
    outputs = ["logits", *[f"{n}_out" for n in names]]
    write_onnx(step, example, path, input_names=["tokens", *names], output_names=outputs, dynamic_shapes=dynamic)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]

    def run(tokens: Any, flat: list[Any]) -> tuple[Any, list[Any]]:
        feed = dict(zip(inputs, [tokens.numpy(), *[t.numpy() for t in flat]], strict=True))
        out = session.run(None, feed)
        return torch.from_numpy(out[0]), [torch.from_numpy(o) for o in out[1:]]

    outputs = {b: _run_steps(run, model, _check_tokens(model.config.vocab_size, b, seed)) for b in CHECK_BATCHES}
    return _check("onnx", ONNX_FILE, f"onnxruntime {onnxruntime.__version__}", outputs, reference, rtol)


def export_torchscript_step(path: Path, model: Any, reference: dict[int, Any], seed: int, rtol: float) -> FormatCheck:
    """model.torchscript.pt: the one-token step traced, saved, loaded back and run token by token."""
    import torch

    step = LanguageStep.make(model)
    example = (torch.zeros((2, 1), dtype=torch.long), *_flat(model.init_state(2)))
    with quiet_torch(), torch.no_grad():
        traced = torch.jit.trace(step, example, check_trace=False)
        with atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp))
        loaded = torch.jit.load(str(path), map_location="cpu").eval()

        def run(tokens: Any, flat: list[Any]) -> tuple[Any, list[Any]]:
            out = loaded(tokens, *flat)
            return out[0], list(out[1:])

        outputs = {b: _run_steps(run, model, _check_tokens(model.config.vocab_size, b, seed)) for b in CHECK_BATCHES}
    return _check("torchscript", TORCHSCRIPT_FILE, "torch.jit.load", outputs, reference, rtol)


def export_language(
    config: Any,
    *,
    data: Any = "pydoc",
    epochs: int = 1,
    formats: Sequence[str] | str = FORMATS,
    out: str | Path | None = None,
    overwrite: bool = False,
    train: bool = True,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    search: dict[str, Any] | None = None,
    progress: bool = True,
    settings: Any = None,
) -> LanguageExport:
    """Train an ERU/LSTM config (or spec) on a corpus and write a verified export directory.

    The config takes the corpus's vocabulary. `settings` (an `LMSettings`) overrides the training policy;
    `epochs` sets its epochs. Nothing is written half-way: the directory is assembled under a temporary name
    and moved into place once every check has passed.
    """
    import torch

    from nas.train.data.text import Corpus, load_corpus
    from nas.train.language import LMSettings, adapt_language_config, train_language
    from profilers.language_counting import count_language, resolve_model
    from search_spaces.eru import build_language_model

    wanted = parse_formats(formats)
    cfg = resolve_model(config)
    target = Path(out) if out is not None else Path("exports") / f"{cfg.KIND}-{cfg.arch_id}"
    check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    corpus = data if isinstance(data, Corpus) else load_corpus(data)
    if train:
        base = settings or LMSettings()
        policy = LMSettings(**{**base.to_dict(), "epochs": epochs, "seed": seed})
        _say(progress, f"training {cfg.arch_id} on {corpus.name} for {epochs} epoch(s)")
        result = train_language(cfg, corpus, policy, progress=progress)
        model, trained = result.model, result.config
        training = {
            "trained": True,
            "corpus": corpus.summary(),
            "settings": policy.to_dict(),
            "history": result.history,
            "val_ppl": result.val_ppl,
            "test_ppl": result.test_ppl,
            "policy": "AWD-LSTM: SGD lr 30, clip 0.25, variable BPTT, NT-ASGD; standard dropout",
        }
    else:
        trained = adapt_language_config(cfg, corpus)
        torch.manual_seed(seed)
        model = build_language_model(trained)
        training = {"trained": False, "seed": seed, "reason": "train=False: the weights are the initialisation"}
    if trained != cfg:
        notes.append(
            f"the vocabulary follows the corpus ({cfg.vocab_size} -> {trained.vocab_size} words): "
            f"arch {cfg.arch_id} -> {trained.arch_id}"
        )
    cfg = trained
    model = model.cpu().eval()
    reference = _eager_reference(model, seed)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    created = now_iso()
    try:
        save_language_weights(tmp / WEIGHTS_FILE, model, cfg)
        write_text_atomic(tmp / CONFIG_FILE, cfg.to_json(indent=2) + "\n")
        write_json(tmp / TRAINING_FILE, training)
        loaded = load_language(tmp)
        with torch.no_grad():
            outputs = {b: loaded(_check_tokens(cfg.vocab_size, b, seed))[0] for b in CHECK_BATCHES}
        checks = [_check("safetensors", WEIGHTS_FILE, "load_language", outputs, reference, rtol)]
        if "onnx" in wanted:
            _say(progress, "exporting and checking ONNX (one-token step, dynamic batch)")
            try:
                checks.append(export_onnx_step(tmp / ONNX_FILE, model, reference, seed, rtol))
            except ExportError:
                raise
            except Exception as err:  # the exporter refuses this model: say so, keep the other formats
                notes.append(f"ONNX export failed ({type(err).__name__}: {str(err).splitlines()[0][:160]})")
        if "torchscript" in wanted:
            _say(progress, "exporting and checking TorchScript (one-token step)")
            checks.append(export_torchscript_step(tmp / TORCHSCRIPT_FILE, model, reference, seed, rtol))
        failed = [c for c in checks if not c.passed]
        if failed:
            worst = failed[0]
            raise ExportError(
                f"{worst.format} output differs from the eager model: max relative error {worst.max_rel_error:.3g} "
                f"> bound {worst.bound:.0e}; nothing was exported"
            )
        counts = count_language(cfg)
        write_json(
            tmp / VERIFICATION_FILE,
            {
                "created": created,
                "check": f"{CHECK_TOKENS} tokens fed one at a time from the zero state, batches {list(CHECK_BATCHES)}",
                "checks": [c.to_dict() for c in checks],
                "notes": notes,
            },
        )
        write_manifest(
            tmp, cfg, (1, 1), created, kind="language", config=json.loads(cfg.to_json()), params=counts.params,
            macs_per_token=counts.macs, search=search,
        )  # fmt: skip
        move_into_place(tmp, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _say(progress, f"wrote {target}")
    return LanguageExport(target, cfg, checks, training, notes)

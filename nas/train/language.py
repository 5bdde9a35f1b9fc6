"""Training word-level language models (ERU, LSTM) with AWD-LSTM's learning policy, as the paper says it does.

The policy (Merity et al., 2018, "Regularizing and optimizing LSTM language models"):
- SGD at lr 30 with the global gradient norm clipped to 0.25, weight decay 1.2e-6, batch 20 for the PTB;
- variable-length truncated BPTT: each segment is bptt (70) tokens with probability 0.95, else bptt / 2, then
  drawn from N(that, 5) and at least 5 tokens; the learning rate is scaled by segment / bptt for that step;
- NT-ASGD: when the validation loss of an epoch is worse than the best of all but the last `nonmono` (5) epochs,
  switch to averaged SGD (torch.optim.ASGD, t0 = 0, lambda = 0) and evaluate with the averaged weights.
Regularisation is the paper's for its ERU rows: standard dropout (the config's, 0.5) after the embedding,
between layers and after the last, and nothing of AWD-LSTM's DropConnect, variational or embedding dropout.

Perplexity is exp(mean cross-entropy per token) over a split fed in order, the state carried across segments.
Every epoch ends with an atomic checkpoint (weights, optimiser and which one, best weights, history); the
dropout and segment lengths of epoch e are seeded from (seed, e), so a resumed run ends where an uninterrupted
one of the same seed ends.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.train.data import epoch_seed
from nas.train.data.text import Corpus, load_corpus
from profilers.language_counting import count_language, resolve_model
from results.files import atomic_path
from search_spaces.errors import EspnasError
from search_spaces.eru import build_language_model, detach_state
from search_spaces.eru_config import LanguageConfig

LM_CHECKPOINT_NAME = "checkpoint-lm.pt"
LM_CHECKPOINT_FORMAT = "espnas-lm-checkpoint-1"


@dataclass(frozen=True)
class LMSettings:
    """AWD-LSTM's policy; `epochs` and the batch sizes are what a run usually changes."""

    epochs: int = 10
    batch_size: int = 20
    eval_batch_size: int = 10
    test_batch_size: int = 1
    bptt: int = 70
    lr: float = 30.0
    clip: float = 0.25
    weight_decay: float = 1.2e-6
    nonmono: int = 5
    seed: int = 0
    max_batches: int | None = None  # per epoch: a budget for quick runs and the search's proxy

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "test_batch_size", "bptt", "nonmono"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EspnasError(f"{name}={value!r} is invalid; valid: a positive integer")
        for name in ("lr", "clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise EspnasError(f"{name}={value!r} is invalid; valid: a positive number")
        if self.max_batches is not None and self.max_batches < 1:
            raise EspnasError(f"max_batches={self.max_batches!r} is invalid; valid: a positive integer or none")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class LMResult:
    """A trained language model (best validation weights, eval mode) and how it got there."""

    model: nn.Module
    config: LanguageConfig
    corpus: str
    history: list[dict[str, Any]]
    val_ppl: float
    test_ppl: float | None
    seconds: float
    checkpoint: Path | None = None
    params: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def batchify(tokens: np.ndarray, batch: int, device: torch.device) -> torch.Tensor:
    """(batch, N // batch) streams: row b is the b-th contiguous stretch of the split (the PTB convention)."""
    n = len(tokens) // batch
    if n < 2:
        raise EspnasError(
            f"a split of {len(tokens)} tokens is too short for batch size {batch}; valid: at least 2 tokens per row"
        )
    return torch.as_tensor(tokens[: n * batch]).view(batch, n).to(device)


def segment_lengths(bptt: int, total: int, rng: np.random.Generator) -> list[int]:
    """AWD-LSTM's variable BPTT lengths covering `total` - 1 predictions of a stream."""
    lengths = []
    i = 0
    while i < total - 1:
        base = bptt if rng.random() < 0.95 else bptt / 2
        seq = max(5, int(rng.normal(base, 5)))
        seq = min(seq, total - 1 - i)
        lengths.append(seq)
        i += seq
    return lengths


def adapt_language_config(config: LanguageConfig, corpus: Corpus) -> LanguageConfig:
    """The config at the corpus's vocabulary size (a preset is at the PTB's 10,000 words)."""
    return config if config.vocab_size == corpus.vocab_size else config.replace(vocab_size=corpus.vocab_size)


class LMTrainer:
    """Trains one language model on one corpus; `run_epoch` is one epoch plus validation and the NT-ASGD check."""

    def __init__(self, model: nn.Module, corpus: Corpus, settings: LMSettings, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.corpus = corpus
        self.settings = settings
        self.optimizer_kind = "sgd"
        self.optimizer: torch.optim.Optimizer = self._make_optimizer()
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.val_losses: list[float] = []
        self.best_val = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None

    def _make_optimizer(self) -> torch.optim.Optimizer:
        s = self.settings
        params = list(self.model.parameters())
        if self.optimizer_kind == "asgd":
            return torch.optim.ASGD(params, lr=s.lr, t0=0, lambd=0.0, weight_decay=s.weight_decay)
        return torch.optim.SGD(params, lr=s.lr, weight_decay=s.weight_decay)

    # ----- training and evaluation -------------------------------------------------------------------------

    def train_epoch(self, epoch: int, on_batch: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
        s = self.settings
        torch.manual_seed(epoch_seed(s.seed, epoch, 1))  # dropout
        rng = np.random.default_rng(epoch_seed(s.seed, epoch, 2))  # segment lengths
        data = batchify(self.corpus.train, s.batch_size, self.device)
        lengths = segment_lengths(s.bptt, data.shape[1], rng)
        if s.max_batches is not None:
            lengths = lengths[: s.max_batches]
        self.model.train()
        state = self.model.init_state(s.batch_size)
        vocab = self.model.config.vocab_size
        total_loss, total_tokens, i = 0.0, 0, 0
        t0 = time.perf_counter()
        for step, seq in enumerate(lengths):
            x, y = data[:, i : i + seq], data[:, i + 1 : i + 1 + seq]
            i += seq
            for group in self.optimizer.param_groups:
                group["lr"] = s.lr * seq / s.bptt
            state = detach_state(state)
            logits, state = self.model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            if not torch.isfinite(loss):
                raise EspnasError(
                    f"training diverged at epoch {epoch} step {step} (loss {loss.item()}); valid: a lower lr than "
                    f"{s.lr} or a tighter clip than {s.clip}"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), s.clip)
            self.optimizer.step()
            total_loss += loss.item() * y.numel()
            total_tokens += y.numel()
            if on_batch:
                on_batch(step + 1, len(lengths), math.exp(total_loss / total_tokens))
        for group in self.optimizer.param_groups:
            group["lr"] = s.lr
        seconds = time.perf_counter() - t0
        return {
            "train_loss": total_loss / max(1, total_tokens),
            "train_ppl": math.exp(total_loss / max(1, total_tokens)),
            "train_tokens": total_tokens,
            "train_seconds": seconds,
            "tokens_per_s": total_tokens / seconds if seconds > 0 else float("inf"),
        }

    @torch.no_grad()
    def evaluate(self, split: str, batch_size: int | None = None, max_tokens: int | None = None) -> float:
        """Mean cross-entropy per token of `split` (the averaged weights once ASGD runs)."""
        tokens = self.corpus.split(split)
        if max_tokens is not None:
            tokens = tokens[:max_tokens]
        with self._averaged_weights():
            return evaluate_loss(self.model, tokens, batch_size or self.settings.eval_batch_size, self.settings.bptt)

    def _averaged_weights(self):
        import contextlib

        @contextlib.contextmanager
        def swap():
            if self.optimizer_kind != "asgd":
                yield
                return
            saved = []
            for p in self.model.parameters():
                ax = self.optimizer.state.get(p, {}).get("ax")
                if ax is not None:
                    saved.append((p, p.data.clone()))
                    p.data.copy_(ax)
            try:
                yield
            finally:
                for p, data in saved:
                    p.data.copy_(data)

        return swap()

    def run_epoch(self, on_batch: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
        epoch = self.epoch
        record: dict[str, Any] = {"epoch": epoch + 1, "optimizer": self.optimizer_kind}
        record |= self.train_epoch(epoch, on_batch)
        val_loss = self.evaluate("valid")
        record["val_loss"] = val_loss
        record["val_ppl"] = math.exp(val_loss)
        if val_loss < self.best_val:
            self.best_val = val_loss
            with self._averaged_weights():
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        nonmono = self.settings.nonmono
        if (
            self.optimizer_kind == "sgd"
            and len(self.val_losses) > nonmono
            and val_loss > min(self.val_losses[:-nonmono])
        ):
            self.optimizer_kind = "asgd"  # NT-ASGD: validation has stalled
            self.optimizer = self._make_optimizer()
            record["switched_to_asgd"] = True
        self.val_losses.append(val_loss)
        self.epoch += 1
        self.history.append(record)
        return record

    # ----- checkpoints --------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer_kind": self.optimizer_kind,
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "history": self.history,
            "val_losses": self.val_losses,
            "best_val": self.best_val,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer_kind = state["optimizer_kind"]
        self.optimizer = self._make_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        self.val_losses = list(state["val_losses"])
        self.best_val = float(state["best_val"])
        self.best_state = state["best_state"]


@torch.no_grad()
def evaluate_loss(model: nn.Module, tokens: np.ndarray, batch_size: int, bptt: int) -> float:
    """Mean cross-entropy per token of a token stream fed in order in `batch_size` rows."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    data = batchify(tokens, batch_size, device)
    state = model.init_state(batch_size)
    vocab = model.config.vocab_size
    total, count = 0.0, 0
    for i in range(0, data.shape[1] - 1, bptt):
        seq = min(bptt, data.shape[1] - 1 - i)
        logits, state = model(data[:, i : i + seq], state)
        target = data[:, i + 1 : i + 1 + seq]
        total += F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1), reduction="sum").item()
        count += target.numel()
    model.train(was_training)
    return total / count


def _save(path: Path, trainer: LMTrainer, config: LanguageConfig, corpus: str, settings: LMSettings) -> None:
    payload = {
        "format": LM_CHECKPOINT_FORMAT,
        "config": config.to_json(),
        "corpus": corpus,
        "settings": settings.to_dict(),
        **trainer.state_dict(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)


def _load(path: Path, config: LanguageConfig, corpus: str, settings: LMSettings) -> dict[str, Any]:
    if not path.is_file():
        raise EspnasError(f"no checkpoint at {path} to resume from; run without --resume to start")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise EspnasError(f"{path} is not a readable espnas checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != LM_CHECKPOINT_FORMAT:
        raise EspnasError(f"{path} is not an espnas language-model checkpoint ({LM_CHECKPOINT_FORMAT})")
    if payload["config"] != config.to_json() or payload["corpus"] != corpus:
        raise EspnasError(
            f"checkpoint {path} is for another model or corpus ({payload['corpus']}); resume with the same spec "
            "and --data, or use another --out"
        )
    old = dict(payload["settings"])
    new = settings.to_dict()
    old.pop("epochs", None)
    new.pop("epochs", None)
    if old != new:
        changed = sorted(k for k in new if old.get(k) != new[k])
        raise EspnasError(
            f"checkpoint {path} was written with other settings ({', '.join(changed)}); resume with the same ones"
        )
    return payload


def train_language(
    spec: Any,
    data: Corpus | str = "pydoc",
    settings: LMSettings | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "cpu",
    progress: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    test: bool = True,
) -> LMResult:
    """Train an ERU or LSTM language model (`spec`: a config, preset, `eru:`/`lstm:` string) on a corpus.

    The config takes the corpus's vocabulary size. With `out_dir`, every epoch ends with a checkpoint there and
    `resume=True` continues from it (`settings.epochs` may grow). Returns the best-validation model, its
    validation perplexity and (with `test`) its test perplexity.
    """
    settings = settings or LMSettings()
    corpus = data if isinstance(data, Corpus) else load_corpus(data)
    config = adapt_language_config(resolve_model(spec), corpus)
    torch.manual_seed(settings.seed)
    model = build_language_model(config)
    trainer = LMTrainer(model, corpus, settings, device=device)
    path = Path(out_dir) / LM_CHECKPOINT_NAME if out_dir is not None else None
    if resume:
        if path is None:
            raise EspnasError("resume needs an output directory (--out) holding the checkpoint")
        trainer.load_state_dict(_load(path, config, corpus.name, settings))
    t0 = time.perf_counter()
    bar = None
    while trainer.epoch < settings.epochs:
        on_batch = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(desc=f"epoch {trainer.epoch + 1}/{settings.epochs}", unit="batch", leave=False)

            def on_batch(done: int, total: int, ppl: float, bar=bar) -> None:
                bar.total = total
                bar.update(done - bar.n)
                bar.set_postfix_str(f"train ppl {ppl:.1f}")

        record = trainer.run_epoch(on_batch)
        if bar is not None:
            bar.close()
        if path is not None:
            _save(path, trainer, config, corpus.name, settings)
        if on_epoch:
            on_epoch(record)
    if trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)
    model.eval()
    test_ppl = None
    if test:
        test_ppl = math.exp(evaluate_loss(model, corpus.test, settings.test_batch_size, settings.bptt))
    return LMResult(
        model=model,
        config=config,
        corpus=corpus.name,
        history=trainer.history,
        val_ppl=math.exp(trainer.best_val) if trainer.best_state is not None else math.nan,
        test_ppl=test_ppl,
        seconds=time.perf_counter() - t0,
        checkpoint=path,
        params=count_language(config).params,
    )


#: The search's proxy: this many BPTT segments of 35 tokens per epoch unless the search gives max_steps.
PROXY_BATCHES_PER_EPOCH = 25


@dataclass(frozen=True)
class ProxyPerplexity:
    """The outcome of a proxy training: ok, validation perplexity, the per-epoch curve, why not."""

    ok: bool
    value: float
    curve: tuple[float, ...] = ()
    reason: str | None = None


def proxy_perplexity(
    config: LanguageConfig,
    data: Corpus | str,
    *,
    epochs: int = 1,
    max_steps: int | None = None,
    batch_size: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    report: Callable[[int, float], None] | None = None,
) -> ProxyPerplexity:
    """Short training as the search's quality objective: validation perplexity after `epochs` epochs of
    `max_steps / epochs` (default 25) segments each, with AWD-LSTM's policy at BPTT 35 and batch 20.
    (`batch_size` is the image proxy's and is not used: the policy's batch is.)"""
    per_epoch = max(1, (max_steps // epochs) if max_steps else PROXY_BATCHES_PER_EPOCH)
    settings = LMSettings(epochs=epochs, bptt=35, seed=seed, max_batches=per_epoch)
    curve: list[float] = []

    def on_epoch(record: dict[str, Any]) -> None:
        curve.append(float(record["val_ppl"]))
        if report:
            report(int(record["epoch"]), float(record["val_ppl"]))

    try:
        result = train_language(config, data, settings, device=device, on_epoch=on_epoch, test=False)
    except EspnasError as err:
        return ProxyPerplexity(False, math.nan, tuple(curve), str(err))
    ok = math.isfinite(result.val_ppl)
    return ProxyPerplexity(ok, result.val_ppl, tuple(curve), None if ok else "validation perplexity is not finite")


__all__ = [
    "LMResult",
    "LMSettings",
    "LMTrainer",
    "ProxyPerplexity",
    "batchify",
    "evaluate_loss",
    "proxy_perplexity",
    "segment_lengths",
    "train_language",
]

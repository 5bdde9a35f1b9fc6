"""Export: from a chosen config (or a trial of a stored run) to a trained, verified, deployable model.

`export(...)` trains the config with the trainer (resumable), then writes one directory:

    model.safetensors     trained weights of the eager network (no pickle), the config JSON in its metadata
    config.json           the canonical EESP config (`search_spaces.resolve` reads it); arch_id in manifest.json
    training.json         data, recipe, epochs, final top-1/top-5, the learning curve
    search_metrics.json   the values the search recorded for this config (only when exported from a run)
    fingerprint.json      the environment the model was exported, verified and profiled in
    profile.json          latency (and energy, or why not) measured here, next to the search's values
    verification.json     each format checked against the eager model on random inputs: max relative error
    model.onnx            deploy form (BN folded), dynamic batch; run by onnxruntime for the check
    model.torchscript.pt  deploy form, traced
    MODEL_CARD.md         what it is, how it was trained, its numbers, how to load it
    manifest.json         sha256 and size of every file above; `nas.load` refuses a file that does not match

Nothing is written half-way: the directory is assembled under a temporary name next to the target and moved
into place with `os.replace` only once every check has passed. The training checkpoints live in a work
directory next to the target (`.<name>.train-<arch_id>`), so an interrupted export resumes its training.

Only the standard library is imported at module level, so `import nas` stays cheap; torch and the rest are
imported when `export` runs.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.load import (
    CONFIG_FILE,
    FINGERPRINT_FILE,
    MANIFEST_FILE,
    MANIFEST_SCHEMA,
    MODEL_CARD_FILE,
    ONNX_FILE,
    PROFILE_FILE,
    SEARCH_METRICS_FILE,
    TORCHSCRIPT_FILE,
    TRAINING_FILE,
    VERIFICATION_FILE,
    WEIGHTS_FILE,
    WEIGHTS_FORMAT,
    _one_line,
    sha256_file,
)
from search_spaces.errors import EspnasError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from search_spaces import EESPConfig

FORMATS = ("safetensors", "onnx", "torchscript")
FORMAT_FILES = {"safetensors": WEIGHTS_FILE, "onnx": ONNX_FILE, "torchscript": TORCHSCRIPT_FILE}
RECIPES = ("short", "paper")
# Relative error bound for a format against the eager fp32 model: max|out - ref| / max|ref|. Folding BN and
# reordering float sums (onnxruntime's kernels) moves outputs by ~1e-6 relative; 1e-4 leaves room for deep
# networks while still catching any real mistake (a wrong weight or layer moves outputs by O(1)).
DEFAULT_RTOL = 1e-4
CHECK_BATCH_SIZES = (1, 3)  # two batch sizes: the ONNX file's batch axis is dynamic and both must agree
ONNX_OPSET = 18


class ExportError(EspnasError):
    """An export that cannot be done as asked (bad selection, bad format, target exists, a failed check)."""


@dataclass(frozen=True)
class FormatCheck:
    """One exported format run on random inputs and compared with the eager model."""

    format: str
    file: str
    max_rel_error: float
    bound: float
    batch_sizes: tuple[int, ...]
    runtime: str  # what executed the file: "nas.load", "onnxruntime 1.x", "torch.jit.load"

    @property
    def passed(self) -> bool:
        return math.isfinite(self.max_rel_error) and self.max_rel_error <= self.bound

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "file": self.file,
            "max_rel_error": self.max_rel_error,
            "bound": self.bound,
            "batch_sizes": list(self.batch_sizes),
            "runtime": self.runtime,
            "passed": self.passed,
        }


@dataclass
class ExportResult:
    """What `export` wrote and measured. `summary()` is the text the CLI prints."""

    path: Path
    config: EESPConfig
    files: list[str]
    checks: list[FormatCheck]
    training: dict[str, Any]
    profile: dict[str, Any]
    search_metrics: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    model: nn.Module | None = field(default=None, repr=False)  # the eager trained model, eval mode, on CPU

    @property
    def arch_id(self) -> str:
        return self.config.arch_id

    def summary(self) -> str:
        """A few lines: where, what, accuracy, each format's check, and local vs search measurements."""
        lines = [f"exported {self.arch_id} to {self.path}", f"  config   {self.config.to_compact()}"]
        t = self.training
        if t.get("trained"):
            lines.append(
                f"  trained  {t['epochs']} epoch(s), recipe {t['recipe']}, data {t['data']['source']}: "
                f"top-1 {_pct(t.get('final_top1'))}, top-5 {_pct(t.get('final_top5'))}"
            )
        else:
            lines.append("  trained  no (weights are the initialisation)")
        for check in self.checks:
            status = "ok" if check.passed else "FAILED"
            lines.append(
                f"  {check.format:<11} {check.file:<22} max rel error {check.max_rel_error:.2e} "
                f"(bound {check.bound:.0e}, {check.runtime}) {status}"
            )
        for row in self.profile.get("comparison", []):
            here = _fmt(row.get("measured"))
            there = _fmt(row.get("search"))
            ratio = f"  x{row['ratio']:.2f}" if row.get("ratio") is not None else ""
            lines.append(f"  {row['metric']:<11} here {here:>10}   search {there:>10}{ratio}   {row.get('note', '')}")
        deployed = self.profile.get("deployed", {})
        if "search_form" in self.profile and "latency" in deployed:
            shape = "x".join(str(v) for v in deployed["input_shape"])
            lines.append(f"  this model at {shape}: latency {_fmt(deployed['latency'].get('median_ms'))} ms")
        if self.profile.get("search_form"):
            shape = "x".join(str(v) for v in self.profile["search_form"]["input_shape"])
            lines.append(f"  (search values compared with its config re-measured here at {shape})")
        lines.extend(f"  note     {w}" for w in self.warnings)
        lines.append(f"  load     nas.load({str(self.path)!r})")
        return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------------------


def export(
    spec: Any = None,
    *,
    run: str | os.PathLike[str] | None = None,
    trial: str | int | None = None,
    knee: bool = False,
    where: str | None = None,
    data: Any = None,
    image_size: int | None = None,
    epochs: int | None = None,
    recipe: str = "short",
    batch_size: int | None = None,
    formats: Sequence[str] | str = FORMATS,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    train: bool = True,
    profile: bool = True,
    profile_budget_s: float = 2.0,
    device: str = "cpu",
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    keep_checkpoints: bool = False,
    progress: bool = True,
) -> ExportResult:
    """Train a config and write a verified export directory; returns what was written and measured.

    The config comes either from `spec` (a config, preset name, JSON file or compact string) or from a stored
    search run: `run` plus exactly one of `trial` (an id), `knee` (the knee of the run's front) or `where` (a
    constraint; the best trial satisfying it by the run's first objective).

    `data` ("digits", a path for `nas.data.load_data`, or a `DataSource`; default: the search's data, else
    digits), `image_size` (default: the search's, else 32 for digits), `epochs`, `recipe`, `batch_size` and
    `seed` go to the trainer, which matches the classifier and input size to the data (the export then holds
    the matched config and says so). `train=False` exports the initialised
    network (to check formats without training). `formats` names what to write besides config and weights
    (safetensors is always written). Each format must reproduce the eager model within `rtol` (relative to the
    output scale). The target `out` (default `exports/<run>-<trial>`, `exports/<preset>` or `exports/<arch_id>`)
    must not exist unless `overwrite`.
    """
    say = _Reporter(progress)
    wanted = _parse_formats(formats)
    if recipe not in RECIPES:
        raise ExportError(f"unknown recipe {recipe!r}; valid: {', '.join(RECIPES)}")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ExportError(f"epochs={epochs!r} is invalid; valid: a positive integer")
    if not (isinstance(rtol, (int, float)) and rtol > 0):
        raise ExportError(f"rtol={rtol!r} is invalid; valid: a positive number such as {DEFAULT_RTOL}")

    config, search = _source(spec, run=run, trial=trial, knee=knee, where=where)
    target = Path(out) if out is not None else Path("exports") / _default_name(spec, config, search)
    _check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []

    import torch

    from search_spaces import build

    if train:
        say(f"training {config.arch_id}")
        model, trained_config, training, work_dir = _train(
            config,
            data=data if data is not None else _search_setting(search, "data", str) or "digits",
            image_size=image_size if image_size is not None else _search_setting(search, "image_size", int),
            epochs=epochs,
            recipe=recipe,
            batch_size=batch_size,
            seed=seed,
            device=device,
            work_root=target.parent / f".{target.name}.train",
            progress=progress,
        )
        if trained_config != config:
            training["adapted_from"] = {"arch_id": config.arch_id, "config": config.to_dict()}
            notes.append(
                f"the trainer matched the config to the data ({_changes(config, trained_config)}): "
                f"arch {config.arch_id} -> {trained_config.arch_id}"
            )
            config = trained_config
    else:
        torch.manual_seed(seed)
        model, work_dir = build(config), None
        training = {"trained": False, "seed": seed, "reason": "train=False: the weights are the initialisation"}
    model = model.cpu().eval()
    input_shape = (1, config.in_channels, *_input_side(config, training, image_size))

    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        result = _write(
            tmp,
            target,
            model,
            config,
            training=training,
            search=search,
            formats=wanted,
            input_shape=input_shape,
            profile=profile,
            profile_budget_s=profile_budget_s,
            device=device,
            seed=seed,
            rtol=rtol,
            notes=notes,
            say=say,
        )
        _move_into_place(tmp, target, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if work_dir is not None and not keep_checkpoints:
        shutil.rmtree(work_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # the parent of the work directories, once empty
            Path(work_dir).parent.rmdir()
    say(f"done: {target}")
    return result


def _write(
    tmp: Path,
    target: Path,
    model: nn.Module,
    config: EESPConfig,
    *,
    training: dict[str, Any],
    search: dict[str, Any] | None,
    formats: tuple[str, ...],
    input_shape: tuple[int, ...],
    profile: bool,
    profile_budget_s: float,
    device: str,
    seed: int,
    rtol: float,
    notes: list[str],
    say: _Reporter,
) -> ExportResult:
    """Fill the temporary directory `tmp`; raise if a check fails (the caller then removes it)."""
    from search_spaces import deploy

    created = _now()
    _save_weights(tmp / WEIGHTS_FILE, model, config)
    _write_text(tmp / CONFIG_FILE, config.to_json(indent=2) + "\n")
    _write_json(tmp / TRAINING_FILE, training)
    # A first manifest so that the weights can be checked with the real loader, exactly as a user loads them.
    _write_manifest(tmp, config, input_shape, created)

    inputs = _random_inputs(input_shape, seed)
    with _quiet_torch():
        reference = [model(x).detach() for x in inputs]
    say("checking the safetensors weights through nas.load")
    checks = [_check_safetensors(tmp, inputs, reference, rtol)]
    deployed = deploy(model).eval()
    if "onnx" in formats:
        say("exporting and checking ONNX")
        check, note = _export_onnx(tmp / ONNX_FILE, deployed, input_shape, inputs, reference, rtol)
        checks.append(check)
        notes.extend([note] if note else [])
    if "torchscript" in formats:
        say("exporting and checking TorchScript")
        checks.append(_export_torchscript(tmp / TORCHSCRIPT_FILE, deployed, inputs, reference, rtol))
    failed = [c for c in checks if not c.passed]
    if failed:
        worst = failed[0]
        raise ExportError(
            f"{worst.format} output differs from the eager model: max relative error {worst.max_rel_error:.3g} "
            f"> bound {worst.bound:.0e}; nothing was exported (raise rtol only if the difference is expected)"
        )
    _write_json(tmp / VERIFICATION_FILE, {"created": created, "checks": [c.to_dict() for c in checks]})

    say(f"profiling on {device}")
    fp = _fingerprint(device)
    _write_json(tmp / FINGERPRINT_FILE, fp)
    measured = _profile(deployed, input_shape, device, search, enabled=profile, budget_s=profile_budget_s)
    measured["counts"] = _counts(config, input_shape)
    _write_json(tmp / PROFILE_FILE, measured)
    if search is not None:
        _write_json(tmp / SEARCH_METRICS_FILE, search)

    result = ExportResult(
        path=target,
        config=config,
        files=[],
        checks=checks,
        training=training,
        profile=measured,
        search_metrics=search,
        warnings=notes,
        model=model,
    )
    _write_text(tmp / MODEL_CARD_FILE, model_card(result, input_shape=input_shape, fingerprint=fp))
    manifest = _write_manifest(tmp, config, input_shape, created)
    result.files = [*manifest["files"], MANIFEST_FILE]
    return result


# ---------------------------------------------------------------------------------------------------------
# Where the config comes from
# ---------------------------------------------------------------------------------------------------------


def _source(
    spec: Any, *, run: Any, trial: Any, knee: bool, where: str | None
) -> tuple[EESPConfig, dict[str, Any] | None]:
    """The config to export and, for a run, the search's record of it."""
    chosen = [name for name, given in (("trial", trial is not None), ("knee", knee), ("where", where)) if given]
    if spec is not None and run is not None:
        raise ExportError("give either a config (--config SPEC) or a run (RUN with --trial/--knee/--where), not both")
    if spec is not None:
        if chosen:
            raise ExportError(f"--{chosen[0]} selects a trial of a run; with --config SPEC give no selection")
        from search_spaces import resolve

        return resolve(spec), None
    if run is None:
        raise ExportError(
            "nothing to export: give a run (RUN with --trial ID, --knee or --where EXPR) or --config SPEC"
        )
    if len(chosen) != 1:
        what = "none" if not chosen else ", ".join(f"--{c}" for c in chosen)
        raise ExportError(
            f"choose one trial of the run with exactly one of --trial ID, --knee, --where EXPR (got {what})"
        )
    return select_trial(run, trial=trial, knee=knee, where=where)


def select_trial(
    run: str | os.PathLike[str], *, trial: str | int | None = None, knee: bool = False, where: str | None = None
) -> tuple[EESPConfig, dict[str, Any]]:
    """One trial of a stored run: its config and what the search recorded for it (search_metrics.json)."""
    from results.select import select
    from results.store import open_run
    from search_spaces import EESPConfig

    opened = open_run(run)
    if trial is not None:
        how = f"trial {trial}"
    elif knee:
        how = "the knee of the front"
    else:
        how = f"the best trial (first objective) satisfying {where!r}"
    rows = select(opened, trial=None if trial is None else str(trial), knee_point=knee, where=where)
    if len(rows) == 0:
        raise ExportError(f"{how} selects no complete trial of run {opened.path}; see 'espnas select {opened.path}'")
    if len(rows) > 1:
        ids = ", ".join(str(t) for t in list(rows["trial_id"])[:5])
        raise ExportError(
            f"{how} selects {len(rows)} trials of run {opened.path} ({ids}{', ...' if len(rows) > 5 else ''}); "
            "narrow it down to one, or pick one with --trial ID"
        )
    row = rows.iloc[0]
    config_json = row.get("config_json")
    if not isinstance(config_json, str) or not config_json:
        raise ExportError(f"trial {row['trial_id']} of run {opened.path} has no config_json; it cannot be exported")
    config = EESPConfig.from_json(config_json)
    return config, _search_record(opened, row, how)


def _search_record(opened: Any, row: Any, how: str) -> dict[str, Any]:
    """The search's values for the selected trial, with units, as stored in search_metrics.json."""
    metrics: dict[str, Any] = {}
    for name, unit in opened.metrics.items():
        value = _plain(row.get(name))
        if value is None:
            continue
        entry: dict[str, Any] = {"value": value, "unit": unit}
        for suffix in ("_iqr", "_ci_lo", "_ci_hi"):
            spread = _plain(row.get(name + suffix))
            if spread is not None:
                entry[suffix[1:]] = spread
        metrics[name] = entry
    record: dict[str, Any] = {
        "run": str(Path(opened.path).resolve()),
        "run_name": opened.name,
        "selected_by": how,
        "trial_id": str(row["trial_id"]),
        "number": _plain(row.get("number")),
        "status": _plain(row.get("status")),
        "arch_id": _plain(row.get("arch_id")),
        "params": _plain(row.get("params")),
        "macs": _plain(row.get("macs")),
        "objectives": [o.to_dict() for o in opened.objectives],
        "metrics": metrics,
        "devices": opened.devices,
    }
    for column, key in (("fingerprint_json", "fingerprint"), ("curve_json", "curve")):
        text = row.get(column)
        if isinstance(text, str) and text:
            with contextlib.suppress(json.JSONDecodeError):
                record[key] = json.loads(text)
    meta = opened.metadata
    stored = meta.get("settings") or {}
    # nas.search keeps its settings under "search"; other writers may keep them at the top.
    settings = dict(stored.get("search") or stored) if isinstance(stored, Mapping) else {}
    settings.update({k: meta[k] for k in ("flops_band", "seed", "targets") if meta.get(k) is not None})
    record["search_settings"] = _plain_tree(settings)
    record["config_json"] = str(row["config_json"])
    return record


# ---------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------


def _train(
    config: EESPConfig,
    *,
    data: Any,
    image_size: int | None,
    epochs: int | None,
    recipe: str,
    batch_size: int | None,
    seed: int,
    device: str,
    work_root: Path,
    progress: bool,
) -> tuple[nn.Module, EESPConfig, dict[str, Any], Path]:
    """Train with nas.training; returns the model, the config it was trained as, the summary and the work dir.

    Checkpoints go to a work directory named after the config and every training setting, so re-running an
    interrupted export with the same arguments resumes it, and different arguments never resume the wrong run.
    """
    from nas.data import DataSource, load_data
    from nas.training import CHECKPOINT_NAME, train

    if isinstance(data, DataSource):
        if image_size is not None and image_size != data.image_size:
            raise ExportError(
                f"image_size={image_size} differs from the given DataSource's {data.image_size}; leave it out"
            )
        source, source_name, side = data, data.name, data.image_size
    else:
        source_name = str(data if data is not None else "digits")
        # The trainer's own default: 32x32 for the 8x8 digits, the config's size for real images.
        side = image_size if image_size is not None else (32 if source_name == "digits" else config.input_size[0])
        source = load_data(source_name, side, seed=seed)
    settings = [config.arch_id, source_name, len(source.train), len(source.val), side, recipe, epochs, batch_size, seed]
    work_dir = work_root / hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
    resume = (work_dir / CHECKPOINT_NAME).is_file()
    result = train(
        config,
        source,
        recipe=recipe,
        epochs=epochs,
        batch_size=batch_size,
        out_dir=work_dir,
        resume=resume,
        seed=seed,
        device=device,
        progress=progress,
    )
    history = [_plain_tree(h) for h in (result.history or [])]
    summary = {
        "trained": True,
        "data": {"source": source_name, "image_size": side, **_describe_data(source)},
        "recipe": recipe,
        "epochs": int(result.settings.get("epochs", len(history))),
        "batch_size": int(result.settings.get("batch_size", batch_size or 0)),
        "seed": seed,
        "device": device,
        "resumed": resume,
        "seconds": round(float(result.seconds), 3),
        "final_top1": _plain(result.final_top1),
        "final_top5": _plain(result.final_top5),
        "accuracy_unit": "fraction",
        "recipe_settings": _plain_tree(result.settings.get("recipe", {})),
        "curve": history,
    }
    return result.model, result.config, summary, work_dir


def _search_setting(search: dict[str, Any] | None, key: str, kind: type) -> Any:
    """A setting of the search the trial came from (its data, its proxy image size), when it recorded one."""
    value = (search or {}).get("search_settings", {}).get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _changes(before: EESPConfig, after: EESPConfig) -> str:
    a, b = before.to_dict(), after.to_dict()
    return ", ".join(f"{k} {a[k]} -> {b[k]}" for k in sorted(a) if a[k] != b[k])


def _describe_data(source: Any) -> dict[str, Any]:
    """What a deployer needs to know about the data: name, sizes, classes and the input normalisation."""
    out: dict[str, Any] = {
        "name": source.name,
        "num_classes": source.num_classes,
        "class_names": list(source.class_names),
        "train_size": len(source.train),
        "val_size": len(source.val),
    }
    if getattr(source, "skipped", 0):
        out["skipped_files"] = source.skipped
    # In-memory sets keep `mean`/`std`; folder sets keep them as tensors `_mean`/`_std`.
    for key in ("mean", "std"):
        value = getattr(source.train, key, None)
        if value is None:
            value = getattr(source.train, f"_{key}", None)
        if value is not None:
            flat = value.flatten().tolist() if hasattr(value, "flatten") else list(value)
            out[f"normalize_{key}"] = [float(v) for v in flat]
    return out


def _input_side(config: EESPConfig, training: dict[str, Any], image_size: int | None) -> tuple[int, int]:
    """The input size the exported files are traced at: the training size, else the config's counting size."""
    if image_size is not None:
        return (image_size, image_size)
    trained = training.get("data", {}).get("image_size") if training.get("trained") else None
    if isinstance(trained, int):
        return (trained, trained)
    return (int(config.input_size[0]), int(config.input_size[1]))


# ---------------------------------------------------------------------------------------------------------
# Formats and their checks
# ---------------------------------------------------------------------------------------------------------


def _parse_formats(formats: Sequence[str] | str) -> tuple[str, ...]:
    items = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    items = [f for f in items if f]
    unknown = [f for f in items if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format(s) {', '.join(unknown)}; valid: {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in items or f == "safetensors")


def max_rel_error(outputs: Sequence[Any], references: Sequence[Any]) -> float:
    """max |out - ref| / max |ref| over all outputs: relative to the output scale, so near-zero logits
    do not blow it up the way an element-wise relative error would."""
    import numpy as np

    worst = 0.0
    for out, ref in zip(outputs, references, strict=True):
        a = np.asarray(out, dtype=np.float64)
        b = np.asarray(ref, dtype=np.float64)
        if a.shape != b.shape:
            return math.inf
        scale = max(float(np.abs(b).max()), 1e-12)
        diff = float(np.abs(a - b).max())
        worst = max(worst, diff / scale if math.isfinite(diff) else math.inf)
    return worst


def _random_inputs(input_shape: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return [torch.randn((b, *input_shape[1:]), generator=generator) for b in CHECK_BATCH_SIZES]


def _save_weights(path: Path, model: nn.Module, config: EESPConfig) -> None:
    from safetensors.torch import save_file

    # Clone so that no two names share storage (safetensors refuses shared tensors) and all are contiguous.
    tensors = {name: t.detach().cpu().contiguous().clone() for name, t in model.state_dict().items()}
    metadata = {"format": WEIGHTS_FORMAT, "arch_id": config.arch_id, "config": config.to_json()}
    with _atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _check_safetensors(directory: Path, inputs: list[Any], reference: list[Any], rtol: float) -> FormatCheck:
    from nas.load import load

    loaded = load(directory)
    with _quiet_torch():
        outputs = [loaded(x).detach() for x in inputs]
    return FormatCheck(
        "safetensors", WEIGHTS_FILE, max_rel_error(outputs, reference), rtol, CHECK_BATCH_SIZES, "nas.load"
    )


def _export_onnx(
    path: Path,
    deployed: nn.Module,
    input_shape: tuple[int, ...],
    inputs: list[Any],
    reference: list[Any],
    rtol: float,
) -> tuple[FormatCheck, str | None]:
    """Write the deploy form as ONNX (dynamic batch) and run it with onnxruntime where installed."""
    import torch

    # Trace at batch 2: torch.export specialises sizes 0 and 1, so a batch-1 example would fix the batch axis.
    example = (torch.zeros((2, *input_shape[1:])),)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with _quiet_torch(), _atomic_path(path) as tmp, _format_failure("onnx"):
        torch.onnx.export(
            deployed,
            example,
            str(tmp),
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            opset_version=ONNX_OPSET,
            external_data=False,
            dynamo=True,
            verbose=False,
        )
    try:
        import onnxruntime
    except ImportError:
        # Without a runtime the file is still validated structurally; the check then compares nothing.
        import onnx

        onnx.checker.check_model(str(path))
        note = "onnxruntime is not installed: model.onnx was checked structurally (onnx.checker), not run"
        return FormatCheck("onnx", ONNX_FILE, 0.0, rtol, (), "onnx.checker only"), note
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = []
    for x in inputs:
        try:
            outputs.append(session.run(None, {name: x.numpy()})[0])
        except Exception as err:  # onnxruntime's own error types; a file that cannot run is a failed check
            raise ExportError(
                f"{ONNX_FILE} does not run in onnxruntime on input {tuple(x.shape)} ({_one_line(err)}); "
                "nothing was exported"
            ) from None
    runtime = f"onnxruntime {onnxruntime.__version__}"
    return FormatCheck("onnx", ONNX_FILE, max_rel_error(outputs, reference), rtol, CHECK_BATCH_SIZES, runtime), None


def _export_torchscript(
    path: Path, deployed: nn.Module, inputs: list[Any], reference: list[Any], rtol: float
) -> FormatCheck:
    """Trace the deploy form to TorchScript, save it, load the file back and compare."""
    import torch

    with _quiet_torch(), _format_failure("torchscript"):
        # Traced at batch 2 so that no size-1 batch is baked in; the check then runs batches 1 and 3.
        traced = torch.jit.trace(deployed, (torch.zeros((2, *inputs[0].shape[1:])),), check_trace=False)
        with _atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp))
        loaded = torch.jit.load(str(path), map_location="cpu").eval()
        outputs = [loaded(x).detach() for x in inputs]
    return FormatCheck(
        "torchscript", TORCHSCRIPT_FILE, max_rel_error(outputs, reference), rtol, CHECK_BATCH_SIZES, "torch.jit.load"
    )


@contextlib.contextmanager
def _format_failure(name: str) -> Iterator[None]:
    """An exporter that cannot convert the model fails the export in one line, with the way around it."""
    try:
        yield
    except EspnasError:
        raise
    except Exception as err:
        others = ",".join(f for f in FORMATS if f != name)
        raise ExportError(
            f"{name} export failed ({type(err).__name__}: {_one_line(err)}); nothing was exported. "
            f"Leave the format out with --formats {others}: training resumes from its checkpoint"
        ) from err


# ---------------------------------------------------------------------------------------------------------
# Re-profiling, fingerprint, counts
# ---------------------------------------------------------------------------------------------------------


def _profile(
    deployed: nn.Module,
    input_shape: tuple[int, ...],
    device: str,
    search: dict[str, Any] | None,
    *,
    enabled: bool,
    budget_s: float,
) -> dict[str, Any]:
    """Latency (and energy where a power source exists) measured here, beside the search's values.

    Two forms can differ. "deployed" is the exported model as it will run (deploy form, its own input size,
    batch 1). The search measured its config as recorded (usually ImageNet-shaped: 224x224, 1000 classes) at
    its latency batch and thread count, while training adapted the classifier and input size to the data; so
    for the comparison the search's config is measured again here exactly as the search measured it.
    """
    settings = (search or {}).get("search_settings", {})
    threads = settings.get("measure_threads") if isinstance(settings.get("measure_threads"), int) else None
    out: dict[str, Any] = {"device": device, "threads": threads}
    if not enabled:
        out["skipped"] = "profile=False"
        return out
    out["deployed"] = _measure(deployed, input_shape, device, threads=threads, budget_s=budget_s)
    compared = out["deployed"]
    if search is not None:
        from search_spaces import EESPConfig

        searched = EESPConfig.from_json(search["config_json"])
        batch = settings.get("latency_batch") if isinstance(settings.get("latency_batch"), int) else 1
        shape = (batch, searched.in_channels, *searched.input_size)
        if searched != deployed.config or tuple(shape) != tuple(input_shape):
            # Weights do not change the cost of a forward: the config at the search's shape is what it timed.
            out["search_form"] = _measure(searched, shape, device, threads=threads, budget_s=budget_s)
            out["search_form"]["arch_id"] = searched.arch_id
            compared = out["search_form"]
    out["comparison"] = _comparison(compared, search)
    differs = sorted({key for row in out["comparison"] for key in row.get("differs_from_search", [])})
    if differs:
        out["differs_from_search"] = differs
    return out


def _measure(
    model_or_config: Any, shape: tuple[int, ...], device: str, *, threads: int | None, budget_s: float
) -> dict[str, Any]:
    """Latency and energy (or why no energy) of a deploy-form model or a config at `shape` on `device`."""
    from profilers import energy
    from profilers.latency import measure_latency

    is_config = not hasattr(model_or_config, "forward")
    options = {"deploy": is_config, "threads": threads}  # a model passed here is already the deploy form
    out: dict[str, Any] = {"input_shape": list(shape), "form": "deploy (BN folded)"}
    out["latency"] = _as_dict(measure_latency(model_or_config, shape, device, time_budget_s=budget_s, **options))
    ok, reason = energy.power_available(device)
    if ok:
        out["energy"] = _as_dict(energy.measure_energy(model_or_config, shape, device, **options))
    else:
        out["energy"] = {"unavailable": str(reason)}
    return out


def _comparison(measured: dict[str, Any], search: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of (metric, measured here, recorded by the search, ratio) for latency and energy.

    A search over several targets records one column per target (`latency_ms_<target>`); each gets a row, and
    each row says on which fingerprint fields (device, versions, threads) this machine differs from the one
    the search measured that column on.
    """
    recorded = (search or {}).get("metrics", {})
    here_fp = measured.get("latency", {}).get("fingerprint")
    rows = []
    for prefix, key, field_name in (
        ("latency_ms", "latency", "median_ms"),
        ("energy_mj", "energy", "energy_mj_per_image"),
    ):
        here = measured.get(key, {})
        value = _pick(here, field_name)
        columns = sorted(name for name in recorded if name.startswith(prefix)) or [prefix]
        for column in columns:
            row: dict[str, Any] = {"metric": column, "measured": value, "search": None}
            if column in recorded:
                row["search"] = recorded[column]["value"]
                row["unit"] = recorded[column].get("unit")
            if value is not None and row["search"]:
                row["ratio"] = value / row["search"]
            differs = _differs(_search_fingerprint(search, column[len(prefix) + 1 :]), here_fp)
            if differs:
                row["differs_from_search"] = differs
            if value is None and "unavailable" in here:
                row["note"] = f"not measured here: {here['unavailable']}"
            elif search is None:
                row["note"] = "exported from a config: no search values"
            elif row["search"] is None:
                row["note"] = "the search did not record it"
            elif differs:
                row["note"] = f"environment differs from the search's in {', '.join(differs)}"
            rows.append(row)
    return rows


def _search_fingerprint(search: dict[str, Any] | None, target: str) -> dict[str, Any] | None:
    """The fingerprint the search measured on: flat, or one per target (keyed by target name)."""
    fp = (search or {}).get("fingerprint")
    if not isinstance(fp, dict) or not fp:
        return None
    if "device_name" in fp or "device" in fp:
        return fp
    if target and isinstance(fp.get(target), dict):
        return fp[target]
    nested = [v for v in fp.values() if isinstance(v, dict)]
    return nested[0] if len(nested) == 1 else None


def _differs(searched: dict[str, Any] | None, here: dict[str, Any] | None) -> list[str]:
    if not isinstance(searched, dict) or not isinstance(here, dict):
        return []
    from profilers.fingerprint import comparable

    return comparable(searched, here)


def _pick(record: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _fingerprint(device: str) -> dict[str, Any]:
    from profilers.fingerprint import fingerprint

    return _plain_tree(fingerprint(device))


def _counts(config: EESPConfig, input_shape: tuple[int, ...]) -> dict[str, Any]:
    from profilers.counting import count

    counts = count(config, input_size=tuple(input_shape[2:]))
    return {
        "params": int(counts.params),
        "macs": int(counts.macs),
        "conv_macs": int(counts.conv_macs),
        "input_size": list(input_shape[2:]),
    }


# ---------------------------------------------------------------------------------------------------------
# The model card
# ---------------------------------------------------------------------------------------------------------


def model_card(result: ExportResult, *, input_shape: tuple[int, ...], fingerprint: Mapping[str, Any]) -> str:
    """MODEL_CARD.md: what the model is, how it was trained, its numbers, how to load it."""
    cfg, t, prof = result.config, result.training, result.profile
    counts = prof.get("counts", {})
    h, w = input_shape[2], input_shape[3]
    lines = [
        f"# EESP network {cfg.arch_id}",
        "",
        "## What it is",
        "",
        f"An image classifier of the ESPNetv2 (EESP) family, exported by espnas on {_now()[:10]}: "
        f"{cfg.num_classes} classes, input {cfg.in_channels}x{h}x{w} (any size of at least 32x32 works in "
        f"PyTorch; the ONNX and TorchScript files are traced at {h}x{w} with a dynamic batch).",
        "",
        f"- channels {list(cfg.channels)}, depths {list(cfg.depths)}, K = {cfg.branches}, "
        f"groups {cfg.reduce_groups}/{cfg.expand_groups}, dilation caps {list(cfg.dilation_caps)}, "
        f"HFF {'on' if cfg.hff else 'off'}, input shortcut {'on' if cfg.input_shortcut else 'off'}, "
        f"head {cfg.head_channels}",
        f"- parameters {_int(counts.get('params'))}, multiply-adds {_int(counts.get('macs'))} at {h}x{w} "
        "(analytic count; 1 MAC = one multiply-add)",
        f"- compact config: `{cfg.to_compact()}`",
        "",
    ]
    if result.search_metrics:
        s = result.search_metrics
        lines += [
            f"Chosen from search run `{s['run_name']}` ({s['run']}), trial {s['trial_id']}, selected by "
            f"{s['selected_by']}.",
            "",
        ]
    lines += ["## How it was trained", ""]
    if t.get("trained"):
        d = t["data"]
        lines += [
            f"- data: {d.get('source')} at {d.get('image_size')}x{d.get('image_size')}"
            + (f", {d['train_size']} training / {d['val_size']} validation images" if "train_size" in d else ""),
            f"- recipe: {t['recipe']}, {t['epochs']} epoch(s), batch {t['batch_size']}, seed {t['seed']}, "
            f"device {t['device']}",
            f"- final validation accuracy: top-1 {_pct(t.get('final_top1'))}, top-5 {_pct(t.get('final_top5'))}",
            "",
        ]
        curve = t.get("curve") or []
        if curve and isinstance(curve[0], dict):
            keys = [k for k in curve[0] if isinstance(curve[0][k], (int, float)) and not isinstance(curve[0][k], bool)]
            lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            lines += ["| " + " | ".join(_fmt(row.get(k)) for k in keys) + " |" for row in curve]
            lines.append("")
    else:
        lines += ["Not trained: the weights are the network's initialisation (exported with train=False).", ""]
    lines += ["## Numbers", "", "| metric | measured here | recorded by the search |", "|---|---|---|"]
    if result.search_metrics:
        acc = result.search_metrics["metrics"].get("accuracy")
        if acc is not None:
            lines.append(f"| accuracy (search proxy) | - | {_fmt(acc['value'])} {acc.get('unit', '')} |")
    if t.get("trained"):
        lines.append(f"| top-1 after export training | {_pct(t.get('final_top1'))} | - |")
    compared = prof.get("search_form") or prof.get("deployed") or {}
    shape = "x".join(str(v) for v in compared.get("input_shape", []))
    for row in prof.get("comparison", []):
        unit = "ms" if row["metric"].startswith("latency") else "mJ/image"
        here = f"{_fmt(row['measured'])} {unit}" if row.get("measured") is not None else row.get("note", "-")
        there = f"{_fmt(row['search'])} {row.get('unit') or unit}" if row.get("search") is not None else "-"
        lines.append(f"| {row['metric']} (input {shape}, deploy form) | {here} | {there} |")
    deployed = prof.get("deployed", {})
    if "search_form" in prof and "latency" in deployed:
        lines.append(
            f"| latency_ms of this model (input {'x'.join(map(str, deployed['input_shape']))}) | "
            f"{_fmt(deployed['latency'].get('median_ms'))} ms | - |"
        )
    if "skipped" in prof:
        lines.append("| latency, energy | not measured (profile=False) | - |")
    lines += [
        "",
        f"Measured on {fingerprint.get('device_name', fingerprint.get('device'))} "
        f"({prof.get('threads') or fingerprint.get('threads')} threads, torch {fingerprint.get('torch')}); "
        "see fingerprint.json and profile.json."
        + (
            f" The search's environment differed in {', '.join(prof['differs_from_search'])}: compare with care."
            if prof.get("differs_from_search")
            else ""
        ),
        "",
        "Each format was run on random inputs and compared with the eager PyTorch model (max |out - ref| / max |ref|):",
        "",
        "| file | runtime | max relative error | bound |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.file} | {c.runtime} | {c.max_rel_error:.2e} | {c.bound:.0e} |" for c in result.checks]
    lines += [
        "",
        "## How to load it",
        "",
        "```python",
        "import nas",
        'model = nas.load("<this directory>")               # eval mode, weights loaded, never unpickles',
        'fast = nas.load("<this directory>", deploy=True)   # BN folded, same outputs',
        "```",
        "",
    ]
    names = {c.file for c in result.checks}
    if ONNX_FILE in names:
        lines += [
            "```python",
            "import numpy as np, onnxruntime as ort",
            'session = ort.InferenceSession("model.onnx")',
            f'logits = session.run(None, {{"input": np.zeros((1, {cfg.in_channels}, {h}, {w}), np.float32)}})[0]',
            "```",
            "",
        ]
    if TORCHSCRIPT_FILE in names:
        lines += ["```python", "import torch", 'model = torch.jit.load("model.torchscript.pt")', "```", ""]
    data = t.get("data", {})
    if "normalize_mean" in data:
        normalised = (
            f"normalised as in training: (x - {_floats(data['normalize_mean'])}) / {_floats(data['normalize_std'])}"
        )
        if len(data["normalize_mean"]) == 1 and cfg.in_channels > 1:
            normalised += f", the one channel repeated {cfg.in_channels} times"
    else:
        normalised = "normalised as in training"
    lines += [
        f"Inputs are float32 (batch, {cfg.in_channels}, height, width) in [0, 1], {normalised}. "
        f"`{MANIFEST_FILE}` lists the sha256 of every file; `nas.load` refuses a directory that does not match.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Small helpers: files, progress, JSON
# ---------------------------------------------------------------------------------------------------------


def _default_name(spec: Any, config: EESPConfig, search: dict[str, Any] | None) -> str:
    """exports/<run>-<trial> for a run's trial, exports/<preset> for a preset, else exports/<arch_id>."""
    from search_spaces import PRESETS

    if search is not None:
        name = f"{search['run_name']}-{search['trial_id']}"
    elif isinstance(spec, str) and spec in PRESETS:
        name = spec
    else:
        name = config.arch_id
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists; choose another --out or pass --force to replace it")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a directory; choose another --out")


def _move_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    """os.replace the finished directory into place; an existing target (overwrite) is moved aside first."""
    if not target.exists():
        os.replace(tmp, target)
        return
    _check_target(target, overwrite)  # it may have appeared while we trained
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_manifest(directory: Path, config: EESPConfig, input_shape: tuple[int, ...], created: str) -> dict:
    files = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name != MANIFEST_FILE
    }
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "arch_id": config.arch_id,
        "created": created,
        "input_shape": list(input_shape),
        "espnas_version": _version(),
        "files": files,
    }
    _write_json(directory / MANIFEST_FILE, manifest)
    return manifest


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to `path`, moved onto it on success and removed on failure."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; an export is meant to be shared like any file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_text(path: Path, text: str) -> None:
    with _atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(_plain_tree(data), indent=2, sort_keys=True, allow_nan=False) + "\n")


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """Silence the exporters' chatter (progress lines, deprecation notes, missing-torchvision logs)."""
    import torch

    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            torch.no_grad(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


class _Reporter:
    """One line per export step on stderr (training shows its own progress bar)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"export: {message}", file=sys.stderr, flush=True)


def _as_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        return _plain_tree(result.to_dict())
    if isinstance(result, Mapping):
        return _plain_tree(dict(result))
    return {"value": _plain(result)}


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: numpy scalars to Python, NaN/None to None."""
    if value is None:
        return None
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain_tree(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_tree(v) for v in value]
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return _plain_tree(value.to_dict())
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and callable(value.tolist):
        return _plain_tree(value.tolist())
    value = _plain(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("espnas")
    except Exception:  # running from a checkout that is not installed
        return "unknown"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _pct(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{100 * value:.1f}%" if value <= 1 else f"{value:.1f}%"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _floats(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"

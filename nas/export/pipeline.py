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

The pieces live beside this module: `nas.export.formats` (writing each format and checking it against the eager model),
`nas.export.final_training` (training in a resumable work directory), `nas.export.reprofile` (re-profiling and the
comparison with the search's values), `nas.export.model_card` (MODEL_CARD.md) and `nas.export.layout` (JSON files, the
manifest, the move into place). This module chooses the config and runs them in order.

Only the standard library is imported at module level, so `import nas` stays cheap; torch and the rest are
imported when `export` runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.export.final_training import config_changes, input_side, search_setting, train_for_export
from nas.export.formats import (
    CHECK_BATCH_SIZES,
    DEFAULT_RTOL,
    FORMAT_FILES,
    FORMATS,
    ONNX_OPSET,
    FormatCheck,
    check_safetensors,
    export_onnx,
    export_torchscript,
    max_rel_error,
    parse_formats,
    quiet_torch,
    random_inputs,
    save_weights,
)
from nas.export.layout import (
    CONFIG_FILE,
    FINGERPRINT_FILE,
    MANIFEST_DIGEST_FILE,
    MANIFEST_FILE,
    MODEL_CARD_FILE,
    ONNX_FILE,
    PROFILE_FILE,
    SEARCH_METRICS_FILE,
    TORCHSCRIPT_FILE,
    TRAINING_FILE,
    VERIFICATION_FILE,
    WEIGHTS_FILE,
    ExportError,
    check_target,
    move_into_place,
    plain,
    plain_tree,
    remove_leftovers,
    write_json,
    write_manifest,
)
from nas.export.model_card import model_card
from nas.export.reprofile import count_summary, local_fingerprint, profile_export
from nas.export.result import ExportResult
from results.files import write_text_atomic
from results.timestamps import now_iso

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from search_spaces import EESPConfig

__all__ = [
    "CHECK_BATCH_SIZES",
    "DEFAULT_RTOL",
    "FORMATS",
    "FORMAT_FILES",
    "ONNX_OPSET",
    "RECIPES",
    "ExportError",
    "ExportResult",
    "FormatCheck",
    "export",
    "max_rel_error",
    "model_card",
    "select_trial",
]

RECIPES = ("short", "paper")


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
    profile_runtime: str | None = None,
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

    `data` ("digits", a path for `nas.train.data.load_data`, or a `DataSource`; default: the search's data, else
    digits), `image_size` (default: the search's, else 32 for digits), `epochs`, `recipe`, `batch_size` and
    `seed` go to the trainer, which matches the classifier and input size to the data (the export then holds
    the matched config and says so). `train=False` exports the initialised
    network (to check formats without training). `formats` names what to write besides config and weights
    (safetensors is always written). Each format must reproduce the eager model within `rtol` (relative to the
    output scale). The target `out` (default `exports/<run>-<trial>`, `exports/<preset>` or `exports/<arch_id>`)
    must not exist unless `overwrite`.
    """
    say = _Reporter(progress)
    wanted = parse_formats(formats)
    if recipe not in RECIPES:
        raise ExportError(f"unknown recipe {recipe!r}; valid: {', '.join(RECIPES)}")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ExportError(f"epochs={epochs!r} is invalid; valid: a positive integer")
    if not (isinstance(rtol, (int, float)) and rtol > 0):
        raise ExportError(f"rtol={rtol!r} is invalid; valid: a positive number such as {DEFAULT_RTOL}")
    from nas.train.checks import check_train_settings

    check_train_settings(seed=seed, image_size=image_size, epochs=epochs, batch_size=batch_size)  # before any data

    config, search = _source(spec, run=run, trial=trial, knee=knee, where=where)
    target = Path(out) if out is not None else Path("exports") / _default_name(spec, config, search)
    task = getattr(config, "task", None)
    if task in ("language", "segmentation"):  # a data set named by neither the user nor the run: the task's default
        from nas.search.tasks import get_task

        data = data if data is not None else search_setting(search, "data", str) or get_task(task).default_data
    if task == "language":  # ERU/LSTM: its own trainer and checks, nas/export/language.py
        from nas.export.language import export_language

        return export_language(  # type: ignore[return-value]
            config,
            data=data,
            epochs=epochs or 1,
            formats=formats,
            out=target,
            overwrite=overwrite,
            train=train,
            seed=seed,
            rtol=rtol,
            search=search,
            progress=progress,
        )
    if task == "segmentation":  # its own trainer and checks: nas/export/segmentation.py
        from nas.export.segmentation import export_segmentation

        return export_segmentation(  # type: ignore[return-value]
            config,
            data=data,
            crop_size=image_size if image_size is not None else search_setting(search, "image_size", int) or 64,
            epochs=epochs or 10,
            batch_size=batch_size or 8,
            formats=formats,
            out=target,
            overwrite=overwrite,
            train=train,
            seed=seed,
            rtol=rtol,
            search=search,
            progress=progress,
            keep_checkpoints=keep_checkpoints,
        )
    check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)  # what a kill -9 during an earlier export of this target left
    notes: list[str] = []

    import torch

    from search_spaces import build

    if train:
        say(f"training {config.arch_id}")
        model, trained_config, training, work_dir = train_for_export(
            config,
            data=data if data is not None else search_setting(search, "data", str) or "digits",
            image_size=image_size if image_size is not None else search_setting(search, "image_size", int),
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
                f"the trainer matched the config to the data ({config_changes(config, trained_config)}): "
                f"arch {config.arch_id} -> {trained_config.arch_id}"
            )
            config = trained_config
    else:
        torch.manual_seed(seed)
        model, work_dir = build(config), None
        training = {"trained": False, "seed": seed, "reason": "train=False: the weights are the initialisation"}
    model = model.cpu().eval()
    input_shape = (1, config.in_channels, *input_side(config, training, image_size))

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
            profile_runtime=profile_runtime,
            device=device,
            seed=seed,
            rtol=rtol,
            notes=notes,
            say=say,
        )
        move_into_place(tmp, target, overwrite)
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
    profile_runtime: str | None = None,
    seed: int,
    rtol: float,
    notes: list[str],
    say: _Reporter,
) -> ExportResult:
    """Fill the temporary directory `tmp`; raise if a check fails (the caller then removes it)."""
    from search_spaces import deploy

    created = now_iso()
    save_weights(tmp / WEIGHTS_FILE, model, config)
    write_text_atomic(tmp / CONFIG_FILE, config.to_json(indent=2) + "\n")
    write_json(tmp / TRAINING_FILE, training)
    # A first manifest so that the weights can be checked with the real loader, exactly as a user loads them.
    write_manifest(tmp, config, input_shape, created)

    inputs = random_inputs(input_shape, seed)
    with quiet_torch():
        reference = [model(x).detach() for x in inputs]
    say("checking the safetensors weights through nas.load")
    checks = [check_safetensors(tmp, inputs, reference, rtol)]
    deployed = deploy(model).eval()
    if "onnx" in formats:
        say("exporting and checking ONNX")
        check, note = export_onnx(tmp / ONNX_FILE, deployed, input_shape, inputs, reference, rtol)
        checks.append(check)
        notes.extend([note] if note else [])
    if "torchscript" in formats:
        say("exporting and checking TorchScript")
        checks.append(export_torchscript(tmp / TORCHSCRIPT_FILE, deployed, inputs, reference, rtol))
    failed = [c for c in checks if not c.passed]
    if failed:
        worst = failed[0]
        raise ExportError(
            f"{worst.format} output differs from the eager model: max relative error {worst.max_rel_error:.3g} "
            f"> bound {worst.bound:.0e}; nothing was exported (raise rtol only if the difference is expected)"
        )
    write_json(tmp / VERIFICATION_FILE, {"created": created, "checks": [c.to_dict() for c in checks]})

    say(f"profiling on {device}")
    fp = local_fingerprint(device)
    write_json(tmp / FINGERPRINT_FILE, fp)
    measured = profile_export(
        deployed, input_shape, device, search, enabled=profile, budget_s=profile_budget_s, runtime=profile_runtime
    )
    measured["counts"] = count_summary(config, input_shape)
    write_json(tmp / PROFILE_FILE, measured)
    if search is not None:
        write_json(tmp / SEARCH_METRICS_FILE, search)

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
    write_text_atomic(tmp / MODEL_CARD_FILE, model_card(result, input_shape=input_shape, fingerprint=fp))
    manifest = write_manifest(tmp, config, input_shape, created)
    result.files = [*manifest["files"], MANIFEST_FILE, MANIFEST_DIGEST_FILE]
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
        from search_spaces.eru_config import is_language_spec
        from search_spaces.segmentation import is_segmentation_spec, resolve_segmentation

        if is_language_spec(spec):  # an ERU or LSTM language model (`lstm:eru-7m` needs counting)
            from profilers.language_counting import resolve_model

            return resolve_model(spec), None

        return (resolve_segmentation(spec) if is_segmentation_spec(spec) else resolve(spec)), None
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
    from nas.search.tasks import config_from_json  # a classifier's, a segmentation or a language config
    from results.select import select
    from results.store import open_run

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
    config = config_from_json(config_json)  # a classifier's or a segmentation config
    return config, _search_record(opened, row, how)


def _search_record(opened: Any, row: Any, how: str) -> dict[str, Any]:
    """The search's values for the selected trial, with units, as stored in search_metrics.json."""
    metrics: dict[str, Any] = {}
    for name, unit in opened.metrics.items():
        value = plain(row.get(name))
        if value is None:
            continue
        entry: dict[str, Any] = {"value": value, "unit": unit}
        for suffix in ("_iqr", "_ci_lo", "_ci_hi"):
            spread = plain(row.get(name + suffix))
            if spread is not None:
                entry[suffix[1:]] = spread
        metrics[name] = entry
    record: dict[str, Any] = {
        "run": str(Path(opened.path).resolve()),
        "run_name": opened.name,
        "selected_by": how,
        "trial_id": str(row["trial_id"]),
        "number": plain(row.get("number")),
        "status": plain(row.get("status")),
        "arch_id": plain(row.get("arch_id")),
        "params": plain(row.get("params")),
        "macs": plain(row.get("macs")),
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
    # nas.search.driver keeps its settings under "search"; other writers may keep them at the top.
    settings = dict(stored.get("search") or stored) if isinstance(stored, Mapping) else {}
    settings.update({k: meta[k] for k in ("flops_band", "seed", "targets") if meta.get(k) is not None})
    record["search_settings"] = plain_tree(settings)
    record["config_json"] = str(row["config_json"])
    return record


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------


def _default_name(spec: Any, config: EESPConfig, search: dict[str, Any] | None) -> str:
    """exports/<run>-<trial> for a run's trial, exports/<preset> for a preset, else exports/<arch_id>."""
    from search_spaces import PRESETS
    from search_spaces.segmentation import SEGMENTATION_PRESETS

    if search is not None:
        name = f"{search['run_name']}-{search['trial_id']}"
    elif isinstance(spec, str) and (spec in PRESETS or spec in SEGMENTATION_PRESETS):
        name = spec
    else:
        name = config.arch_id
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


class _Reporter:
    """One line per export step on stderr (training shows its own progress bar)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"export: {message}", file=sys.stderr, flush=True)

"""Export of a segmentation network: trained, written as safetensors, ONNX and TorchScript, each verified.

The directory has the classifier export's layout (nas/export/layout.py; `nas.load` reads it) with the
segmentation config in config.json. ONNX and TorchScript hold the deploy form (BN folded) with a dynamic
batch, height and width: both are run on three input sizes, two of them not multiples of 16 (by default
1x3x64x96, 2x3x50x77 and 1x3x97x130) and compared with the eager model (max |out - ref| / max |ref|, bound
`rtol`). Where the ONNX exporter cannot make H and W dynamic, one static ONNX file per checked size is
written instead (model.<H>x<W>.onnx) and verification.json says so.

Training uses nas.train.segmentation (resumable in a work directory next to the target); like the classifier's
export, nothing is written half-way: the directory is assembled under a temporary name and moved into place
once every check has passed.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.export.formats import (
    FORMATS,
    FormatCheck,
    max_rel_error,
    parse_formats,
    quiet_torch,
    save_weights,
    write_onnx,
)
from nas.export.layout import (
    CONFIG_FILE,
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
    write_json,
    write_manifest,
)
from results.files import atomic_path, write_text_atomic
from results.timestamps import now_iso

# (batch, H, W): the first is a multiple of 16, the other two are not (and 97 is odd).
CHECK_SIZES = ((1, 64, 96), (2, 50, 77), (1, 97, 130))
DEFAULT_RTOL = 1e-4


@dataclass
class SegmentationExport:
    """What `export_segmentation` wrote and checked."""

    path: Path
    config: Any
    checks: list[FormatCheck]
    training: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def miou(self) -> float | None:
        return (self.training.get("scores") or {}).get("miou")

    def summary(self) -> str:
        checks = ", ".join(f"{c.format} {c.max_rel_error:.1e}" for c in self.checks)
        miou = "untrained" if self.miou is None else f"val mIoU {self.miou:.4f}"
        lines = [f"exported {self.config.arch_id} to {self.path}: {miou}; checked against eager: {checks}"]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"load it with: nas.load({str(self.path)!r})")
        return "\n".join(lines)


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"export: {message}", file=sys.stderr, flush=True)


def _inputs(in_channels: int, sizes: Sequence[tuple[int, int, int]], seed: int) -> list[Any]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return [torch.randn((b, in_channels, h, w), generator=generator) for b, h, w in sizes]


def _sizes_text(inputs: Sequence[Any]) -> tuple[str, ...]:
    return tuple("x".join(str(v) for v in x.shape) for x in inputs)


def export_onnx_dynamic(
    directory: Path, deployed: Any, inputs: Sequence[Any], reference: Sequence[Any], rtol: float
) -> tuple[FormatCheck, list[str], str | None]:
    """model.onnx with dynamic batch, H and W, run by onnxruntime on every input; if the exporter cannot make
    H and W dynamic, one static file per input size. Returns the check, the files written and a note."""
    import onnxruntime
    import torch

    in_channels = inputs[0].shape[1]
    example = (torch.zeros((2, in_channels, 67, 93)),)  # sizes that no check uses and no rule specialises
    dims = (
        {
            0: torch.export.Dim("batch", min=1, max=1024),
            2: torch.export.Dim("height", min=32, max=8192),
            3: torch.export.Dim("width", min=32, max=8192),
        },
    )
    note = None
    path = directory / ONNX_FILE
    try:
        write_onnx(deployed, example, path, input_names=["input"], output_names=["logits"], dynamic_shapes=dims)
        files = {tuple(x.shape[-2:]): path for x in inputs}
    except Exception as err:  # the dynamic export is refused: one static file per size, and say so
        note = f"ONNX with dynamic H/W failed ({type(err).__name__}); wrote one static file per checked size"
        files = {}
        for x in inputs:
            h, w = x.shape[-2:]
            static = directory / f"model.{h}x{w}.onnx"
            write_onnx(deployed, (torch.zeros_like(x),), static, input_names=["input"], output_names=["logits"])
            files[(h, w)] = static
    outputs = []
    sessions: dict[Path, Any] = {}
    for x in inputs:
        file = files[tuple(x.shape[-2:])]
        session = sessions.setdefault(file, onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"]))
        try:
            outputs.append(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
        except Exception as err:
            raise ExportError(
                f"{file.name} does not run in onnxruntime on input {tuple(x.shape)} ({type(err).__name__}); "
                "nothing was exported"
            ) from None
    check = FormatCheck(
        "onnx",
        ONNX_FILE if note is None else ",".join(sorted(p.name for p in set(files.values()))),
        max_rel_error(outputs, reference),
        rtol,
        tuple(int(x.shape[0]) for x in inputs),
        f"onnxruntime {onnxruntime.__version__}",
    )
    return check, sorted({p.name for p in files.values()}), note


def export_torchscript_dynamic(
    path: Path, deployed: Any, inputs: Sequence[Any], reference: Sequence[Any], rtol: float
) -> FormatCheck:
    """Trace the deploy form (at a size no check uses), save, load back and run every input size."""
    import torch

    with quiet_torch():
        example = torch.zeros((2, inputs[0].shape[1], 67, 93))
        traced = torch.jit.trace(deployed, (example,), check_trace=False)
        with atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp))
        loaded = torch.jit.load(str(path), map_location="cpu").eval()
        outputs = [loaded(x).detach() for x in inputs]
    return FormatCheck(
        "torchscript",
        TORCHSCRIPT_FILE,
        max_rel_error(outputs, reference),
        rtol,
        tuple(int(x.shape[0]) for x in inputs),
        "torch.jit.load",
    )


def export_segmentation(
    config: Any,
    *,
    data: Any = "scenes",
    crop_size: int | tuple[int, int] = 64,
    epochs: int = 10,
    batch_size: int = 8,
    formats: Sequence[str] | str = FORMATS,
    out: str | Path | None = None,
    overwrite: bool = False,
    train: bool = True,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    check_sizes: Sequence[tuple[int, int, int]] = CHECK_SIZES,
    search: dict[str, Any] | None = None,
    progress: bool = True,
    keep_checkpoints: bool = False,
) -> SegmentationExport:
    """Train a segmentation config (a `SegmentationConfig` or spec) and write a verified export directory."""
    import torch

    from nas.train.data.segmentation import SegmentationData, load_segmentation_data
    from nas.train.segmentation import adapt_segmentation_config, train_segmentation
    from search_spaces import deploy
    from search_spaces.segmentation import resolve_segmentation
    from search_spaces.segmentation_net import SegmentationNet

    wanted = parse_formats(formats)
    cfg = resolve_segmentation(config)
    target = Path(out) if out is not None else Path("exports") / f"seg-{cfg.arch_id}"
    check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    work = target.parent / f".{target.name}.train-{cfg.arch_id}"
    if train:
        source = data if isinstance(data, SegmentationData) else load_segmentation_data(data, crop_size, seed=seed)
        _say(progress, f"training {cfg.arch_id} on {source.name}")
        result = train_segmentation(
            cfg, source, epochs=epochs, batch_size=batch_size, out_dir=work, resume=(work / "checkpoint.pt").is_file(),
            seed=seed, progress=progress,
        )  # fmt: skip
        model, trained = result.model, result.config
        training = {
            "trained": True,
            "data": source.name,
            "classes": list(source.class_names),
            "settings": result.settings,
            "history": result.history,
            "scores": result.scores.to_dict(source.class_names),
            "recipe": "Adam lr 5e-4, poly 0.9, main + auxiliary cross-entropy, scale/crop/flip",
        }
        if trained != cfg:
            notes.append(f"the trainer matched the config to the data: arch {cfg.arch_id} -> {trained.arch_id}")
        cfg = trained
    else:
        torch.manual_seed(seed)
        model = SegmentationNet(cfg)
        training = {"trained": False, "seed": seed, "reason": "train=False: the weights are the initialisation"}
        if isinstance(data, SegmentationData):
            cfg = adapt_segmentation_config(cfg, data)
            model = SegmentationNet(cfg)
    model = model.cpu().eval()
    inputs = _inputs(cfg.in_channels, check_sizes, seed)
    with quiet_torch():
        reference = [model(x).detach() for x in inputs]
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    created = now_iso()
    shape = (1, cfg.in_channels, *cfg.input_size)
    try:
        save_weights(tmp / WEIGHTS_FILE, model, cfg)
        write_text_atomic(tmp / CONFIG_FILE, cfg.to_json(indent=2) + "\n")
        write_json(tmp / TRAINING_FILE, training)
        write_manifest(tmp, cfg, shape, created)
        from nas.export.loading import load

        _say(progress, "checking the safetensors weights through nas.load")
        loaded = load(tmp)
        with quiet_torch():
            outputs = [loaded(x).detach() for x in inputs]
        batches = tuple(int(x.shape[0]) for x in inputs)
        error = max_rel_error(outputs, reference)
        checks = [FormatCheck("safetensors", WEIGHTS_FILE, error, rtol, batches, "nas.load")]
        deployed = deploy(model).eval()
        if "onnx" in wanted:
            _say(progress, "exporting and checking ONNX (dynamic batch, height and width)")
            check, _, note = export_onnx_dynamic(tmp, deployed, inputs, reference, rtol)
            checks.append(check)
            notes.extend([note] if note else [])
        if "torchscript" in wanted:
            _say(progress, "exporting and checking TorchScript")
            checks.append(export_torchscript_dynamic(tmp / TORCHSCRIPT_FILE, deployed, inputs, reference, rtol))
        failed = [c for c in checks if not c.passed]
        if failed:
            worst = failed[0]
            raise ExportError(
                f"{worst.format} output differs from the eager model: max relative error {worst.max_rel_error:.3g} "
                f"> bound {worst.bound:.0e}; nothing was exported"
            )
        verification = {
            "created": created,
            "input_sizes": list(_sizes_text(inputs)),
            "dynamic_height_width": not any("static" in n for n in notes),
            "checks": [c.to_dict() for c in checks],
        }
        write_json(tmp / VERIFICATION_FILE, verification)
        from profilers.segmentation_counting import count_segmentation

        counts = count_segmentation(cfg)
        write_json(
            tmp / PROFILE_FILE,
            {"counts": {"params": counts.params, "conv_macs": counts.conv_macs, "input_size": list(cfg.input_size)}},
        )
        if search is not None:
            write_json(tmp / SEARCH_METRICS_FILE, search)
        write_text_atomic(tmp / MODEL_CARD_FILE, _card(cfg, training, checks, inputs, counts, notes))
        write_manifest(tmp, cfg, shape, created)
        move_into_place(tmp, target, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if train and not keep_checkpoints:
        shutil.rmtree(work, ignore_errors=True)
    _say(progress, f"done: {target}")
    return SegmentationExport(target, cfg, checks, training, notes, sorted(p.name for p in target.iterdir()))


def _card(cfg: Any, training: dict[str, Any], checks: list[FormatCheck], inputs: Sequence[Any], counts: Any, notes):
    scores = training.get("scores") or {}
    lines = [
        f"# ESPNetv2 segmentation network {cfg.arch_id}",
        "",
        f"- config: `{cfg.to_compact()}`",
        f"- classes: {cfg.num_classes}; parameters {counts.params:,}; conv MACs {counts.conv_macs:,} at "
        f"{cfg.input_size[0]}x{cfg.input_size[1]}",
        f"- trained: {training.get('trained')} on {training.get('data', '-')}; validation mIoU "
        f"{scores.get('miou', float('nan')):.4f}, pixel accuracy {scores.get('pixel_accuracy', float('nan')):.4f}"
        if training.get("trained")
        else "- not trained (initial weights)",
        "- any input H, W >= 32; the output has the input's H x W (logits per class)",
        "",
        "| format | file | max rel. error | bound | checked on |",
        "|---|---|---|---|---|",
    ]
    sizes = ", ".join(_sizes_text(inputs))
    lines += [f"| {c.format} | {c.file} | {c.max_rel_error:.2e} | {c.bound:.0e} | {sizes} |" for c in checks]
    lines += ["", "```python", "import nas", "", "model = nas.load('THIS_DIRECTORY')", "mask = model(images).argmax(1)"]
    lines += ["```", ""]
    lines += [f"Note: {n}" for n in notes]
    return "\n".join(lines) + "\n"

"""The deployable formats of an export and their checks against the eager model.

safetensors holds the trained weights of the eager network (checked by loading them back through `nas.load`);
ONNX and TorchScript hold the deploy form (BN folded), traced with a dynamic batch and run by onnxruntime and
`torch.jit.load`. Each check runs random inputs through the file and compares with the eager model's outputs:
`max_rel_error` against a bound, recorded as a `FormatCheck`.

Only the standard library is imported at module level (`import nas` stays cheap).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.export.layout import ONNX_FILE, TORCHSCRIPT_FILE, WEIGHTS_FILE, WEIGHTS_FORMAT, ExportError
from results.files import atomic_path
from search_spaces.errors import EspnasError, one_line

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from search_spaces import EESPConfig

FORMATS = ("safetensors", "onnx", "torchscript")
FORMAT_FILES = {"safetensors": WEIGHTS_FILE, "onnx": ONNX_FILE, "torchscript": TORCHSCRIPT_FILE}
# Relative error bound for a format against the eager fp32 model: max|out - ref| / max|ref|. Folding BN and
# reordering float sums (onnxruntime's kernels) moves outputs by ~1e-6 relative; 1e-4 leaves room for deep
# networks while still catching any real mistake (a wrong weight or layer moves outputs by O(1)).
DEFAULT_RTOL = 1e-4
CHECK_BATCH_SIZES = (1, 3)  # two batch sizes: the ONNX file's batch axis is dynamic and both must agree
ONNX_OPSET = 18


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


def parse_formats(formats: Sequence[str] | str) -> tuple[str, ...]:
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


def random_inputs(input_shape: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return [torch.randn((b, *input_shape[1:]), generator=generator) for b in CHECK_BATCH_SIZES]


def save_weights(path: Path, model: nn.Module, config: EESPConfig) -> None:
    from safetensors.torch import save_file

    # Clone so that no two names share storage (safetensors refuses shared tensors) and all are contiguous.
    tensors = {name: t.detach().cpu().contiguous().clone() for name, t in model.state_dict().items()}
    metadata = {"format": WEIGHTS_FORMAT, "arch_id": config.arch_id, "config": config.to_json()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def check_safetensors(directory: Path, inputs: list[Any], reference: list[Any], rtol: float) -> FormatCheck:
    from nas.export.loading import load

    loaded = load(directory)
    with quiet_torch():
        outputs = [loaded(x).detach() for x in inputs]
    return FormatCheck(
        "safetensors", WEIGHTS_FILE, max_rel_error(outputs, reference), rtol, CHECK_BATCH_SIZES, "nas.load"
    )


def write_onnx(
    model: nn.Module,
    example: tuple[Any, ...],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_shapes: Any = None,
) -> None:
    """`model` traced at `example` into an ONNX file at `path` (torch.export, opset ONNX_OPSET, one file),
    written atomically, with torch's export chatter silenced. `dynamic_shapes` as torch.onnx.export takes it."""
    import torch

    with quiet_torch(), atomic_path(path) as tmp:
        torch.onnx.export(
            model,
            example,
            str(tmp),
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_shapes=dynamic_shapes,
            opset_version=ONNX_OPSET,
            external_data=False,
            dynamo=True,
            verbose=False,
        )


def export_onnx(
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
    with _format_failure("onnx"):
        write_onnx(
            deployed, example, path, input_names=["input"], output_names=["logits"], dynamic_shapes=({0: batch},)
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
                f"{ONNX_FILE} does not run in onnxruntime on input {tuple(x.shape)} ({one_line(err)}); "
                "nothing was exported"
            ) from None
    runtime = f"onnxruntime {onnxruntime.__version__}"
    return FormatCheck("onnx", ONNX_FILE, max_rel_error(outputs, reference), rtol, CHECK_BATCH_SIZES, runtime), None


def export_torchscript(
    path: Path, deployed: nn.Module, inputs: list[Any], reference: list[Any], rtol: float
) -> FormatCheck:
    """Trace the deploy form to TorchScript, save it, load the file back and compare."""
    import torch

    with quiet_torch(), _format_failure("torchscript"):
        # Traced at batch 2 so that no size-1 batch is baked in; the check then runs batches 1 and 3.
        traced = torch.jit.trace(deployed, (torch.zeros((2, *inputs[0].shape[1:])),), check_trace=False)
        with atomic_path(path) as tmp:
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
            f"{name} export failed ({type(err).__name__}: {one_line(err)}); nothing was exported. "
            f"Leave the format out with --formats {others}: training resumes from its checkpoint"
        ) from err


@contextlib.contextmanager
def quiet_torch() -> Iterator[None]:
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

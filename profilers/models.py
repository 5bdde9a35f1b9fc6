"""Turning what the user named (a module, an EESP spec, a torchvision baseline) into a model ready to time.

Everything that changes what is measured (device, dtype, memory format, deploy form, torch.compile) is
applied here, once, outside any timed region, and recorded in `Prepared.options`.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import torch
from torch import nn

from profilers.backend import device_type
from search_spaces.errors import EspnasError, one_line

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

#: The paper's baselines (Table 2/Figure 5), only where torchvision imports; never required.
TORCHVISION_PREFIX = "torchvision:"
TORCHVISION_BASELINES = (
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "mobilenet_v2",
)


class PrepareOptions(TypedDict, total=False):
    """`prepare`'s keyword options, which every measurement takes and passes on unchanged."""

    batch_size: int | None
    dtype: str
    channels_last: bool
    deploy: bool
    compile: bool
    seed: int


@dataclass
class Prepared:
    """A model on its device in its measured form, with an input of the measured shape."""

    model: nn.Module
    inputs: torch.Tensor
    label: str
    device: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return int(self.inputs.shape[0])

    def forward(self) -> torch.Tensor:
        return self.model(self.inputs)


def model_label(model_or_spec: Any) -> str:
    """A short name for reports: the spec string, or the config's arch id, or the class name."""
    if isinstance(model_or_spec, str):
        return model_or_spec
    config = getattr(model_or_spec, "config", None)
    if config is not None and hasattr(config, "arch_id"):
        return f"{type(model_or_spec).__name__}:{config.arch_id}"
    if hasattr(model_or_spec, "arch_id"):
        return f"config:{model_or_spec.arch_id}"
    return type(model_or_spec).__name__


def load_model(model_or_spec: Any) -> nn.Module:
    """A copy of an `nn.Module` (the caller's model keeps its device, dtype and train/eval mode), a
    torchvision baseline ("torchvision:NAME"), or `search_spaces.build(spec)`."""
    if isinstance(model_or_spec, nn.Module):
        return copy.deepcopy(model_or_spec)
    if isinstance(model_or_spec, str) and model_or_spec.startswith(TORCHVISION_PREFIX):
        return _torchvision_model(model_or_spec[len(TORCHVISION_PREFIX) :])
    from search_spaces import build  # imported late: the generator is optional for plain modules

    return build(model_or_spec)


def _torchvision_model(name: str) -> nn.Module:
    if name not in TORCHVISION_BASELINES:
        raise EspnasError(
            f"unknown torchvision baseline {name!r}; valid: "
            + ", ".join(TORCHVISION_PREFIX + n for n in TORCHVISION_BASELINES)
        )
    try:
        models = importlib.import_module("torchvision.models")
    except ImportError as err:
        raise EspnasError(
            f"torchvision baseline {name!r} needs torchvision, which does not import here ({err}); "
            "install torchvision or name an EESP spec"
        ) from None
    return getattr(models, name)(weights=None)


def default_input_size(model: nn.Module) -> tuple[int, int]:
    """(H, W) from the model's config where it has one, else 224x224 (ImageNet, as in the paper)."""
    config = getattr(model, "config", None)
    size = getattr(config, "input_size", None)
    if size is None:
        return (224, 224)
    return (int(size[0]), int(size[1]))


def default_in_channels(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    return int(getattr(config, "in_channels", 3) or 3)


def input_shape_for(
    input_shape: Sequence[int] | None, model: nn.Module, batch_size: int | None = None
) -> tuple[int, int, int, int]:
    """Full (N, C, H, W) from (H, W), (C, H, W) or (N, C, H, W), or None (the model config's input size).

    `batch_size`, when given, sets N (so a batch sweep can pass one shape).
    """
    if input_shape is None:
        h, w = default_input_size(model)
        shape = [1, default_in_channels(model), h, w]
    else:
        shape = [int(v) for v in input_shape]
        if len(shape) == 2:
            shape = [1, default_in_channels(model), *shape]
        elif len(shape) == 3:
            shape = [1, *shape]
        if len(shape) != 4:
            raise EspnasError(f"input_shape must be (H, W), (C, H, W) or (N, C, H, W), got {tuple(input_shape)}")
    if batch_size is not None:
        shape[0] = int(batch_size)
    if any(v <= 0 for v in shape):
        raise EspnasError(f"input shape must be positive, got {tuple(shape)}")
    return (shape[0], shape[1], shape[2], shape[3])


def parse_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise EspnasError(f"unknown dtype {name!r}; valid: {', '.join(DTYPES)}") from None


def prepare(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str = "cpu",
    *,
    batch_size: int | None = None,
    dtype: str = "fp32",
    channels_last: bool = False,
    deploy: bool = False,
    compile: bool = False,
    seed: int = 0,
) -> Prepared:
    """Load, convert and place a model, and make a random input for it; checks the forward runs once.

    The one trial forward turns an unsupported combination (fp16 on an old CPU build, say) into a one-line
    error here rather than a traceback in the middle of a timed loop.
    """
    kind = device_type(device)
    if kind == "cuda" and not torch.cuda.is_available():
        raise EspnasError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    torch_dtype = parse_dtype(dtype)
    label = model_label(model_or_spec)
    model = load_model(model_or_spec)
    shape = input_shape_for(input_shape, model, batch_size)
    model = model.eval()
    if deploy:
        model = _deploy_form(model)
    model = model.to(device=device, dtype=torch_dtype)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model = model.to(memory_format=memory_format)
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(shape, generator=gen).to(device=device, dtype=torch_dtype)
    inputs = inputs.contiguous(memory_format=memory_format)
    if compile:
        model = torch.compile(model)
    prepared = Prepared(
        model=model,
        inputs=inputs,
        label=label,
        device=str(device),
        options={
            "batch_size": shape[0],
            "input_shape": list(shape),
            "dtype": dtype,
            "channels_last": channels_last,
            "deploy": deploy,
            "compile": compile,
        },
    )
    try:
        with torch.inference_mode():
            prepared.forward()
    except (RuntimeError, NotImplementedError, TypeError) as err:
        first = one_line(err)
        raise EspnasError(
            f"{label} does not run on {device} with dtype={dtype}, channels_last={channels_last}, "
            f"compile={compile}, input {tuple(shape)}: {first}"
        ) from None
    return prepared


def _deploy_form(model: nn.Module) -> nn.Module:
    if getattr(model, "config", None) is None:
        raise EspnasError(
            f"deploy form (BN folded) is defined for EESP models only, not {type(model).__name__}; "
            "drop --deploy for baselines"
        )
    from search_spaces import deploy as make_deploy

    return make_deploy(model)


@contextlib.contextmanager
def thread_scope(threads: int | None) -> Iterator[int]:
    """Fix torch's intra-op thread count for the duration (restored after); yields the count in force."""
    before = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise EspnasError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def prepared_with_threads(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str,
    threads: int | None,
    **options: Unpack[PrepareOptions],
) -> Iterator[tuple[Prepared, int]]:
    """`prepare` inside `thread_scope(threads)`: yields the prepared model and the thread count in force."""
    with thread_scope(threads) as used_threads:
        yield prepare(model_or_spec, input_shape, device, **options), used_threads

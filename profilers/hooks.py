"""Counts taken from a built model by running it: forward hooks on every layer, plus a TorchFunctionMode that
sees tensor additions. Same conventions and layer names as `profilers.counting` (see its docstring), so the
analytic counts can be checked against the model that actually runs."""

from __future__ import annotations

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from profilers.counting import Counts, LayerCount
from search_spaces.network import EESPNet

_ADDITIONS = {torch.add, torch.Tensor.add, torch.Tensor.__add__, torch.Tensor.__radd__, torch.Tensor.__iadd__}


def _stage_of(name: str) -> str:
    if name.startswith("stem"):
        return "L1"
    if name.startswith("stages."):
        return f"L{int(name.split('.')[1]) + 2}"
    return "classifier" if name == "classifier" else "head"


class _AdditionCounter(TorchFunctionMode):
    def __init__(self, stack: list[str], layers: list[LayerCount]) -> None:
        super().__init__()
        self.stack, self.layers = stack, layers

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _ADDITIONS and isinstance(out, torch.Tensor):
            name = self.stack[-1] if self.stack else ""
            shape = tuple(out.shape[1:]) if out.dim() == 4 else (out.numel(), 1, 1)
            self.layers.append(LayerCount(f"{name}:add", _stage_of(name), "add", 0, 0, out[0].numel(), shape))
        return out


def _leaf_count(name: str, module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> LayerCount | None:
    params = sum(p.numel() for p in module.parameters(recurse=False))
    per_image = out[0].numel()
    shape = tuple(out.shape[1:]) if out.dim() == 4 else (out.shape[1], 1, 1)
    stage = _stage_of(name)
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        macs = per_image * (module.in_channels // module.groups) * kh * kw
        return LayerCount(name, stage, "conv", params, macs, 0, shape)
    if isinstance(module, nn.Linear):
        return LayerCount(name, stage, "linear", params, module.in_features * module.out_features, 0, shape)
    if isinstance(module, nn.BatchNorm2d):
        return LayerCount(name, stage, "bn", params, 0, per_image, shape)
    if isinstance(module, nn.PReLU):
        return LayerCount(name, stage, "prelu", params, 0, per_image, shape)
    if isinstance(module, nn.AvgPool2d):
        kh, kw = (module.kernel_size, module.kernel_size) if isinstance(module.kernel_size, int) else module.kernel_size
        return LayerCount(name, stage, "pool", params, 0, kh * kw * per_image, shape)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return LayerCount(name, stage, "pool", params, 0, inp[0].numel(), shape)
    return None


def count_model(model: EESPNet, input_size: tuple[int, int] | None = None) -> Counts:
    """Run `model` once on a zero image of `input_size` (default: its config's) and count every layer call."""
    cfg = model.config if input_size is None else model.config.replace(input_size=tuple(input_size))
    layers: list[LayerCount] = []
    stack: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue
        handles.append(module.register_forward_pre_hook(lambda m, a, name=name: stack.append(name)))

        def post(m, args, out, name=name):
            stack.pop()
            record = _leaf_count(name, m, args[0], out)
            if record is not None:
                layers.append(record)

        handles.append(module.register_forward_hook(post))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _AdditionCounter(stack, layers):
            model(torch.zeros(1, cfg.in_channels, *cfg.input_size))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return Counts.from_layers(cfg, (cfg.input_size[0], cfg.input_size[1]), _attribute_image_pools(layers))


def _attribute_image_pools(layers: list[LayerCount]) -> list[LayerCount]:
    """The shared image pool runs just before the down-sampler it feeds: give each of its calls that stage."""
    out, following = [], "L2"
    for layer in reversed(layers):
        if layer.name == "image_pool":
            layer = layer._replace(stage=following)
        elif layer.name.startswith("stages."):
            following = layer.stage
        out.append(layer)
    return out[::-1]

"""Zero-cost proxies: score an untrained network from one minibatch, in a fraction of a second.

A registry of measures in the manner of SamsungLabs' zero-cost-nas (Abdelfattah et al., ICLR 2021): each
measure is a function of (model, inputs, targets) returning one float where larger should mean "trains to a
higher accuracy", and each states how it treats BatchNorm, because the published measures differ there:

| measure   | what it computes                                                            | BatchNorm          |
|-----------|-----------------------------------------------------------------------------|--------------------|
| grad_norm | sum over conv/linear layers of the L2 norm of dLoss/dW                       | batch statistics   |
| snip      | sum of abs(W * dLoss/dW) (Lee et al., 2019)                                 | batch statistics   |
| synflow   | sum of abs(W * dR/dW), R = sum of the output of the net with abs weights on  | removed (identity) |
|           | an all-ones input, in float64 (Tanaka et al., 2020); data-free               |                    |
| naswot    | log det of the Hamming kernel of the activations' on/off codes over the      | batch statistics   |
|           | batch (Mellor et al., 2021)                                                 |                    |
| jacob_cov | -sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the correlation of   | batch statistics   |
|           | the per-sample input Jacobians, k = 1e-5 (Mellor et al., 2020 v1)            |                    |
| zico      | sum over layers of log(sum of mean(abs g) / std(g)), g the weight gradients | batch statistics   |
|           | of the batch split into chunks (Li et al., ICLR 2023)                        |                    |
| meco      | sum over conv outputs of the smallest eigenvalue of the channel correlation | batch statistics   |
|           | matrix on one sample (Jiang et al., NeurIPS 2023)                            |                    |

"Activations" are the inputs of ReLU and PReLU modules (ESPNetv2 uses PReLU: its on/off code is x > 0 too).
The model is never modified: measures that change weights or BatchNorm work on a copy. `zero_cost_scores`
scores a config on a data source's first (seeded) training batch; benchmarks/zero_cost_ranking.py measures
each one's Spearman against trained accuracy.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.errors import EspnasError

__all__ = ["MEASURES", "Measure", "measure_names", "zero_cost", "zero_cost_scores"]

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_ACT = (nn.ReLU, nn.PReLU, nn.ReLU6, nn.LeakyReLU)


@dataclass(frozen=True)
class Measure:
    """One zero-cost measure: `fn(model, inputs, targets) -> float`, larger = predicted better."""

    name: str
    fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], float]
    bn: str  # how BatchNorm is treated: "batch" (train-mode statistics) or "removed"
    description: str


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.requires_grad]


def _loss_gradients(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> list[nn.Module]:
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(inputs), targets).backward()
    return [m for m in _weighted_layers(model) if m.weight.grad is not None]


def grad_norm(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    layers = _loss_gradients(model, inputs, targets)
    return float(sum(float(m.weight.grad.norm(2)) for m in layers))


def snip(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    layers = _loss_gradients(model, inputs, targets)
    return float(sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in layers))


def _without_bn(model: nn.Module) -> nn.Module:
    clone = copy.deepcopy(model)
    for name, child in list(clone.named_modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, _BN):
                setattr(child, attr, nn.Identity())
        del name
    return clone


def synflow(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    del targets
    net = _without_bn(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64)
    net(ones).sum().backward()
    return float(
        sum(
            float((m.weight.detach() * m.weight.grad).abs().sum())
            for m in _weighted_layers(net)
            if m.weight.grad is not None
        )
    )


def _activation_codes(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    codes: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        codes.append((args[0].detach() > 0).flatten(1).double())

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, _ACT)]
    try:
        model.train()
        with torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    if not codes:
        raise EspnasError("naswot needs ReLU or PReLU modules; the model has none")
    return torch.cat(codes, dim=1)


def naswot(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    del targets
    c = _activation_codes(model, inputs)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    return float(torch.linalg.slogdet(kernel)[1])


def jacob_cov(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    del targets
    model.train()
    x = inputs.clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    jac = x.grad.detach().flatten(1).double()
    corr = torch.corrcoef(jac)
    v = torch.linalg.eigvalsh(torch.nan_to_num(corr, nan=0.0))
    k = 1e-5
    return float(-(torch.log(v.clamp_min(0) + k) + 1.0 / (v.clamp_min(0) + k)).sum())


ZICO_CHUNKS = 2


def zico(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    if len(inputs) < ZICO_CHUNKS:
        raise EspnasError(f"zico needs a batch of at least {ZICO_CHUNKS} samples, got {len(inputs)}")
    per_layer: dict[int, list[torch.Tensor]] = {}
    for xb, yb in zip(inputs.chunk(ZICO_CHUNKS), targets.chunk(ZICO_CHUNKS), strict=True):
        for i, m in enumerate(_loss_gradients(model, xb, yb)):
            per_layer.setdefault(i, []).append(m.weight.grad.detach().flatten().double().clone())
    score = 0.0
    for grads in per_layer.values():
        g = torch.stack(grads)
        std, mean_abs = g.std(dim=0), g.abs().mean(dim=0)
        keep = std > 0
        total = float((mean_abs[keep] / std[keep]).sum())
        if total > 0:
            score += math.log(total)
    return score


def meco(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    del targets
    values: list[float] = []

    def hook(_module: nn.Module, _args: object, out: torch.Tensor) -> None:
        f = out.detach()[0].flatten(1).double()  # (C, H*W) of the first sample
        if f.shape[0] < 2 or f.shape[1] < 2:
            return
        corr = torch.nan_to_num(torch.corrcoef(f), nan=0.0)
        values.append(float(torch.linalg.eigvalsh(corr)[0]))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        model.train()
        with torch.no_grad():
            model(inputs[:1].expand(2, *inputs.shape[1:]))  # two copies: train-mode BN needs > 1 value
    finally:
        for h in handles:
            h.remove()
    return float(sum(values))


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("grad_norm", grad_norm, "batch", "sum of per-layer gradient norms"),
        Measure("snip", snip, "batch", "connection sensitivity |w * g|"),
        Measure("synflow", synflow, "removed", "synaptic flow on an all-ones input, abs weights, float64"),
        Measure("naswot", naswot, "batch", "log det of the activation-code Hamming kernel"),
        Measure("jacob_cov", jacob_cov, "batch", "input-Jacobian correlation score"),
        Measure("zico", zico, "batch", "log of inverse coefficient of variation of gradients"),
        Measure("meco", meco, "batch", "minimum eigenvalue of channel correlation"),
    )
}


def measure_names() -> tuple[str, ...]:
    return tuple(MEASURES)


def _resolve_measures(names: Iterable[str] | None) -> list[Measure]:
    chosen = list(MEASURES) if names is None else list(names)
    unknown = [n for n in chosen if n not in MEASURES]
    if unknown:
        raise EspnasError(f"unknown zero-cost measure {unknown[0]!r}; valid: {', '.join(MEASURES)}")
    return [MEASURES[n] for n in chosen]


def zero_cost(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, measures: Sequence[str] | None = None
) -> dict[str, float]:
    """Each requested measure (all by default) of `model` on one minibatch; the model is left as it was."""
    chosen = _resolve_measures(measures)
    state = copy.deepcopy(model.state_dict())
    was_training = model.training
    scores: dict[str, float] = {}
    try:
        for m in chosen:
            scores[m.name] = m.fn(model, inputs, targets)
            # Train-mode forwards update BN running statistics: restore them before the next measure.
            model.load_state_dict(state)
    finally:
        model.zero_grad(set_to_none=True)
        model.load_state_dict(state)
        model.train(was_training)
    return scores


def zero_cost_scores(
    config: object,
    data: object = "scenes",
    *,
    measures: Sequence[str] | None = None,
    batch_size: int = 64,
    seed: int = 0,
    image_size: int = 32,
) -> dict[str, float]:
    """Zero-cost scores of a config (any spec) at initialisation (seeded) on the data's first training batch."""
    from nas.train.data import DataSource
    from nas.train.proxy import proxy_data
    from nas.train.trainer import adapt_config
    from search_spaces import build, resolve

    chosen = [m.name for m in _resolve_measures(measures)]
    source = data if isinstance(data, DataSource) else proxy_data(data, image_size, seed)  # type: ignore[arg-type]
    cfg = adapt_config(resolve(config), source)  # type: ignore[arg-type]
    torch.manual_seed(seed)
    model = build(cfg)
    inputs, targets = next(iter(source.loader("train", batch_size, seed=seed, epoch=0)))
    return zero_cost(model, inputs, targets, chosen)

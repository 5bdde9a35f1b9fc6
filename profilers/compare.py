"""Several models timed side by side, interleaved A B A B, so that drift on a busy machine hits all alike.

Each model is prepared and warmed once; then `rounds` rounds each give every model one block of samples of
equal wall time, in the same order. Medians are taken over all of a model's samples and reported as
ratios against the first model, with a bootstrap 95% CI of each ratio (`profilers.stats.ratio_ci`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from profilers.backend import device_type
from profilers.fingerprint import fingerprint
from profilers.latency import LATENCY_BACKENDS, WARMUP_SHARE, LatencyResult, LatencySession
from profilers.models import prepare, thread_scope
from profilers.stats import ratio_ci
from search_spaces.errors import EspnasError


@dataclass
class LatencyComparison:
    """Latency results in the order given, with `ratios[i] = median_i / median_0` and their 95% CIs."""

    results: list[LatencyResult]
    ratios: list[float]
    ratio_ci95: list[tuple[float, float]]
    rounds: int
    fingerprint: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [r.to_dict() for r in self.results],
            "ratios": self.ratios,
            "ratio_ci95": [list(ci) for ci in self.ratio_ci95],
            "rounds": self.rounds,
            "fingerprint": self.fingerprint,
        }


def compare_latency(
    models_or_specs: Sequence[Any],
    input_shape: Sequence[int] | None = None,
    device: str = "cpu",
    *,
    rounds: int = 5,
    time_budget_s: float = 2.0,
    batch_size: int | None = None,
    dtype: str = "fp32",
    channels_last: bool = False,
    deploy: bool | Sequence[bool] = False,
    compile: bool = False,
    cuda_graph: bool = False,
    threads: int | None = None,
    seed: int = 0,
    on_round: Callable[[int], None] | None = None,
) -> LatencyComparison:
    """Interleaved latency of several models; `time_budget_s` is per model (warm-up included).

    `deploy` may be one flag for all or one per model (to time a model against its own deploy form).
    """
    if not models_or_specs:
        raise EspnasError("compare needs at least one model")
    if rounds < 1:
        raise EspnasError(f"rounds must be >= 1, got {rounds}")
    if time_budget_s <= 0:
        raise EspnasError(f"time_budget_s must be > 0, got {time_budget_s}")
    flags = [deploy] * len(models_or_specs) if isinstance(deploy, bool) else list(deploy)
    if len(flags) != len(models_or_specs):
        raise EspnasError(f"deploy has {len(flags)} flags for {len(models_or_specs)} models")
    LATENCY_BACKENDS[device_type(device)].require(device)
    block_s = time_budget_s * (1 - WARMUP_SHARE) / rounds
    with thread_scope(threads) as used_threads:
        sessions = [
            LatencySession(
                prepare(
                    m,
                    input_shape,
                    device,
                    batch_size=batch_size,
                    dtype=dtype,
                    channels_last=channels_last,
                    deploy=flag,
                    compile=compile,
                    seed=seed,
                ),
                cuda_graph=cuda_graph,
            )
            for m, flag in zip(models_or_specs, flags, strict=True)
        ]
        fp = fingerprint(device, threads=used_threads)
        with sessions[0].active():  # inference mode and cuDNN settings are per thread: one scope serves all
            for s in sessions:
                s.warm_up(time_budget_s * WARMUP_SHARE)
            for r in range(rounds):
                for s in sessions:
                    s.take(seconds=block_s)
                if on_round is not None:
                    on_round(r)
        results = [s.result(threads=used_threads, stop_reason=f"{rounds} interleaved rounds", fp=fp) for s in sessions]
    base = results[0]
    ratios = [r.median_ms / base.median_ms for r in results]
    cis = [ratio_ci(r.samples_ms, base.samples_ms, seed=seed) for r in results]
    return LatencyComparison(results=results, ratios=ratios, ratio_ci95=cis, rounds=rounds, fingerprint=fp)

"""Predicted latency in the search: configs of a space for building a latency table, the `latency_pred`
objective's value, and the two-stage screen (predict many, measure only those near the predicted front).

Only the standard library is imported at module level (`import nas` stays cheap).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from search_spaces.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from search_spaces import EESPConfig


def space_configs(space: str | None, n: int, seed: int = 0, *, band: tuple[int, int] | None = None) -> list[EESPConfig]:
    """Up to `n` distinct valid configs drawn at random from a search space (in the FLOP band when given)."""
    from nas.search.space import load_space, sample_to_config

    loaded = load_space(space)
    rng = random.Random(seed)
    out: dict[str, EESPConfig] = {}
    tries = 0
    while len(out) < n and tries < 50 * n + 100:
        tries += 1
        try:
            cfg = sample_to_config(loaded.sample(rng), loaded)
        except ConfigError:
            continue
        if band is not None:
            from profilers.counting import count

            if not band[0] <= count(cfg).conv_macs <= band[1]:
                continue
        out.setdefault(cfg.arch_id, cfg)
    return list(out.values())


@dataclass
class Screen:
    """The two-stage screen's outcome: which candidates were measured, and all their values."""

    measured: list[int]
    predicted: list[float]
    values: list[float | None]
    seconds_measuring: float
    notes: list[str] = field(default_factory=list)


def near_front(points: Sequence[Sequence[float]], margin: float) -> list[int]:
    """Indices of points (all objectives minimised) within `margin` (relative, on the predicted latency, the
    last coordinate) of the Pareto front: point p is kept unless some q dominates p with q's latency scaled up
    by (1 + margin), i.e. unless p would stay dominated even if the prediction were `margin` too optimistic
    for p relative to q."""
    keep = []
    for i, p in enumerate(points):
        dominated = False
        for j, q in enumerate(points):
            if i == j:
                continue
            lat_q = q[-1] * (1 + margin)
            no_worse = all(a <= b for a, b in zip(q[:-1], p[:-1], strict=True)) and lat_q <= p[-1]
            if no_worse and (any(a < b for a, b in zip(q[:-1], p[:-1], strict=True)) or lat_q < p[-1]):
                dominated = True
                break
        if not dominated:
            keep.append(i)
    return keep


def two_stage(
    others: Sequence[Sequence[float]],
    predicted_ms: Sequence[float],
    measure: Callable[[int], float],
    *,
    margin: float = 0.1,
) -> Screen:
    """Measure only the candidates near the front of (other objectives, predicted latency), all minimised.

    `others[i]` are candidate i's other objective values (negate what is maximised); `measure(i)` measures
    its latency. The measured candidates get their measured value; the rest keep None (never measured).
    """
    import time

    points = [(*o, p) for o, p in zip(others, predicted_ms, strict=True)]
    chosen = near_front(points, margin)
    values: list[float | None] = [None] * len(points)
    t0 = time.perf_counter()
    for i in chosen:
        values[i] = float(measure(i))
    return Screen(chosen, list(predicted_ms), values, time.perf_counter() - t0)


def predicted_latency(
    config_json: str, table_path: str | None, *, runtime: str = "deploy", batch: int = 1, threads: int = 1
) -> dict[str, Any]:
    """The `latency_pred` objective of one trial: the table's prediction for the (ImageNet-shaped) config.

    `table_path` None: this machine's table for (runtime, batch, threads) from the table directory."""
    from search_spaces import EESPConfig

    table = _table(table_path, runtime, batch, threads)
    pred = table.predict(EESPConfig.from_json(config_json))
    return {"latency_pred_ms": pred.latency_ms, "table": str(table.path), "flag": pred.flag}


_TABLES: dict[Any, Any] = {}


def _table(path: str | None, runtime: str, batch: int, threads: int) -> Any:
    """A table loaded once per process (a trial worker predicts many configs)."""
    key = (path, runtime, batch, threads)
    if key not in _TABLES:
        from profilers.predictor import LatencyTable, find_table

        if path is not None:
            _TABLES[key] = LatencyTable.load(path)
        else:
            from profilers.predictor.build import current_target

            _TABLES[key] = find_table(current_target(runtime, batch=batch, threads=threads)[0])
    return _TABLES[key]


def resolve_table(path: str | None, runtime: str, device: str, batch: int, threads: int) -> str:
    """The table the search's latency_pred objective will read, checked now (before any trial runs)."""
    from profilers.predictor import LatencyTable, find_table
    from profilers.predictor.build import current_target

    here = current_target(runtime, device, batch=batch, threads=threads)[0]
    if path is not None:
        table = LatencyTable.load(path)
        table.check_target(here)
    else:
        table = find_table(here)
    return str(table.path)

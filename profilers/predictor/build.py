"""Building a latency table on the target: measure every distinct unit a set of configs uses, then a few
whole networks to fit the overhead. Resumable: the table file is rewritten atomically after every unit and
network, and a rerun measures only what it lacks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from profilers.predictor.table import (
    LatencyTable,
    PredictorError,
    default_table_dir,
    fit_overhead,
    table_filename,
    target_of,
)
from profilers.predictor.units import Unit, build_unit, distinct_units
from search_spaces.config import EESPConfig

#: Seconds of timing per unit and per fitting network (warm-up included); units are short, so 0.3 s gives
#: dozens of samples each.
UNIT_BUDGET_S = 0.3
NETWORK_BUDGET_S = 1.0

Progress = Callable[[str, int, int, str], None]  # (phase, done, total, what)


def current_target(runtime: str, device: str = "cpu", *, dtype: str = "fp32", batch: int = 1, threads: int = 1):
    """The target (fingerprint fields, runtime and version, dtype, batch) of this machine now."""
    from profilers.fingerprint import fingerprint
    from profilers.runtimes import get_runtime

    rt = get_runtime(runtime)
    rt.require(device, dtype)
    fp = fingerprint(device, threads=threads) | {"runtime": rt.name, "runtime_version": rt.version()}
    return target_of(fp, dtype=dtype, batch=batch), fp


def _time(loaded: Any, device: str, budget_s: float, min_samples: int = 5) -> dict[str, float]:
    from profilers.latency import WARMUP_SHARE, LatencySession
    from profilers.models import Prepared
    from profilers.stats import StoppingRule, summarize

    class _P(Prepared):
        def forward(self):  # type: ignore[no-untyped-def]
            return loaded.step()

    import torch

    session = LatencySession(_P(model=torch.nn.Identity(), inputs=torch.zeros(1), label="unit", device=device))
    rule = StoppingRule(target_rel_ci=0.02, time_budget_s=budget_s, min_samples=min_samples, max_samples=10_000)
    with session.active():
        t0 = time.perf_counter()
        session.warm_up(budget_s * WARMUP_SHARE)
        while not rule.reason_to_stop(session.samples_ms, time.perf_counter() - t0):
            session.take(n=1)
    s = summarize(session.samples_ms)
    return {"median_ms": s.median, "iqr_ms": s.iqr, "n": s.n}


def measure_unit(
    unit: Unit, runtime: str, device: str = "cpu", *, dtype: str = "fp32", threads: int = 1, budget_s: float = 0.3
) -> dict[str, float]:
    """Median latency of one unit in `runtime` (checked against eager first, like any runtime measurement)."""
    from profilers.models import thread_scope
    from profilers.runtimes import load_checked

    module, inputs = build_unit(unit)
    with thread_scope(threads) as used:
        loaded = load_checked(runtime, module, inputs, device, dtype=dtype, threads=used, label=unit.key)
        return _time(loaded, device, budget_s)


def measure_network(
    config: EESPConfig,
    runtime: str,
    device: str = "cpu",
    *,
    batch: int = 1,
    dtype: str = "fp32",
    threads: int = 1,
    budget_s: float = 1.0,
) -> float:
    """Median latency (ms per batch) of a whole network built from `config`, in `runtime`."""
    from profilers.runtimes import measure_runtime

    res = measure_runtime(
        config, None, device, runtime=runtime, batch_size=batch, dtype=dtype, threads=threads, time_budget_s=budget_s
    )
    return float(res.median_ms)


def build_table(
    unit_configs: Sequence[EESPConfig],
    fit_configs: Sequence[EESPConfig],
    runtime: str,
    device: str = "cpu",
    *,
    batch: int = 1,
    dtype: str = "fp32",
    threads: int = 1,
    directory: str | Path | None = None,
    path: str | Path | None = None,
    unit_budget_s: float = UNIT_BUDGET_S,
    network_budget_s: float = NETWORK_BUDGET_S,
    on_progress: Progress | None = None,
    settings: dict[str, Any] | None = None,
) -> LatencyTable:
    """Measure (or finish measuring) the table for this target and fit its overhead; returns the saved table.

    `unit_configs` say which units to measure (every distinct one they use); `fit_configs` are whole networks
    measured to fit the overhead (keep them out of any accuracy check). The file is
    `<directory>/<runtime>-<device>-b<batch>-<target id>.json` unless `path` is given; an existing file for the
    same target is resumed, one for another target is refused.
    """
    target, fp = current_target(runtime, device, dtype=dtype, batch=batch, threads=threads)
    out = Path(path) if path is not None else Path(directory or default_table_dir()) / table_filename(target)
    if out.is_file():
        table = LatencyTable.load(out)
        table.check_target(target)  # a table for another target is never extended
    else:
        table = LatencyTable(target=target, fingerprint=fp, path=out)
    units = distinct_units([*unit_configs, *fit_configs], batch, runtime)
    todo = [u for u in units if u.key not in table.entries]
    build = table.build
    build.setdefault("seconds_units", 0.0)
    build.setdefault("seconds_networks", 0.0)
    build.update(settings or {})
    build.update(unit_budget_s=unit_budget_s, network_budget_s=network_budget_s, units_total=len(units))
    done = len(units) - len(todo)
    for unit in todo:
        if on_progress:
            on_progress("units", done, len(units), unit.key)
        t = time.perf_counter()
        table.entries[unit.key] = measure_unit(
            unit, runtime, device, dtype=dtype, threads=threads, budget_s=unit_budget_s
        )
        build["seconds_units"] += time.perf_counter() - t
        done += 1
        table.save(out)
    if on_progress:
        on_progress("units", done, len(units), "")
    pending = [c for c in fit_configs if c.arch_id not in table.networks]
    done = len(fit_configs) - len(pending)
    for cfg in pending:
        if on_progress:
            on_progress("networks", done, len(fit_configs), cfg.arch_id)
        t = time.perf_counter()
        ms = measure_network(cfg, runtime, device, batch=batch, dtype=dtype, threads=threads, budget_s=network_budget_s)
        table.networks[cfg.arch_id] = {"config": cfg.to_json(), "latency_ms": ms}
        build["seconds_networks"] += time.perf_counter() - t
        done += 1
        table.save(out)
    if on_progress:
        on_progress("networks", done, len(fit_configs), "")
    refit(table)
    table.save(out)
    return table


def refit(table: LatencyTable) -> None:
    """Fit the table's overhead on the networks it holds (the scale alone is kept at 1 with none)."""
    if not table.networks:
        return
    sums, counts, ys = [], [], []
    for item in table.networks.values():
        cfg = EESPConfig.from_json(item["config"])
        total, n, missing = table.table_sum(cfg)
        if missing:
            raise PredictorError(f"fitting network {cfg.arch_id} uses units the table lacks (e.g. {missing[0]})")
        sums.append(total)
        counts.append(n)
        ys.append(float(item["latency_ms"]))
    table.overhead = fit_overhead(sums, counts, ys)

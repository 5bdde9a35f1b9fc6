"""Building a latency table on the target: measure every distinct unit a set of configs uses, then a few
whole networks to fit the overhead, each relative to a fixed reference timed in alternation with it
(`timing.py`), so that a changing load does not change the table. Resumable: the table file is rewritten
atomically after every unit and network, and a rerun measures only what it lacks."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from profilers.predictor.table import (
    LatencyTable,
    PredictorError,
    calibrate,
    default_table_dir,
    fit_overhead,
    table_filename,
    target_id,
    target_of,
)
from profilers.predictor.timing import (
    NETWORK_ROUNDS,
    UNIT_ROUNDS,
    Relative,
    clock_function,
    default_clock,
    time_relative,
)
from profilers.predictor.units import Unit, build_unit, decompose, distinct_units
from search_spaces.config import EESPConfig

Progress = Callable[[str, int, int, str], None]  # (phase, done, total, what)


def current_target(runtime: str, device: str = "cpu", *, dtype: str = "fp32", batch: int = 1, threads: int = 1):
    """The target (fingerprint fields, runtime and version, dtype, batch) of this machine now."""
    from profilers.fingerprint import fingerprint
    from profilers.runtimes import get_runtime

    rt = get_runtime(runtime)
    rt.require(device, dtype)
    fp = fingerprint(device, threads=threads) | {"runtime": rt.name, "runtime_version": rt.version()}
    return target_of(fp, dtype=dtype, batch=batch), fp


def reference_unit(batch: int) -> Unit:
    """The fixed reference every item is timed against: a middle EESP unit of espnetv2-1.0 (a fraction of a
    millisecond to a few, a shape of every space's kind), at the table's batch."""
    units = [u for u, _ in decompose(EESPConfig.from_scale(1.0), batch) if u.kind == "unit"]
    return units[len(units) // 2]


def load_unit(unit: Unit, runtime: str, device: str, *, dtype: str, threads: int) -> Callable[[], Any]:
    """One unit loaded in `runtime` and checked against eager (like any runtime measurement): its step."""
    from profilers.runtimes import load_checked

    module, inputs = build_unit(unit)
    return load_checked(runtime, module, inputs, device, dtype=dtype, threads=threads, label=unit.key).step


def load_network(
    config: EESPConfig, runtime: str, device: str, *, batch: int, dtype: str, threads: int
) -> Callable[[], Any]:
    """A whole network of `config` loaded and checked in `runtime` with a seeded input: its step."""
    from profilers.runtimes import prepare_runtime

    prepared = prepare_runtime(config, None, device, runtime=runtime, batch_size=batch, dtype=dtype, threads=threads)
    return prepared.forward


class ReferenceTimer:
    """A target (runtime, device, dtype, batch, threads) with its reference loaded: times units and networks
    relative to the reference (`timing.time_relative`). Use as a context: it fixes the thread count and
    inference mode for the duration."""

    def __init__(
        self,
        runtime: str,
        device: str = "cpu",
        *,
        batch: int = 1,
        dtype: str = "fp32",
        threads: int = 1,
        clock: str | None = None,
    ) -> None:
        self.runtime, self.device, self.batch, self.dtype, self.threads = runtime, device, batch, dtype, threads
        self.clock = clock or default_clock(threads, device)
        clock_function(self.clock)  # an unknown name fails here, before anything is loaded
        self.reference = reference_unit(batch)
        self._stack: contextlib.ExitStack | None = None
        self._ref: Callable[[], Any] | None = None

    def __enter__(self) -> ReferenceTimer:
        import torch

        from profilers.models import thread_scope

        stack = contextlib.ExitStack()
        stack.enter_context(thread_scope(self.threads))
        stack.enter_context(torch.inference_mode())
        self._stack = stack
        self._ref = self._load_unit(self.reference)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = self._ref = None

    def _load_unit(self, unit: Unit) -> Callable[[], Any]:
        return load_unit(unit, self.runtime, self.device, dtype=self.dtype, threads=self.threads)

    def _sync(self) -> Callable[[], None] | None:
        if not str(self.device).startswith("cuda"):
            return None
        import torch

        return torch.cuda.synchronize

    def time(self, step: Callable[[], Any], rounds: int) -> Relative:
        if self._ref is None:
            raise PredictorError("ReferenceTimer is used outside its `with` block")
        return time_relative(step, self._ref, rounds=rounds, clock=clock_function(self.clock), sync=self._sync())

    def unit(self, unit: Unit, rounds: int = UNIT_ROUNDS) -> Relative:
        return self.time(self._load_unit(unit), rounds)

    def network(self, config: EESPConfig, rounds: int = NETWORK_ROUNDS) -> Relative:
        kw = {"batch": self.batch, "dtype": self.dtype, "threads": self.threads}
        return self.time(load_network(config, self.runtime, self.device, **kw), rounds)


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
    unit_rounds: int = UNIT_ROUNDS,
    network_rounds: int = NETWORK_ROUNDS,
    clock: str | None = None,
    on_progress: Progress | None = None,
    settings: dict[str, Any] | None = None,
) -> LatencyTable:
    """Measure (or finish measuring) the table for this target and fit its overhead; returns the saved table.

    `unit_configs` say which units to measure (every distinct one they use); `fit_configs` are whole networks
    measured to fit the overhead (keep them out of any accuracy check). Each unit and network is timed
    relative to the target's reference (`ReferenceTimer`), `unit_rounds` / `network_rounds` rounds each. The
    file is `<directory>/<runtime>-<device>-b<batch>-<target id>.json` unless `path` is given; an existing
    file for the same target is resumed (with the same reference and clock), one for another target refused.
    """
    target, fp = current_target(runtime, device, dtype=dtype, batch=batch, threads=threads)
    out = Path(path) if path is not None else Path(directory or default_table_dir()) / table_filename(target)
    timer = ReferenceTimer(runtime, device, batch=batch, dtype=dtype, threads=threads, clock=clock)
    how = {"key": timer.reference.key, "clock": timer.clock}
    if out.is_file():
        table = LatencyTable.load(out)
        table.check_target(target)  # a table for another target is never extended
        had = {k: table.reference.get(k) for k in how}
        if table.entries and had != how:
            raise PredictorError(
                f"latency table {str(out)!r} was measured against reference {had}, not {how}; "
                "build it anew in another file (--out) or with the same clock"
            )
    else:
        table = LatencyTable(target=target, fingerprint=fp, path=out)
    table.reference.update(how)
    units = distinct_units([*unit_configs, *fit_configs], batch, runtime)
    todo = [u for u in units if u.key not in table.entries]
    build = table.build
    build.setdefault("seconds_units", 0.0)
    build.setdefault("seconds_networks", 0.0)
    build.update(settings or {})
    build.update(unit_rounds=unit_rounds, network_rounds=network_rounds, units_total=len(units))
    pending = [c for c in fit_configs if c.arch_id not in table.networks]
    with timer:
        done = len(units) - len(todo)
        for unit in todo:
            if on_progress:
                on_progress("units", done, len(units), unit.key)
            t = time.perf_counter()
            table.entries[unit.key] = timer.unit(unit, unit_rounds).to_dict()
            build["seconds_units"] += time.perf_counter() - t
            done += 1
            table.save(out)
        if on_progress:
            on_progress("units", done, len(units), "")
        done = len(fit_configs) - len(pending)
        for cfg in pending:
            if on_progress:
                on_progress("networks", done, len(fit_configs), cfg.arch_id)
            t = time.perf_counter()
            table.networks[cfg.arch_id] = {"config": cfg.to_json(), **timer.network(cfg, network_rounds).to_dict()}
            build["seconds_networks"] += time.perf_counter() - t
            done += 1
            table.save(out)
    if on_progress:
        on_progress("networks", done, len(fit_configs), "")
    table.settle()
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


def calibrate_table(
    source: LatencyTable,
    configs: Sequence[EESPConfig],
    runtime: str,
    device: str = "cpu",
    *,
    batch: int = 1,
    dtype: str = "fp32",
    threads: int = 1,
    rounds: int = NETWORK_ROUNDS,
    clock: str | None = None,
    directory: str | Path | None = None,
    path: str | Path | None = None,
    on_progress: Progress | None = None,
) -> LatencyTable:
    """A table for this machine's target made from `source` (another target's table) and `configs` measured
    here (HELP's transfer with N measurements): `source`'s unit times with an overhead refitted on the
    networks measured here (`table.calibrate`). Written atomically once every network is measured, with this
    target's fingerprint, to `path` or `<directory>/<name of this target>`; never over `source`'s file."""
    if not configs:
        raise PredictorError("calibrating needs at least one measured config; valid: --configs 1 or more")
    for cfg in configs:  # every config must be predictable from the source before anything is measured
        _, _, missing = source.table_sum(cfg)
        if missing:
            raise PredictorError(
                f"latency table {source.path.name if source.path else ''} lacks units of {cfg.arch_id} (e.g. "
                f"{missing[0]}); valid: configs of the space the table was built for (--space)"
            )
    target, fp = current_target(runtime, device, dtype=dtype, batch=batch, threads=threads)
    out = Path(path) if path is not None else Path(directory or default_table_dir()) / table_filename(target)
    if source.path is not None and out.resolve() == Path(source.path).resolve():
        raise PredictorError(f"calibrating would overwrite the source table {str(out)!r}; name another file (--out)")
    timer = ReferenceTimer(runtime, device, batch=batch, dtype=dtype, threads=threads, clock=clock)
    table = LatencyTable(
        target=target,
        fingerprint=fp,
        path=out,
        entries={k: {"median_ms": float(e["median_ms"])} for k, e in source.entries.items()},
        reference={"key": timer.reference.key, "clock": timer.clock},
        unit_form={"runtime": source.key_runtime, "batch": source.key_batch},
    )
    table.build = {
        "calibrated_from": {
            "target_id": target_id(source.target),
            "path": str(source.path),
            "runtime": source.runtime,
            "batch": source.batch,
            "threads": source.target.get("threads"),
        },
        "network_rounds": rounds,
        "seconds_networks": 0.0,
    }
    with timer:
        for i, cfg in enumerate(configs):
            if on_progress:
                on_progress("networks", i, len(configs), cfg.arch_id)
            t = time.perf_counter()
            table.networks[cfg.arch_id] = {"config": cfg.to_json(), **timer.network(cfg, rounds).to_dict()}
            table.build["seconds_networks"] += time.perf_counter() - t
    if on_progress:
        on_progress("networks", len(configs), len(configs), "")
    table.settle()
    table.overhead = calibrate(source, configs, [table.networks[c.arch_id]["latency_ms"] for c in configs])
    table.save(out)
    return table

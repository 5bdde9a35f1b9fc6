"""A profiling sweep over models and batch sizes, returning flat records: what `espnas profile` calls.

One record per (model, batch size, metric), each with its value, unit, spread, samples count, backend and
the environment fingerprint, so that a record means something on its own when stored or merged. Several
models are timed interleaved (see `profilers.compare`) and get `ratio` against the first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from profilers.backend import PowerUnavailable, device_type
from profilers.compare import compare_latency
from profilers.energy import EnergyResult, measure_energy, power_available
from profilers.latency import LatencyResult, measure_latency
from profilers.memory import MemoryResult, measure_peak_memory
from profilers.statistic_names import name_statistics
from search_spaces.errors import EspnasError


@dataclass
class ProfileReport:
    """Every record of a sweep, plus the settings it ran with."""

    records: list[dict[str, Any]]
    settings: dict[str, Any]
    fingerprint: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name_statistics(self.records)  # "statistic" and e.g. "median_ms" beside "value" (statistic_names)

    def metric(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["metric"] == name]


def parse_batch_sizes(text: str) -> list[int]:
    """'1,8,32' -> [1, 8, 32]; a one-line error for anything else."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise EspnasError(f"batch sizes must be comma-separated positive integers, got {text!r}") from None
    if not sizes or any(b < 1 for b in sizes):
        raise EspnasError(f"batch sizes must be comma-separated positive integers, got {text!r}")
    return sizes


def _latency_record(res: LatencyResult, ratio: float | None, ratio_ci: tuple[float, float] | None) -> dict:
    rec = {
        "model": res.label,
        "batch_size": res.batch_size,
        "metric": "latency",
        "value": res.median_ms,
        "unit": "ms",
        "per_image": res.per_image_ms,
        "spread": {"iqr": res.iqr_ms, "ci95": list(res.ci95_ms)},
        "n_samples": res.n_samples,
        "samples": res.samples_ms,
        "backend": res.backend,
        "stop_reason": res.stop_reason,
        "options": res.options,
        "fingerprint": res.fingerprint,
    }
    if ratio is not None:
        rec["ratio"] = ratio
        rec["ratio_ci95"] = list(ratio_ci) if ratio_ci else None
    return rec


def _energy_records(res: EnergyResult) -> list[dict]:
    windows = [w for w in res.windows if w["kind"] == "busy"]
    base = {
        "model": res.label,
        "batch_size": res.batch_size,
        "n_samples": len(windows),
        "backend": res.backend,
        "method": res.method,
        "window_s": res.window_s,
        "telemetry": res.telemetry,
        "options": res.options,
        "fingerprint": res.fingerprint,
    }
    spread = {"rel_range": res.spread}
    return [
        base | {"metric": "energy_per_image", "value": res.energy_mj_per_image, "unit": "mJ", "spread": spread},
        base | {"metric": "energy_per_image_net", "value": res.energy_mj_per_image_net, "unit": "mJ"},
        base | {"metric": "power", "value": res.avg_power_w, "unit": "W"},
        base | {"metric": "idle_power", "value": res.idle_power_w, "unit": "W"},
    ]


def _memory_record(res: MemoryResult) -> dict:
    return {
        "model": res.label,
        "batch_size": res.batch_size,
        "metric": "peak_memory",
        "value": res.peak_mb,
        "unit": "MB",
        "growth": res.growth_mb,
        "reserved": res.reserved_mb,
        "n_samples": 1,
        "backend": res.backend,
        "method": res.method,
        "options": res.options,
        "fingerprint": res.fingerprint,
    }


def profile(
    specs: Sequence[Any],
    *,
    device: str = "cpu",
    batch_sizes: Sequence[int] = (1,),
    input_size: tuple[int, int] | None = None,
    dtype: str = "fp32",
    deploy: bool = False,
    channels_last: bool = False,
    compile: bool = False,
    cuda_graph: bool = False,
    threads: int | None = None,
    energy: bool = False,
    memory: bool = False,
    time_budget_s: float = 2.0,
    rounds: int = 5,
    energy_window_s: float = 2.0,
    energy_repeats: int = 3,
    on_step: Callable[[str], None] | None = None,
    runtimes: Sequence[str] | None = None,
    seq_len: int | None = None,
) -> ProfileReport:
    """Latency (and optionally energy and peak memory) of each model at each batch size on `device`.

    Energy asked for where no power source exists raises `PowerUnavailable` before anything is measured.
    `runtimes` (see `profilers.runtimes`) times each model in each named runtime, interleaved, each checked
    against eager first; it replaces `deploy`, `compile` and `channels_last`.
    """
    if not specs:
        raise EspnasError("profile needs at least one model spec")
    from profilers.language_latency import add_token_figures, is_language, language_specs

    if any(is_language(s) for s in specs):  # ERU/LSTM: `seq_len` tokens per row from a warmed state
        specs = language_specs(specs, seq_len, deploy=deploy, runtimes=runtimes)
        input_size = (1, 1)  # the stream's input only carries the batch size
    device_type(device)
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise EspnasError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    if runtimes:
        return _profile_runtimes(
            specs, list(runtimes), device=device, batch_sizes=batch_sizes, input_size=input_size, dtype=dtype,
            flags={"deploy": deploy, "compile": compile, "channels_last": channels_last, "cuda_graph": cuda_graph,
                   "energy": energy, "memory": memory},
            threads=threads, time_budget_s=time_budget_s, rounds=rounds, on_step=on_step,
        )  # fmt: skip
    if energy:
        avail = power_available(device)
        if not avail:
            raise PowerUnavailable(f"--energy: {avail.reason}")
    shape = None if input_size is None else _shape(input_size)
    common = {"dtype": dtype, "deploy": deploy, "channels_last": channels_last, "compile": compile}
    records: list[dict[str, Any]] = []
    fp: dict[str, Any] = {}
    for bs in batch_sizes:
        if on_step:
            on_step(f"latency, batch {bs}")
        if len(specs) == 1:
            res = measure_latency(
                specs[0],
                shape,
                device,
                batch_size=bs,
                cuda_graph=cuda_graph,
                threads=threads,
                time_budget_s=time_budget_s,
                **common,
            )
            records.append(_latency_record(res, None, None))
            fp = res.fingerprint
        else:
            cmp = compare_latency(
                specs,
                shape,
                device,
                batch_size=bs,
                cuda_graph=cuda_graph,
                threads=threads,
                rounds=rounds,
                time_budget_s=time_budget_s,
                **common,
            )
            records += [
                _latency_record(r, ratio, ci)
                for r, ratio, ci in zip(cmp.results, cmp.ratios, cmp.ratio_ci95, strict=True)
            ]
            fp = cmp.fingerprint
        for spec in specs:
            if energy:
                if on_step:
                    on_step(f"energy, batch {bs}")
                e = measure_energy(
                    spec,
                    shape,
                    device,
                    batch_size=bs,
                    cuda_graph=cuda_graph,  # the execution the latency records describe
                    threads=threads,
                    window_s=energy_window_s,
                    repeats=energy_repeats,
                    **common,
                )
                records += _energy_records(e)
            if memory:
                if on_step:
                    on_step(f"memory, batch {bs}")
                records.append(_memory_record(measure_peak_memory(spec, shape, device, batch_size=bs, **common)))
    settings = {
        "device": device,
        "batch_sizes": [int(b) for b in batch_sizes],
        "input_size": list(input_size) if input_size else None,
        "threads": threads,
        "energy": energy,
        "memory": memory,
        "time_budget_s": time_budget_s,
        "rounds": rounds if len(specs) > 1 else None,
        "cuda_graph": cuda_graph,
        **common,
    }
    if any(is_language(s) for s in specs):
        add_token_figures(records, list(specs))
        settings["seq_len"] = seq_len or 1
    return ProfileReport(records=records, settings=settings, fingerprint=fp)


def _profile_runtimes(
    specs: Sequence[Any],
    runtimes: list[str],
    *,
    device: str,
    batch_sizes: Sequence[int],
    input_size: tuple[int, int] | None,
    dtype: str,
    flags: dict[str, bool],
    threads: int | None,
    time_budget_s: float,
    rounds: int,
    on_step: Callable[[str], None] | None,
) -> ProfileReport:
    """Latency of every (model, runtime) pair, interleaved when there are several; ratios against the first."""
    from profilers.runtimes import compare_runtimes, get_runtime, measure_runtime

    given = [f"--{name.replace('_', '-')}" for name, on in flags.items() if on]
    if given:
        raise EspnasError(
            f"{', '.join(given)} cannot be combined with --runtime, which times latency in the named runtimes; "
            "valid: --runtime deploy for the deploy form, --runtime compile for torch.compile"
        )
    names = [get_runtime(r).name for r in runtimes]
    for name in names:
        get_runtime(name).require(device, dtype)
    shape = None if input_size is None else _shape(input_size)
    pairs = [(spec, name) for spec in specs for name in names]
    records: list[dict[str, Any]] = []
    fp: dict[str, Any] = {}
    for bs in batch_sizes:
        if on_step:
            on_step(f"latency, batch {bs}")
        common = {"batch_size": bs, "dtype": dtype, "threads": threads, "time_budget_s": time_budget_s}
        if len(pairs) == 1:
            res = measure_runtime(pairs[0][0], shape, device, runtime=names[0], **common)
            records.append(_latency_record(res, None, None))
            fp = res.fingerprint
        else:
            cmp = compare_runtimes(pairs, shape, device, rounds=rounds, **common)
            for (spec, name), r, ratio, ci in zip(pairs, cmp.results, cmp.ratios, cmp.ratio_ci95, strict=True):
                del spec
                rec = _latency_record(r, ratio, ci)
                rec["model"] = f"{r.label} [{name}]" if len(names) > 1 else r.label
                records.append(rec)
            fp = cmp.fingerprint
        for rec in records[-len(pairs) :]:
            rec["runtime"] = rec["options"].get("runtime")
    settings = {
        "device": device,
        "batch_sizes": [int(b) for b in batch_sizes],
        "input_size": list(input_size) if input_size else None,
        "threads": threads,
        "time_budget_s": time_budget_s,
        "rounds": rounds if len(pairs) > 1 else None,
        "dtype": dtype,
        "runtimes": names,
    }
    return ProfileReport(records=records, settings=settings, fingerprint=fp)


def _shape(input_size: Sequence[int]) -> tuple[int, int]:
    if len(input_size) != 2 or any(int(v) < 1 for v in input_size):
        raise EspnasError(f"input size must be (H, W) positive, got {tuple(input_size)}")
    return (int(input_size[0]), int(input_size[1]))

"""The search: Ray Tune runs the trials, Optuna (through Ray's OptunaSearch) proposes them.

`run_search(SearchSettings(...)) -> SearchOutcome` is the whole job; `espnas search` only parses and prints.

How a trial goes (and why):
- The sampler proposes a flat dict; `nas.space.sample_to_config` freezes it; `profilers.counting.count` gives its
  conv MACs at 224x224 / 1000 classes (the paper's FLOP convention) in microseconds. Outside the band the trial
  is recorded "infeasible" and told to Optuna at once, in the driver: it never reaches Ray, never builds a
  model, never trains. Every trial carries the band as Optuna constraints (`Trial.set_constraint`, read by
  NSGA-II and TPE), so the sampler learns the band.
- In the band, Ray Tune runs the trial: proxy training (`nas.proxy.proxy_accuracy`) on the trial's own
  resources, then measurement. With no `targets`, measurement runs in the trial on `device` (a GPU trial
  holds a whole GPU by default, so no other trial runs there while it measures). With targets, each target
  has one measuring actor placed on a node of that type (a custom resource or `accelerator_type:NAME`), with
  `max_concurrency=1`: one measurement at a time per device, while training trials run in parallel.
- When a trial ends the driver first appends its record to the run directory, then tells Optuna. The run
  directory and the Optuna storage are the durable state; resume reconciles them (see `_reconcile`).

Resume: Tune's experiment checkpoint is periodic and its pickled searcher lags the Optuna storage, so a
restore from it could repeat a trial finished after the last checkpoint or lose one. Resuming therefore
starts a fresh Tune experiment over the same Optuna study: trials recorded are kept, a trial recorded but not
told is told, and a trial asked but unrecorded (in flight at the kill) is marked failed in Optuna and its
parameters re-enqueued, so it runs again under a new number. The number of trials still to run is the
requested total minus the trials recorded.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from nas.objectives import Objective, Selection, select_objectives
from nas.space import SearchSpace, load_space, sample_to_config
from search_spaces.errors import ConfigError, EspnasError

DEFAULT_BAND = (28_000_000, 284_000_000)  # the paper's Table 2: s = 0.5 (28M) .. s = 2.0 (284M) conv MACs
DEFAULT_TRIALS = 16
STUDY_NAME = "espnas"
OPTUNA_FILE = "optuna.db"
TIMINGS_FILE = "search_timings.jsonl"
SAMPLERS = ("nsga2", "tpe", "random")
EARLY_STOPPING = ("none", "asha", "median")


class SearchError(EspnasError):
    """A search that cannot start or continue: bad settings, a missing run, an unknown target."""


# ---------------------------------------------------------------------------------------------------------
# Settings and outcome
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSettings:
    """Everything a search needs. Grouped as Tune groups them: what to search, how to evaluate, where to run."""

    # what to search
    space: str | None = None  # space file; None = the shipped paper space
    trials: int = DEFAULT_TRIALS  # trials that are trained/measured (infeasible ones do not count)
    flops: tuple[int, int] = DEFAULT_BAND  # conv MACs at 224x224, 1000 classes
    objectives: tuple[str, ...] | None = None  # None = accuracy, latency, energy (where measurable)
    sampler: str = "tpe"  # tpe | nsga2 | random | an optuna.samplers class name | "module:Class"
    seed: int = 0
    max_infeasible: int | None = None  # infeasible proposals allowed in a row before giving up
    # how to evaluate
    data: str = "digits"
    image_size: int = 32
    proxy_epochs: int = 2
    proxy_max_steps: int | None = None
    batch_size: int = 64
    device: str = "cpu"
    latency_budget_s: float = 1.0
    latency_batch: int = 1
    measure_threads: int = 1  # CPU threads for CPU measurements (1: stable on a shared machine; recorded)
    retries: int = 1
    early_stop: str = "none"  # none | asha | median
    # where to run
    targets: tuple[str, ...] = ()  # Ray custom resources or accelerator types; () = local `device`
    target_objective: str = "worst"  # worst | <target name>
    address: str | None = None
    num_cpus: int | None = None  # for a local Ray instance; None = os.cpu_count()
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # None: 1 when device is cuda, else 0
    concurrency: int | None = None  # None: see _default_concurrency
    run_dir: str | None = None
    storage: str | None = None  # RDB URL; None = sqlite:///<run_dir>/optuna.db
    resume: bool = False
    name: str | None = None
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["flops"] = list(self.flops)
        out["objectives"] = list(self.objectives) if self.objectives is not None else None
        out["targets"] = list(self.targets)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSettings:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("flops", "targets"):
            if key in values and values[key] is not None:
                values[key] = tuple(values[key])
        if values.get("objectives") is not None:
            values["objectives"] = tuple(values["objectives"])
        return cls(**values)


@dataclass
class SearchOutcome:
    """What a search leaves: where its run is, its front and counts, and the notes the user should read."""

    run_dir: Path
    objectives: list[dict[str, str]]
    front: Any  # pandas DataFrame of the front's records
    counts: dict[str, int]
    hypervolume: float | None
    notes: list[str]
    elapsed_s: float
    ray_startup_s: float
    resumed: bool = False


# ---------------------------------------------------------------------------------------------------------
# Parsing helpers (shared with the CLI)
# ---------------------------------------------------------------------------------------------------------

_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9}


def parse_count(text: str) -> int:
    """'28M' -> 28_000_000; accepts k, M, G suffixes and plain numbers."""
    raw = str(text).strip().lower()
    unit = raw[-1:] if raw[-1:] in _SUFFIX and not raw[-1:].isdigit() else ""
    number = raw[: -len(unit)] if unit else raw
    try:
        value = float(number) * _SUFFIX[unit]
    except ValueError:
        raise SearchError(
            f"count {text!r} is invalid; valid: a number with an optional k/M/G suffix, e.g. 28M"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise SearchError(f"count {text!r} is invalid; valid: a non-negative number such as 284M")
    return round(value)


def parse_band(text: str) -> tuple[int, int]:
    """'28M:284M' -> (28_000_000, 284_000_000)."""
    lo, sep, hi = str(text).partition(":")
    if not sep:
        raise SearchError(f"FLOP band {text!r} is invalid; valid: LO:HI such as 28M:284M")
    band = (parse_count(lo), parse_count(hi))
    if band[0] >= band[1]:
        raise SearchError(f"FLOP band {text!r} is empty; valid: LO < HI, e.g. 28M:284M")
    return band


def fmt_count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.4g}{unit}"
    return f"{n:.4g}"


def band_text(band: Sequence[int]) -> str:
    return f"{fmt_count(band[0])}..{fmt_count(band[1])} conv MACs at 224x224, 1000 classes"


def metric_name(base: str, target: str) -> str:
    """Per-target column, e.g. latency_ms_a10g (lower case, only [a-z0-9_])."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in target.lower()).strip("_")
    return f"{base}_{safe}"


# ---------------------------------------------------------------------------------------------------------
# The band check and the sampler
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The analytic check of one proposal: its config and counts, or why it is infeasible."""

    config: Any | None
    conv_macs: int | None
    params: int | None
    feasible: bool
    reason: str | None
    constraints: dict[str, float]


def check_band(flat: Mapping[str, Any], space: SearchSpace, band: Sequence[int]) -> Verdict:
    """Freeze a proposal and check its conv MACs against the band: counting only, nothing is built.

    The constraints are relative violations (> 0 means violated), so the sampler can rank infeasible
    proposals by how far out of the band they are.
    """
    from profilers.counting import count

    lo, hi = band
    try:
        config = sample_to_config(flat, space)
    except ConfigError as err:
        return Verdict(None, None, None, False, f"invalid network: {err}", _constraints(0.0, 0.0, 1.0))
    counts = count(config)
    macs = int(counts.conv_macs)
    below, above = (lo - macs) / lo if lo > 0 else -1.0, (macs - hi) / hi
    constraints = _constraints(below, above, 0.0)
    if macs < lo:
        reason = f"conv MACs {fmt_count(macs)} below the band {band_text(band)}"
    elif macs > hi:
        reason = f"conv MACs {fmt_count(macs)} above the band {band_text(band)}"
    else:
        reason = None
    return Verdict(config, macs, int(counts.params), reason is None, reason, constraints)


def _constraints(below: float, above: float, invalid: float) -> dict[str, float]:
    return {"macs_below_band": float(below), "macs_above_band": float(above), "invalid_config": float(invalid)}


def make_sampler(name: str, seed: int | None) -> Any:
    """An Optuna sampler by name: nsga2, tpe, random, any optuna.samplers class name, or "module:Class".

    Constraint-aware samplers read the band from each trial's constraints (`Trial.set_constraint`).
    """
    import importlib
    import inspect

    import optuna

    key = name.strip()
    if key.lower() == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if key.lower() == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if key.lower() == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if ":" in key:
        module_name, _, attr = key.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise SearchError(f"sampler {name!r} cannot be imported ({err}); valid: module:ClassName") from None
    else:
        cls = getattr(optuna.samplers, key, None)
        if cls is None:
            valid = [n for n in dir(optuna.samplers) if n.endswith("Sampler")]
            raise SearchError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}, {', '.join(valid)}")
    if not (isinstance(cls, type) and issubclass(cls, optuna.samplers.BaseSampler)):
        raise SearchError(f"sampler {name!r} is not an optuna.samplers.BaseSampler subclass")
    kwargs = {"seed": seed} if "seed" in inspect.signature(cls).parameters else {}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise SearchError(f"sampler {name!r} cannot be built with defaults ({err})") from None


# ---------------------------------------------------------------------------------------------------------
# What runs inside a Ray trial (and in measuring actors)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialJob:
    """The settings a trial needs, shipped to Ray workers (small, picklable)."""

    train: bool
    measure: tuple[str, ...]  # metric columns to measure: latency_ms, energy_mj, peak_memory_mb
    data: str
    image_size: int
    proxy_epochs: int
    proxy_max_steps: int | None
    batch_size: int
    device: str
    threads: int
    measure_threads: int
    retries: int
    seed: int
    latency_budget_s: float
    latency_batch: int
    targets: tuple[str, ...]  # measuring actor names; () = measure in the trial on `device`
    namespace: str


def measure_config(
    config_json: str, metrics: Sequence[str], device: str, *, budget_s: float, batch: int, threads: int | None
) -> dict[str, Any]:
    """Measure one ImageNet-shaped config on `device` (deploy form: BN folded): the requested metrics, their
    spread, the fingerprint, and where it ran. Used in trials and in measuring actors alike."""
    from search_spaces import EESPConfig

    config = EESPConfig.from_json(config_json)
    shape = (batch, config.in_channels, *config.input_size)
    out: dict[str, Any] = {"seconds": {}}
    if "latency_ms" in metrics:
        from profilers.latency import measure_latency

        t = time.perf_counter()
        res = measure_latency(config, shape, device=device, deploy=True, time_budget_s=budget_s, threads=threads)
        out["latency_ms"] = float(res.median_ms)
        out["latency_ms_iqr"] = float(res.iqr_ms)
        lo, hi = res.ci95_ms
        out["latency_ms_ci_lo"], out["latency_ms_ci_hi"] = float(lo), float(hi)
        out["fingerprint"] = dict(res.fingerprint or {})
        out["seconds"]["latency"] = time.perf_counter() - t
    if "energy_mj" in metrics:
        from profilers.energy import measure_energy

        t = time.perf_counter()
        res = measure_energy(config, shape, device=device, deploy=True, threads=threads)
        out["energy_mj"] = float(res.energy_mj_per_image)
        out["seconds"]["energy"] = time.perf_counter() - t
    if "peak_memory_mb" in metrics:
        from profilers.memory import measure_peak_memory

        t = time.perf_counter()
        res = measure_peak_memory(config, shape, device=device, deploy=True, threads=threads)
        out["peak_memory_mb"] = float(res.peak_mb)
        out["seconds"]["memory"] = time.perf_counter() - t
    out["where"] = _where()
    return out


def _where() -> dict[str, Any]:
    import socket

    where: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    with contextlib.suppress(Exception):
        import ray

        if ray.is_initialized():
            where["node_id"] = ray.get_runtime_context().get_node_id()
    return where


def _one_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().splitlines()
    return text[0][:300] if text else type(err).__name__


def run_trial(config: Mapping[str, Any], job: TrialJob, report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """One trial, as a plain function of its config: proxy training, then measurement. Returns the final
    result dict (also used without Ray in tests). `report` receives per-epoch accuracy for early stopping."""
    import torch

    from search_spaces import EESPConfig

    t_start = time.time()
    seconds: dict[str, float] = {}
    result: dict[str, Any] = {
        "espnas_final": True,
        "espnas_status": "complete",
        "espnas_reason": None,
        "params": float(config["espnas_params"]),  # analytic objectives, reported like any metric
        "macs": float(config["espnas_macs"]),
    }
    config_json = config["espnas_config_json"]
    number = int(config["espnas_number"])
    torch.set_num_threads(max(1, job.threads))
    curve: list[float] = []
    if job.train:
        from nas.proxy import proxy_accuracy, proxy_data

        t = time.perf_counter()
        data = proxy_data(job.data, job.image_size, job.seed)  # loaded once per worker process
        seconds["data"] = time.perf_counter() - t
        arch = EESPConfig.from_json(config_json)
        arch = arch.replace(num_classes=data.num_classes, input_size=(job.image_size, job.image_size))
        reason = None
        for attempt in range(job.retries + 1):
            curve = []

            def on_epoch(epoch: int, acc: float, curve: list[float] = curve) -> None:
                curve.append(float(acc))
                report({"accuracy": float(acc), "epoch": int(epoch), "espnas_final": False})

            t = time.perf_counter()
            try:
                proxy = proxy_accuracy(
                    arch,
                    data,
                    epochs=job.proxy_epochs,
                    max_steps=job.proxy_max_steps,
                    batch_size=job.batch_size,
                    device=job.device,
                    seed=job.seed + number,
                    report=on_epoch,
                )
                ok, reason = bool(proxy.ok), proxy.reason
            except Exception as err:  # a failing trial is recorded with its reason; the search goes on
                ok, reason, proxy = False, _one_line(err), None
                traceback.print_exc()
            seconds["train"] = seconds.get("train", 0.0) + time.perf_counter() - t
            if ok and proxy is not None and math.isfinite(float(proxy.accuracy)):
                result["accuracy"] = float(proxy.accuracy)
                curve = [float(c) for c in (proxy.curve or curve)]
                break
            reason = reason or "proxy accuracy is not finite"
            result["espnas_attempts"] = attempt + 1
        else:
            result.update(espnas_status="failed", espnas_reason=f"training: {reason}")
    if result["espnas_status"] == "complete" and job.measure:
        t = time.perf_counter()
        try:
            result.update(_measure_all(config_json, job))
        except Exception as err:
            traceback.print_exc()
            result.update(espnas_status="failed", espnas_reason=f"measurement: {_one_line(err)}")
        seconds["measure"] = time.perf_counter() - t
    result["espnas_curve_json"] = json.dumps(curve)
    result["espnas_seconds_json"] = json.dumps(seconds)
    result["espnas_t_start"] = t_start
    result["espnas_t_end"] = time.time()
    return result


def _measure_all(config_json: str, job: TrialJob) -> dict[str, Any]:
    """Measure on every target (per-target columns) or locally; returns metric columns + fingerprint JSON."""
    out: dict[str, Any] = {}
    fingerprints: dict[str, Any] = {}
    seconds: dict[str, Any] = {}
    if not job.targets:
        got = measure_config(
            config_json,
            job.measure,
            job.device,
            budget_s=job.latency_budget_s,
            batch=job.latency_batch,
            threads=job.measure_threads,
        )
        fingerprints["local"] = {**got.pop("fingerprint", {}), "where": got.pop("where")}
        seconds["local"] = got.pop("seconds")
        out.update(got)
    else:
        import ray

        actors = [ray.get_actor(_actor_name(t), namespace=job.namespace) for t in job.targets]
        pending = [a.measure.remote(config_json, list(job.measure)) for a in actors]
        for target, got in zip(job.targets, ray.get(pending), strict=True):
            fingerprints[target] = {**got.pop("fingerprint", {}), "where": got.pop("where")}
            seconds[target] = got.pop("seconds")
            for key, value in got.items():
                base = next((m for m in job.measure if key.startswith(m)), key)
                out[metric_name(base, target) + key[len(base) :]] = value
    out["espnas_fingerprint_json"] = json.dumps(fingerprints, sort_keys=True, default=str)
    out["espnas_measure_seconds_json"] = json.dumps(seconds)
    return out


def _actor_name(target: str) -> str:
    return f"espnas-measure-{target}"


def _tune_trainable(config: dict[str, Any], job: TrialJob) -> None:
    """The Ray Tune function trainable: run the trial, report per-epoch accuracy, then the final result."""
    from ray import tune

    result = run_trial(config, job, report=tune.report)
    tune.report(result)


class Measurer:
    """A measuring actor: one per target device, `max_concurrency=1`, so measurements never overlap there."""

    def __init__(self, target: str, device: str, budget_s: float, batch: int, threads: int | None) -> None:
        self.target, self.device, self.budget_s, self.batch, self.threads = target, device, budget_s, batch, threads

    def measure(self, config_json: str, metrics: list[str]) -> dict[str, Any]:
        got = measure_config(
            config_json, metrics, self.device, budget_s=self.budget_s, batch=self.batch, threads=self.threads
        )
        got["where"]["target"] = self.target
        return got

    def where(self) -> dict[str, Any]:
        return _where()


# ---------------------------------------------------------------------------------------------------------
# The driver side: records, progress, the Optuna searcher
# ---------------------------------------------------------------------------------------------------------


def _now_iso(t: float | None = None) -> str:
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(time.time() if t is None else t, dt.timezone.utc)
    return stamp.replace(microsecond=0).isoformat()


class Recorder:
    """Builds trial records, appends them to the run (before Optuna is told), and keeps the tallies and
    front that the progress display shows. Lives in the driver only."""

    def __init__(
        self,
        writer: Any,
        selection: Selection,
        metric_columns: Sequence[str],
        done: Mapping[str, int],
        targets: Sequence[str] = (),
        target_objective: str = "worst",
    ) -> None:
        self.writer = writer
        self.targets = tuple(targets)
        self.target_objective = target_objective
        self.selection = selection
        self.metric_columns = list(metric_columns)
        self.counts = {"complete": 0, "failed": 0, "pruned": 0, "infeasible": 0, **done}
        self.session_done = 0
        self.points: list[list[float]] = []
        self.lock = threading.Lock()
        self.timings_path = Path(writer.path) / TIMINGS_FILE
        self.asked_at: dict[int, float] = {}
        self.started = time.time()

    def load_points(self, frame: Any) -> None:
        if frame is None or len(frame) == 0:
            return
        done = frame[frame["status"] == "complete"]
        cols = self.selection.metrics
        if all(c in done.columns for c in cols):
            self.points.extend(done[cols].astype(float).values.tolist())

    def base_record(self, number: int, verdict: Verdict) -> dict[str, Any]:
        rec: dict[str, Any] = {"trial_id": f"t{number:05d}", "number": number}
        if verdict.config is not None:
            rec.update(
                config_json=verdict.config.to_json(),
                arch_id=verdict.config.arch_id,
                params=verdict.params,
                macs=verdict.conv_macs,
            )
        return rec

    def record_infeasible(self, number: int, verdict: Verdict, seconds: float) -> None:
        now = _now_iso()
        rec = self.base_record(number, verdict)
        rec.update(status="infeasible", reason=verdict.reason, started_at=now, ended_at=now, duration_s=seconds)
        with self.lock:
            self.writer.append(rec)
            self.counts["infeasible"] += 1

    def record_result(
        self, number: int, verdict: Verdict, result: Mapping[str, Any] | None, error: bool
    ) -> tuple[str, list[float] | None]:
        """Append the record of a finished trial; returns (status, objective values or None)."""
        rec = self.base_record(number, verdict)
        result = dict(result or {})
        final = bool(result.get("espnas_final"))
        if error:
            status, reason = "failed", "the trial's process failed (crash or out of memory; see the Ray logs)"
        elif not final:
            epoch = result.get("epoch")
            status, reason = "pruned", f"stopped early on its accuracy curve after epoch {epoch}"
        else:
            status, reason = result.get("espnas_status", "failed"), result.get("espnas_reason")
        values: list[float] | None = None
        if self.targets:
            _target_objective_values(result, self.selection, self.targets, self.target_objective)
        for col in self.metric_columns:
            for key in (col, f"{col}_iqr", f"{col}_ci_lo", f"{col}_ci_hi"):
                if isinstance(result.get(key), (int, float)) and not isinstance(result[key], bool):
                    rec[key] = float(result[key])
        if status == "complete":
            values = []
            for obj in self.selection.objectives:
                v = rec.get(obj.metric)
                if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                    status, reason, values = "failed", f"no finite value for objective {obj.metric}", None
                    break
                values.append(float(v))
        t0, t1 = result.get("espnas_t_start"), result.get("espnas_t_end")
        rec.update(
            status=status,
            reason=reason,
            curve_json=result.get("espnas_curve_json"),
            fingerprint_json=result.get("espnas_fingerprint_json"),
            started_at=_now_iso(t0) if t0 else None,
            ended_at=_now_iso(t1 or time.time()),
            duration_s=(t1 - t0) if t0 and t1 else None,
        )
        if status != "complete":
            for obj in self.selection.objectives:
                if obj.source != "analytic":
                    rec.pop(obj.metric, None)
        asked = self.asked_at.pop(number, None)
        with self.lock:
            t = time.perf_counter()
            self.writer.append(rec)
            write_s = time.perf_counter() - t
            self.counts[status] += 1
            self.session_done += 1
            if values is not None:
                self.points.append(values)
        self._timing(number, status, asked, result, write_s)
        return status, values

    def _timing(self, number: int, status: str, asked: float | None, result: Mapping[str, Any], write_s: float):
        """One line per trial for the overhead benchmark: wall time from ask to record, and its parts."""
        now = time.time()
        seconds = json.loads(result.get("espnas_seconds_json") or "{}")
        line = {
            "number": number,
            "status": status,
            "asked": asked,
            "recorded": now,
            "wall_s": (now - asked) if asked else None,
            "worker_start": result.get("espnas_t_start"),
            "worker_end": result.get("espnas_t_end"),
            "data_s": seconds.get("data", 0.0),
            "train_s": seconds.get("train", 0.0),
            "measure_s": seconds.get("measure", 0.0),
            "record_s": write_s,
        }
        with self.lock, open(self.timings_path, "a") as fh:
            fh.write(json.dumps(line) + "\n")

    def front_summary(self) -> tuple[int, float | None]:
        """Front size and hypervolume of the complete trials so far (reference: accuracy 0 for maximised
        objectives, 1.1 x the worst value seen for minimised ones; comparable within one run only)."""
        import numpy as np

        from results.pareto import hypervolume, non_dominated

        with self.lock:
            pts = np.asarray(self.points, dtype=float)
        if len(pts) == 0:
            return 0, None
        modes = self.selection.modes
        mask = non_dominated(pts, modes)
        ref = reference_point(pts, modes)
        return int(mask.sum()), hypervolume(pts[mask], modes, ref)


def reference_point(points: Any, modes: Sequence[str]) -> list[float]:
    """The run's HV reference: 0 for maximised objectives, 1.1 x the worst seen for minimised ones."""
    import numpy as np

    pts = np.asarray(points, dtype=float)
    return [0.0 if m == "max" else float(np.nanmax(pts[:, i])) * 1.1 for i, m in enumerate(modes)]


def _make_searcher_class() -> type:
    """OptunaSearch with the band check in `suggest` and record-then-tell in `on_trial_complete`.
    Built lazily so that importing nas.search does not import Ray."""
    import optuna
    from ray.tune.search import Searcher
    from ray.tune.search.optuna import OptunaSearch

    class BandedOptunaSearch(OptunaSearch):
        """Asks Optuna, checks the FLOP band analytically, records infeasible proposals without running them."""

        def __init__(
            self,
            space: SearchSpace,
            band: tuple[int, int],
            selection: Selection,
            recorder: Recorder,
            *,
            sampler: Any,
            storage: Any,
            study_name: str,
            max_infeasible: int,
        ) -> None:
            self.search_space = space
            self.band = band
            self.selection = selection
            self.recorder = recorder
            self.max_infeasible = max_infeasible
            self.gave_up: str | None = None
            self.verdicts: dict[str, tuple[int, Verdict]] = {}
            super().__init__(
                space=self._define_by_run,
                metric=selection.metrics,
                mode=selection.modes,
                sampler=sampler,
                storage=storage,
                study_name=study_name,
            )

        def _define_by_run(self, trial: Any) -> None:
            self.search_space.suggest(trial)

        # Tune pickles its search algorithm into the experiment directory (for its own restore, which this
        # search does not use); the live study, storage and recorder stay in the driver.
        def __getstate__(self) -> dict[str, Any]:
            dropped = ("recorder", "_ot_study", "_ot_trials", "_storage", "_sampler", "verdicts")
            return {k: v for k, v in self.__dict__.items() if k not in dropped}

        def save(self, checkpoint_path: str) -> None:
            """No-op: the durable state is the Optuna storage plus the run directory (see the module doc)."""
            Path(checkpoint_path).write_text("state lives in the Optuna storage and the run directory\n")

        def restore(self, checkpoint_path: str) -> None:
            raise SearchError("resume a search with run_search(resume=True), not Tune's restore")

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            if self.gave_up:
                return Searcher.FINISHED
            study = self._ot_study
            for _ in range(self.max_infeasible):
                t = time.perf_counter()
                ot_trial = study.ask()
                flat = self.search_space.suggest(ot_trial)
                verdict = check_band(flat, self.search_space, self.band)
                for key, value in verdict.constraints.items():
                    ot_trial.set_constraint(key, value)
                if verdict.conv_macs is not None:
                    ot_trial.set_user_attr("conv_macs", verdict.conv_macs)
                    ot_trial.set_user_attr("arch_id", verdict.config.arch_id)
                if verdict.feasible:
                    self._ot_trials[trial_id] = ot_trial
                    self.verdicts[trial_id] = (ot_trial.number, verdict)
                    self.recorder.asked_at[ot_trial.number] = time.time()
                    return {
                        **flat,
                        "espnas_number": ot_trial.number,
                        "espnas_config_json": verdict.config.to_json(),
                        "espnas_params": verdict.params,
                        "espnas_macs": verdict.conv_macs,
                    }
                ot_trial.set_user_attr("infeasible", verdict.reason)
                # Record first, then tell: a kill in between is repaired on resume (see _reconcile).
                self.recorder.record_infeasible(ot_trial.number, verdict, time.perf_counter() - t)
                study.tell(ot_trial, [o.infeasible_value for o in self.selection.objectives])
            self.gave_up = (
                f"{self.max_infeasible} proposals in a row fell outside the band {band_text(self.band)}; "
                "widen --flops or edit the space"
            )
            return Searcher.FINISHED

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            return  # multi-objective: Optuna takes no intermediate values (early stopping is Tune's)

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if trial_id in self._completed_trials or trial_id not in self.verdicts:
                return
            number, verdict = self.verdicts.pop(trial_id)
            ot_trial = self._ot_trials.pop(trial_id)
            status, values = self.recorder.record_result(number, verdict, result, error)
            state = {
                "complete": optuna.trial.TrialState.COMPLETE,
                "pruned": optuna.trial.TrialState.PRUNED,
            }.get(status, optuna.trial.TrialState.FAIL)
            with contextlib.suppress(Exception):  # already told (a repaired resume) is fine
                self._ot_study.tell(ot_trial, values, state=state)
            self._completed_trials.add(trial_id)

    return BandedOptunaSearch


# ---------------------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------------------


class Progress:
    """A live rich table: done/running/failed/infeasible, front size, hypervolume, ETA."""

    def __init__(self, recorder: Recorder, total: int, concurrency: int, enabled: bool, title: str) -> None:
        self.recorder, self.total, self.concurrency, self.enabled, self.title = (
            recorder,
            total,
            concurrency,
            enabled,
            title,
        )
        self.running = 0
        self.live: Any = None
        self._last = 0.0
        self._cached: tuple[int, float | None] = (0, None)
        self._cached_at = -1

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.live import Live

            self.live = Live(self.render(), refresh_per_second=2, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)

    def update(self, running: int | None = None, force: bool = False) -> None:
        if running is not None:
            self.running = running
        now = time.monotonic()
        if self.live is not None and (force or now - self._last > 0.5):
            self._last = now
            self.live.update(self.render())

    def render(self) -> Any:
        from rich.table import Table

        c = self.recorder.counts
        done = c["complete"] + c["failed"] + c["pruned"]
        if self._cached_at != c["complete"]:
            self._cached = self.recorder.front_summary()
            self._cached_at = c["complete"]
        size, hv = self._cached
        elapsed = time.time() - self.recorder.started
        eta = "-"
        if self.recorder.session_done:
            per = elapsed / self.recorder.session_done
            eta = f"{max(0.0, per * (self.total - done)):.0f}s"
        table = Table(title=self.title, show_header=True, header_style="bold")
        for col in ("done", "running", "failed", "pruned", "infeasible", "front", "hypervolume", "elapsed", "ETA"):
            table.add_column(col, justify="right")
        table.add_row(
            f"{done}/{self.total}",
            str(self.running),
            str(c["failed"]),
            str(c["pruned"]),
            str(c["infeasible"]),
            str(size),
            "-" if hv is None else f"{hv:.4g}",
            f"{elapsed:.0f}s",
            eta,
        )
        return table


def _make_progress_callback(progress: Progress) -> Any:
    from ray.tune import Callback

    class ProgressCallback(Callback):
        """Feeds the live table from Tune's loop. Holds the table as an attribute (not a closure), so that
        Tune's pickling of its callbacks drops it."""

        def __init__(self, progress: Progress | None) -> None:
            self.progress = progress

        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            if self.progress is not None:
                self.progress.update(running=sum(1 for t in trials if t.status == "RUNNING"))

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            if self.progress is not None:
                self.progress.update(running=sum(1 for t in trials if t.status == "RUNNING"), force=True)

        def __getstate__(self) -> dict[str, Any]:
            return {"progress": None}

    return ProgressCallback(progress)


# ---------------------------------------------------------------------------------------------------------
# Ray
# ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[float]:
    """Join `address` or start a quiet local Ray (no dashboard, no worker logs on the driver); yields the
    seconds ray.init took. A Ray already initialised in this process (tests, notebooks) is reused."""
    import logging

    import ray

    if ray.is_initialized():
        yield 0.0
        return
    t = time.perf_counter()
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
        "logging_level": logging.ERROR,
    }
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    except ConnectionError as err:
        raise SearchError(
            f"cannot join the Ray cluster at {address!r} ({err}); start one with 'ray start --head'"
        ) from None
    startup = time.perf_counter() - t
    try:
        yield startup
    finally:
        ray.shutdown()


def _target_resources(target: str) -> dict[str, float]:
    """The Ray resource that places an actor on a node of `target`: a custom resource of that name, or the
    accelerator type Ray detected. Unknown targets are an error listing what the cluster offers."""
    import ray

    available = ray.cluster_resources()
    for key in (target, f"accelerator_type:{target}"):
        if key in available:
            return {key: 0.001}
    custom = sorted(k for k in available if k not in ("CPU", "GPU", "memory", "object_store_memory"))
    offered = [k for k in custom if not k.startswith("node:")]
    raise SearchError(
        f"target {target!r} is not a resource of this Ray cluster; valid: {', '.join(offered) or 'none'} "
        "(start nodes with --resources='{\"NAME\": 1}' or use an accelerator type)"
    )


def _start_measurers(settings: SearchSettings, namespace: str) -> list[Any]:
    """One measuring actor per target (named, so trials find them); `max_concurrency=1` serialises them."""
    import ray

    actor_cls = ray.remote(Measurer)
    handles = []
    gpu = 1 if settings.device.startswith("cuda") else 0
    for target in settings.targets:
        resources = _target_resources(target)
        handle = actor_cls.options(
            name=_actor_name(target),
            namespace=namespace,
            max_concurrency=1,
            num_cpus=0,
            num_gpus=gpu,
            resources=resources,
            lifetime=None,
        ).remote(target, settings.device, settings.latency_budget_s, settings.latency_batch, settings.measure_threads)
        handles.append(handle)
    ray.get([h.where.remote() for h in handles])  # fail early if a target cannot be placed
    return handles


def _default_concurrency(settings: SearchSettings, measuring_locally: bool, cpus: float) -> int:
    """Parallel trials. Measuring on the local CPU while other trials train would disturb latency, so that
    case runs one trial at a time; otherwise as many as the cluster's CPUs allow (GPUs limit themselves
    through each trial's GPU request)."""
    if settings.concurrency is not None:
        return max(1, settings.concurrency)
    if measuring_locally and settings.device == "cpu":
        return 1
    return max(1, int(cpus // max(settings.cpus_per_trial, 1e-9)))


# ---------------------------------------------------------------------------------------------------------
# Run directory and resume
# ---------------------------------------------------------------------------------------------------------


def _default_run_dir(name: str | None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / (name or f"search-{stamp}")


def latest_run(root: str | Path = "runs") -> Path:
    """The most recently created search run under `root` (the one `--resume` without --run-dir continues)."""
    candidates = [p.parent for p in Path(root).glob(f"*/{OPTUNA_FILE}") if (p.parent / "run.json").is_file()]
    if not candidates:
        raise SearchError(f"no search run to resume under {str(root)!r}; pass --run-dir DIR")
    return max(candidates, key=lambda p: (p / "run.json").stat().st_mtime)


def _storage_url(settings: SearchSettings, run_dir: Path) -> str:
    return settings.storage or f"sqlite:///{(run_dir / OPTUNA_FILE).resolve()}"


def _metric_columns(selection: Selection, targets: Sequence[str]) -> dict[str, str]:
    """Every metric the run records, with its unit: objectives plus per-target columns."""
    metrics: dict[str, str] = {}
    for obj in selection.objectives:
        if obj.source == "analytic":
            continue  # params / macs are record columns already
        metrics[obj.metric] = obj.unit
        if obj.per_target:
            for target in targets:
                metrics[metric_name(obj.metric, target)] = obj.unit
    return metrics


def _reconcile(study: Any, trials: Any, selection: Selection) -> tuple[int, int]:
    """Bring the Optuna study in line with the run's records after a kill. Returns (told, requeued).

    - asked, recorded, not told: tell it what the record says;
    - asked, not recorded (in flight at the kill): fail it in Optuna and enqueue its parameters again.
    """
    import optuna

    TS = optuna.trial.TrialState
    by_number = {}
    if trials is not None and len(trials):
        by_number = {int(r["number"]): r for _, r in trials.iterrows()}
    told = requeued = 0
    for t in study.get_trials(deepcopy=False, states=(TS.RUNNING, TS.WAITING)):
        rec = by_number.get(t.number)
        if rec is not None:
            status = rec["status"]
            if status in ("complete", "infeasible"):
                if status == "complete":
                    values = [float(rec[o.metric]) for o in selection.objectives]
                else:
                    values = [o.infeasible_value for o in selection.objectives]
                study.tell(t.number, values)
            else:
                study.tell(t.number, None, state=TS.PRUNED if status == "pruned" else TS.FAIL)
            told += 1
        elif t.state == TS.RUNNING:
            study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            study._storage.set_trial_state_values(t._trial_id, state=TS.FAIL)
            if t.user_attrs.get("infeasible") is None and t.params:
                study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number}, skip_if_exists=False)
                requeued += 1
    return told, requeued


# ---------------------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------------------


def _validate(settings: SearchSettings) -> None:
    if settings.trials < 1:
        raise SearchError(f"--trials {settings.trials} is invalid; valid: 1 or more")
    if settings.sampler.lower() not in SAMPLERS and not settings.sampler[:1].isupper() and ":" not in settings.sampler:
        raise SearchError(f"unknown sampler {settings.sampler!r}; valid: {', '.join(SAMPLERS)} or an Optuna class")
    if settings.early_stop not in EARLY_STOPPING:
        raise SearchError(f"early stopping {settings.early_stop!r} is invalid; valid: {', '.join(EARLY_STOPPING)}")
    if settings.proxy_epochs < 1:
        raise SearchError(f"--proxy-epochs {settings.proxy_epochs} is invalid; valid: 1 or more")
    if settings.retries < 0:
        raise SearchError(f"--retries {settings.retries} is invalid; valid: 0 or more")
    if settings.device != "cpu" and not settings.device.startswith("cuda"):
        raise SearchError(f"--device {settings.device!r} is invalid; valid: cpu, cuda, cuda:N")
    lo, hi = settings.flops
    if not 0 <= lo < hi:
        raise SearchError(f"FLOP band {lo}:{hi} is invalid; valid: 0 <= LO < HI")
    if settings.target_objective != "worst" and settings.target_objective not in settings.targets:
        raise SearchError(
            f"target objective {settings.target_objective!r} is invalid; valid: worst or one of the targets "
            f"({', '.join(settings.targets) or 'none given'})"
        )


def _target_objective_values(
    result: dict[str, Any], selection: Selection, targets: Sequence[str], target_objective: str
) -> None:
    """With targets, each per-target objective's own column is the worst target's value (or the named one's)."""
    for obj in selection.objectives:
        if not obj.per_target:
            continue
        per = [result.get(metric_name(obj.metric, t)) for t in targets]
        if target_objective == "worst":
            if per and all(isinstance(v, (int, float)) for v in per):
                result[obj.metric] = max(per) if obj.direction == "min" else min(per)
        else:
            v = result.get(metric_name(obj.metric, target_objective))
            if v is not None:
                result[obj.metric] = v


def run_search(settings: SearchSettings) -> SearchOutcome:
    """Run (or resume) a search and return its outcome; every trial is in the run directory as it ends."""
    import optuna

    from results.store import RunWriter, read_trials

    t_begin = time.perf_counter()
    resumed = settings.resume
    if settings.resume:
        run_dir = Path(settings.run_dir) if settings.run_dir else latest_run()
        if not (run_dir / "run.json").is_file():
            raise SearchError(f"no run to resume at {str(run_dir)!r}; it has no run.json")
        writer = RunWriter.open_existing(run_dir)
        stored = SearchSettings.from_dict(writer.metadata.get("settings", {}).get("search", {}))
        # Only how much more and how to show it may change on resume; what is searched may not.
        settings = replace(
            stored,
            trials=settings.trials if settings.trials != DEFAULT_TRIALS else stored.trials,
            progress=settings.progress,
            address=settings.address or stored.address,
            run_dir=str(run_dir),
            resume=True,
        )
    _validate(settings)
    space = load_space(settings.space)
    selection = select_objectives(settings.objectives, settings.device)
    notes = list(selection.notes)
    metrics = _metric_columns(selection, settings.targets)
    if not settings.resume:
        run_dir = Path(settings.run_dir) if settings.run_dir else _default_run_dir(settings.name)
        if (run_dir / "run.json").exists():
            raise SearchError(
                f"{str(run_dir)!r} already holds a run; pass --resume to continue it or pick a new --run-dir"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        settings = replace(settings, run_dir=str(run_dir))
        metadata = {
            "name": settings.name or run_dir.name,
            "objectives": [o.to_dict() for o in selection.objectives],
            "metrics": metrics,
            "flops_band": list(settings.flops),
            "devices": list(settings.targets) or [settings.device],
            "targets": list(settings.targets) or [settings.device],
            "seed": settings.seed,
            "settings": {
                "search": settings.to_dict(),
                "objectives": [o.to_dict() for o in selection.objectives],
                "space": space.to_dict(),
                "flops_convention": "conv MACs at 224x224 input, 1000 classes (the paper's Table 2)",
                "notes": notes,
            },
            "versions": _versions(),
        }
        writer = RunWriter(run_dir, metadata)
    storage_url = _storage_url(settings, run_dir)
    existing = read_trials(run_dir) if settings.resume else None
    done_counts: dict[str, int] = {}
    if existing is not None and len(existing):
        done_counts = {k: int(v) for k, v in existing["status"].value_counts().items()}
    feasible_done = sum(done_counts.get(s, 0) for s in ("complete", "failed", "pruned"))
    remaining = max(0, settings.trials - feasible_done)

    recorder = Recorder(
        writer,
        selection,
        [m for m in metrics if m not in ("params", "macs")],
        done_counts,
        settings.targets,
        settings.target_objective,
    )
    recorder.load_points(existing)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(storage_url)
    directions = [o.optuna_direction for o in selection.objectives]
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, directions=directions, load_if_exists=True)
    if settings.resume:
        told, requeued = _reconcile(study, existing, selection)
        if told or requeued:
            notes.append(f"resume: {told} recorded trial(s) told to Optuna, {requeued} interrupted trial(s) re-queued")

    ray_startup = 0.0
    if remaining > 0 and selection.has("accuracy"):
        try:
            import nas.proxy  # noqa: F401
        except ImportError as err:
            raise SearchError(
                f"the accuracy objective needs the proxy trainer nas.proxy, which cannot be imported ({err}); "
                "search other objectives, e.g. --objectives latency,params"
            ) from None
    if remaining > 0:
        ray_startup = _run_tune(settings, space, selection, recorder, storage, remaining, notes)
    writer.finish()
    return _outcome(run_dir, selection, recorder, notes, time.perf_counter() - t_begin, ray_startup, resumed)


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("ray", "optuna", "torch"):
        with contextlib.suppress(Exception):
            out[mod] = __import__(mod).__version__
    return out


def _run_tune(
    settings: SearchSettings,
    space: SearchSpace,
    selection: Selection,
    recorder: Recorder,
    storage: Any,
    remaining: int,
    notes: list[str],
) -> float:
    """Start or join Ray and run `remaining` feasible trials through Tune; returns Ray's start-up seconds."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TensorBoard per trial
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # per-epoch reports carry accuracy only
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter honours verbose=0: no Tune output
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "100")
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    with ray_session(settings.address, settings.num_cpus) as startup:
        namespace = f"espnas-{os.getpid()}-{random.getrandbits(32):08x}"
        measurers = _start_measurers(settings, namespace) if settings.targets else []
        gpus = settings.gpus_per_trial
        if gpus is None:
            gpus = 1.0 if settings.device.startswith("cuda") and not settings.targets else 0.0
        measuring = tuple(o.metric for o in selection.objectives if o.source == "measure")
        cluster_cpus = float(ray.cluster_resources().get("CPU", 1))
        concurrency = _default_concurrency(settings, bool(measuring) and not settings.targets, cluster_cpus)
        threads = max(1, int(settings.cpus_per_trial))
        job = TrialJob(
            train=selection.has("accuracy"),
            measure=measuring,
            data=settings.data,
            image_size=settings.image_size,
            proxy_epochs=settings.proxy_epochs,
            proxy_max_steps=settings.proxy_max_steps,
            batch_size=settings.batch_size,
            device=settings.device,
            threads=threads,
            measure_threads=settings.measure_threads,
            retries=settings.retries,
            seed=settings.seed,
            latency_budget_s=settings.latency_budget_s,
            latency_batch=settings.latency_batch,
            targets=settings.targets,
            namespace=namespace,
        )
        if job.train:
            # A bad --data fails here, once, rather than in every trial.
            from nas.proxy import proxy_data

            proxy_data(settings.data, settings.image_size, settings.seed)
        cls = _make_searcher_class()
        searcher = cls(
            space,
            tuple(settings.flops),
            selection,
            recorder,
            sampler=make_sampler(settings.sampler, settings.seed),
            storage=storage,
            study_name=STUDY_NAME,
            max_infeasible=settings.max_infeasible or max(200, 20 * settings.trials),
        )
        if settings.early_stop == "asha" and job.train:
            scheduler = ASHAScheduler(
                metric="accuracy",
                mode="max",
                time_attr="training_iteration",
                max_t=settings.proxy_epochs + 1,
                grace_period=1,
            )
        elif settings.early_stop == "median" and job.train:
            scheduler = MedianStoppingRule(
                metric="accuracy", mode="max", time_attr="training_iteration", grace_period=1, min_samples_required=3
            )
        else:
            scheduler = FIFOScheduler()
        trainable = tune.with_resources(
            tune.with_parameters(_tune_trainable, job=job), {"cpu": settings.cpus_per_trial, "gpu": gpus}
        )
        title = f"espnas search: {Path(recorder.writer.path)}"
        progress = Progress(recorder, settings.trials, concurrency, settings.progress, title)
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=scheduler,
                num_samples=remaining,
                max_concurrent_trials=concurrency,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
                storage_path=str((Path(recorder.writer.path) / "ray").resolve()),
                verbose=0,
                callbacks=[_make_progress_callback(progress)],
                failure_config=tune.FailureConfig(max_failures=settings.retries),
                log_to_file=False,
            ),
        )
        with progress, _quiet_ray_logs():
            tuner.fit()
        if searcher.gave_up:
            raise SearchError(searcher.gave_up)
        del measurers
        return startup


@contextlib.contextmanager
def _quiet_ray_logs() -> Iterator[None]:
    """Tune logs warnings (e.g. about trial checkpoints) through `logging`; the live table is the output."""
    import logging

    names = ("ray", "ray.tune", "ray.train", "ray.air")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lvl in levels.items():
            logging.getLogger(n).setLevel(lvl)


def _outcome(
    run_dir: Path,
    selection: Selection,
    recorder: Recorder,
    notes: list[str],
    elapsed: float,
    ray_startup: float,
    resumed: bool,
) -> SearchOutcome:
    from results.pareto import front as run_front
    from results.store import open_run

    run = open_run(run_dir)
    counts = {k: int(v) for k, v in recorder.counts.items()}
    cols = [o.metric for o in selection.objectives]
    try:
        frame = run.complete()
        front = run_front(run, cols) if len(frame) else frame
    except EspnasError:
        front = run.complete()
    size, hv = recorder.front_summary()
    del size
    return SearchOutcome(
        run_dir=run_dir,
        objectives=[o.to_dict() for o in selection.objectives],
        front=front,
        counts=counts,
        hypervolume=hv,
        notes=notes,
        elapsed_s=elapsed,
        ray_startup_s=ray_startup,
        resumed=resumed,
    )


def objectives_of(settings: SearchSettings) -> list[Objective]:
    """The objectives a settings object would search (for printing before the run starts)."""
    return list(select_objectives(settings.objectives, settings.device).objectives)


__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_TRIALS",
    "SearchError",
    "SearchOutcome",
    "SearchSettings",
    "check_band",
    "latest_run",
    "make_sampler",
    "parse_band",
    "parse_count",
    "run_search",
    "run_trial",
]

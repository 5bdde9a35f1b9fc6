"""The search: Ray Tune runs the trials, Optuna (through Ray's OptunaSearch) proposes them.

`run_search(SearchSettings(...)) -> SearchOutcome` is the whole job; `espnas search` only parses and prints.

How a trial goes (and why):
- The sampler proposes a flat dict; `nas.search.space.sample_to_config` freezes it; `profilers.counting.count` gives its
  conv MACs at 224x224 / 1000 classes (the paper's FLOP convention) in microseconds. Outside the band the trial
  is recorded "infeasible" and told to Optuna at once, in the driver: it never reaches Ray, never builds a
  model, never trains. Every trial carries the band as Optuna constraints (`Trial.set_constraint`, read by
  NSGA-II and TPE), so the sampler learns the band.
- In the band, Ray Tune runs the trial: proxy training (`nas.train.proxy.proxy_accuracy`) on the trial's own
  resources, then measurement. With no `targets`, measurement runs in the trial on `device` (a GPU trial
  holds a whole GPU by default, so no other trial runs there while it measures). With targets, each target
  has one measuring actor placed on a node of that type (a custom resource or `accelerator_type:NAME`), with
  `max_concurrency=1`: one measurement at a time per device, while training trials run in parallel.
- When a trial ends the driver first appends its record to the run directory, then tells Optuna. The run
  directory and the Optuna storage are the durable state; resume reconciles them (see nas.search.resume, which
  also says why resuming starts a fresh Tune experiment rather than Tune's restore).

The pieces, in the order data flows: band (the FLOP band) -> trial (what runs in a trial) -> recorder
(records) -> searcher (Optuna behind Tune) and progress -> this driver; ray_session, samplers and resume serve
the driver (all in nas.search).
"""

from __future__ import annotations

import contextlib
import os
import random
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from nas.search.band import DEFAULT_BAND, band_text, check_band, fmt_count, parse_band, parse_count
from nas.search.checks import check_cluster_fits, check_settings
from nas.search.errors import SearchError
from nas.search.objectives import SearchObjective, Selection, metric_name, select_objectives
from nas.search.placement import (
    check_gpu_placement,
    check_power_on_targets,
    check_power_where_trials_run,
    power_checked_on_targets,
)
from nas.search.progress import Progress, progress_callback
from nas.search.ray_session import default_concurrency, quiet_ray_logs, ray_session, start_measurers
from nas.search.recorder import Recorder
from nas.search.resume import (
    OPTUNA_FILE,
    RESEEDED_NOTE,
    check_study,
    check_study_arches,
    latest_run,
    reconcile,
    repair_timings,
    resume_seed,
    resumed_settings,
    stored_space,
)
from nas.search.samplers import SAMPLERS, make_sampler
from nas.search.searcher import make_searcher_class
from nas.search.space import SearchSpace, load_space
from nas.search.tasks import get_task
from nas.search.trial import TrialJob, run_trial, tune_trainable
from nas.search.zero_cost_rung import DEFAULT_KEEP
from search_spaces.errors import EspnasError, Interrupted

# The embedded default (no arguments): digits, the stages space, 16 trials (`make demo` runs 8 of 2 proxy
# epochs, about five minutes on a 2-core machine; benchmarks/README.md has the measured times).
DEFAULT_TRIALS = 16
STUDY_NAME = "espnas"
EARLY_STOPPING = ("none", "asha", "median", "mo-asha")

# ---------------------------------------------------------------------------------------------------------
# Settings and outcome
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSettings:
    """Everything a search needs. Grouped as Tune groups them: what to search, how to evaluate, where to run."""

    # what to search
    task: str = "classification"  # nas/search/tasks.py: classification | segmentation
    space: str | None = None  # space file; None = the task's shipped space (paper, segmentation)
    trials: int = DEFAULT_TRIALS  # trials that are trained/measured (infeasible ones do not count)
    flops: tuple[int, int] = DEFAULT_BAND  # conv MACs at 224x224, 1000 classes
    objectives: tuple[str, ...] | None = None  # None = accuracy, latency, energy (where measurable)
    sampler: str = "tpe"  # tpe | nsga2 | random | an optuna.samplers class name | "module:Class"
    seed: int = 0
    max_infeasible: int | None = None  # infeasible proposals allowed in a row before giving up
    # how to evaluate
    data: str = "digits"
    image_size: int = 32
    proxy_epochs: int = 3  # nas.train.proxy: espnetv2-0.5 reaches >= 0.9 on the digits in 3 epochs
    proxy_max_steps: int | None = None
    proxy_recipe: str = "proxy"  # classification: a name in nas.train.proxy.PROXY_RECIPES (proxy | proxy-adam)
    batch_size: int = 64
    device: str = "cpu"
    latency_budget_s: float = 1.0
    latency_batch: int = 1
    runtime: str = "deploy"  # profilers.runtimes: what latency is measured in (deploy = the deploy form)
    target_runtimes: tuple[str, ...] = ()  # "TARGET=RUNTIME": a target measured in another runtime
    predictor_table: str | None = None  # latency table for the latency_pred objective (None: this machine's)
    two_stage: bool = False  # search on latency_pred, then measure only the trials near the predicted front
    two_stage_margin: float = 0.1  # relative slack on the predicted latency when choosing what to measure
    measure_threads: int = 1  # CPU threads for CPU measurements (1: stable on a shared machine; recorded)
    retries: int = 1
    early_stop: str = "none"  # none | asha | median | mo-asha (nas.search.mo_asha)
    zero_cost_rung: str | None = None  # a zero-cost measure: train only the best-scored proposals
    zero_cost_keep: float = DEFAULT_KEEP  # the fraction the zero-cost rung trains (nas.search.zero_cost_rung)
    # where to run
    targets: tuple[str, ...] = ()  # Ray custom resources or accelerator types; () = local `device`
    target_objective: str = "worst"  # worst | <target name>
    address: str | None = None
    num_cpus: int | None = None  # for a local Ray instance; None = os.cpu_count()
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # None: 1 when device is cuda, else 0
    concurrency: int | None = None  # None: see nas.search.ray_session.default_concurrency
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
        """The inverse of `to_dict` (JSON lists back to tuples). An unknown key is refused, not dropped: a
        misspelt setting must not silently fall back to its default. (No setting has ever been removed, so
        every stored run.json reads back.)"""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise SearchError(f"unknown search setting(s) {', '.join(map(repr, unknown))}; valid: {', '.join(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}  # JSON lists: tuples
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
# The run directory, its storage and its columns
# ---------------------------------------------------------------------------------------------------------


def _default_run_dir(name: str | None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / (name or f"search-{stamp}")


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


# ---------------------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------------------


def _validate_latency(settings: SearchSettings) -> None:
    """Runtimes exist and serve the device; the latency table exists and is this machine's (issue 13)."""
    from nas.search.objectives import get_objective
    from profilers.runtimes import get_runtime

    get_runtime(settings.runtime).require(settings.device, "fp32")
    for item in settings.target_runtimes:
        target, _, runtime = item.partition("=")
        if target not in settings.targets or not runtime:
            raise SearchError(
                f"--runtime {item!r} is invalid; valid: RUNTIME, or TARGET=RUNTIME with TARGET one of the targets "
                f"({', '.join(settings.targets) or 'none given'})"
            )
        get_runtime(runtime)
    names = [get_objective(n).name for n in settings.objectives or ()]
    if settings.two_stage and "latency_pred" not in names:
        raise SearchError("--two-stage searches on predicted latency; valid: include latency_pred in --objectives")
    if "latency_pred" in names:
        from nas.search.predicted import resolve_table

        resolve_table(
            settings.predictor_table, settings.runtime, settings.device, settings.latency_batch,
            settings.measure_threads,
        )  # fmt: skip


def _validate(settings: SearchSettings) -> None:
    check_settings(settings)  # every number, name, path, URL and the device (nas.search.checks)
    _validate_latency(settings)
    if settings.sampler.lower() not in SAMPLERS and not settings.sampler[:1].isupper() and ":" not in settings.sampler:
        raise SearchError(f"unknown sampler {settings.sampler!r}; valid: {', '.join(SAMPLERS)} or an Optuna class")
    if settings.early_stop not in EARLY_STOPPING:
        raise SearchError(f"early stopping {settings.early_stop!r} is invalid; valid: {', '.join(EARLY_STOPPING)}")
    if settings.zero_cost_rung is not None:
        from nas.search.zero_cost_rung import check_rung_settings

        check_rung_settings(settings.zero_cost_rung, settings.zero_cost_keep)
    if settings.proxy_epochs < 1:
        raise SearchError(f"--proxy-epochs {settings.proxy_epochs} is invalid; valid: 1 or more")
    _check_proxy_recipe(settings)
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


def run_search(settings: SearchSettings, on_note: Callable[[str], None] | None = None) -> SearchOutcome:
    """Run (or resume) a search and return its outcome; every trial is in the run directory as it ends.

    Every setting is checked before anything is written or started. A search that fails before its first
    record leaves nothing behind; one that fails later is marked failed with its reason (see nas.search.rollback).
    """
    import optuna

    from nas.search.rollback import remove_run, run_guard
    from results.files import remove_stale_temps
    from results.store import RunWriter, read_metadata, read_trials

    t_begin = time.perf_counter()
    resumed = settings.resume
    notes: list[str] = []
    if settings.resume:
        run_dir = Path(settings.run_dir) if settings.run_dir else latest_run()
        if not (run_dir / "run.json").is_file():
            raise SearchError(f"no run to resume at {str(run_dir)!r}; it has no run.json")
        stored_meta = read_metadata(run_dir)
        stored = SearchSettings.from_dict(stored_meta.get("settings", {}).get("search", {}))
        # Only how much more and how to show it may change on resume; what is searched may not.
        settings, resume_notes = resumed_settings(settings, stored, run_dir, DEFAULT_TRIALS)
        notes += resume_notes
    _validate(settings)
    task = get_task(settings.task)
    space = stored_space(stored_meta, run_dir) if settings.resume else load_space(settings.space or task.default_space)
    if not space.searched:
        raise SearchError(
            f"search space {space.source or space.name!r} varies no knob, so every trial would be the same config; "
            "valid: a space with at least one knob given as a list of choices or a {low, high} range"
        )
    # With measuring targets or on a cluster, energy is asked where the measurements run once Ray is up.
    power_check = {"power_check": power_checked_on_targets} if settings.targets or settings.address else {}
    selection = select_objectives(settings.objectives, settings.device, defaults=task.default_objectives, **power_check)
    check_gpu_placement(
        settings.device,
        settings.gpus_per_trial,
        measuring=any(o.source == "measure" for o in selection.objectives),
        targets=settings.targets,
    )
    notes += list(selection.notes)
    metrics = _metric_columns(selection, settings.targets)
    make_sampler(settings.sampler, settings.seed)  # an unknown or unbuildable sampler fails here, not in Ray
    if selection.needs("train"):
        _check_data(settings)  # a bad --data fails here, before a run directory exists
    if not settings.resume:
        run_dir = Path(settings.run_dir) if settings.run_dir else _default_run_dir(settings.name)
        if (run_dir / "run.json").exists():
            raise SearchError(
                f"{str(run_dir)!r} already holds a run; pass --resume to continue it or pick a new --run-dir"
            )
        created_dir = not run_dir.exists()
        storage_url = _storage_url(settings, run_dir)
        if settings.storage is not None:
            _check_fresh_storage(storage_url)
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
                "flops_convention": task.band_convention,
                "task": task.name,
                "notes": notes,
            },
            "versions": _versions(),
        }
        try:
            writer = RunWriter(run_dir, metadata)
        except BaseException:
            if created_dir:
                remove_run(run_dir, created_dir=True)
            raise
        existing = None
    else:
        storage_url = _storage_url(settings, run_dir)
        existing = read_trials(run_dir, stored_meta)
        notes += check_study(storage_url, settings.storage is None, run_dir, existing, STUDY_NAME)
        for leftover in (run_dir, run_dir / "trials"):  # what a kill -9 mid-write left (atomic writes' temps)
            remove_stale_temps(leftover)
        repair_timings(run_dir)
        writer = RunWriter.open_existing(run_dir)
        created_dir = False
        if writer.metadata.pop("failure", None) is not None:
            writer.update_metadata()
    with run_guard(run_dir, writer, new_run=not resumed, created_dir=created_dir):
        done_counts: dict[str, int] = {}
        if existing is not None and len(existing):
            done_counts = {k: int(v) for k, v in existing["status"].value_counts().items()}
        feasible_done = sum(done_counts.get(s, 0) for s in ("complete", "failed", "pruned"))
        remaining = max(0, settings.trials - feasible_done)
        if settings.resume:
            notes.insert(0, _resume_note(run_dir, done_counts, settings.trials, remaining))

        recorder = Recorder(
            writer,
            selection,
            [m for m in metrics if m not in ("params", "macs")],
            done_counts,
            settings.targets,
            settings.target_objective,
        )
        recorder.load_points(existing)
        recorder.on_note = on_note  # notes of the trials: shown as they arise (through the progress display)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = optuna.storages.RDBStorage(storage_url)
        directions = [o.optuna_direction for o in selection.objectives]
        study = optuna.create_study(storage=storage, study_name=STUDY_NAME, directions=directions, load_if_exists=True)
        sampler_seed = settings.seed
        if settings.resume:
            if [d.name.lower() for d in study.directions] != directions:
                raise SearchError(
                    f"the Optuna storage of {run_dir} optimises {len(study.directions)} objectives in other "
                    "directions than the run's; it does not belong to this run (restore the run's own storage)"
                )
            check_study_arches(study, existing)
            told, requeued = reconcile(study, existing, selection)
            if told or requeued:
                notes.append(
                    f"resume: {told} recorded trial(s) told to Optuna, {requeued} interrupted trial(s) re-queued"
                )
            if len(study.trials):
                sampler_seed = resume_seed(settings.seed, len(study.trials))
                notes.append(RESEEDED_NOTE.format(seed=sampler_seed, n=len(study.trials)))

        ray_startup = 0.0
        for note in notes if on_note else ():
            on_note(note)  # notes known before the trials start are shown now, not at the end
        if remaining > 0:
            try:
                ray_startup = _run_tune(
                    settings, space, selection, recorder, storage, remaining, sampler_seed=sampler_seed
                )
            except KeyboardInterrupt:
                raise _interrupted(run_dir, writer, recorder, new_run=not resumed) from None
        notes += recorder.notes
        notes += _counted_notes(recorder)
        if recorder.duplicates:
            notes.append(
                f"{recorder.duplicates} proposal(s) repeated a config already complete in this run and were not "
                "trained again (told to Optuna with the stored values; 'duplicate_of' in the study)"
            )
    if settings.two_stage and remaining > 0:
        from nas.search.two_stage import measure_near_front

        notes.append(measure_near_front(run_dir, settings, selection))
    writer.finish()
    return _outcome(run_dir, selection, recorder, notes, time.perf_counter() - t_begin, ray_startup, resumed)


def _counted_notes(recorder: Recorder) -> list[str]:
    """For the kinds of trial notes that arose more often than were shown: how many there were in all.
    (Duplicates have their own total below; disturbed latencies are counted by `espnas search`.)"""
    from nas.search.recorder import NOTES_SHOWN_PER_KIND

    what = {
        "retry": "trial(s) completed only after a failed attempt (each record's 'reason' says what failed)",
        "restart": "trial process(es) failed and were started again by Tune (see the Ray logs)",
    }
    counts = recorder.note_counts
    return [
        f"{counts[kind]} {text}; the first {NOTES_SHOWN_PER_KIND} were noted as they arose"
        for kind, text in what.items()
        if counts.get(kind, 0) > NOTES_SHOWN_PER_KIND
    ]


def _resume_note(run_dir: Path, done: Mapping[str, int], trials: int, remaining: int) -> str:
    """Where a resumed search goes on from: what the run already holds and what is left."""
    recorded = sum(done.get(s, 0) for s in ("complete", "failed", "pruned"))
    parts = ", ".join(f"{done.get(s, 0)} {s}" for s in ("complete", "failed", "pruned", "infeasible"))
    return f"resuming {run_dir} at trial {recorded + 1} of {trials} ({parts} recorded); {remaining} to run"


def _interrupted(run_dir: Path, writer: Any, recorder: Recorder, new_run: bool) -> Interrupted:
    """Ctrl-C during the trials: the records written so far are whole (each is an atomic file), trials in
    flight are re-queued on resume (nas.search.resume). The run is marked interrupted; a new run without
    a single record is removed by the run guard, so there is nothing to resume."""
    from nas.search.rollback import has_records

    if new_run and not has_records(run_dir):
        return Interrupted(f"no trial had finished, so nothing was kept ({run_dir} removed); run the command again")
    writer.interrupt()
    c = recorder.counts
    kept = (
        f"{c['complete']} complete, {c['failed']} failed, {c['pruned']} pruned and {c['infeasible']} infeasible "
        f"trials kept in {run_dir}"
    )
    return Interrupted(kept, shlex.join(["espnas", "search", "--resume", "--run-dir", str(run_dir)]))


def _check_data(settings: SearchSettings) -> None:
    """Load the proxy data once (cached for the trials in this process): a missing path, a corrupt file or a
    folder of one class is refused before the run starts."""
    get_task(settings.task).load_data(settings.data, settings.image_size, settings.seed)


def _check_fresh_storage(url: str) -> None:
    """A new run's user-given storage must not already hold this run's study (its numbers would collide)."""
    import optuna

    try:
        summaries = optuna.get_all_study_summaries(storage=optuna.storages.RDBStorage(url))
    except Exception as err:
        line = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise SearchError(f"cannot open the Optuna storage {url!r} ({line}); valid: a reachable RDB URL") from None
    if any(s.study_name == STUDY_NAME for s in summaries):
        raise SearchError(
            f"the Optuna storage {url!r} already holds a study {STUDY_NAME!r} (another run's); "
            "valid: a storage without it, or --resume of the run that made it"
        )


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("ray", "optuna", "torch"):
        with contextlib.suppress(Exception):
            out[mod] = __import__(mod).__version__
    return out


def _zero_cost_screen(settings: SearchSettings) -> Any:
    if settings.zero_cost_rung is None:
        return None
    from nas.search.zero_cost_rung import make_zero_cost_rung, searcher_screen

    rung = make_zero_cost_rung(
        settings.zero_cost_rung,
        settings.data,
        image_size=settings.image_size,
        seed=settings.seed,
        keep=settings.zero_cost_keep,
        batch_size=settings.batch_size,
    )
    return searcher_screen(rung)


def _run_tune(
    settings: SearchSettings,
    space: SearchSpace,
    selection: Selection,
    recorder: Recorder,
    storage: Any,
    remaining: int,
    *,
    sampler_seed: int,
) -> float:
    """Start or join Ray and run `remaining` feasible trials through Tune; returns Ray's start-up seconds."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TensorBoard per trial
    # Ctrl-C raises KeyboardInterrupt at once (Tune's own handler would end the run as if it had finished);
    # run_search marks the run interrupted and says how to resume it.
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # per-epoch reports carry accuracy only
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter honours verbose=0: no Tune output
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "100")
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    with ray_session(settings.address, settings.num_cpus) as startup:
        measuring = tuple(o.metric for o in selection.objectives if o.source in ("measure", "predict"))
        job = _trial_job(
            settings,
            train=selection.needs("train"),
            measure=measuring,
            threads=max(1, int(settings.cpus_per_trial)),
            namespace=f"espnas-{os.getpid()}-{random.getrandbits(32):08x}",
        )
        measurers = start_measurers(job) if job.targets else []
        if measurers and selection.has("energy"):
            check_power_on_targets(measurers, job.targets, ray.get)
        gpus = settings.gpus_per_trial
        if gpus is None:
            gpus = 1.0 if settings.device.startswith("cuda") and not settings.targets else 0.0
        cluster_cpus = float(ray.cluster_resources().get("CPU", 1))
        check_cluster_fits(settings, cluster_cpus)  # a trial no node can hold would wait forever
        if settings.address and not settings.targets and selection.has("energy"):
            check_power_where_trials_run(settings.device, gpus, ray)
        concurrency = default_concurrency(
            settings.concurrency,
            settings.device,
            settings.cpus_per_trial,
            measuring_locally=bool(measuring) and not settings.targets,
            cpus=cluster_cpus,
        )
        cls = make_searcher_class()
        searcher = cls(
            space,
            tuple(settings.flops),
            selection,
            recorder,
            sampler=make_sampler(settings.sampler, sampler_seed),
            storage=storage,
            study_name=STUDY_NAME,
            max_infeasible=settings.max_infeasible or max(200, 20 * settings.trials),
            task=settings.task,
            screen=_zero_cost_screen(settings) if job.train else None,
        )
        quality = get_task(settings.task).quality_metric  # the curve early stopping watches
        from nas.search.objectives import get_objective

        quality_mode = get_objective(get_task(settings.task).quality).direction  # "max"; perplexity: "min"
        if settings.early_stop == "asha" and job.train:
            scheduler = ASHAScheduler(
                metric=quality,
                mode=quality_mode,
                time_attr="training_iteration",
                max_t=settings.proxy_epochs + 1,
                grace_period=1,
            )
        elif settings.early_stop == "mo-asha" and job.train:
            from nas.search.mo_asha import make_mo_asha_scheduler

            # Pareto rank of (quality so far, the analytic count the band bounds) at each rung: cheap networks
            # survive. Conv MACs for image tasks; parameters where the band bounds those (language).
            cost = "espnas_params" if get_task(settings.task).band_metric == "params" else "espnas_macs"
            scheduler = make_mo_asha_scheduler(
                quality, quality_mode, static={cost: "min"}, max_t=settings.proxy_epochs + 1, grace_period=1
            )
        elif settings.early_stop == "median" and job.train:
            scheduler = MedianStoppingRule(
                metric=quality,
                mode=quality_mode,
                time_attr="training_iteration",
                grace_period=1,
                min_samples_required=3,
            )
        else:
            scheduler = FIFOScheduler()
        trainable = tune.with_resources(
            tune.with_parameters(tune_trainable, job=job), {"cpu": settings.cpus_per_trial, "gpu": gpus}
        )
        title = "espnas search"
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
                callbacks=[progress_callback(progress)],
                failure_config=tune.FailureConfig(max_failures=settings.retries),
                log_to_file=False,
            ),
        )
        with progress, quiet_ray_logs():
            tuner.fit()
        if searcher.gave_up:
            raise SearchError(searcher.gave_up)
        del measurers
        return startup


def _check_proxy_recipe(settings: SearchSettings) -> None:
    from nas.train.proxy import PROXY_RECIPES

    if settings.proxy_recipe not in PROXY_RECIPES:
        valid = ", ".join(sorted(PROXY_RECIPES))
        raise SearchError(f"--proxy-recipe {settings.proxy_recipe!r} is invalid; valid: {valid}")
    if settings.proxy_recipe != SearchSettings.proxy_recipe and settings.task != "classification":
        raise SearchError(
            f"--proxy-recipe is for --task classification; the {settings.task} task trains with its own recipe"
        )


def _trial_job(settings: SearchSettings, **decided: Any) -> TrialJob:
    """The job shipped to trials: what the driver `decided`, the rest copied from the settings field of the same
    name (one place, so a new shared setting needs no copying code)."""
    shared = {f.name: getattr(settings, f.name) for f in fields(TrialJob) if f.name not in decided}
    return TrialJob(**shared, **decided)


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


def objectives_of(settings: SearchSettings) -> list[SearchObjective]:
    """The objectives a settings object would search (for printing before the run starts)."""
    defaults = get_task(settings.task).default_objectives
    return list(select_objectives(settings.objectives, settings.device, defaults=defaults).objectives)


__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_TRIALS",
    "SAMPLERS",
    "SearchError",
    "SearchOutcome",
    "SearchSettings",
    "band_text",
    "check_band",
    "fmt_count",
    "latest_run",
    "make_sampler",
    "parse_band",
    "parse_count",
    "run_search",
    "run_trial",
]

"""Trial results -> run records (results.store), appended before Optuna is told; tallies and the live front.

Lives in the driver only.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.search.band import Verdict
from nas.search.objectives import Selection, metric_name
from results.timestamps import now_iso

TIMINGS_FILE = "search_timings.jsonl"
# Notes of one kind (a duplicate proposal, a retried trial, a disturbed latency) shown as they arise; after
# this many the rest are only counted, and the end of the search says how many there were in all.
NOTES_SHOWN_PER_KIND = 3


def trial_id(number: int) -> str:
    """The id of Optuna trial `number` in records, tables and notes: t00007."""
    return f"t{int(number):05d}"


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
        self.finished: list[tuple[str, str, list[float] | None, str | None]] = []  # this session, in order
        self.points: list[list[float]] = []
        self.lock = threading.Lock()
        self.timings_path = Path(writer.path) / TIMINGS_FILE
        self.asked_at: dict[int, float] = {}
        self.started = time.time()
        # arch_id -> (trial id, objective values) of every complete trial: a proposal of one of these is a
        # duplicate and is not trained again (a resumed sampler, or TPE re-proposing a config).
        self.completed: dict[str, tuple[str, list[float]]] = {}
        self.duplicates = 0
        # Notes that arise during the trials, in order; each is also passed to `on_note` as it arises (the
        # progress display prints it at once). `note_counts` counts every one, shown or not, by kind.
        self.on_note: Callable[[str], None] | None = None
        self.notes: list[str] = []
        self.note_counts: dict[str, int] = {}

    def load_points(self, frame: Any) -> None:
        if frame is None or len(frame) == 0:
            return
        done = frame[frame["status"] == "complete"]
        cols = self.selection.metrics
        if all(c in done.columns for c in cols):
            values = done[cols].astype(float).values.tolist()
            self.points.extend(values)
            if "arch_id" in done.columns:
                for trial_id, arch, vals in zip(done["trial_id"], done["arch_id"], values, strict=True):
                    if isinstance(arch, str):
                        self.completed.setdefault(arch, (str(trial_id), vals))

    def note(self, kind: str, text: str) -> None:
        """A note that arose during the trials: kept, and shown now unless NOTES_SHOWN_PER_KIND of its kind
        were shown already (the last one shown says that further ones are only counted)."""
        with self.lock:
            n = self.note_counts[kind] = self.note_counts.get(kind, 0) + 1
            if n > NOTES_SHOWN_PER_KIND:
                return
            if n == NOTES_SHOWN_PER_KIND:
                text += f" (further {kind} notes are only counted, at the end)"
            self.notes.append(text)
        if self.on_note is not None:
            self.on_note(text)

    def record_duplicate(self, number: int, of: str, in_flight: bool) -> None:
        """Optuna trial `number` proposed the config of trial `of`: not trained (the searcher tells Optuna)."""
        self.duplicates += 1
        told = "told to Optuna as failed, as it is still running" if in_flight else "told to Optuna with its values"
        self.note("duplicate", f"proposal {number} repeats the config of {of}: not trained again ({told})")

    def duplicate_of(self, arch_id: str | None) -> tuple[str, list[float]] | None:
        """(trial id, values) of the complete trial of this architecture, or None."""
        with self.lock:
            return self.completed.get(arch_id) if arch_id else None

    def base_record(self, number: int, verdict: Verdict) -> dict[str, Any]:
        rec: dict[str, Any] = {"trial_id": trial_id(number), "number": number}
        if verdict.config is not None:
            rec.update(
                config_json=verdict.config.to_json(),
                arch_id=verdict.config.arch_id,
                params=verdict.params,
                macs=verdict.conv_macs,
            )
        return rec

    def record_infeasible(self, number: int, verdict: Verdict, seconds: float) -> None:
        self._record_untrained(number, verdict, "infeasible", verdict.reason, seconds)

    def record_screened(self, number: int, verdict: Verdict, reason: str, seconds: float) -> None:
        """A feasible proposal the zero-cost rung did not train (nas.search.zero_cost_rung): pruned at rung 0."""
        self._record_untrained(number, verdict, "pruned", reason, seconds)

    def _record_untrained(self, number: int, verdict: Verdict, status: str, reason: str | None, seconds: float) -> None:
        now = now_iso()
        rec = self.base_record(number, verdict)
        rec.update(status=status, reason=reason, started_at=now, ended_at=now, duration_s=seconds)
        with self.lock:
            self.writer.append(rec)
            self.counts[status] += 1

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
            for key in (col, f"{col}_iqr", f"{col}_ci_lo", f"{col}_ci_hi", f"{col}_net"):  # _net: energy above idle
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
            started_at=now_iso(t0) if t0 else None,
            ended_at=now_iso(t1 or time.time()),
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
                if rec.get("arch_id"):
                    self.completed.setdefault(str(rec["arch_id"]), (str(rec["trial_id"]), list(values)))
            self.finished.append((rec["trial_id"], status, values, reason))
        self._timing(number, status, asked, result, write_s)
        if status == "complete" and reason:  # complete, with something to say: a retry
            self.note("retry", f"{rec['trial_id']}: {reason}")
        if status == "complete":
            self._note_disturbed(rec)
        return status, values

    def _note_disturbed(self, rec: Mapping[str, Any]) -> None:
        """A note when a trial's latency spread as on a busy machine (profilers.disturbance's rule)."""
        from profilers.disturbance import Disturbance, disturbed

        for col in self.metric_columns:
            if not col.startswith("latency_ms") or not isinstance(rec.get(col), float):
                continue
            lo, hi = rec.get(f"{col}_ci_lo"), rec.get(f"{col}_ci_hi")
            ci = (lo, hi) if isinstance(lo, float) and isinstance(hi, float) else None
            if disturbed(rec[col], rec.get(f"{col}_iqr"), ci):
                why = Disturbance(col, rec[col], rec.get(f"{col}_iqr"), ci).why
                self.note(
                    "disturbed",
                    f"warning: {rec['trial_id']}'s {col} spread as on a busy machine: {why}; its latency ranking "
                    "is uncertain (see `uptime`; a longer --latency-budget helps)",
                )
                return

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
        # One write(2) of the whole line on an O_APPEND descriptor: lines never interleave, and a kill can only
        # leave a torn last line, which resume drops (nas.search.resume.repair_timings).
        data = (json.dumps(line) + "\n").encode()
        with self.lock:
            fd = os.open(self.timings_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def front_summary(self) -> tuple[int, float | None]:
        """Front size and hypervolume of the complete trials so far, as every espnas output defines it
        (results.pareto.front_hypervolume: normalised over the run's complete trials, reference 1.1 each)."""
        import numpy as np

        from results.pareto import non_dominated

        with self.lock:
            pts = np.asarray(self.points, dtype=float)
        if len(pts) == 0:
            return 0, None
        hv = self.hypervolume()
        return int(non_dominated(pts, self.selection.modes).sum()), None if hv is None else hv.value

    def hypervolume(self) -> Any:
        """The front's `results.pareto.Hypervolume` (normalised and raw), or None before a complete trial."""
        from results.pareto import front_hypervolume

        with self.lock:
            pts = [list(p) for p in self.points]
        if not pts:
            return None
        return front_hypervolume(pts, self.selection.modes, over=f"the run's {len(pts)} complete trials")


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


__all__ = ["TIMINGS_FILE", "Recorder"]

"""The run store: a directory of run metadata plus append-only Parquet batches of trial records.

The format is documented in results/README.md (the one place it is described). In short: `run.json` holds
the metadata, `trials/NNNNNN-<trial_id>.parquet` holds one appended batch of flat records each. Every file is
written to a temporary name and moved into place with `os.replace`, so a reader never sees a partial file and
a run can be read while a search is still appending to it. Readers concatenate the batches in order; when a
trial id appears more than once, its last record wins (a search may re-record a trial it resumed).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from results.files import atomic_path, write_json_atomic
from results.timestamps import now_iso
from search_spaces.errors import EspnasError

SCHEMA = 1
RUN_FILE = "run.json"
TRIALS_DIR = "trials"
STATUSES = ("complete", "failed", "pruned", "infeasible")
DIRECTIONS = ("max", "min")

# Fixed record columns and their Arrow types. Metric columns (float64) come from the run's "metrics".
STRING_COLUMNS = (
    "trial_id",
    "status",
    "reason",
    "config_json",
    "arch_id",
    "preset",
    "fingerprint_json",
    "curve_json",
    "started_at",
    "ended_at",
)
INT_COLUMNS = ("number", "params", "macs")
COUNT_UNITS = {"params": "count", "macs": "MACs"}  # record columns that may also serve as objectives
FLOAT_COLUMNS = ("duration_s",)
RECORD_COLUMNS = (
    "trial_id",
    "number",
    "status",
    "reason",
    "config_json",
    "arch_id",
    "preset",
    "params",
    "macs",
    "fingerprint_json",
    "curve_json",
    "started_at",
    "ended_at",
    "duration_s",
)
REQUIRED_COLUMNS = ("trial_id", "number", "status")
SPREAD_SUFFIXES = ("_iqr", "_ci_lo", "_ci_hi")
REQUIRED_METADATA = ("name", "objectives", "metrics")

_BATCH_NAME = re.compile(r"^(\d{6,})-(.+)\.parquet$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class RunError(EspnasError):
    """A missing, malformed or incompatible run directory, or a record that does not fit its run."""


@dataclass(frozen=True)
class Objective:
    """One objective of a run: a metric name, whether larger ("max") or smaller ("min") is better, its unit."""

    name: str
    direction: str
    unit: str = ""

    @property
    def maximise(self) -> bool:
        return self.direction == "max"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction, "unit": self.unit}


def _default_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__}
    try:
        from importlib.metadata import version

        versions["espnas"] = version("espnas")
    except Exception:  # not installed as a distribution (running from a checkout)
        pass
    return versions


# ---------------------------------------------------------------------------------------------------------
# Metadata: validation and schema upgrades
# ---------------------------------------------------------------------------------------------------------

# Upgrades from an older schema: UPGRADES[n] turns schema-n metadata into schema n+1. Schema 1 is the first
# released format, so nothing older exists to upgrade yet; a future schema 2 adds UPGRADES[1] here.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def upgrade_metadata(meta: dict[str, Any], where: str = "run.json") -> dict[str, Any]:
    """Bring run metadata to the current schema through UPGRADES, or refuse it with a one-line message."""
    schema = meta.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise RunError(f"{where}: 'schema' is {schema!r}; expected an integer (this espnas reads schema {SCHEMA})")
    if schema > SCHEMA:
        raise RunError(
            f"{where}: written with run schema {schema}, newer than this espnas reads (up to {SCHEMA}); "
            "upgrade espnas to read it"
        )
    while schema < SCHEMA:
        step = UPGRADES.get(schema)
        if step is None:
            raise RunError(
                f"{where}: run schema {schema} is too old and has no upgrade path (this espnas reads schema "
                f"{SCHEMA}); re-run the search or convert the run"
            )
        meta = step(dict(meta))
        schema = meta["schema"]
    return meta


def _validate_metadata(meta: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check the fields results/ relies on; return a normalised copy."""
    if not isinstance(meta, Mapping):
        raise RunError(f"{where}: metadata must be a JSON object, got {type(meta).__name__}")
    missing = [key for key in REQUIRED_METADATA if key not in meta]
    if missing:
        raise RunError(f"{where}: metadata lacks {', '.join(missing)}; required: {', '.join(REQUIRED_METADATA)}")
    out = dict(meta)
    if not isinstance(out["name"], str) or not out["name"]:
        raise RunError(f"{where}: 'name' must be a non-empty string, got {out['name']!r}")
    metrics = out["metrics"]
    if not isinstance(metrics, Mapping) or not all(isinstance(k, str) for k in metrics):
        raise RunError(f"{where}: 'metrics' must map metric names to units, got {metrics!r}")
    clash = sorted(set(metrics) & set(RECORD_COLUMNS))
    if clash:
        raise RunError(f"{where}: metric names {clash} clash with record columns; rename them")
    objectives = out["objectives"]
    if not isinstance(objectives, list) or not objectives:
        raise RunError(f"{where}: 'objectives' must be a non-empty list of {{name, direction, unit}}")
    names = []
    for obj in objectives:
        if not isinstance(obj, Mapping) or "name" not in obj or "direction" not in obj:
            raise RunError(f"{where}: objective {obj!r} needs 'name' and 'direction' ('max' or 'min')")
        if obj["direction"] not in DIRECTIONS:
            raise RunError(
                f"{where}: objective {obj['name']!r} has direction {obj['direction']!r}; valid: 'max', 'min'"
            )
        if obj["name"] not in metrics and obj["name"] not in COUNT_UNITS:
            raise RunError(
                f"{where}: objective {obj['name']!r} is not in 'metrics' ({', '.join(metrics) or 'none'}); "
                "every objective must be a measured metric, or params or macs"
            )
        names.append(obj["name"])
    if len(set(names)) != len(names):
        raise RunError(f"{where}: objectives repeat a name: {names}")
    out["objectives"] = [
        {
            "name": o["name"],
            "direction": o["direction"],
            "unit": o.get("unit", metrics.get(o["name"], COUNT_UNITS.get(o["name"], ""))),
        }
        for o in objectives
    ]
    out["metrics"] = {str(k): str(v) for k, v in metrics.items()}
    return out


def read_metadata(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, upgrade and validate `run.json` of a run directory."""
    path = Path(run_dir)
    meta_path = path / RUN_FILE
    if not path.is_dir():
        raise RunError(f"no run directory at {str(path)!r}; pass a directory holding {RUN_FILE} and trials/")
    if not meta_path.is_file():
        raise RunError(f"{str(path)!r} is not a run: it has no {RUN_FILE} (see results/README.md)")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise RunError(f"{meta_path}: unreadable JSON ({err})") from None
    if not isinstance(meta, dict):
        raise RunError(f"{meta_path}: expected a JSON object")
    return _validate_metadata(upgrade_metadata(meta, str(meta_path)), str(meta_path))


# ---------------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------------


def _as_str(value: Any, column: str, trial: str) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if column.endswith("_json"):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    raise RunError(f"trial {trial}: column {column!r} must be a string, got {type(value).__name__} {value!r}")


def _as_int(value: Any, column: str, trial: str) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return int(value)
        raise RunError(f"trial {trial}: column {column!r} must be an integer, got {value!r}")
    return int(value)


def _as_float(value: Any, column: str, trial: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise RunError(f"trial {trial}: column {column!r} must be a number, got {value!r}")
    return float(value)


def _metric_of(column: str, metrics: Mapping[str, str]) -> str | None:
    """The metric a spread column belongs to (`latency_ms_iqr` -> `latency_ms`), or None."""
    for suffix in SPREAD_SUFFIXES:
        if column.endswith(suffix) and column[: -len(suffix)] in metrics:
            return column[: -len(suffix)]
    return None


def records_to_table(records: Sequence[Mapping[str, Any]], metadata: Mapping[str, Any]) -> pa.Table:
    """Validate records against the run metadata and turn them into an Arrow table with fixed types."""
    metrics = metadata["metrics"]
    objectives = [o["name"] for o in metadata["objectives"]]
    spreads: set[str] = set()
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise RunError(f"record {i} must be a mapping of column to value, got {type(rec).__name__}")
        trial = str(rec.get("trial_id", f"#{i}"))
        missing = [c for c in REQUIRED_COLUMNS if rec.get(c) is None]
        if missing:
            raise RunError(f"trial {trial}: record lacks {', '.join(missing)} (required: trial_id, number, status)")
        if not isinstance(rec["trial_id"], str) or not rec["trial_id"]:
            raise RunError(f"record {i}: trial_id must be a non-empty string, got {rec['trial_id']!r}")
        if rec["status"] not in STATUSES:
            raise RunError(f"trial {trial}: status {rec['status']!r} is not one of {', '.join(STATUSES)}")
        for column in rec:
            if column in RECORD_COLUMNS or column in metrics:
                continue
            if _metric_of(column, metrics) is not None:
                spreads.add(column)
                continue
            raise RunError(
                f"trial {trial}: unknown column {column!r}; records hold {', '.join(RECORD_COLUMNS)}, the run's "
                f"metrics ({', '.join(metrics)}) and their spreads (<metric>{'/'.join(SPREAD_SUFFIXES)})"
            )
        if rec["status"] == "complete":
            bad = [
                name
                for name in objectives
                if not isinstance(rec.get(name), (int, float, np.integer, np.floating))
                or not math.isfinite(float(rec[name]))
            ]
            if bad:
                raise RunError(
                    f"trial {trial}: a complete trial needs a finite value for every objective; missing or "
                    f"non-finite: {', '.join(bad)} (record it as 'failed' or 'infeasible' with a reason instead)"
                )

    arrays: dict[str, pa.Array] = {}
    for column in RECORD_COLUMNS:
        if column in INT_COLUMNS:
            kind, convert = pa.int64(), _as_int
        elif column in FLOAT_COLUMNS:
            kind, convert = pa.float64(), _as_float
        else:
            kind, convert = pa.string(), _as_str
        values = [convert(rec.get(column), column, str(rec["trial_id"])) for rec in records]
        arrays[column] = pa.array(values, type=kind)
    for column in [*metrics, *sorted(spreads)]:
        values = [_as_float(rec.get(column), column, str(rec["trial_id"])) for rec in records]
        arrays[column] = pa.array([np.nan if v is None else v for v in values], type=pa.float64())
    return pa.table(arrays)


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------


class RunWriter:
    """Creates a run directory and appends trial records to it, one Parquet file per `append` call.

    Safe to share between threads of one process (appends are serialised). Readers may open the run at any
    time: every file appears whole or not at all. Several processes may append to one run, since each batch
    file is named after its first trial id as well as its sequence number, but the usual arrangement is one
    writer (the search driver) per run.
    """

    def __init__(self, run_dir: str | os.PathLike[str], metadata: Mapping[str, Any]) -> None:
        path = Path(run_dir)
        if (path / RUN_FILE).exists():
            raise RunError(
                f"{str(path)!r} already holds a run; use RunWriter.open_existing to append to it, or choose a new "
                "directory"
            )
        meta = {"schema": SCHEMA, **{k: v for k, v in dict(metadata).items() if k != "schema"}}
        meta.setdefault("created", now_iso())
        meta.setdefault("ended", None)
        meta.setdefault("flops_band", None)
        meta.setdefault("devices", [])
        meta.setdefault("targets", [])
        meta.setdefault("seed", None)
        meta.setdefault("settings", {})
        meta["versions"] = {**_default_versions(), **dict(meta.get("versions") or {})}
        meta = _validate_metadata(meta, f"metadata for {path}")
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as err:
            raise RunError(f"metadata for {path} is not JSON-serialisable: {err}") from None
        (path / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
        self._init(path, meta, next_seq=0)
        self._write_metadata()

    def _init(self, path: Path, meta: dict[str, Any], next_seq: int) -> None:
        self.path = path
        self.metadata = meta
        self._next_seq = next_seq
        self._lock = threading.Lock()

    @classmethod
    def open_existing(cls, run_dir: str | os.PathLike[str]) -> RunWriter:
        """Reopen a run to append more records (resuming a search); clears `ended` until `finish()`."""
        path = Path(run_dir)
        meta = read_metadata(path)
        (path / TRIALS_DIR).mkdir(exist_ok=True)
        seqs = [int(m.group(1)) for f in _batch_files(path) if (m := _BATCH_NAME.match(f.name))]
        writer = cls.__new__(cls)
        writer._init(path, meta, next_seq=max(seqs, default=-1) + 1)
        if meta.get("ended") is not None or meta.get("interrupted"):
            meta["ended"] = None
            meta.pop("interrupted", None)
            writer._write_metadata()
        return writer

    def _write_metadata(self) -> None:
        write_json_atomic(self.path / RUN_FILE, self.metadata)

    def append(self, records: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> Path | None:
        """Validate and write one record or a list of records as one new batch file; returns its path."""
        batch = [records] if isinstance(records, Mapping) else list(records)
        if not batch:
            return None
        table = records_to_table(batch, self.metadata)
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            first = _SAFE_NAME.sub("_", str(batch[0]["trial_id"]))[:80]
            final = self.path / TRIALS_DIR / f"{seq:06d}-{first}.parquet"
            with atomic_path(final) as tmp:
                pq.write_table(table, str(tmp), compression="zstd")
        return final

    def update_metadata(self, **changes: Any) -> None:
        """Change top-level metadata fields (e.g. settings learnt during the search) and rewrite run.json."""
        with self._lock:
            meta = _validate_metadata({**self.metadata, **changes}, f"metadata for {self.path}")
            self.metadata = meta
            self._write_metadata()

    def finish(self, ended: str | None = None) -> None:
        """Mark the run ended (an ISO time, default now)."""
        self.update_metadata(ended=ended or now_iso())

    def interrupt(self) -> None:
        """Mark the run stopped by the user before it finished (`espnas runs` shows "interrupted"); resuming
        (`open_existing`) clears the mark."""
        self.update_metadata(ended=now_iso(), interrupted=True)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------


def _batch_files(path: Path) -> list[Path]:
    """Batch files of a run in append order (temporary files start with '.' and are skipped)."""
    trials = path / TRIALS_DIR
    if not trials.is_dir():
        return []
    found = []
    for entry in os.scandir(trials):
        match = _BATCH_NAME.match(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry.name))
    return [trials / name for _, name in sorted(found)]


def _read_batch(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """One batch file, or a one-line RunError naming it (truncated, empty, not Parquet, lacking columns)."""
    try:
        table = pq.ParquetFile(path).read(columns=columns)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError, KeyError) as err:
        line = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise RunError(
            f"{path}: not a readable batch of trial records ({line}); move the file out of trials/ to read the rest"
        ) from None
    missing = [c for c in (columns or REQUIRED_COLUMNS) if c not in table.column_names]
    if missing:
        raise RunError(
            f"{path}: batch lacks the column(s) {', '.join(missing)}; move the file out of trials/ to read the rest"
        )
    return table


def empty_trials(metadata: Mapping[str, Any]) -> pd.DataFrame:
    """A trials DataFrame with no rows but every column a run of this metadata has."""
    return _to_pandas(records_to_table([], metadata))


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    # Integers stay integers even when some are missing (a failed trial has no params).
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return frame


def read_trials(run_dir: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Concatenate every batch of a run into one DataFrame, the last record of each trial id winning."""
    path = Path(run_dir)
    meta = metadata if metadata is not None else read_metadata(path)
    for _attempt in range(5):
        files = _batch_files(path)
        try:
            # ParquetFile.read skips the dataset machinery of pq.read_table: ~2x faster on many small files
            tables = [_read_batch(f) for f in files]
            break
        except FileNotFoundError:  # a file vanished between listing and reading (compaction); list again
            continue
    else:
        raise RunError(f"{path}: batch files keep vanishing while reading; is something deleting them?")
    if not tables:
        return empty_trials(meta)
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise RunError(f"{path}: batch files have incompatible columns ({err})") from None
    # One chunk per column instead of one per batch file: row selection on the frame is then ~3x faster.
    table = table.combine_chunks()
    # Deduplicate and order in Arrow, and only when needed: both are whole-table copies.
    if pc.count_distinct(table["trial_id"]).as_py() < table.num_rows:
        keep = _to_pandas(table.select(["trial_id"]))["trial_id"].duplicated(keep="last").to_numpy()
        table = table.filter(pa.array(~keep))
    numbers = table["number"].to_numpy(zero_copy_only=False)
    if len(numbers) > 1 and not (np.diff(numbers) >= 0).all():
        table = table.take(pa.array(np.argsort(numbers, kind="stable")))
    frame = _to_pandas(table)
    for column in meta["metrics"]:  # metrics added to run.json after earlier batches were written
        if column not in frame.columns:
            frame[column] = np.nan
    return frame


class Run:
    """A stored run: its metadata and its trial records (read once, when opened)."""

    def __init__(self, path: Path, metadata: dict[str, Any], trials: pd.DataFrame) -> None:
        self.path = path
        self.metadata = metadata
        self.trials = trials
        self._complete: tuple[pd.DataFrame, pd.DataFrame] | None = None

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def objectives(self) -> list[Objective]:
        return [Objective(o["name"], o["direction"], o.get("unit", "")) for o in self.metadata["objectives"]]

    @property
    def metrics(self) -> dict[str, str]:
        return dict(self.metadata["metrics"])

    @property
    def devices(self) -> list[str]:
        return [str(d) for d in (self.metadata.get("devices") or self.metadata.get("targets") or [])]

    @property
    def running(self) -> bool:
        return self.metadata.get("ended") is None

    def complete(self) -> pd.DataFrame:
        """Trials with status 'complete' (every objective finite: the writer checks that)."""
        if self._complete is None or self._complete[0] is not self.trials:  # cached per trials table
            self._complete = (self.trials, self.trials[self.trials["status"] == "complete"])
        return self._complete[1]

    def status_counts(self) -> dict[str, int]:
        counts = self.trials["status"].value_counts()
        return {status: int(counts.get(status, 0)) for status in STATUSES}

    def __repr__(self) -> str:
        return f"Run({self.name!r}, {len(self.trials)} trials, path={str(self.path)!r})"


def open_run(path: str | os.PathLike[str]) -> Run:
    """Open a run directory (also a path to its run.json) and read all its trial records."""
    run_dir = Path(path)
    if run_dir.name == RUN_FILE and run_dir.is_file():
        run_dir = run_dir.parent
    meta = read_metadata(run_dir)
    return Run(run_dir, meta, read_trials(run_dir, meta))


@dataclass(frozen=True)
class RunSummary:
    """One line of `list_runs`: what a run is, without reading its trials' contents."""

    path: Path
    name: str
    trials: int
    status_counts: dict[str, int]
    objectives: list[Objective]
    devices: list[str]
    created: str | None
    ended: str | None
    error: str | None = None  # set when the directory looks like a run but cannot be read
    interrupted: bool = False  # stopped by the user (Ctrl-C) before it finished; resumable
    failure: str | None = None  # why the search stopped with an error (run.json "failure"); resumable

    @property
    def state(self) -> str:
        """running, failed: REASON, interrupted or ended (unreadable runs: see `error`)."""
        if self.ended is None:
            return "running"
        if self.failure:
            return f"failed: {self.failure}"
        return "interrupted" if self.interrupted else "ended"


def _summarise(path: Path) -> RunSummary:
    try:
        meta = read_metadata(path)
    except RunError as err:
        return RunSummary(path, path.name, 0, {}, [], [], None, None, error=str(err))
    files = _batch_files(path)
    if files:
        try:
            parts = [_read_batch(f, ["trial_id", "status"]) for f in files]
            statuses = pa.concat_tables(parts, promote_options="permissive")
        except (RunError, pa.ArrowException) as err:  # one bad run must not break the listing of the others
            return RunSummary(path, str(meta["name"]), 0, {}, [], [], meta.get("created"), meta.get("ended"), str(err))
        frame = statuses.to_pandas().drop_duplicates("trial_id", keep="last")
        counts_series = frame["status"].value_counts()
    else:
        frame, counts_series = None, pd.Series(dtype=int)
    counts = {s: int(counts_series.get(s, 0)) for s in STATUSES}
    objectives = [Objective(o["name"], o["direction"], o.get("unit", "")) for o in meta["objectives"]]
    devices = [str(d) for d in (meta.get("devices") or meta.get("targets") or [])]
    return RunSummary(
        path, meta["name"], 0 if frame is None else len(frame), counts, objectives, devices,
        meta.get("created"), meta.get("ended"), interrupted=bool(meta.get("interrupted")),
        failure=meta.get("failure"),
    )  # fmt: skip


def list_runs(directory: str | os.PathLike[str] = "runs") -> list[RunSummary]:
    """Summaries of the runs in `directory` (itself a run, or runs up to two levels below), sorted by path."""
    root = Path(directory)
    if not root.is_dir():
        raise RunError(f"no directory {str(root)!r} to list runs in; pass the directory your searches write to")
    candidates = [root] if (root / RUN_FILE).is_file() else []
    if not candidates:
        candidates = sorted(p.parent for p in [*root.glob(f"*/{RUN_FILE}"), *root.glob(f"*/*/{RUN_FILE}")])
    return [_summarise(p) for p in candidates]

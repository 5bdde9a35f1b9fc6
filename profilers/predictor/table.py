"""The latency table: every unit's measured latency on one target, and the overhead model that turns their
sum into a network's latency.

A table belongs to one target: (device, software stack, runtime and its version, dtype, batch, threads),
written as `target` inside the file and hashed into its name. Predicting on another target is refused, or
(with `allow_foreign=True`) done and flagged, with the fields that differ.

    latency(config) = scale * sum_u count_u * t_u + intercept_ms + per_unit_ms * n_units

`t_u = ratio_u * reference_ms`: each unit is timed relative to a fixed reference unit of the same target
(`timing.py`), and the table keeps one absolute time of the reference (the median over the whole build), so
that the sums hold together however the machine's load moved while the table was built. `scale`,
`intercept_ms` and `per_unit_ms` are fitted by least squares on whole networks measured on the target the
same way (the hand-over between units, the input conversion, Python's per-module dispatch). `calibrate`
refits them on N networks measured elsewhere: a table from one device transfers to another with N
measurements (HELP's setting).

This module is torch-free: predicting needs only the config and the JSON table.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profilers.predictor.units import unit_keys
from results.files import write_json_atomic
from search_spaces.config import EESPConfig
from search_spaces.errors import EspnasError

SCHEMA = "espnas-latency-table/2"
#: Schemas read: /1 stored absolute unit medians (no reference); they still predict as they did.
READABLE = (SCHEMA, "espnas-latency-table/1")
#: Fingerprint fields that make two targets the same (with the runtime, dtype and batch).
TARGET_KEYS = ("device_name", "torch", "cuda", "cudnn", "driver", "threads", "runtime", "runtime_version")
TABLE_DIR_ENV = "ESPNAS_PREDICTOR_DIR"


class PredictorError(EspnasError):
    """A missing, malformed or foreign latency table, or a config it cannot predict."""


def default_table_dir() -> Path:
    """Where tables live: $ESPNAS_PREDICTOR_DIR, else ~/.cache/espnas/predictor."""
    env = os.environ.get(TABLE_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "espnas" / "predictor"


def target_of(fp: Mapping[str, Any], *, dtype: str, batch: int) -> dict[str, Any]:
    """The target a table serves: the comparable fingerprint fields plus dtype and batch."""
    out = {key: fp.get(key) for key in TARGET_KEYS}
    out.update(device=str(fp.get("device", "cpu")).split(":", 1)[0], dtype=dtype, batch=int(batch))
    return out


def target_id(target: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(dict(target), sort_keys=True, default=str).encode()).hexdigest()[:12]


def table_filename(target: Mapping[str, Any]) -> str:
    return f"{target.get('runtime')}-{target.get('device')}-b{target.get('batch')}-{target_id(target)}.json"


def differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Target fields on which two targets differ."""
    keys = (*TARGET_KEYS, "device", "dtype", "batch")
    return [k for k in keys if a.get(k) != b.get(k)]


@dataclass
class Overhead:
    """latency = scale * table sum + intercept_ms + per_unit_ms * units; fitted on measured networks."""

    scale: float = 1.0
    intercept_ms: float = 0.0
    per_unit_ms: float = 0.0
    fitted_on: int = 0
    source: str = "none"  # "build" (fitted on the target) or "calibrated from <target id>"
    fit_mape: float | None = None

    def apply(self, table_sum_ms: float, units: int) -> float:
        return self.scale * table_sum_ms + self.intercept_ms + self.per_unit_ms * units


@dataclass
class Prediction:
    """A predicted latency in ms, with the table it came from and a flag when the target differs."""

    latency_ms: float
    table_sum_ms: float
    units: int
    table: str
    flag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "table_sum_ms": self.table_sum_ms,
            "units": self.units,
            "table": self.table,
            "flag": self.flag,
        }


@dataclass
class LatencyTable:
    """Unit latencies (ms, medians) of one target, the measured networks and the fitted overhead."""

    target: dict[str, Any]
    entries: dict[str, dict[str, float]] = field(default_factory=dict)  # unit key -> {ratio, median_ms, ...}
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)  # arch id -> {config, ratio, latency_ms}
    reference: dict[str, Any] = field(default_factory=dict)  # {key, clock, ms}: what the ratios are relative to
    #: The runtime and batch whose unit keys the entries use: the target's own, except in a calibrated table
    #: (whose entries came from another runtime or batch).
    unit_form: dict[str, Any] = field(default_factory=dict)
    overhead: Overhead = field(default_factory=Overhead)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)  # settings, seconds, progress
    path: Path | None = None
    _flag: str | None = None

    @property
    def runtime(self) -> str:
        return str(self.target.get("runtime"))

    @property
    def batch(self) -> int:
        return int(self.target.get("batch", 1))

    @property
    def key_runtime(self) -> str:
        return str(self.unit_form.get("runtime", self.runtime))

    @property
    def key_batch(self) -> int:
        return int(self.unit_form.get("batch", self.batch))

    def settle(self) -> float | None:
        """Turn the measured ratios into ms with one reference time: the median of the reference's medians
        over every unit and network timed (None, and nothing changed, in a table without ratios)."""
        import statistics

        items = [*self.entries.values(), *self.networks.values()]
        refs = [float(e["ref_ms"]) for e in items if "ratio" in e and "ref_ms" in e]
        if not refs:
            return None
        ref_ms = statistics.median(refs)
        self.reference["ms"] = ref_ms
        for e in self.entries.values():
            if "ratio" in e:
                e["median_ms"] = e["ratio"] * ref_ms
        for n in self.networks.values():
            if "ratio" in n:
                n["latency_ms"] = n["ratio"] * ref_ms
        return ref_ms

    # ----- storage --------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "target": self.target,
            "target_id": target_id(self.target),
            "entries": self.entries,
            "networks": self.networks,
            "reference": self.reference,
            "unit_form": self.unit_form,
            "overhead": self.overhead.__dict__,
            "fingerprint": self.fingerprint,
            "build": self.build,
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Write the table atomically (a kill never leaves half a file); returns the path."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise PredictorError("no path to save the latency table to")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(target, self.to_dict(), indent=1, sort_keys=True)
        self.path = target
        return target

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PredictorError(f"no latency table at {str(p)!r}; build one with `espnas predictor build`") from None
        except (OSError, ValueError) as err:
            raise PredictorError(f"latency table {str(p)!r} is unreadable ({err}); rebuild it") from None
        if not isinstance(data, dict) or data.get("schema") not in READABLE:
            raise PredictorError(f"{str(p)!r} is not a latency table ({SCHEMA}); rebuild it")
        try:
            entries = {str(k): dict(v) for k, v in data["entries"].items()}
            overhead = Overhead(**data.get("overhead", {}))
            return cls(
                target=dict(data["target"]),
                entries=entries,
                networks=dict(data.get("networks", {})),
                reference=dict(data.get("reference", {})),
                unit_form=dict(data.get("unit_form", {})),
                overhead=overhead,
                fingerprint=dict(data.get("fingerprint", {})),
                build=dict(data.get("build", {})),
                path=p,
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise PredictorError(f"latency table {str(p)!r} is malformed ({err}); rebuild it") from None

    # ----- predicting -----------------------------------------------------------------------------------

    def check_target(self, here: Mapping[str, Any], *, allow_foreign: bool = False) -> str | None:
        """None when `here` is this table's target; else refuse, or (allow_foreign) return the flag text."""
        diff = differing(self.target, here)
        if not diff:
            self._flag = None
            return None
        shown = ", ".join(f"{k} {self.target.get(k)!r} here {here.get(k)!r}" for k in diff)
        text = f"latency table {self.path.name if self.path else ''} was built for another target ({shown})"
        if not allow_foreign:
            raise PredictorError(f"{text}; build a table here or pass --allow-foreign-table to use it flagged")
        self._flag = text
        return text

    def table_sum(self, config: EESPConfig) -> tuple[float, int, list[str]]:
        """(sum of unit latencies, number of units, keys missing from the table) for `config`."""
        total, units, missing = 0.0, 0, []
        entries = self.entries
        for key, n in unit_keys(config, self.key_batch, self.key_runtime):
            got = entries.get(key)
            if got is None:
                missing.append(key)
                continue
            total += n * got["median_ms"]
            units += n
        return total, units, missing

    def predict(self, config: EESPConfig) -> Prediction:
        """The predicted latency of `config` (ms per batch) on this table's target."""
        total, units, missing = self.table_sum(config)
        if missing:
            raise PredictorError(
                f"latency table {self.path.name if self.path else ''} lacks {len(missing)} unit(s) of "
                f"{config.arch_id} (e.g. {missing[0]}); valid: configs of the space it was built for, or "
                "rebuild it with this config's space"
            )
        return Prediction(
            self.overhead.apply(total, units), total, units, str(self.path or target_id(self.target)), self._flag
        )


#: The overhead models tried, as the terms they fit besides the scale (always fitted).
OVERHEAD_TERMS = ((), ("per_unit_ms",), ("intercept_ms",), ("intercept_ms", "per_unit_ms"))


def fit_overhead(sums: Sequence[float], units: Sequence[int], measured: Sequence[float]) -> Overhead:
    """Least-squares fit of measured = scale * sum + intercept + per_unit * units, the terms chosen by
    leave-one-out error on the networks given.

    The terms may be negative: a unit timed on its own pays what it does not pay inside a network (a call
    into the runtime, the input and output hand-over; in onnxruntime the reorders into and out of its blocked
    layout), so the per-unit term there is a saving. Which of the four models (scale alone, + per unit,
    + intercept, + both) is kept is decided by its mean relative leave-one-out error on these networks, never
    by configs held out elsewhere; with fewer than 4 networks only the scale is fitted (through the origin),
    which one network already fixes. A model whose scale is not positive is never kept (a table whose sums do
    not follow the networks must not be fitted away into a constant).
    """
    import numpy as np

    s, u, y = (np.asarray(v, dtype=np.float64) for v in (sums, units, measured))
    if s.size == 0:
        raise PredictorError("fitting the overhead needs at least one measured network")
    column = {"intercept_ms": np.ones_like(s), "per_unit_ms": u}
    best: tuple[float, dict[str, float]] | None = None
    for terms in OVERHEAD_TERMS if s.size >= 4 else OVERHEAD_TERMS[:1]:
        x = np.stack([s, *(column[t] for t in terms)], axis=1)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        if coef[0] <= 0:
            continue
        loo = [_loo_error(x, y, i) for i in range(s.size)] if s.size >= 4 else [0.0]
        if any(e != e for e in loo):  # a left-out fit with a non-positive scale: this model is unstable here
            continue
        values = dict(zip(("scale", *terms), (float(c) for c in coef), strict=True))
        if best is None or float(np.mean(loo)) < best[0]:
            best = (float(np.mean(loo)), values)
    if best is None:  # no model with a positive scale: the scale alone, through the origin, is positive
        best = (math.nan, {"scale": float(s @ y / (s @ s))})
    over = Overhead(**best[1], fitted_on=int(s.size), source="build")
    pred = np.array([over.apply(a, int(b)) for a, b in zip(s, u, strict=True)])
    over.fit_mape = float(np.mean(np.abs(pred - y) / y)) if np.all(y > 0) else math.nan
    return over


def _loo_error(x: Any, y: Any, i: int) -> float:
    """|relative error| on network i of the model fitted without it (NaN if that fit's scale is not > 0)."""
    import numpy as np

    keep = np.arange(y.size) != i
    coef, *_ = np.linalg.lstsq(x[keep], y[keep], rcond=None)
    return float(abs(x[i] @ coef / y[i] - 1)) if coef[0] > 0 else math.nan


def calibrate(table: LatencyTable, configs: Sequence[EESPConfig], measured_ms: Sequence[float]) -> Overhead:
    """Refit `table`'s overhead on networks measured on another target (transfer with N measurements)."""
    if len(configs) != len(measured_ms):
        raise PredictorError(f"{len(configs)} configs but {len(measured_ms)} measurements")
    sums, units = [], []
    for cfg in configs:
        total, n, missing = table.table_sum(cfg)
        if missing:
            raise PredictorError(f"latency table lacks units of {cfg.arch_id} (e.g. {missing[0]})")
        sums.append(total)
        units.append(n)
    over = fit_overhead(sums, units, measured_ms)
    over.source = f"calibrated from {target_id(table.target)}"
    return over


def find_table(
    here: Mapping[str, Any], directory: str | Path | None = None, *, allow_foreign: bool = False
) -> LatencyTable:
    """The table in `directory` built for target `here`; with `allow_foreign`, else one for the same runtime,
    dtype and batch (flagged). A one-line error saying what exists otherwise."""
    d = Path(directory) if directory is not None else default_table_dir()
    exact = d / table_filename(here)
    if exact.is_file():
        table = LatencyTable.load(exact)
        table.check_target(here)
        return table
    others = sorted(d.glob(f"{here.get('runtime')}-*-b{here.get('batch')}-*.json")) if d.is_dir() else []
    if others and allow_foreign:
        table = LatencyTable.load(others[0])
        table.check_target(here, allow_foreign=True)
        return table
    if others:
        table = LatencyTable.load(others[0])
        table.check_target(here)  # raises, naming the fields that differ
    raise PredictorError(
        f"no latency table for runtime {here.get('runtime')}, batch {here.get('batch')}, {here.get('threads')} "
        f"thread(s) on {here.get('device_name')} in {str(d)!r}; build one with `espnas predictor build`"
    )

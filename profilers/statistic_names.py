"""Which statistic a profile record's "value" is, named with its unit, so a record needs no docs.

`espnas profile --json` records keep "value" (older readers use it) and add "statistic" (median, mean, peak)
and a key naming the statistic and the unit, e.g. {"metric": "latency", "value": 1.9, "unit": "ms",
"statistic": "median", "median_ms": 1.9}. `record_value(record)` reads either form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# metric -> the statistic its "value" is (latency: median of the timed samples; energy: median over the busy
# windows; power: mean over the windows; memory: the peak).
STATISTICS = {
    "latency": "median",
    "energy_per_image": "median",
    "energy_per_image_net": "median",
    "power": "mean",
    "idle_power": "mean",
    "peak_memory": "peak",
}
UNIT_KEYS = {"ms": "ms", "mJ": "mj", "W": "w", "MB": "mb", "s": "s", "J": "j"}


def statistic_key(metric: str, unit: str) -> str | None:
    """'median_ms' for a latency in ms; None for a metric or unit without a known statistic."""
    stat = STATISTICS.get(metric)
    unit_key = UNIT_KEYS.get(unit)
    return f"{stat}_{unit_key}" if stat and unit_key else None


def name_statistics(records: Iterable[dict[str, Any]]) -> None:
    """Add "statistic" and the named key (e.g. "median_ms") to each record that has a value and a unit."""
    for rec in records:
        key = statistic_key(str(rec.get("metric")), str(rec.get("unit")))
        if key is not None and "value" in rec:
            rec.setdefault("statistic", STATISTICS[str(rec["metric"])])
            rec.setdefault(key, rec["value"])


def record_value(record: Mapping[str, Any]) -> Any:
    """The value of a record written by any espnas: the named key when present, else the old "value"."""
    key = statistic_key(str(record.get("metric")), str(record.get("unit")))
    if key is not None and key in record:
        return record[key]
    return record.get("value")


__all__ = ["STATISTICS", "name_statistics", "record_value", "statistic_key"]

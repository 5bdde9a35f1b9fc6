"""Was a measurement disturbed? A latency whose spread is wide next to its median was shared with something else.

The rule (stated so a user can check it): a latency is disturbed when its IQR is more than IQR_LIMIT of its
median, or its bootstrap 95% CI of the median is wider than CI_LIMIT of the median. A busy core shows first in
the slow tail of the samples, which widens the IQR.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

IQR_LIMIT = 0.25  # IQR above a quarter of the median
CI_LIMIT = 0.10  # 95% CI of the median wider than a tenth of it


@dataclass(frozen=True)
class Disturbance:
    """One disturbed measurement: what it was and which limit its spread broke."""

    what: str
    median: float
    iqr: float | None
    ci95: tuple[float, float] | None

    @property
    def why(self) -> str:
        parts = []
        if self.iqr is not None and self.median > 0 and self.iqr > IQR_LIMIT * self.median:
            parts.append(f"IQR {self.iqr / self.median:.0%} of the median (limit {IQR_LIMIT:.0%})")
        if self.ci95 is not None and self.median > 0 and self.ci95[1] - self.ci95[0] > CI_LIMIT * self.median:
            width = (self.ci95[1] - self.ci95[0]) / self.median
            parts.append(f"95% CI {width:.0%} of the median wide (limit {CI_LIMIT:.0%})")
        return ", ".join(parts)


def disturbed(median: float | None, iqr: float | None, ci95: Sequence[float] | None) -> bool:
    """True when the spread breaks either limit above (a missing or non-positive median is never judged)."""
    if median is None or not median > 0:
        return False
    if iqr is not None and iqr > IQR_LIMIT * median:
        return True
    return ci95 is not None and len(ci95) == 2 and (ci95[1] - ci95[0]) > CI_LIMIT * median


def disturbances(records: Iterable[Mapping[str, Any]]) -> list[Disturbance]:
    """The disturbed latency records of `espnas profile` (records with metric "latency" and a spread)."""
    found = []
    for r in records:
        if r.get("metric") != "latency":
            continue
        spread = r.get("spread") or {}
        ci = spread.get("ci95")
        ci95 = (float(ci[0]), float(ci[1])) if ci else None
        if disturbed(r.get("value"), spread.get("iqr"), ci95):
            what = f"{r.get('model')} batch {r.get('batch_size')}"
            found.append(Disturbance(what, float(r["value"]), spread.get("iqr"), ci95))
    return found


def warning_line(found: Sequence[Disturbance], threads: int | None = None) -> str | None:
    """One line for the user, or None when nothing was disturbed."""
    if not found:
        return None
    first = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    advice = "rerun when the machine is quieter (see `uptime`)"
    if threads is None or threads > 1:
        advice = "rerun with --threads 1, or " + advice
    return (
        f"warning: the machine was busy while measuring: {first.what}: {first.why}{more}; "
        f"{advice}, or give a longer --time-budget"
    )


__all__ = ["CI_LIMIT", "IQR_LIMIT", "Disturbance", "disturbances", "disturbed", "warning_line"]

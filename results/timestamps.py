"""Timestamps as espnas stores them: UTC, ISO-8601, to the second ("2026-12-01T20:05:00+00:00").

One helper for runs, trial records, export manifests and fingerprints alike. Standard library only.
"""

from __future__ import annotations

import datetime as _dt
import time


def now_iso(t: float | None = None) -> str:
    """`t` (seconds since the epoch; default: now) as a UTC ISO-8601 string to the second."""
    stamp = _dt.datetime.fromtimestamp(time.time() if t is None else t, _dt.UTC)
    return stamp.replace(microsecond=0).isoformat()

"""The FLOP band: parsing and printing counts, and the analytic check of one proposal against the band.

The band is in conv MACs at 224x224 input, 1000 classes (the paper's Table 2 convention); checking a proposal
only counts, it never builds a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas.search.errors import SearchError
from nas.search.space import SearchSpace, sample_to_config
from search_spaces.errors import ConfigError

DEFAULT_BAND = (28_000_000, 284_000_000)  # the paper's Table 2: s = 0.5 (28M) .. s = 2.0 (284M) conv MACs

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
    """28_000_000 -> '28M' (four significant digits, k/M/G)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.4g}{unit}"
    return f"{n:.4g}"


def band_text(band: Sequence[int], task: str | None = None) -> str:
    """The band in words, with its FLOP convention (the task's: nas/search/tasks.py), for messages."""
    if task not in (None, "classification"):
        from nas.search.tasks import get_task

        return f"{fmt_count(band[0])}..{fmt_count(band[1])} {get_task(task).band_convention}"
    return f"{fmt_count(band[0])}..{fmt_count(band[1])} conv MACs at 224x224, 1000 classes"


@dataclass(frozen=True)
class Verdict:
    """The analytic check of one proposal: its config and counts, or why it is infeasible."""

    config: Any | None
    conv_macs: int | None
    params: int | None
    feasible: bool
    reason: str | None
    constraints: dict[str, float]


def check_band(flat: Mapping[str, Any], space: SearchSpace, band: Sequence[int], task: str | None = None) -> Verdict:
    """Freeze a proposal and check its conv MACs against the band: counting only, nothing is built.

    The constraints are relative violations (> 0 means violated), so the sampler can rank infeasible
    proposals by how far out of the band they are.
    """
    from nas.search.tasks import get_task

    the_task = get_task(task)  # what is counted: the classifier, or the task's network around the encoder
    lo, hi = band
    try:
        if the_task.freeze is not None:  # a task with knobs of its own (language: nas/search/language_space.py)
            config = the_task.freeze(flat, space)
        else:
            config = the_task.searched_config(sample_to_config(flat, space))
    except ConfigError as err:
        return Verdict(None, None, None, False, f"invalid network: {err}", _constraints(0.0, 0.0, 1.0))
    counts = the_task.counts(config)
    macs = int(counts.conv_macs)
    banded = int(getattr(counts, the_task.band_metric))  # conv MACs, or the language task's parameters
    label = the_task.band_label
    below, above = (lo - banded) / lo if lo > 0 else -1.0, (banded - hi) / hi
    constraints = _constraints(below, above, 0.0)
    if banded < lo:
        reason = f"{label} {fmt_count(banded)} below the band {band_text(band, task)}"
    elif banded > hi:
        reason = f"{label} {fmt_count(banded)} above the band {band_text(band, task)}"
    else:
        reason = None
    return Verdict(config, macs, int(counts.params), reason is None, reason, constraints)


def _constraints(below: float, above: float, invalid: float) -> dict[str, float]:
    return {"macs_below_band": float(below), "macs_above_band": float(above), "invalid_config": float(invalid)}


__all__ = ["DEFAULT_BAND", "Verdict", "band_text", "check_band", "fmt_count", "parse_band", "parse_count"]

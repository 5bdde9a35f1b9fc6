"""Robust summaries of timing samples: median, interquartile range, bootstrap CI, and when to stop sampling.

Timings on a shared machine have long right tails (a context switch, a page fault), so we report the median
and the IQR rather than a mean and a standard deviation, and a percentile-bootstrap 95% confidence interval
of the median (and of a ratio of medians) so that a reader can tell whether two models differ. The bootstrap
is scipy's, run in batches so that its memory does not grow with the sample count. Sampling stops when that interval is
narrow enough relative to the median, or when a time budget ends (whichever comes first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from search_spaces.errors import EspnasError

#: Bootstrap resamples: 1000 gives a CI whose end points move by well under 1% between seeds for n >= 20.
DEFAULT_BOOTSTRAP = 1000


@dataclass(frozen=True)
class Summary:
    """Median, IQR and a bootstrap 95% CI of the median of a set of samples (all in the samples' unit)."""

    median: float
    iqr: float
    ci95: tuple[float, float]
    n: int

    @property
    def rel_ci_width(self) -> float:
        """Width of the 95% CI divided by the median (inf when the median is 0 or the CI undefined)."""
        lo, hi = self.ci95
        if not self.median or math.isnan(lo) or math.isnan(hi):
            return math.inf
        return (hi - lo) / abs(self.median)


def _as_array(samples: Sequence[float]) -> np.ndarray:
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise EspnasError(f"need a non-empty 1-d list of samples, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise EspnasError("samples contain NaN or infinity; every sample must be a finite number")
    return arr


def iqr(samples: Sequence[float]) -> float:
    """Interquartile range (75th minus 25th percentile, linear interpolation)."""
    q1, q3 = np.percentile(_as_array(samples), [25, 75])
    return float(q3 - q1)


def bootstrap_ci(
    samples: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median (`scipy.stats.bootstrap`).

    Deterministic for a given seed, so that the same samples always give the same report. Memory stays
    bounded: resamples are drawn in batches of at most `RESAMPLE_ELEMENTS` values, whatever the sample count.
    A single sample has no spread to resample: its CI is (nan, nan).
    """
    _check_confidence(confidence)
    arr = _as_array(samples)
    if arr.size < 2:
        return (math.nan, math.nan)
    lo, hi = _percentile_bootstrap((arr,), _median, confidence, n_resamples, seed)
    # Every resample's median lies within the data; the percentile's interpolation can step one ulp outside.
    low, high = float(arr.min()), float(arr.max())
    return (min(max(lo, low), high), min(max(hi, low), high))


def ratio_ci(
    num: Sequence[float],
    den: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(num) / median(den), each resampled independently (unpaired).

    (nan, nan) when either side has fewer than two samples; memory bounded as in `bootstrap_ci`.
    """
    _check_confidence(confidence)
    a, b = _as_array(num), _as_array(den)
    if a.size < 2 or b.size < 2:
        return (math.nan, math.nan)
    return _percentile_bootstrap((a, b), _median_ratio, confidence, n_resamples, seed)


#: Most values one batch of resamples may hold (float64: 8 MB; scipy makes a few copies of it). Larger
#: sample sets get smaller batches, so the memory does not grow with the sample count.
RESAMPLE_ELEMENTS = 1 << 20


def _median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def _median_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) / np.median(b, axis=axis)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise EspnasError(f"confidence must be in (0, 1), got {confidence}")


def _percentile_bootstrap(
    data: tuple[np.ndarray, ...], statistic, confidence: float, n_resamples: int, seed: int
) -> tuple[float, float]:
    from scipy.stats import bootstrap

    if n_resamples < 1:
        raise EspnasError(f"n_resamples must be >= 1, got {n_resamples}")
    batch = max(1, RESAMPLE_ELEMENTS // sum(x.size for x in data))
    result = bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        batch=min(batch, n_resamples),
        vectorized=True,
        paired=False,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return (float(ci.low), float(ci.high))


def summarize(samples: Sequence[float], *, seed: int = 0) -> Summary:
    """Median, IQR and bootstrap 95% CI of `samples`."""
    arr = _as_array(samples)
    return Summary(
        median=float(np.median(arr)),
        iqr=iqr(arr),
        ci95=bootstrap_ci(arr, seed=seed),
        n=int(arr.size),
    )


def relative_spread(values: Sequence[float]) -> float:
    """(max - min) / median: how far apart repeated measurements of the same thing landed."""
    arr = _as_array(values)
    med = float(np.median(arr))
    if med == 0:
        return math.inf
    return float((arr.max() - arr.min()) / abs(med))


def is_stable(samples: Sequence[float], *, window: int = 5, tolerance: float = 0.05) -> bool:
    """True when the medians of the last two windows of `window` samples agree within `tolerance`.

    Used for warm-up: the first calls pay for allocation, cuDNN autotuning, lazy initialisation and
    cold caches, and they drift down until the steady state; we stop warming once they stop drifting.
    """
    if len(samples) < 2 * window:
        return False
    arr = np.asarray(samples[-2 * window :], dtype=np.float64)
    prev, last = float(np.median(arr[:window])), float(np.median(arr[window:]))
    if prev <= 0:
        return False
    return abs(last - prev) / prev <= tolerance


@dataclass(frozen=True)
class StoppingRule:
    """When to stop taking samples.

    Stop once at least `min_samples` are in and the relative width of the 95% CI of the median is at most
    `target_rel_ci`; or once `time_budget_s` has passed (but never before `min_samples`, so that every
    result has a spread); or at `max_samples`.
    """

    target_rel_ci: float = 0.02
    time_budget_s: float = 2.0
    min_samples: int = 10
    max_samples: int = 100_000

    def __post_init__(self) -> None:
        if not self.target_rel_ci > 0:
            raise EspnasError(f"target_rel_ci must be > 0, got {self.target_rel_ci}")
        if not self.time_budget_s > 0:
            raise EspnasError(f"time_budget_s must be > 0 seconds, got {self.time_budget_s}")
        if self.min_samples < 2:
            raise EspnasError(f"min_samples must be >= 2 (a spread needs two samples), got {self.min_samples}")
        if self.max_samples < self.min_samples:
            raise EspnasError(f"max_samples ({self.max_samples}) must be >= min_samples ({self.min_samples})")

    def reason_to_stop(self, samples: Sequence[float], elapsed_s: float) -> str | None:
        """A short reason ("converged", "time budget", "max samples") or None to keep sampling."""
        n = len(samples)
        if n < self.min_samples:
            return None
        if n >= self.max_samples:
            return "max samples"
        # The bootstrap costs ~1 ms per call; checking every sample would dominate for sub-ms models,
        # so check at geometrically spaced counts.
        if _checkpoint(n, self.min_samples) and summarize(samples).rel_ci_width <= self.target_rel_ci:
            return "converged"
        if elapsed_s >= self.time_budget_s:
            return "time budget"
        return None


def _checkpoint(n: int, first: int) -> bool:
    """True at n = first, then about every 10% more samples."""
    if n == first:
        return True
    step = max(1, n // 10)
    return (n - first) % step == 0

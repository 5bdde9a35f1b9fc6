from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from profilers.stats import StoppingRule, bootstrap_ci, is_stable, ratio_ci, relative_spread, summarize
from search_spaces.errors import EspnasError


def test_median_and_iqr_match_numpy():
    data = [5.0, 1.0, 3.0, 2.0, 4.0, 100.0]
    s = summarize(data)
    assert s.median == pytest.approx(3.5)
    q1, q3 = np.percentile(data, [25, 75])
    assert s.iqr == pytest.approx(q3 - q1)
    assert s.n == 6


def test_ci_is_deterministic_and_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    small = rng.normal(10, 1, 20)
    large = rng.normal(10, 1, 2000)
    assert bootstrap_ci(small) == bootstrap_ci(small)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert hi_l - lo_l < (hi_s - lo_s) / 3


def test_single_sample_has_no_ci():
    s = summarize([4.0])
    assert math.isnan(s.ci95[0]) and s.rel_ci_width == math.inf


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=1e4), min_size=2, max_size=80))
@example(data=[641.0, 640.0595797776783])  # the percentile once stepped one ulp below the minimum
def test_ci_brackets_median_and_lies_within_data(data):
    s = summarize(data)
    lo, hi = s.ci95
    assert min(data) <= lo <= s.median + 1e-9
    assert s.median - 1e-9 <= hi <= max(data)
    assert s.iqr >= 0


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [[1.0, 2.0]]])
def test_bad_samples_are_user_errors(bad):
    with pytest.raises(EspnasError):
        summarize(bad)


def test_relative_spread():
    assert relative_spread([9.0, 10.0, 11.0]) == pytest.approx(0.2)


def test_is_stable_needs_two_windows_that_agree():
    assert not is_stable([1.0] * 9, window=5)
    assert is_stable([1.0] * 10, window=5)
    assert not is_stable([2.0] * 5 + [1.0] * 5, window=5)


def test_stopping_rule_converges_on_constant_samples_and_respects_minimum():
    rule = StoppingRule(target_rel_ci=0.02, time_budget_s=100, min_samples=10)
    assert rule.reason_to_stop([1.0] * 9, elapsed_s=1000) is None
    assert rule.reason_to_stop([1.0] * 10, elapsed_s=0) == "converged"


def test_stopping_rule_time_budget_and_max():
    noisy = list(np.random.default_rng(0).exponential(1.0, 15))
    rule = StoppingRule(target_rel_ci=1e-6, time_budget_s=1.0, min_samples=10, max_samples=20)
    assert rule.reason_to_stop(noisy, elapsed_s=0.5) is None
    assert rule.reason_to_stop(noisy, elapsed_s=1.5) == "time budget"
    assert rule.reason_to_stop(noisy + [1.0] * 5, elapsed_s=0) == "max samples"


@pytest.mark.parametrize(
    "kwargs", [{"target_rel_ci": 0}, {"time_budget_s": -1}, {"min_samples": 1}, {"max_samples": 3}]
)
def test_stopping_rule_validates(kwargs):
    with pytest.raises(EspnasError):
        StoppingRule(**kwargs)


def test_bootstrap_memory_is_bounded_at_20000_samples():
    # An unbatched resampler holds a 300 x n index array and its gathered values: > 100 MB at n = 20,000.
    import tracemalloc

    import scipy.stats  # noqa: F401  (imported first: its import is not the bootstrap's memory)

    samples = np.random.default_rng(0).exponential(1.0, 20_000)
    tracemalloc.start()
    try:
        bootstrap_ci(samples, n_resamples=300)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40e6


def test_ci_of_the_median_covers_a_known_median():
    # exponential(1) has median ln 2; 95% CIs from 40 independent sample sets should mostly cover it
    rng = np.random.default_rng(7)
    covered = sum(lo <= math.log(2) <= hi for lo, hi in (bootstrap_ci(rng.exponential(1.0, 200)) for _ in range(40)))
    assert 33 <= covered <= 40


def test_ci_depends_on_the_seed_and_confidence():
    data = np.random.default_rng(3).normal(10, 1, 50)
    assert bootstrap_ci(data, seed=0) != bootstrap_ci(data, seed=1)
    lo90, hi90 = bootstrap_ci(data, confidence=0.90)
    lo99, hi99 = bootstrap_ci(data, confidence=0.99)
    assert lo99 < lo90 < hi90 < hi99


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5])
def test_confidence_outside_0_1_is_a_user_error(confidence):
    with pytest.raises(EspnasError, match="confidence must be in"):
        bootstrap_ci([1.0, 2.0], confidence=confidence)
    with pytest.raises(EspnasError, match="confidence must be in"):
        ratio_ci([1.0, 2.0], [1.0, 2.0], confidence=confidence)


def test_ratio_ci_of_constant_samples_is_the_ratio():
    assert ratio_ci([3.0] * 10, [1.5] * 10) == (2.0, 2.0)


def test_ratio_ci_covers_the_ratio_of_medians_and_narrows():
    rng = np.random.default_rng(5)
    num, den = rng.normal(20, 1, 2000), rng.normal(10, 1, 2000)
    lo, hi = ratio_ci(num, den)
    assert lo < 2.0 < hi and hi - lo < 0.05
    lo_s, hi_s = ratio_ci(num[:50], den[:50])
    assert hi_s - lo_s > 3 * (hi - lo)
    assert ratio_ci(den, num)[1] < 0.6  # the other way round is about a half


def test_ratio_ci_needs_two_samples_a_side():
    assert all(math.isnan(v) for v in ratio_ci([1.0], [1.0, 2.0]))
    assert all(math.isnan(v) for v in ratio_ci([1.0, 2.0], [1.0]))

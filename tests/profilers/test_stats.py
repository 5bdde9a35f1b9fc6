from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profilers.stats import StoppingRule, bootstrap_ci, is_stable, relative_spread, summarize
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

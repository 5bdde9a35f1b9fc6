"""The FLOP band at its edges, with hand-picked counts: both ends of the band are inside it, the relative
violations told to the sampler, the words of the reason, the count parser's and printer's boundaries.

The band check is driven through a made-up task whose counts are whatever the test says (its freeze returns
them), so the expected verdicts are worked by hand and no counting code is involved."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nas.search.band import band_text, check_band, fmt_count, parse_band, parse_count
from nas.search.errors import SearchError
from nas.search.tasks import TASKS, Task
from search_spaces.errors import ConfigError

SPACE = object()  # the made-up task's freeze only checks that it is handed this very space


def _freeze(flat, space):
    assert space is SPACE
    if flat.get("invalid"):
        raise ConfigError("width 3 is not a multiple of the 4 branches")
    return SimpleNamespace(conv_macs=flat["macs"], params=flat["weights"])


@pytest.fixture(autouse=True)
def weights_task(monkeypatch):
    """A task whose band bounds its weights (like the language task's parameters) and whose counts are given."""
    task = Task(
        name="weights",
        quality="accuracy",
        default_space="paper",
        default_data="digits",
        default_band=(100, 200),
        band_convention="weights of the made-up network",
        searched_config=lambda config: config,
        counts=lambda config: config,
        load_data=lambda *a: None,
        proxy=lambda *a, **k: None,
        freeze=_freeze,
        band_metric="params",
        band_label="weights",
    )
    monkeypatch.setitem(TASKS, "weights", task)


def verdict(weights, band, macs=5):
    return check_band({"macs": macs, "weights": weights}, SPACE, band, "weights")


@pytest.mark.parametrize("weights", [100, 150, 200])
def test_both_ends_of_the_band_are_inside_it(weights):
    v = verdict(weights, (100, 200))
    assert v.feasible is True and v.reason is None
    assert v.config == SimpleNamespace(conv_macs=5, params=weights)
    assert (v.conv_macs, v.params) == (5, weights)


def test_one_below_the_band_is_out_by_one_percent():
    v = verdict(99, (100, 200))
    assert v.feasible is False
    assert v.reason == "weights 99 below the band 100..200 weights of the made-up network"
    assert v.constraints == {
        "macs_below_band": pytest.approx(0.01),  # (100 - 99) / 100
        "macs_above_band": pytest.approx(-0.505),  # (99 - 200) / 200
        "invalid_config": 0.0,
    }
    assert v.params == 99 and v.config.params == 99  # the config and counts come back even when infeasible


def test_one_above_the_band_is_out_by_half_a_percent():
    v = verdict(201, (100, 200))
    assert v.feasible is False
    assert v.reason == "weights 201 above the band 100..200 weights of the made-up network"
    assert v.constraints["macs_above_band"] == pytest.approx(0.005)  # (201 - 200) / 200
    assert v.constraints["macs_below_band"] == pytest.approx(-1.01)  # (100 - 201) / 100


def test_a_band_from_zero_has_no_lower_violation_to_divide_by():
    # lo = 0: nothing can be below it; the lower constraint is a fixed -1 (satisfied), not a division by zero.
    v = verdict(0, (0, 200))
    assert v.feasible is True
    assert v.constraints["macs_below_band"] == -1.0


def test_a_band_from_one_still_measures_the_lower_violation():
    v = verdict(0, (1, 200))
    assert v.feasible is False
    assert v.constraints["macs_below_band"] == pytest.approx(1.0)  # (1 - 0) / 1


def test_an_invalid_network_is_infeasible_with_only_the_invalid_constraint_set():
    v = check_band({"invalid": True}, SPACE, (100, 200), "weights")
    assert v.feasible is False
    assert (v.config, v.conv_macs, v.params) == (None, None, None)
    assert v.reason == "invalid network: width 3 is not a multiple of the 4 branches"
    assert v.constraints == {"macs_below_band": 0.0, "macs_above_band": 0.0, "invalid_config": 1.0}


def test_band_text_names_the_convention_of_the_task():
    classifier = "28M..284M conv MACs at 224x224, 1000 classes"
    assert band_text((28_000_000, 284_000_000)) == classifier
    assert band_text((28_000_000, 284_000_000), "classification") == classifier
    assert band_text((1_000, 2_500), "weights") == "1k..2.5k weights of the made-up network"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (999, "999"),
        (1_000, "1k"),
        (2_500, "2.5k"),
        (999_999, "1000k"),  # four significant digits, still below the M threshold
        (1_000_000, "1M"),
        (12_345_678, "12.35M"),
        (-2_000_000, "-2M"),
        (1_000_000_000, "1G"),
        (1_500_000_000, "1.5G"),
    ],
)
def test_fmt_count_switches_unit_exactly_at_each_power_of_a_thousand(n, text):
    assert fmt_count(n) == text


def test_zero_is_a_valid_count():
    assert parse_count("0") == 0
    assert parse_count("0.4") == 0  # rounded to a whole count


@pytest.mark.parametrize("text", ["12x", "M", "", "1.2.3k"])
def test_a_count_that_is_not_a_number_names_the_valid_form(text):
    with pytest.raises(SearchError) as err:
        parse_count(text)
    assert str(err.value) == f"count {text!r} is invalid; valid: a number with an optional k/M/G suffix, e.g. 28M"


@pytest.mark.parametrize("text", ["-1", "inf", "nan"])
def test_a_negative_or_infinite_count_names_the_valid_range(text):
    with pytest.raises(SearchError) as err:
        parse_count(text)
    assert str(err.value) == f"count {text!r} is invalid; valid: a non-negative number such as 284M"


def test_a_band_without_a_colon_names_the_form():
    with pytest.raises(SearchError) as err:
        parse_band("28M")
    assert str(err.value) == "FLOP band '28M' is invalid; valid: LO:HI such as 28M:284M"


@pytest.mark.parametrize("text", ["5M:5M", "6M:5M"])
def test_a_band_whose_ends_meet_or_cross_is_empty(text):
    with pytest.raises(SearchError) as err:
        parse_band(text)
    assert str(err.value) == f"FLOP band {text!r} is empty; valid: LO < HI, e.g. 28M:284M"


def test_a_band_splits_at_its_first_colon():
    # "1M:2M:3M" is LO = 1M and HI = "2M:3M", which is the part named as invalid.
    with pytest.raises(SearchError, match=r"^count '2M:3M' is invalid"):
        parse_band("1M:2M:3M")
    assert parse_band(" 1k : 2.5k ") == (1_000, 2_500)

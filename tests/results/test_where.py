"""Constraint expressions: what they select, and the one-line errors for everything else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from results.where import VALID, Where, WhereError, where

FRAME = pd.DataFrame(
    {
        "latency_ms": [1.0, 2.5, 4.0, np.nan],
        "energy_mj": [30.0, 10.0, 5.0, 1.0],
        "status": ["complete", "complete", "failed", "complete"],
        "params": pd.array([1, 2, 3, None], dtype="Int64"),
    }
)


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("latency_ms <= 3 and energy_mj <= 20", [1]),
        ("latency_ms < 2 or energy_mj < 6", [0, 2, 3]),
        ("not latency_ms > 2", [0, 3]),  # the NaN row fails the comparison, so passes its negation
        ("1 <= latency_ms <= 3", [0, 1]),
        ("status == 'complete' and (latency_ms > 2 or energy_mj < 2)", [1, 3]),
        ("energy_mj >= -1e3 and params != 2", [0, 2]),  # missing params: != is false too
        ("3 > latency_ms", [0, 1]),
    ],
)
def test_selects_the_right_rows(text, rows):
    got = list(np.flatnonzero(Where(text).mask(FRAME).to_numpy()))
    assert got == rows
    assert list(where(FRAME, text).index) == rows


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("latency_ms <=", "malformed constraint"),
        ("__import__('os').system('true')", "is not allowed"),
        ("latency_ms + 1 < 3", "cannot be compared"),
        ("latency_ms.real < 3", "cannot be compared"),
        ("latency_ms", "is not allowed"),
        ("1 < 2", "comparison without a column"),
        ("latency_ms in [1, 2]", "operator In is not allowed"),
        ("latncy_ms < 3", "unknown column 'latncy_ms'.*valid: latency_ms, energy_mj"),
        ("status < 3", "cannot compare column 'status' with 3.0"),
        ("", "empty constraint"),
    ],
)
def test_everything_else_is_a_one_line_error(text, fragment):
    with pytest.raises(WhereError, match=fragment) as err:
        Where(text).mask(FRAME)
    message = str(err.value)
    assert "\n" not in message
    if "unknown column" not in fragment and "cannot compare" not in fragment:
        assert "latency_ms <= 3 and energy_mj <= 20" in message  # says what would be valid


# ----- limits and edge cases, each at its boundary (found by mutation testing) ---------------------------


def test_the_length_and_depth_limits_are_inclusive():
    from results.where import MAX_DEPTH, MAX_LENGTH

    at_limit = "a <= 1" + " " * (MAX_LENGTH - 16) + " and a > 0"  # inner spaces count, outer ones are stripped
    assert len(at_limit) == MAX_LENGTH and Where(at_limit).columns == ["a"]
    with pytest.raises(WhereError, match=f"of {MAX_LENGTH + 2} characters; valid: at most {MAX_LENGTH}"):
        Where(at_limit.replace("> 0", "> 0.5"))
    assert Where("not " * (MAX_DEPTH - 1) + "a > 1").columns == ["a"]
    with pytest.raises(WhereError, match="nested too deeply"):
        Where("not " * (MAX_DEPTH + 1) + "a > 1")
    deep_or = "(" * (MAX_DEPTH - 1) + "a > 1" + " or b > 1)" * (MAX_DEPTH - 1)
    assert Where(deep_or).columns == ["a", "b"]
    with pytest.raises(WhereError, match="nested too deeply"):
        Where("(" * (MAX_DEPTH + 1) + "a > 1" + " or b > 1)" * (MAX_DEPTH + 1))


def test_negative_positive_and_string_literals():
    frame = pd.DataFrame({"a": [-3.0, -1.0, 2.0], "s": ["x", "y", "x"]})
    assert Where("a < -2").mask(frame).tolist() == [True, False, False]
    assert Where("a > +1").mask(frame).tolist() == [False, False, True]
    assert Where("s == 'x' and not a > 0").mask(frame).tolist() == [True, False, False]
    assert Where("-1 <= a").mask(frame).tolist() == [False, True, True]
    with pytest.raises(WhereError, match="cannot be compared"):
        Where("a < -'x'")
    with pytest.raises(WhereError, match="cannot be compared"):
        Where("a == True")


def test_or_of_three_and_chains():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
    assert Where("a == 1 or a == 3 or a == 4").mask(frame).tolist() == [True, False, True, True]
    assert Where("a > 1 and a < 4 and a != 3").mask(frame).tolist() == [False, True, False, False]
    assert Where("1 < a <= 3").mask(frame).tolist() == [False, True, True, False]
    assert Where("4 > a > 1").mask(frame).tolist() == [False, True, True, False]


def test_the_errors_name_what_is_wrong():
    with pytest.raises(WhereError, match=r"^'f\(a\)' cannot be compared in 'f\(a\) > 1'; expected comparisons"):
        Where("f(a) > 1")
    with pytest.raises(WhereError, match=r"^a call is not allowed|is not allowed in 'f\(\)'"):
        Where("f()")
    with pytest.raises(WhereError, match=r"^operator In is not allowed"):
        Where("a in b")
    with pytest.raises(WhereError, match=r"^comparison without a column in '1 < 2'"):
        Where("1 < 2")
    with pytest.raises(WhereError, match=r"cannot compare"):
        Where("s < 1").mask(pd.DataFrame({"s": ["x"]}))
    with pytest.raises(WhereError, match=r"^unknown column 'b' in 'b > 1'; valid: a$"):
        Where("b > 1").mask(pd.DataFrame({"a": [1.0]}))


# ----- more boundaries and exact messages (mutation testing, benchmarks/README.md) -----------------------


def test_the_depth_limit_counts_from_the_top_level():
    from results.where import MAX_DEPTH

    # MAX_DEPTH nots put the comparison exactly MAX_DEPTH levels down: still allowed.
    assert Where("not " * MAX_DEPTH + "a > 1").columns == ["a"]


def test_a_unary_plus_keeps_the_sign():
    frame = pd.DataFrame({"a": [0.0, 2.0]})
    assert Where("a > +1").mask(frame).tolist() == [False, True]
    assert Where("a > -1").mask(frame).tolist() == [True, True]


def test_a_missing_text_value_fails_every_comparison():
    frame = pd.DataFrame({"s": pd.array(["x", None, "y"], dtype="string")})
    assert Where("s == 'x'").mask(frame).tolist() == [True, False, False]
    assert Where("s != 'x'").mask(frame).tolist() == [False, False, True]


def test_a_malformed_constraint_is_quoted_up_to_80_characters():
    text = "a <= " + "1" * 100 + " +"
    with pytest.raises(WhereError) as err:
        Where(text)
    assert str(err.value) == f"malformed constraint {text[:80]!r}; expected {VALID}"


def test_a_call_is_named_in_the_error():
    with pytest.raises(WhereError) as err:
        Where("f()")
    assert str(err.value) == f"'f()' is not allowed in 'f()'; expected {VALID}"


def test_a_number_beyond_a_float_is_named_by_its_first_digits():
    with pytest.raises(WhereError) as err:
        Where("a < 1" + "0" * 400)
    # the number's repr, quote included, cut at 40 characters
    tail = "... is too large in the constraint; valid: numbers up to about 1e308"
    assert str(err.value) == "number '1" + "0" * 38 + tail


def test_comparing_text_with_a_number_says_what_to_compare():
    with pytest.raises(WhereError) as err:
        Where("s < 1").mask(pd.DataFrame({"s": ["x"]}))
    assert str(err.value) == (
        "cannot compare column 's' with 1.0 in 's < 1'; "
        "compare numeric columns with numbers and text columns with quoted strings"
    )


def test_a_long_chain_of_unary_minus_is_a_one_line_error():
    with pytest.raises(WhereError, match="nested too deeply"):
        Where("-" * 1990 + "1 < a")

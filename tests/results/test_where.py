"""Constraint expressions: what they select, and the one-line errors for everything else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from results.where import Where, WhereError, where

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

"""Helpers for the tests of what a user meets: small stored runs, and running the CLI in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from results.store import RunWriter

OBJECTIVES = [
    {"name": "accuracy", "direction": "max", "unit": "fraction"},
    {"name": "latency_ms", "direction": "min", "unit": "ms"},
]


def record(i: int, accuracy: float | None, latency: float | None, status: str = "complete") -> dict[str, Any]:
    rec: dict[str, Any] = {"trial_id": f"t{i:05d}", "number": i, "status": status, "arch_id": f"arch{i:08d}"}
    rec.update(params=1_000_000 + i, macs=50_000_000 + i)
    if status == "complete":
        rec.update(accuracy=accuracy, latency_ms=latency)
    else:
        rec["reason"] = "outside the band"
    return rec


# (accuracy, latency_ms) of the complete trials of the run most tests use: the front is t00000 and t00001.
POINTS = [(0.9, 10.0), (0.5, 5.0), (0.6, 9.0)]


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """make_run(name, points=POINTS, ended=True) -> the run directory, with one infeasible trial after the points."""

    def make(name: str = "run", points: list[tuple[float, float]] = POINTS, ended: bool = True) -> Path:
        path = tmp_path / name
        writer = RunWriter(
            path,
            {
                "name": name,
                "objectives": OBJECTIVES,
                "metrics": {"accuracy": "fraction", "latency_ms": "ms"},
                "devices": ["cpu"],
            },
        )
        writer.append([record(i, a, lat) for i, (a, lat) in enumerate(points)])
        writer.append(record(len(points), None, None, status="infeasible"))
        if ended:
            writer.finish()
        return path

    return make


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from nas.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err

"""Runs written by the tests themselves: synthetic but shaped like a search's (a trade-off between
accuracy and latency/energy, some failed and infeasible trials, a preset or two)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from results.store import RunWriter

SCALES = (0.5, 1.0, 1.25, 1.5, 1.75, 2.0)


@functools.cache
def config_json(i: int) -> tuple[str, str]:
    """A real config (canonical JSON, arch_id) for trial i, so selections can print compact strings."""
    from search_spaces.config import EESPConfig

    config = EESPConfig.from_scale(SCALES[i % len(SCALES)], dropout=round(0.01 * (i % 50), 2))
    return config.to_json(), config.arch_id


def metadata(name: str = "run", objectives: list[tuple[str, str, str]] | None = None, **extra: Any) -> dict:
    objectives = objectives or [("accuracy", "max", "%"), ("latency_ms", "min", "ms"), ("energy_mj", "min", "mJ")]
    metrics = {name: unit for name, _, unit in objectives}
    metrics.setdefault("peak_memory_mb", "MB")
    return {
        "name": name,
        "objectives": [{"name": n, "direction": d, "unit": u} for n, d, u in objectives],
        "metrics": metrics,
        "flops_band": [50_000_000, 300_000_000],
        "devices": ["cpu"],
        "seed": 0,
        "settings": {"sampler": "test"},
        **extra,
    }


def synthetic_records(n: int, seed: int = 0, start: int = 0, shift: float = 0.0) -> list[dict]:
    """n records: accuracy grows with latency and energy, plus noise; every 7th failed, every 11th infeasible."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(start, start + n):
        cost = rng.uniform(0.5, 6.0)
        acc = 60 + 15 * np.log1p(cost) + rng.normal(0, 2) + shift
        record: dict[str, Any] = {
            "trial_id": f"s{seed}-t{i:05d}",
            "number": i,
            "config_json": config_json(i)[0],
            "arch_id": config_json(i)[1],
            "params": int(1e6 + cost * 3e5),
            "macs": int(50e6 + cost * 40e6),
            "started_at": "2026-01-01T00:00:00+00:00",
            "ended_at": "2026-01-01T00:00:01+00:00",
            "duration_s": 1.0,
        }
        if i % 7 == 3:
            record.update(status="failed", reason="CUDA out of memory")
        elif i % 11 == 5:
            record.update(status="infeasible", reason="MACs above the band")
        else:
            record.update(
                status="complete",
                accuracy=float(acc),
                latency_ms=float(cost * rng.uniform(0.8, 1.2)),
                latency_ms_iqr=0.05,
                energy_mj=float(cost * 4 * rng.uniform(0.7, 1.3)),
                peak_memory_mb=float(20 + cost),
            )
        records.append(record)
    return records


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """make_run(name, records, objectives=None, finish=True) -> the run directory."""

    def make(
        name: str,
        records: list[dict] | None = None,
        objectives: list[tuple[str, str, str]] | None = None,
        finish: bool = True,
        batch: int = 10,
        **extra: Any,
    ) -> Path:
        path = tmp_path / name
        writer = RunWriter(path, metadata(name, objectives, **extra))
        records = records or []
        for i in range(0, len(records), batch):
            writer.append(records[i : i + batch])
        if finish:
            writer.finish()
        return path

    return make


@pytest.fixture
def records() -> Callable[..., list[dict]]:
    """synthetic_records as a fixture (tests run with --import-mode=importlib, so conftest is not importable)."""
    return synthetic_records


@pytest.fixture
def run_metadata() -> Callable[..., dict]:
    """metadata(name, objectives, **extra) as a fixture."""
    return metadata

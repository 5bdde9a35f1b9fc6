"""A small stored run for the reliability tests (three complete trials, two objectives)."""

from __future__ import annotations

from pathlib import Path

from results.store import RunWriter

META = {
    "name": "run",
    "objectives": [{"name": "accuracy", "direction": "max"}, {"name": "latency_ms", "direction": "min"}],
    "metrics": {"accuracy": "fraction", "latency_ms": "ms"},
}


def small_run(root: Path, name: str = "run") -> Path:
    from search_spaces import EESPConfig

    path = root / name
    writer = RunWriter(path, {**META, "name": name})
    for i in range(3):
        config = EESPConfig.from_scale((0.5, 1.0, 1.5)[i])
        record = {"trial_id": f"t{i:05d}", "number": i, "status": "complete", "accuracy": 0.5 + i / 10}
        writer.append({**record, "latency_ms": 3.0 - i / 2, "config_json": config.to_json(), "arch_id": config.arch_id})
    writer.finish()
    return path

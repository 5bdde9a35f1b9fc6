"""A truncated, garbage or empty batch file, or a broken run.json, is a one-line error naming the file, never a
traceback; one bad run does not break `espnas runs` for the folder. A hypothesis test corrupts run
directories at random: every reader either reads them or raises RunError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.cli import main
from results.store import RunError, RunWriter, list_runs, open_run

META = {
    "name": "run",
    "objectives": [{"name": "accuracy", "direction": "max"}, {"name": "latency_ms", "direction": "min"}],
    "metrics": {"accuracy": "fraction", "latency_ms": "ms"},
}


def _run(root: Path, name: str = "run") -> Path:
    path = root / name
    writer = RunWriter(path, {**META, "name": name})
    for i in range(3):
        writer.append({"trial_id": f"t{i:05d}", "number": i, "status": "complete", "accuracy": 0.5 + i / 10,
                       "latency_ms": 3.0 - i / 2})  # fmt: skip
    writer.finish()
    return path


def _batches(path: Path) -> list[Path]:
    return sorted((path / "trials").glob("*.parquet"))


def _truncate(f: Path) -> None:
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])


def _garbage(f: Path) -> None:
    f.write_bytes(b"PAR1 this is not parquet at all" * 3)


def _empty(f: Path) -> None:
    f.write_bytes(b"")


def _foreign(f: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), str(f))  # valid Parquet, not a batch of trial records


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty, _foreign])
def test_a_damaged_batch_is_a_one_line_error_naming_it(tmp_path, damage, capsys):
    path = _run(tmp_path)
    bad = _batches(path)[1]
    damage(bad)
    with pytest.raises(RunError, match=bad.name):
        open_run(path)
    for argv in (["pareto", str(path)], ["select", str(path), "--knee"], ["compare", str(path), str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert bad.name in err and "move the file out of trials/" in err and "\n" not in err


def test_one_bad_run_does_not_break_the_listing(tmp_path, capsys):
    _run(tmp_path, "good")
    bad = _run(tmp_path, "bad")
    _garbage(_batches(bad)[0])
    summaries = {s.name: s for s in list_runs(tmp_path)}
    assert summaries["good"].trials == 3 and summaries["good"].error is None
    assert "not a readable batch" in summaries["bad"].error
    assert main(["runs", str(tmp_path), "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["good"]["trials"] == 3 and "not a readable batch" in listed["bad"]["error"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("pristine"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.integers(0, 3),  # 0 = run.json, 1..3 = a batch file
    op=st.sampled_from(["flip", "truncate", "append", "empty"]),
    at=st.floats(0, 1),
    byte=st.integers(0, 255),
)
def test_fuzz_corrupted_run_directories_never_raise_anything_but_run_error(
    pristine, tmp_path_factory, which, op, at, byte
):
    path = tmp_path_factory.mktemp("fuzz") / "run"
    shutil.copytree(pristine, path)
    target = path / "run.json" if which == 0 else _batches(path)[which - 1]
    data = bytearray(target.read_bytes())
    i = min(int(at * len(data)), len(data) - 1)
    if op == "flip":
        data[i] = byte
    elif op == "truncate":
        data = data[:i]
    elif op == "append":
        data += bytes([byte]) * 7
    else:
        data = bytearray()
    target.write_bytes(bytes(data))
    try:
        run = open_run(path)
        assert set(run.trials["status"]) <= {"complete", "failed", "pruned", "infeasible"}
    except RunError as err:
        assert "\n" not in str(err)
    summary = list_runs(path)[0]  # listing never raises for a run it can see
    assert summary.error is None or "\n" not in summary.error
    shutil.rmtree(path.parent, ignore_errors=True)


def test_run_json_that_is_not_an_object_is_refused(tmp_path):
    path = _run(tmp_path)
    (path / "run.json").write_text(json.dumps([1, 2]))
    with pytest.raises(RunError, match="expected a JSON object"):
        open_run(path)

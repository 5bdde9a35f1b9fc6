"""The recorder's handling of a finished trial, and the default number of parallel trials (no Ray needed)."""

from __future__ import annotations

from typing import Any

import pytest

from nas.search.band import check_band
from nas.search.objectives import select_objectives
from nas.search.ray_session import default_concurrency
from nas.search.recorder import Recorder
from nas.search.space import load_space
from tests.nas.samples import PAPER_SAMPLE

PAPER = load_space()
VERDICT = check_band(PAPER_SAMPLE, PAPER, (1, 10**12))


class FakeWriter:
    """The run writer as the recorder uses it: a path and append()."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(dict(record))


def _recorder(tmp_path: Any) -> tuple[Recorder, FakeWriter]:
    writer = FakeWriter(tmp_path)
    selection = select_objectives(["accuracy", "latency"], "cpu")
    return Recorder(writer, selection, ["accuracy", "latency_ms"], {}), writer


def _final(**values: Any) -> dict[str, Any]:
    return {"espnas_final": True, "espnas_status": "complete", "espnas_t_start": 100.0, "espnas_t_end": 103.5, **values}


def test_a_complete_result_is_recorded_with_its_values(tmp_path):
    recorder, writer = _recorder(tmp_path)
    status, values = recorder.record_result(7, VERDICT, _final(accuracy=0.9, latency_ms=2.5, latency_ms_iqr=0.1), False)
    assert (status, values) == ("complete", [0.9, 2.5])
    [rec] = writer.records
    assert rec["trial_id"] == "t00007" and rec["status"] == "complete" and rec["duration_s"] == 3.5
    assert rec["accuracy"] == 0.9 and rec["latency_ms"] == 2.5 and rec["latency_ms_iqr"] == 0.1
    assert rec["arch_id"] == VERDICT.config.arch_id and rec["macs"] == VERDICT.conv_macs
    assert rec["started_at"] == "1970-01-01T00:01:40+00:00"
    assert recorder.counts["complete"] == 1


def test_a_missing_or_infinite_objective_makes_the_trial_failed(tmp_path):
    recorder, writer = _recorder(tmp_path)
    status, values = recorder.record_result(1, VERDICT, _final(accuracy=0.9, latency_ms=float("inf")), False)
    assert (status, values) == ("failed", None)
    assert writer.records[0]["reason"] == "no finite value for objective latency_ms"
    assert "accuracy" not in writer.records[0]  # a failed trial stores no measured objective
    status, _ = recorder.record_result(2, VERDICT, _final(accuracy=0.9), False)
    assert status == "failed" and recorder.counts["failed"] == 2


def test_a_crashed_trial_and_an_early_stopped_one(tmp_path):
    recorder, writer = _recorder(tmp_path)
    assert recorder.record_result(3, VERDICT, None, True) == ("failed", None)
    assert "process failed" in writer.records[0]["reason"]
    assert recorder.record_result(4, VERDICT, {"epoch": 2, "accuracy": 0.4}, False) == ("pruned", None)
    assert writer.records[1]["reason"] == "stopped early on its accuracy curve after epoch 2"
    assert recorder.counts["pruned"] == 1 and recorder.counts["failed"] == 1


def test_a_trial_that_failed_inside_keeps_its_reason(tmp_path):
    recorder, writer = _recorder(tmp_path)
    result = _final(espnas_status="failed", espnas_reason="proxy: diverged: loss is nan")
    assert recorder.record_result(5, VERDICT, result, False) == ("failed", None)
    assert writer.records[0]["reason"] == "proxy: diverged: loss is nan"


@pytest.mark.parametrize(
    ("requested", "device", "cpus_per_trial", "measuring_locally", "cpus", "expected"),
    [
        (3, "cpu", 1.0, True, 8, 3),  # asked for: taken as given
        (0, "cpu", 1.0, False, 8, 1),  # but never below one
        (None, "cpu", 1.0, True, 8, 1),  # measuring on this CPU: one at a time
        (None, "cuda", 1.0, True, 8, 8),  # measuring on a GPU: the CPUs decide
        (None, "cpu", 1.0, False, 8, 8),  # measuring elsewhere: as many as the CPUs allow
        (None, "cpu", 2.0, False, 8, 4),
        (None, "cpu", 3.0, False, 8, 2),  # whole trials only
        (None, "cpu", 16.0, False, 8, 1),  # a trial bigger than the machine still runs
    ],
)
def test_default_concurrency(requested, device, cpus_per_trial, measuring_locally, cpus, expected):
    assert default_concurrency(requested, device, cpus_per_trial, measuring_locally, cpus) == expected

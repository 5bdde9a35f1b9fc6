"""A trial's failure reason is its cause (not a DataLoader worker's wrapper), a retry trains with a new seed
(the same seed would fail the same way), and the record says how many attempts it took."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

import nas.train.proxy as proxy_module
from nas.search.trial import TrialJob, run_trial
from nas.train.proxy import ProxyResult
from search_spaces import EESPConfig
from search_spaces.errors import one_line

CONFIG = EESPConfig.from_scale(0.5)
JOB = TrialJob(
    train=True, measure=(), data="digits", image_size=32, proxy_epochs=1, proxy_max_steps=1, batch_size=8,
    device="cpu", threads=1, measure_threads=1, retries=1, seed=5, latency_budget_s=0.1, latency_batch=1,
    targets=(), namespace="test",
)  # fmt: skip
TRIAL = {"espnas_config_json": CONFIG.to_json(), "espnas_number": 3, "espnas_params": 1.0, "espnas_macs": 2.0}


@pytest.fixture
def seeds(monkeypatch):
    """proxy_accuracy replaced: fails (ok=False) while `plan` says so, records the seeds it was given."""
    got: list[int] = []
    plan: list[bool] = []

    def fake(config, data, *, seed, **kwargs):
        got.append(seed)
        ok = plan.pop(0) if plan else True
        if ok:
            return ProxyResult(True, 0.9, (0.9,), None, 0.0, 1)
        return ProxyResult(False, math.nan, (), "diverged: loss is nan at step 1", 0.0, 0)

    monkeypatch.setattr(proxy_module, "proxy_accuracy", fake)
    monkeypatch.setattr(proxy_module, "proxy_data", lambda *a, **k: SimpleNamespace(num_classes=10))
    return got, plan


def test_a_retry_trains_with_a_new_seed_and_the_record_says_so(seeds):
    got, plan = seeds
    plan += [False, True]
    result = run_trial(TRIAL, JOB, report=lambda r: None)
    assert result["espnas_status"] == "complete"
    assert len(got) == 2 and got[0] != got[1]
    assert result["espnas_reason"].startswith("complete on attempt 2; attempt 1 failed: diverged")


def test_a_trial_that_fails_every_attempt_records_the_attempts(seeds):
    got, plan = seeds
    plan += [False, False]
    result = run_trial(TRIAL, JOB, report=lambda r: None)
    assert result["espnas_status"] == "failed" and len(set(got)) == 2
    assert result["espnas_reason"] == "training (2 attempts, each with its own seed): diverged: loss is nan at step 1"


def test_a_worker_wrapped_error_keeps_its_cause():
    wrapped = RuntimeError(
        "Caught OSError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "folders.py", line 1\nOSError: image file is truncated (53 bytes not processed)'
    )
    assert one_line(wrapped, 300, with_type=True) == "OSError: image file is truncated (53 bytes not processed)"
    assert one_line(ValueError("bad\nsecond line"), 300, with_type=True) == "ValueError: bad"

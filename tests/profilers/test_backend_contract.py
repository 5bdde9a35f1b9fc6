"""The contract every registered measurement backend keeps (like optuna's storage contract tests)."""

from __future__ import annotations

import json

import pytest

from profilers.backend import Availability, BackendUnavailable
from profilers.backends import BACKENDS, KINDS, availability, available, get_backend
from search_spaces.errors import EspnasError

CASES = [(name, dev) for name, b in sorted(BACKENDS.items()) for dev in b.devices]


def test_registry_holds_every_kind():
    kinds = {b.kind for b in BACKENDS.values()}
    assert kinds == set(KINDS)
    assert {"latency-cpu", "latency-cuda", "energy-nvml", "energy-rapl", "energy-jetson-ina"} <= set(BACKENDS)


def test_unknown_backend_is_a_one_line_error():
    with pytest.raises(EspnasError, match="valid:"):
        get_backend("nope")


def test_availability_is_truthy_and_unpacks():
    ok, reason = Availability(False, "no driver")
    assert not ok and reason == "no driver"
    assert not Availability(False, "x") and Availability(True, "y")
    assert str(Availability(False, "no driver")) == "unavailable: no driver"


def test_cpu_latency_is_available_here():
    assert [b.name for b in available("cpu", "latency")] == ["latency-cpu"]


@pytest.mark.parametrize(("name", "device"), CASES)
class TestBackendContract:
    def test_is_available_never_raises_and_gives_a_reason(self, name, device):
        avail = BACKENDS[name].is_available(device)
        assert isinstance(avail, Availability)
        assert isinstance(avail.reason, str) and avail.reason.strip()
        assert "\n" not in avail.reason

    def test_wrong_device_type_is_unavailable(self, name, device):
        backend = BACKENDS[name]
        for other in ("cpu", "cuda"):
            if other not in backend.devices:
                assert not backend.is_available(other)

    def test_measure_or_clean_refusal(self, name, device, tiny):
        backend = BACKENDS[name]
        avail = backend.is_available(device)
        if not avail:
            with pytest.raises(BackendUnavailable) as info:
                backend.measure(tiny, (3, 16, 16), device)
            assert "unavailable" in str(info.value) and "\n" not in str(info.value)
            assert isinstance(info.value, EspnasError)
            return
        options = {"threads": 1}
        if backend.kind == "latency":
            options.update(time_budget_s=0.2, min_samples=5)
        elif backend.kind == "energy":  # a real power source: a short honest run
            options.update(window_s=2.0, repeats=1)
        result = backend.measure(tiny, (3, 16, 16), device, **options)
        record = result.to_dict()
        json.dumps(record)  # serialisable as-is
        assert record["fingerprint"]["device"] == device
        assert record["backend"].startswith(backend.kind)


def test_availability_table_lists_every_backend():
    table = availability("cpu")
    assert set(table) == set(BACKENDS)

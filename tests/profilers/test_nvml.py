"""NVML through a fake pynvml with several GPUs: the device is matched by identity, never by index."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from profilers import nvml
from profilers import power_sources as ps
from profilers.backend import cuda_index


class _NVMLError(Exception):
    pass


def fake_pynvml(gpus: list[dict], energy: bool = True) -> types.ModuleType:
    """A pynvml over `gpus` (NVML order), each {"uuid", "pci", "mj", optional "mig": [uuids]}."""
    mod = types.ModuleType("pynvml")
    mod.NVMLError = _NVMLError
    mod.NVML_CLOCK_SM, mod.NVML_CLOCK_MEM, mod.NVML_TEMPERATURE_GPU = 1, 2, 0
    mod.calls = {"init": 0, "shutdown": 0}

    def init():
        mod.calls["init"] += 1

    def shutdown():
        mod.calls["shutdown"] += 1

    mod.nvmlInit, mod.nvmlShutdown = init, shutdown
    mod.nvmlDeviceGetHandleByIndex = lambda i: ("gpu", i)

    def by_uuid(u):
        for i, g in enumerate(gpus):
            if g["uuid"] == u:
                return ("gpu", i)
            if u in g.get("mig", []):
                return ("mig", i, u)
        raise _NVMLError("Not Found")

    def by_pci(bus):
        for i, g in enumerate(gpus):
            if g["pci"] == bus:
                return ("gpu", i)
        raise _NVMLError("Not Found")

    def total_energy(h):
        if not energy or h[0] == "mig":
            raise _NVMLError("Not Supported")
        return gpus[h[1]]["mj"]

    mod.nvmlDeviceGetHandleByUUID, mod.nvmlDeviceGetHandleByPciBusId = by_uuid, by_pci
    mod.nvmlDeviceIsMigDeviceHandle = lambda h: h[0] == "mig"
    mod.nvmlDeviceGetUUID = lambda h: gpus[h[1]]["uuid"].encode()
    mod.nvmlDeviceGetTotalEnergyConsumption = total_energy
    mod.nvmlDeviceGetPowerUsage = lambda h: 100_000 + 1000 * h[1]
    mod.nvmlDeviceGetClockInfo = lambda h, kind: {1: 1410, 2: 1215}[kind]
    mod.nvmlDeviceGetTemperature = lambda h, kind: 61
    mod.nvmlDeviceGetEnforcedPowerLimit = lambda h: 250_000
    mod.nvmlSystemGetDriverVersion = lambda: b"570.1"
    return mod


# NVML numbers GPUs in PCI order; with CUDA_VISIBLE_DEVICES=1 (as Ray sets it), cuda:0 is NVML's GPU 1.
GPUS = [
    {"uuid": "GPU-aaaa", "pci": "00000000:17:00.0", "mj": 1_000},
    {"uuid": "GPU-bbbb", "pci": "00000000:65:00.0", "mj": 2_000, "mig": ["MIG-cccc"]},
]


@pytest.fixture
def two_gpus(monkeypatch):
    mod = fake_pynvml(GPUS)
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    return mod


def _cuda0_is(monkeypatch, uuid, pci):
    monkeypatch.setattr(nvml, "cuda_identity", lambda device, **_: nvml.CudaIdentity(0, uuid, pci))


def test_uuid_picks_the_gpu_cuda_runs_on(two_gpus, monkeypatch):
    _cuda0_is(monkeypatch, "bbbb", None)
    src = ps.open_nvml("cuda:0")
    assert src.read() == 2_000  # GPU B's counter, not NVML index 0's


def test_pci_bus_id_is_used_when_there_is_no_uuid(two_gpus, monkeypatch):
    _cuda0_is(monkeypatch, None, "00000000:65:00.0")
    assert nvml.find_device("cuda:0").matched_by == "pci-bus-id"
    assert ps.open_nvml("cuda:0").read() == 2_000


def test_no_match_is_refused_not_guessed_by_index(two_gpus, monkeypatch):
    _cuda0_is(monkeypatch, "ffff", None)
    avail = ps.probe_nvml("cuda:0")
    assert not avail and "cannot match cuda:0" in avail.reason and "\n" not in avail.reason


def test_mig_instance_is_refused_with_the_reason(two_gpus, monkeypatch):
    _cuda0_is(monkeypatch, "cccc", None)
    found = nvml.find_device("cuda:0")
    assert found.mig and found.uuid == "MIG-cccc"
    avail = ps.probe_nvml("cuda:0")
    assert not avail and "MIG instance" in avail.reason


def test_nvml_is_initialised_once_and_never_shut_down_under_a_caller(two_gpus, monkeypatch):
    from profilers.fingerprint import nvml_info

    _cuda0_is(monkeypatch, "aaaa", None)
    for _ in range(3):
        assert ps.probe_nvml("cuda:0")
        ps.open_nvml("cuda:0").close()
    info = nvml_info("cuda:0")
    assert info["nvml_uuid"] == "GPU-aaaa" and info["nvml_match"] == "uuid" and info["driver"] == "570.1"
    assert two_gpus.calls == {"init": 1, "shutdown": 0}
    nvml._shutdown(two_gpus)  # what atexit does
    assert two_gpus.calls == {"init": 1, "shutdown": 1}


@pytest.mark.parametrize("energy", [True, False])
def test_nvml_source_prefers_counter_and_falls_back_to_sampling(monkeypatch, energy):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(GPUS, energy=energy))
    _cuda0_is(monkeypatch, "bbbb", None)
    assert ps.probe_nvml("cuda:0")
    src = ps.open_nvml("cuda:0")
    if energy:
        assert isinstance(src, ps.NvmlEnergyCounter) and src.method == "energy-counter"
        assert src.delta_mj(src.read(), 2_500) == 500
    else:
        assert isinstance(src, ps.NvmlPowerSampler) and src.method == "power-sampling"
        assert src.power_w() == pytest.approx(101.0)  # GPU B's 101 W, not GPU A's 100 W
    assert src.telemetry() == {"sm_clock_mhz": 1410, "mem_clock_mhz": 1215, "temperature_c": 61, "power_limit_w": 250.0}


def test_nvml_library_missing_is_a_reason(monkeypatch):
    mod = fake_pynvml(GPUS)

    def fail():
        raise _NVMLError("NVML Shared Library Not Found")

    mod.nvmlInit = fail
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    avail = ps.probe_nvml("cuda")
    assert not avail and "Library Not Found" in avail.reason
    assert not ps.probe_nvml("cpu")


def test_plain_cuda_is_the_current_device_everywhere(monkeypatch):
    # backend.py took plain "cuda" as device 0, fingerprint.py as the current device: two GPUs in one record.
    from profilers import fingerprint as fpmod

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"gpu{i}")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: (9, 0))
    monkeypatch.setattr(fpmod, "cuda_uuid", lambda i: None)
    monkeypatch.setattr(fpmod, "nvml_info", lambda device: {"asked": device})
    assert cuda_index("cuda") == 1 and cuda_index("cuda:0") == 0
    fp = fpmod.fingerprint("cuda")
    assert fp["cuda_index"] == 1 and fp["device_name"] == "gpu1" and fp["asked"] == "cuda:1"

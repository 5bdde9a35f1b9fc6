"""GPU settings that would time the wrong GPU are refused; energy is asked of the targets that measure."""

from __future__ import annotations

import types

import pytest

from nas.search import objectives, placement
from nas.search.errors import SearchError
from nas.search.trial import Measurer


@pytest.mark.parametrize("device", ["cuda:1", "cuda:3"])
def test_a_gpu_index_is_refused_because_a_trial_sees_only_cuda0(device):
    with pytest.raises(SearchError, match=rf"--device {device} is invalid in a search.*valid: cuda") as info:
        placement.check_gpu_placement(device, None, measuring=True, targets=())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0"])
def test_devices_a_trial_can_see_pass(device):
    placement.check_gpu_placement(device, 1.0, measuring=True, targets=())


def test_a_shared_gpu_is_refused_only_where_trials_measure_on_it():
    with pytest.raises(SearchError, match="--gpus-per-trial 0.5 shares a GPU"):
        placement.check_gpu_placement("cuda", 0.5, measuring=True, targets=())
    placement.check_gpu_placement("cuda", 0.5, measuring=False, targets=())  # accuracy only: sharing is fine
    placement.check_gpu_placement("cuda", 0.5, measuring=True, targets=("a10g",))  # measured on the target


def _actor(answer):
    return types.SimpleNamespace(power=types.SimpleNamespace(remote=lambda: answer))


def test_energy_is_asked_of_every_target_and_missing_ones_are_named():
    actors = [_actor((True, "NVML")), _actor((False, "no NVML library"))]
    with pytest.raises(SearchError, match=r"target jetson \(no NVML library\)"):
        placement.check_power_on_targets(actors, ("a10g", "jetson"), get=list)
    placement.check_power_on_targets(actors[:1], ("a10g",), get=list)


def test_the_driver_machines_power_does_not_decide_for_targets():
    sel = objectives.select_objectives(None, "cpu", power_check=placement.power_checked_on_targets)
    assert sel.has("energy")  # kept, to be checked on each target; this CPU machine has no power source


def test_a_measuring_actor_answers_for_its_own_device(monkeypatch):
    asked = []
    monkeypatch.setattr(objectives, "energy_availability", lambda device: asked.append(device) or (True, "x"))
    assert Measurer("a10g", "cuda", 1.0, 1, 1).power() == (True, "x") and asked == ["cuda"]


def test_on_a_cluster_energy_is_probed_from_a_task_placed_like_a_trial(monkeypatch):
    placed: list[dict] = []

    class FakeRay:
        @staticmethod
        def remote(**resources):
            placed.append(resources)
            return lambda fn: types.SimpleNamespace(remote=lambda device: fn(device))

        get = staticmethod(lambda x: x)

    monkeypatch.setattr(objectives, "energy_availability", lambda device: (False, f"no NVML on {device}"))
    with pytest.raises(SearchError, match=r"where the trials run \(no NVML on cuda\)"):
        placement.check_power_where_trials_run("cuda", 1.0, FakeRay)
    assert placed == [{"num_cpus": 0, "num_gpus": 1.0}]

from __future__ import annotations

import json

import pytest
import torch

from profilers.latency import LatencySession, measure_latency, thread_scope
from profilers.models import input_shape_for, prepare
from search_spaces.errors import EspnasError

FAST = {"time_budget_s": 0.3, "min_samples": 5, "threads": 1}


def test_measure_latency_reports_every_sample_and_its_summary(tiny):
    res = measure_latency(tiny, (3, 16, 16), batch_size=2, **FAST)
    assert res.n_samples == len(res.samples_ms) >= 5
    assert min(res.samples_ms) <= res.median_ms <= max(res.samples_ms)
    lo, hi = res.ci95_ms
    assert lo <= res.median_ms <= hi
    assert res.unit == "ms" and res.backend == "latency-cpu" and res.batch_size == 2
    assert res.threads == 1 and res.fingerprint["threads"] == 1
    assert res.options["input_shape"] == [2, 3, 16, 16]
    assert res.stop_reason in {"converged", "time budget", "max samples"}
    assert res.warmup_iters >= 3
    json.dumps(res.to_dict())


def test_measured_time_tracks_real_time(fakes):
    res = measure_latency(fakes.SleepNet(5.0), (3, 2, 2), time_budget_s=0.4, min_samples=5)
    assert 5.0 <= res.median_ms < 9.0


def test_thread_count_is_fixed_then_restored(tiny):
    before = torch.get_num_threads()
    with thread_scope(1) as used:
        assert used == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with pytest.raises(EspnasError), thread_scope(0):
        pass


@pytest.mark.parametrize(
    ("dtype", "channels_last", "want"),
    [("bf16", True, torch.bfloat16), ("fp32", False, torch.float32)],
)
def test_the_measured_forward_runs_in_the_dtype_and_layout_asked_for(tiny, dtype, channels_last, want):
    # A hook on the first conv sees what every forward really gets; `prepare` deep-copies the model, and the
    # copied hook appends to this same list. The caller's model must stay fp32.
    seen: list[tuple[torch.dtype, torch.dtype, bool]] = []
    conv = tiny.body[0]
    conv.register_forward_pre_hook(
        lambda module, args: seen.append(
            (args[0].dtype, module.weight.dtype, args[0].is_contiguous(memory_format=torch.channels_last))
        )
    )
    res = measure_latency(tiny, (3, 16, 16), dtype=dtype, channels_last=channels_last, **FAST)
    assert len(seen) >= res.n_samples + res.warmup_iters
    assert set(seen) == {(want, want, channels_last)}
    assert conv.weight.dtype == torch.float32
    assert res.options["dtype"] == dtype and res.options["channels_last"] is channels_last


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "fp8"}, "valid: fp32, fp16, bf16"),
        ({"cuda_graph": True}, "CUDA device"),
        ({"time_budget_s": 0}, "time_budget_s"),
    ],
)
def test_bad_options_are_one_line_errors(tiny, kwargs, match):
    with pytest.raises(EspnasError, match=match):
        measure_latency(tiny, (3, 16, 16), **{**FAST, **kwargs})


def test_cuda_device_without_cuda_is_a_clean_error(tiny):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(EspnasError, match="unavailable"):
        measure_latency(tiny, (3, 16, 16), "cuda")


def test_model_that_fails_on_the_input_is_a_one_line_error(tiny):
    with pytest.raises(EspnasError, match="does not run") as info:
        measure_latency(tiny, (5, 16, 16), **FAST)
    assert "\n" not in str(info.value)


def test_deploy_needs_an_eesp_model(tiny):
    with pytest.raises(EspnasError, match="EESP"):
        measure_latency(tiny, (3, 16, 16), deploy=True, **FAST)


@pytest.mark.parametrize(
    ("shape", "batch", "expected"),
    [((3, 8, 8), None, (1, 3, 8, 8)), ((4, 3, 8, 8), None, (4, 3, 8, 8)), ((3, 8, 8), 16, (16, 3, 8, 8))],
)
def test_input_shapes(tiny, shape, batch, expected):
    assert input_shape_for(shape, tiny, batch) == expected


def test_input_shape_defaults_to_224_and_rejects_nonsense(tiny):
    assert input_shape_for(None, tiny) == (1, 3, 224, 224)
    assert input_shape_for((32, 48), tiny) == (1, 3, 32, 48)
    with pytest.raises(EspnasError):
        input_shape_for((1, 2, 3, 4, 5), tiny)
    with pytest.raises(EspnasError):
        input_shape_for((3, 0, 8), tiny)


def test_session_warm_up_stops_once_stable_with_an_injected_clock(tiny):
    t = [0.0]
    durations = iter([9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0] + [1.0] * 100)

    def clock():
        return t[0]

    session = LatencySession(prepare(tiny, (3, 8, 8)), clock=clock)
    original = session._step

    def step():
        original()
        t[0] += next(durations)

    session._step = step
    with session.active():
        iters = session.warm_up(budget_s=1e9)
        # Window medians: stable once the earlier window of 5 holds at most 2 slow calls (7 slow + 8 fast).
        assert iters == 15
        assert session.take(n=4) == [1000.0] * 4


def test_eesp_spec_and_its_deploy_form():
    pytest.importorskip("search_spaces.folding")
    plain = measure_latency("espnetv2-0.5", (3, 64, 64), **FAST)
    folded = measure_latency("espnetv2-0.5", (3, 64, 64), deploy=True, **FAST)
    assert plain.label == "espnetv2-0.5" and folded.options["deploy"]
    assert plain.median_ms > 0 and folded.median_ms > 0


def test_cuda_session_makes_its_device_current(tiny, monkeypatch):
    # CUDA events and graph capture use the current device: timing cuda:1 from cuda:0 timed only the launches.
    import contextlib

    from profilers.timing import CudaTiming

    entered: list[torch.device] = []

    @contextlib.contextmanager
    def fake_device(dev):
        entered.append(dev)
        yield

    monkeypatch.setattr(torch.cuda, "device", fake_device)
    session = LatencySession(prepare(tiny, (3, 8, 8)), timing=CudaTiming("cuda:1"))
    with session.active():
        assert entered == [torch.device("cuda:1")]


@pytest.mark.parametrize("fallback", [True, False])
def test_failed_graph_capture_falls_back_to_eager_only_when_asked(tiny, fallback):
    from profilers.timing import HostTiming

    class RefusingGpu(HostTiming):  # a device that can capture graphs, whose capture fails
        kind, supports_graphs = "cuda", True

        def capture(self, step):
            raise RuntimeError("operation not permitted when stream is capturing")

    session = LatencySession(
        prepare(tiny, (3, 8, 8)), cuda_graph=True, eager_if_capture_fails=fallback, timing=RefusingGpu()
    )
    with session.active():
        if not fallback:
            with pytest.raises(RuntimeError, match="capturing"):
                session.warm_up(0.01)
            return
        session.warm_up(0.01)
        assert not session.cuda_graph and session.backend == "latency-cuda"
        assert session.execution == "eager" and len(session.take(n=2)) == 2

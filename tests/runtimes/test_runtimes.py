"""Runtimes (profilers.runtimes): each checked against eager before timing, refused when it disagrees,
unavailable with a reason, recorded in the result and its fingerprint; onnxruntime and torch.compile on CPU."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from nas.cli import main
from profilers import runtimes as rt
from search_spaces import build

SPEC = "eesp:c=16/32/64/128/256,d=0/1/1/1,k=4"


def _tiny_eesp() -> nn.Module:
    """A small EESP net with non-trivial BN statistics, so that a wrong fold or export shows in the output."""
    torch.manual_seed(0)
    model = build(SPEC).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model


@pytest.mark.parametrize("name", ["eager", "deploy", "onnxruntime"])
def test_runtime_is_checked_timed_and_recorded(name):
    res = rt.measure_runtime(_tiny_eesp(), (3, 32, 32), runtime=name, threads=1, time_budget_s=0.2, min_samples=3)
    assert res.median_ms > 0 and res.n_samples >= 3
    assert res.backend == f"latency-cpu:{name}"
    assert res.options["runtime"] == name == res.fingerprint["runtime"]
    assert res.options["max_rel_error_vs_eager"] <= rt.RTOL["fp32"]
    assert res.fingerprint["runtime_settings"]["dtype"] == "fp32"
    if name == "onnxruntime":
        import onnxruntime

        assert res.fingerprint["runtime_version"] == onnxruntime.__version__
        assert res.options["runtime_settings"]["intra_op_threads"] == 1
        assert res.options["runtime_settings"]["provider"] == "CPUExecutionProvider"


def test_onnxruntime_output_equals_eager_on_two_inputs():
    model = _tiny_eesp()
    a = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    loaded = rt.load_checked("onnxruntime", model, (a,), threads=1)
    with torch.inference_mode():
        assert torch.allclose(loaded.step(), model(a), rtol=1e-4, atol=1e-5)


def test_compile_on_cpu():
    """torch.compile (inductor) of the deploy form of a two-layer net: equal output, recorded mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()
    res = rt.measure_runtime(model, (1, 3, 16, 16), runtime="compile", threads=1, time_budget_s=0.2, min_samples=3)
    assert res.options["runtime_settings"]["backend"] == "inductor"
    assert res.options["max_rel_error_vs_eager"] <= 1e-4
    assert res.options["runtime_settings"]["compile_s"] > 0  # compiled at load, recorded, not timed


@pytest.mark.slow
def test_compile_of_an_eesp_deploy_form():
    """The whole deploy form of an EESP net compiles and equals eager (about 3 minutes at load 10 here)."""
    res = rt.measure_runtime(_tiny_eesp(), (3, 32, 32), runtime="compile", threads=1, time_budget_s=0.2, min_samples=3)
    assert res.options["max_rel_error_vs_eager"] <= rt.RTOL["fp32"]
    assert res.options["runtime_settings"]["form"] == "deploy"


class _Wrong(rt.Runtime):
    name, summary = "wrong", "adds 1 to the output"

    def _load(self, model, inputs, device, dtype, threads):
        return rt.Loaded(lambda: model(*inputs) + 1.0, self.name, "0", {})


class _Broken(rt.Runtime):
    name, summary = "broken", "cannot run anything"

    def _load(self, model, inputs, device, dtype, threads):
        def step():
            raise RuntimeError("Unsupported op: Frobnicate\nmore detail")

        return rt.Loaded(step, self.name, "0", {})


def test_a_runtime_that_disagrees_is_refused_before_timing(monkeypatch):
    monkeypatch.setitem(rt.RUNTIMES, "wrong", _Wrong())
    with pytest.raises(rt.RuntimeRefused, match="disagrees with eager PyTorch.*max relative error"):
        rt.measure_runtime(_tiny_eesp(), (3, 32, 32), runtime="wrong", time_budget_s=0.1)


def test_a_runtime_that_fails_is_refused_with_its_error(monkeypatch):
    monkeypatch.setitem(rt.RUNTIMES, "broken", _Broken())
    with pytest.raises(rt.RuntimeRefused, match=r"cannot run .*RuntimeError: Unsupported op: Frobnicate$"):
        rt.measure_runtime(_tiny_eesp(), (3, 32, 32), runtime="broken", time_budget_s=0.1)


def test_unavailable_runtimes_say_why(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    avail = rt.get_runtime("onnxruntime").availability("cpu")
    assert not avail and "onnxruntime is not installed" in avail.reason
    with pytest.raises(rt.RuntimeUnavailable, match="unavailable here: onnxruntime is not installed"):
        rt.measure_runtime(SPEC, (32, 32), runtime="onnxruntime")
    assert not rt.get_runtime("tensorrt").availability("cpu")
    assert not rt.get_runtime("onnxruntime").availability("cpu", "bf16")


def test_unknown_runtime_names_the_valid_ones():
    with pytest.raises(rt.EspnasError, match="unknown runtime 'trt'; valid: eager, deploy"):
        rt.get_runtime("trt")
    with pytest.raises(rt.EspnasError, match="twice"):
        rt.parse_runtimes("eager,ort,onnxruntime")


def test_compare_runtimes_interleaves_and_gives_ratios():
    cmp = rt.compare_runtimes(
        [(SPEC, "eager"), (SPEC, "onnxruntime")], (32, 32), rounds=2, time_budget_s=0.2, threads=1
    )
    assert cmp.ratios[0] == 1.0
    assert cmp.ratios[1] == pytest.approx(cmp.results[1].median_ms / cmp.results[0].median_ms)
    assert [r.fingerprint["runtime"] for r in cmp.results] == ["eager", "onnxruntime"]


def test_profile_cli_runtime(capsys):
    import json

    argv = ["profile", SPEC, "--input-size", "32x32", "--runtime", "onnxruntime", "--json", "--time-budget", "0.2"]
    assert main(argv) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["runtime"] == "onnxruntime" and record["backend"] == "latency-cpu:onnxruntime"
    assert record["fingerprint"]["runtime_settings"]["provider"] == "CPUExecutionProvider"


def test_profile_cli_runtime_mistakes_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["profile", SPEC, "--runtime", "nope"])
    assert exc.value.code == 2 and "unknown runtime 'nope'; valid: eager" in capsys.readouterr().err
    assert main(["profile", SPEC, "--input-size", "32x32", "--runtime", "eager", "--compile"]) == 2
    assert "--compile cannot be combined with --runtime" in capsys.readouterr().err


def test_fingerprints_of_two_runtimes_do_not_compare():
    from profilers.fingerprint import comparable

    base = {"device_name": "cpu-x", "torch": "2.13", "threads": 1}
    assert comparable(base | {"runtime": "onnxruntime", "runtime_version": "1.32"}, base) == [
        "runtime",
        "runtime_version",
    ]

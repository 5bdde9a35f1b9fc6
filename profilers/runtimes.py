"""Runtimes a model is deployed with, and latency measured in them: eager PyTorch, the deploy form,
torch.compile, onnxruntime (CPU, CUDA and TensorRT execution providers) and TensorRT (torch-tensorrt).

Users ship a runtime, not eager PyTorch, and two runtimes can rank the same architectures differently. So:
- every runtime's output is checked against the eager model on the measured input before anything is timed;
  a runtime that fails to load, fails to run or disagrees is refused (`RuntimeRefused`) with the error it
  showed, never timed;
- a runtime that is not installed (or cannot serve the device or dtype) is "unavailable here: REASON"
  (`RuntimeUnavailable`), never a silent fallback to another runtime;
- the runtime's name, version and settings go into the result's options and its fingerprint
  (`runtime`, `runtime_version`, `runtime_settings`), so figures from two runtimes never compare unawares.

Timing goes through `profilers.latency.LatencySession` (warm-up until stable, every sample kept, the same
stopping rule as `measure_latency`); several (model, runtime) pairs are timed interleaved by `compare_runtimes`.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from profilers.backend import Availability, cuda_availability, cuda_index, device_type
from profilers.fingerprint import fingerprint
from profilers.latency import WARMUP_SHARE, LatencyResult, LatencySession
from profilers.models import Prepared, input_shape_for, load_model, model_label, parse_dtype, thread_scope
from profilers.stats import StoppingRule
from search_spaces.errors import EspnasError, one_line

#: Relative error bound against the eager fp32 output (max |out - ref| / max |ref|), by dtype. fp32 runtimes
#: reorder float sums and fold BN (~1e-6); fp16/bf16 round every activation.
RTOL = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 5e-2}
ONNX_OPSET = 17
DEFAULT_RUNTIME = "eager"


class RuntimeUnavailable(EspnasError):
    """A runtime that is not installed here, or cannot serve this device or dtype."""


class RuntimeRefused(EspnasError):
    """A runtime that failed to load or run the model, or whose output disagrees with eager PyTorch."""


@dataclass
class Loaded:
    """A model loaded in a runtime, bound to its inputs: `step()` runs one forward and returns the output."""

    step: Callable[[], Any]
    runtime: str
    version: str
    settings: dict[str, Any]
    max_rel_error: float = 0.0

    def info(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "runtime_version": self.version, "runtime_settings": dict(self.settings)}


class Runtime:
    """One way of running a model. Subclasses set `name`, `summary`, and implement `_probe` and `_load`.

    `availability(device, dtype)` never raises; `_load(model, inputs, device, dtype, threads)` gets an
    eval-mode fp32 model on the CPU and inputs on `device` in `dtype`, and returns a `Loaded` whose `step`
    runs the forward on those inputs (conversions that a deployment would do once are done in `_load`).
    """

    name: str = ""
    summary: str = ""
    devices: tuple[str, ...] = ("cpu", "cuda")
    dtypes: tuple[str, ...] = ("fp32", "fp16", "bf16")

    def availability(self, device: str = "cpu", dtype: str = "fp32") -> Availability:
        try:
            kind = device_type(device)
        except EspnasError as err:
            return Availability(False, str(err))
        if kind not in self.devices:
            return Availability(False, f"{self.name} runs on {', '.join(self.devices)}, not {device}")
        if dtype not in self.dtypes:
            return Availability(False, f"{self.name} takes dtype {', '.join(self.dtypes)}, not {dtype}")
        if kind == "cuda":
            avail = cuda_availability(device)
            if not avail:
                return avail
        try:
            return self._probe(device)
        except Exception as err:  # a broken install is a reason, not a crash
            return Availability(False, one_line(err, 300, with_type=True))

    def require(self, device: str, dtype: str) -> None:
        avail = self.availability(device, dtype)
        if not avail:
            raise RuntimeUnavailable(f"runtime {self.name!r} on {device} ({dtype}): unavailable here: {avail.reason}")

    def version(self) -> str:
        return torch.__version__

    def _probe(self, device: str) -> Availability:
        return Availability(True, f"torch {torch.__version__}")

    def _load(
        self, model: nn.Module, inputs: tuple[torch.Tensor, ...], device: str, dtype: str, threads: int
    ) -> Loaded:
        raise NotImplementedError


def _on(model: nn.Module, device: str, dtype: str, channels_last: bool = False) -> nn.Module:
    model = model.to(device=device, dtype=parse_dtype(dtype))
    return model.to(memory_format=torch.channels_last) if channels_last else model


def deploy_form(model: nn.Module) -> nn.Module:
    """The deploy form of `model` (BN folded, channels-last, 1x1 convs as matmuls; `search_spaces.deploy`)."""
    from search_spaces.folding import deploy

    return deploy(model)  # type: ignore[arg-type]  # any module built from EESP parts folds


def _channels_last(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in inputs)


class Eager(Runtime):
    name, summary = "eager", "the eval-mode PyTorch model as built"

    def _load(self, model, inputs, device, dtype, threads):  # type: ignore[no-untyped-def]
        model = _on(model, device, dtype)
        return Loaded(lambda: model(*inputs), self.name, self.version(), {"form": "eval"})


class DeployForm(Runtime):
    name, summary = "deploy", "espnas's deploy form in eager PyTorch (BN folded, channels-last, 1x1 as matmul)"

    def _load(self, model, inputs, device, dtype, threads):  # type: ignore[no-untyped-def]
        folded = _on(deploy_form(model), device, dtype, channels_last=True)
        xs = _channels_last(inputs)  # a deployed pipeline hands the network channels-last tensors
        return Loaded(lambda: folded(*xs), self.name, self.version(), {"form": "deploy", "channels_last": True})


class Compiled(Runtime):
    """torch.compile (inductor) of the deploy form; compilation happens at load, outside any timed region."""

    name, summary = "compile", "torch.compile (inductor) of the deploy form"

    def __init__(self, mode: str = "default") -> None:
        self.mode = mode

    def _probe(self, device: str) -> Availability:
        if device_type(device) == "cpu":
            import shutil

            if not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
                return Availability(False, "inductor on CPU needs a C++ compiler (g++/clang++), none on PATH")
        return Availability(True, f"torch {torch.__version__} inductor")

    def _load(self, model, inputs, device, dtype, threads):  # type: ignore[no-untyped-def]
        folded = _on(deploy_form(model), device, dtype, channels_last=True)
        compiled = torch.compile(folded, mode=self.mode, dynamic=False)
        xs = _channels_last(inputs)
        t0 = time.perf_counter()
        compiled(*xs)  # the compilation: a deployment pays it once, so it is recorded, never timed as latency
        settings = {
            "form": "deploy",
            "backend": "inductor",
            "mode": self.mode,
            "dynamic": False,
            "compile_s": round(time.perf_counter() - t0, 3),
        }
        return Loaded(lambda: compiled(*xs), self.name, self.version(), settings)


def onnx_bytes(model: nn.Module, inputs: tuple[torch.Tensor, ...], opset: int = ONNX_OPSET) -> bytes:
    """`model` exported to ONNX in memory with the TorchScript-based exporter (10x faster than the dynamo
    exporter here, which matters when the latency predictor exports hundreds of units); fixed shapes."""
    buffer = io.BytesIO()
    names = [f"input{i}" for i in range(len(inputs))]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, inputs, buffer, input_names=names, output_names=["output"], opset_version=opset, dynamo=False
        )
    return buffer.getvalue()


class OnnxRuntime(Runtime):
    """onnxruntime with one execution provider. The exported graph is the eval form: onnxruntime's graph
    optimiser fuses conv + BN (+ activation) itself, and ran the eval form faster than the deploy form here."""

    dtypes = ("fp32", "fp16")
    PROVIDERS: ClassVar[dict[str, str]] = {
        "cpu": "CPUExecutionProvider",
        "cuda": "CUDAExecutionProvider",
        "tensorrt": "TensorrtExecutionProvider",
    }

    def __init__(self, name: str, provider: str, devices: tuple[str, ...]) -> None:
        self.name, self.provider, self.devices = name, provider, devices
        self.summary = f"onnxruntime, {self.PROVIDERS[provider]}"

    def version(self) -> str:
        import onnxruntime

        return str(onnxruntime.__version__)

    def _probe(self, device: str) -> Availability:
        try:
            import onnxruntime
        except ImportError as err:
            return Availability(False, f"onnxruntime is not installed ({err}); pip install 'espnas[runtimes]'")
        wanted = self.PROVIDERS[self.provider]
        have = onnxruntime.get_available_providers()
        if wanted not in have:
            return Availability(False, f"onnxruntime {onnxruntime.__version__} has no {wanted} (has {', '.join(have)})")
        return Availability(True, f"onnxruntime {onnxruntime.__version__} {wanted}")

    def _load(self, model, inputs, device, dtype, threads):  # type: ignore[no-untyped-def]
        import numpy as np
        import onnxruntime

        model = model.to(dtype=parse_dtype(dtype))
        cpu_inputs = tuple(x.detach().cpu() for x in inputs)
        blob = onnx_bytes(model, cpu_inputs)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        providers: list[Any] = [self.PROVIDERS[self.provider]]
        if self.provider != "cpu":
            providers = [(providers[0], {"device_id": cuda_index(device)}), "CPUExecutionProvider"]
        session = onnxruntime.InferenceSession(blob, options, providers=providers)
        used = session.get_providers()[0]
        if used != self.PROVIDERS[self.provider]:
            raise RuntimeRefused(f"onnxruntime fell back to {used} instead of {self.PROVIDERS[self.provider]}")
        names = [i.name for i in session.get_inputs()]
        settings = {
            "exported": "eval form, TorchScript exporter",
            "opset": ONNX_OPSET,
            "provider": used,
            "graph_optimization": "ORT_ENABLE_ALL",
            "intra_op_threads": threads,
        }
        if device_type(device) == "cpu":
            feeds = {n: x.numpy() for n, x in zip(names, cpu_inputs, strict=True)}
            return Loaded(lambda: torch.from_numpy(session.run(None, feeds)[0]), self.name, self.version(), settings)
        # On a GPU the tensors stay there: IO binding to torch's buffers, so no host copy is timed.
        binding = session.io_binding()
        np_type = np.float16 if dtype == "fp16" else np.float32
        for n, x in zip(names, inputs, strict=True):
            x = x.contiguous()
            binding.bind_input(n, "cuda", cuda_index(device), np_type, list(x.shape), x.data_ptr())
        with torch.inference_mode():
            out_shape = model.to(device)(*inputs).shape
        out = torch.empty(out_shape, device=device, dtype=parse_dtype(dtype))
        binding.bind_output("output", "cuda", cuda_index(device), np_type, list(out.shape), out.data_ptr())
        settings["io_binding"] = True

        def step() -> torch.Tensor:
            session.run_with_iobinding(binding)
            return out

        return Loaded(step, self.name, self.version(), settings)


class TensorRT(Runtime):
    """TensorRT through torch-tensorrt (dynamo frontend) on an NVIDIA GPU, fixed input shape."""

    name, summary, devices, dtypes = "tensorrt", "TensorRT via torch-tensorrt", ("cuda",), ("fp32", "fp16")

    def version(self) -> str:
        import torch_tensorrt

        return str(torch_tensorrt.__version__)

    def _probe(self, device: str) -> Availability:
        try:
            import torch_tensorrt
        except ImportError as err:
            return Availability(False, f"torch-tensorrt is not installed ({err}); pip install torch-tensorrt")
        return Availability(True, f"torch-tensorrt {torch_tensorrt.__version__}")

    def _load(self, model, inputs, device, dtype, threads):  # type: ignore[no-untyped-def]
        import torch_tensorrt

        model = _on(model, device, dtype)
        precision = parse_dtype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine = torch_tensorrt.compile(model, ir="dynamo", inputs=list(inputs), enabled_precisions={precision})
        settings = {"form": "eval", "ir": "dynamo", "precision": dtype}
        return Loaded(lambda: engine(*inputs), self.name, self.version(), settings)


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Eager(),
        DeployForm(),
        Compiled(),
        OnnxRuntime("onnxruntime", "cpu", ("cpu",)),
        OnnxRuntime("onnxruntime-cuda", "cuda", ("cuda",)),
        OnnxRuntime("onnxruntime-trt", "tensorrt", ("cuda",)),
        TensorRT(),
    )
}


def get_runtime(name: str) -> Runtime:
    """A runtime by name; a one-line error listing the valid names otherwise."""
    key = name.strip().lower()
    if key == "ort":
        key = "onnxruntime"
    if key not in RUNTIMES:
        raise EspnasError(f"unknown runtime {name!r}; valid: {', '.join(RUNTIMES)}")
    return RUNTIMES[key]


def parse_runtimes(text: str | Sequence[str]) -> list[str]:
    """'eager,onnxruntime' -> ['eager', 'onnxruntime'] (names checked, duplicates refused)."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if not items:
        raise EspnasError(f"no runtime given; valid: a comma-separated list of {', '.join(RUNTIMES)}")
    names = [get_runtime(t).name for t in items]
    if len(set(names)) != len(names):
        raise EspnasError(f"runtime list {','.join(items)} names a runtime twice")
    return names


def availability_table(device: str = "cpu", dtype: str = "fp32") -> dict[str, Availability]:
    """Every runtime's availability on `device` (never raises)."""
    return {name: rt.availability(device, dtype) for name, rt in RUNTIMES.items()}


def rel_error(output: Any, reference: torch.Tensor) -> float:
    """max |out - ref| / max |ref| (inf on a shape mismatch or a non-finite output)."""
    out = torch.as_tensor(output).detach().float().cpu()
    ref = reference.detach().float().cpu()
    if out.shape != ref.shape:
        return float("inf")
    diff = float((out - ref).abs().max()) if out.numel() else 0.0
    scale = max(float(ref.abs().max()) if ref.numel() else 0.0, 1e-12)
    return diff / scale if diff == diff else float("inf")  # NaN -> inf


def load_checked(
    runtime: str,
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    device: str = "cpu",
    *,
    dtype: str = "fp32",
    threads: int | None = None,
    rtol: float | None = None,
    label: str = "",
) -> Loaded:
    """Load `model` (eval mode, fp32, on the CPU) in `runtime` and check its output on `inputs` (fp32, any
    device) against eager PyTorch in fp32; `RuntimeRefused` with the error shown when it cannot or disagrees."""
    rt = get_runtime(runtime)
    rt.require(device, dtype)
    label = label or type(model).__name__
    model = model.eval().float().cpu()
    with torch.inference_mode():
        reference = model(*[x.detach().float().cpu() for x in inputs])
    run_inputs = tuple(x.to(device=device, dtype=parse_dtype(dtype)) for x in inputs)
    import copy

    threads = threads if threads is not None else torch.get_num_threads()
    try:
        with torch.inference_mode() if rt.name != "tensorrt" else contextlib.nullcontext():
            loaded = rt._load(copy.deepcopy(model), run_inputs, device, dtype, threads)
            output = loaded.step()
    except EspnasError:
        raise
    except Exception as err:  # the runtime's own error types: shown, then refused
        raise RuntimeRefused(f"runtime {rt.name!r} cannot run {label}: {one_line(err, 300, with_type=True)}") from None
    bound = rtol if rtol is not None else RTOL[dtype]
    err = rel_error(output, reference)
    if not err <= bound:
        raise RuntimeRefused(
            f"runtime {rt.name!r} disagrees with eager PyTorch on {label}: max relative error {err:.3g} > {bound:g}"
        )
    loaded.max_rel_error = err
    loaded.settings["dtype"] = dtype
    return loaded


class RuntimePrepared(Prepared):
    """A `Prepared` whose forward is a runtime's step, so `LatencySession` times it like any model."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor, label: str, device: str, loaded: Loaded, **kw: Any):
        super().__init__(model=model, inputs=inputs, label=label, device=device, **kw)
        self.loaded = loaded

    def forward(self) -> torch.Tensor:
        return self.loaded.step()


def prepare_runtime(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str = "cpu",
    *,
    runtime: str = DEFAULT_RUNTIME,
    batch_size: int | None = None,
    dtype: str = "fp32",
    threads: int | None = None,
    seed: int = 0,
    rtol: float | None = None,
) -> RuntimePrepared:
    """Build the model, make a seeded random input, load and check it in `runtime`: ready for a session."""
    get_runtime(runtime).require(device, dtype)
    label = model_label(model_or_spec)
    model = load_model(model_or_spec).eval()
    shape = input_shape_for(input_shape, model, batch_size)
    inputs = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    loaded = load_checked(runtime, model, (inputs,), device, dtype=dtype, threads=threads, rtol=rtol, label=label)
    options = {
        "batch_size": shape[0],
        "input_shape": list(shape),
        "dtype": dtype,
        "runtime": loaded.runtime,
        "runtime_version": loaded.version,
        "runtime_settings": dict(loaded.settings),
        "max_rel_error_vs_eager": loaded.max_rel_error,
    }
    return RuntimePrepared(model, inputs, label, str(device), loaded, options=options)


def runtime_fingerprint(device: str, threads: int | None, loaded: Loaded) -> dict[str, Any]:
    """The environment fingerprint plus the runtime, its version and settings."""
    return fingerprint(device, threads=threads) | loaded.info()


def measure_runtime(
    model_or_spec: Any,
    input_shape: Sequence[int] | None,
    device: str = "cpu",
    *,
    runtime: str = DEFAULT_RUNTIME,
    batch_size: int | None = None,
    dtype: str = "fp32",
    threads: int | None = None,
    time_budget_s: float = 2.0,
    target_rel_ci: float = 0.02,
    min_samples: int = 10,
    max_samples: int = 100_000,
    seed: int = 0,
    rtol: float | None = None,
) -> LatencyResult:
    """Latency of `model_or_spec` in `runtime` on `device`, with the same warm-up, stopping rule and result as
    `profilers.latency.measure_latency`; the result's backend is `latency-<device>:<runtime>`."""
    rule = StoppingRule(
        target_rel_ci=target_rel_ci, time_budget_s=time_budget_s, min_samples=min_samples, max_samples=max_samples
    )
    with thread_scope(threads) as used:
        prepared = prepare_runtime(
            model_or_spec, input_shape, device, runtime=runtime, batch_size=batch_size, dtype=dtype, threads=used,
            seed=seed, rtol=rtol,
        )  # fmt: skip
        session = LatencySession(prepared)
        with session.active():
            t0 = time.perf_counter()
            session.warm_up(time_budget_s * WARMUP_SHARE)
            while True:
                session.take(n=1)
                reason = rule.reason_to_stop(session.samples_ms, time.perf_counter() - t0)
                if reason:
                    break
        result = session.result(threads=used, stop_reason=reason, fp=runtime_fingerprint(device, used, prepared.loaded))
    result.backend = f"{session.backend}:{prepared.loaded.runtime}"
    return result


@dataclass
class RuntimeComparison:
    """Interleaved latencies of (model, runtime) pairs, with `ratios[i] = median_i / median_0` and 95% CIs."""

    results: list[LatencyResult]
    ratios: list[float]
    ratio_ci95: list[tuple[float, float]]
    rounds: int
    fingerprint: dict[str, Any] = field(default_factory=dict)


def compare_runtimes(
    pairs: Sequence[tuple[Any, str]],
    input_shape: Sequence[int] | None = None,
    device: str = "cpu",
    *,
    rounds: int = 5,
    time_budget_s: float = 2.0,
    batch_size: int | None = None,
    dtype: str = "fp32",
    threads: int | None = None,
    seed: int = 0,
    on_round: Callable[[int], None] | None = None,
) -> RuntimeComparison:
    """Several (model or spec, runtime) pairs timed interleaved A B A B (`time_budget_s` per pair)."""
    from profilers.stats import ratio_ci

    if not pairs:
        raise EspnasError("compare needs at least one (model, runtime) pair")
    if rounds < 1:
        raise EspnasError(f"rounds must be >= 1, got {rounds}")
    block_s = time_budget_s * (1 - WARMUP_SHARE) / rounds
    with thread_scope(threads) as used:
        prepared = [
            prepare_runtime(m, input_shape, device, runtime=r, batch_size=batch_size, dtype=dtype, threads=used,
                            seed=seed)
            for m, r in pairs
        ]  # fmt: skip
        sessions = [LatencySession(p) for p in prepared]
        base_fp = fingerprint(device, threads=used)
        with sessions[0].active():
            for s in sessions:
                s.warm_up(time_budget_s * WARMUP_SHARE)
            for r in range(rounds):
                for s in sessions:
                    s.take(seconds=block_s)
                if on_round is not None:
                    on_round(r)
        results = []
        for s, p in zip(sessions, prepared, strict=True):
            res = s.result(threads=used, stop_reason=f"{rounds} interleaved rounds", fp=base_fp | p.loaded.info())
            res.backend = f"{s.backend}:{p.loaded.runtime}"
            results.append(res)
    base = results[0]
    ratios = [r.median_ms / base.median_ms for r in results]
    cis = [ratio_ci(r.samples_ms, base.samples_ms, seed=seed) for r in results]
    return RuntimeComparison(results, ratios, cis, rounds, base_fp)

"""The prepared GPU check (run it through benchmarks/gpu_check.sh): every GPU claim of espnas, measured once.

Runs from the source tree on a machine with Python 3.12, torch (CUDA), torchvision, timm, nvidia-ml-py,
onnxruntime, pandas, rich, scikit-learn and pytest, and nothing else: no Ray, Optuna, fvcore or ptflops (the
check blocks their import, so that it proves it needs none of them), no package registry. It writes one
markdown report under benchmarks/gpu/. Without a CUDA device every GPU part is skipped, each by name, with
the reason; the check then still proves that its imports and its report work.

Checks, with their goals:
  pytest -m gpu                 the GPU tests pass
  figure5                       latency, power, energy per image vs batch size (ESPNetv2 vs baselines)
  latency repeatability         five runs of the same measurement within 1% (max-min over median)
  energy repeatability          three runs within 5%
  cuda graph = eager            replayed outputs equal the eager forward's
  events vs wall clock          CUDA-event time against a synchronised wall clock, within 5% at batch 32
  nvml uuid                     NVML matches the CUDA device by UUID, and it is the same GPU
  net energy after settling     every net energy per image > 0
  train + export on cuda        one short epoch on the digits, exported and reloaded
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.abc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ("ray", "optuna", "fvcore", "ptflops")


class _Block(importlib.abc.MetaPathFinder):
    """Refuses the packages the GPU machines do not have, so that a stray import shows up here too."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked by the GPU check (the GPU machines do not have it)")
        return None


class Report:
    def __init__(self) -> None:
        self.sections: list[tuple[str, str, str]] = []  # (name, status, markdown body)
        self.t0 = time.perf_counter()

    def run(self, name: str, fn: Callable[[], tuple[str, str]], *, needs_cuda: bool, cuda: bool) -> None:
        if needs_cuda and not cuda:
            self.sections.append((name, "skipped", "no CUDA device here (torch.cuda.is_available() is False)"))
            print(f"[skip] {name}: no CUDA device", flush=True)
            return
        t = time.perf_counter()
        try:
            status, body = fn()
        except Exception as err:
            status, body = "failed", f"```\n{traceback.format_exc()[-3000:]}\n```"
            print(f"[fail] {name}: {type(err).__name__}: {err}", flush=True)
        else:
            print(f"[{status}] {name} ({time.perf_counter() - t:.0f} s)", flush=True)
        self.sections.append((name, status, body + f"\n\n({time.perf_counter() - t:.1f} s)"))

    def markdown(self, env: dict[str, Any]) -> str:
        lines = ["# espnas GPU check", "", f"Written {env['time']} in {time.perf_counter() - self.t0:.0f} s.", ""]
        lines += ["## Environment", "", "```", json.dumps(env, indent=1, default=str), "```", ""]
        lines += ["## Summary", "", "| check | status |", "|---|---|"]
        lines += [f"| {name} | {status} |" for name, status, _ in self.sections]
        for name, status, body in self.sections:
            lines += ["", f"## {name}: {status}", "", body]
        return "\n".join(lines) + "\n"


def _env() -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "CUDA_DEVICE_ORDER": os.environ.get("CUDA_DEVICE_ORDER"),
        "host": platform.node(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpus"] = torch.cuda.device_count()
    for mod in ("torchvision", "timm", "pynvml", "onnxruntime", "pandas", "rich", "sklearn", "scipy", "matplotlib"):
        try:
            env[mod] = getattr(importlib.import_module(mod), "__version__", "present")
        except Exception as err:
            env[mod] = f"missing ({type(err).__name__}: {str(err)[:80]})"
    return env


def _spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


# ---------------------------------------------------------------- the checks


def check_pytest() -> tuple[str, str]:
    files = [
        "tests/profilers/test_gpu_profilers.py",
        "tests/nas/train/test_training.py",
        "tests/nas/export/test_export.py",
        "tests/runtimes/test_gpu_runtimes.py",
    ]
    files = [f for f in files if (ROOT / f).exists()]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-m",
        "gpu",
        "-p",
        "no:cacheprovider",
        "--continue-on-collection-errors",
    ]
    proc = subprocess.run([*cmd, *files], cwd=ROOT, capture_output=True, text=True, timeout=200, check=False)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
    status = "passed" if proc.returncode == 0 else ("skipped" if proc.returncode == 5 else "failed")
    return status, f"`{' '.join(cmd[2:])} {' '.join(files)}` exit {proc.returncode}\n\n```\n{tail}\n```"


def check_figure5(state: dict[str, Any], device: str) -> tuple[str, str]:
    from profilers.figure5 import figure5, markdown_table, plot_figure5

    fig = figure5(device, batch_sizes=[1, 8, 64], time_budget_s=1.0, energy_repeats=2, reuse_idle=True)
    state["figure5"] = fig
    body = markdown_table(fig)
    if fig.skipped:
        body += "\n\nSkipped: " + "; ".join(f"{m}: {r}" for m, r in fig.skipped.items())
    if fig.energy_note:
        body += f"\n\n{fig.energy_note}"
    try:
        out = ROOT / "benchmarks" / "gpu" / "figure5.png"
        plot_figure5(fig, out)
        body += f"\n\nPlot: `{out.relative_to(ROOT)}`."
    except Exception as err:  # matplotlib may be missing there
        body += f"\n\nNo plot ({type(err).__name__}: {err})."
    return "done", body


def check_latency_repeatability(device: str) -> tuple[str, str]:
    from profilers.latency import measure_latency

    rows, status = [], "passed"
    for batch, graph in ((1, True), (1, False), (32, True)):
        medians = [
            measure_latency(
                "espnetv2-1.0", None, device, batch_size=batch, cuda_graph=graph, time_budget_s=1.0
            ).median_ms
            for _ in range(5)
        ]
        s = _spread(medians)
        status = status if s <= 0.01 else "missed goal"
        rows.append(f"| espnetv2-1.0 | {batch} | {graph} | {', '.join(f'{m:.4f}' for m in medians)} | {100 * s:.2f}% |")
    head = "| model | batch | cuda graph | five medians (ms) | spread (goal <= 1%) |\n|---|---|---|---|---|\n"
    return status, head + "\n".join(rows)


def check_energy_repeatability(state: dict[str, Any], device: str) -> tuple[str, str]:
    from profilers.energy import measure_energy, power_available

    avail = power_available(device)
    if not avail:
        return "skipped", f"no power source: {avail.reason}"
    first = measure_energy("espnetv2-1.0", None, device, batch_size=32)
    runs = [first] + [
        measure_energy("espnetv2-1.0", None, device, batch_size=32, idle_power_w=first.idle_power_w) for _ in range(2)
    ]
    state.setdefault("net", []).extend(r.energy_mj_per_image_net for r in runs)
    gross = [r.energy_mj_per_image for r in runs]
    s = _spread(gross)
    body = (
        "| run | mJ/image | net mJ/image | W | idle W | method |\n|---|---|---|---|---|---|\n"
        + "\n".join(
            f"| {i} | {r.energy_mj_per_image:.3f} | {r.energy_mj_per_image_net:.3f} | {r.avg_power_w:.1f} | "
            f"{r.idle_power_w:.1f} | {r.method} |"
            for i, r in enumerate(runs)
        )
        + f"\n\nSpread {100 * s:.2f}% (goal <= 5%). Protocol: `{json.dumps(first.protocol, default=str)[:600]}`"
    )
    return ("passed" if s <= 0.05 else "missed goal"), body


def check_graph_equals_eager(device: str) -> tuple[str, str]:
    import torch

    from profilers.models import prepare
    from profilers.timing import capture_cuda_graph

    lines, ok = [], True
    for spec, deploy in (("espnetv2-1.0", False), ("espnetv2-1.0", True), ("espnetv2-2.0", True)):
        p = prepare(spec, None, device, batch_size=8, deploy=deploy)
        with torch.inference_mode():
            eager = p.forward().clone()
            out: list[torch.Tensor] = []
            replay = capture_cuda_graph(lambda p=p, out=out: out.append(p.forward()), device)
            replay()
            torch.cuda.synchronize()
            diff = (out[-1] - eager).abs().max().item()
        good = torch.allclose(out[-1], eager, rtol=1e-4, atol=1e-5)
        ok = ok and good
        lines.append(f"| {spec} | {deploy} | {diff:.3g} | {good} |")
    return (
        "passed" if ok else "failed"
    ), "| model | deploy | max abs diff | allclose |\n|---|---|---|---|\n" + "\n".join(lines)


def check_events_vs_wall(device: str) -> tuple[str, str]:
    import torch

    from profilers.models import prepare

    p = prepare("espnetv2-1.0", None, device, batch_size=32)
    ev, wall = [], []
    with torch.inference_mode():
        for _ in range(10):
            p.forward()
        for _ in range(50):
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0 = time.perf_counter()
            start.record()
            p.forward()
            end.record()
            torch.cuda.synchronize()
            wall.append((time.perf_counter() - t0) * 1000)
            ev.append(start.elapsed_time(end))
    e, w = statistics.median(ev), statistics.median(wall)
    ratio = e / w
    body = f"Median of 50 at batch 32: CUDA events {e:.4f} ms, synchronised wall clock {w:.4f} ms, ratio {ratio:.4f}."
    return ("passed" if abs(ratio - 1) <= 0.05 else "missed goal"), body


def check_nvml_uuid(device: str) -> tuple[str, str]:
    import torch

    from profilers import nvml

    ident = nvml.cuda_identity(device)
    found = nvml.find_device(device)
    pynvml = nvml.library()
    name = nvml.text(pynvml.nvmlDeviceGetName(found.handle))
    same = name in torch.cuda.get_device_name(ident.index) or torch.cuda.get_device_name(ident.index) in name
    body = (
        f"torch UUID {ident.uuid}, PCI {ident.pci_bus_id}; NVML matched by {found.matched_by}: {found.uuid}, "
        f"{name!r} (MIG: {found.mig}); CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}"
    )
    return ("passed" if found.matched_by == "uuid" and same else "failed"), body


def check_net_energy(state: dict[str, Any]) -> tuple[str, str]:
    nets = list(state.get("net", []))
    fig = state.get("figure5")
    if fig is not None:
        nets += [r["energy_mj_per_image_net"] for r in fig.rows if "energy_mj_per_image_net" in r]
    if not nets:
        return "skipped", "no energy was measured (no power source, or the energy checks did not run)"
    negative = [n for n in nets if n <= 0]
    return ("passed" if not negative else "failed"), f"{len(nets)} net energies per image, {len(negative)} <= 0."


def check_train_export(device: str) -> tuple[str, str]:
    import nas
    from nas.export import export

    formats = ["torchscript"]
    notes = []
    for fmt, mods in (("safetensors", ("safetensors",)), ("onnx", ("onnx", "onnxscript"))):
        try:
            for m in mods:
                importlib.import_module(m)
            formats.insert(0, fmt)
        except ImportError as err:
            notes.append(f"{fmt} left out: {err}")
    with tempfile.TemporaryDirectory() as tmp:
        res = export(
            "espnetv2-0.5",
            data="digits",
            image_size=32,
            epochs=1,
            device=device,
            formats=",".join(formats),
            out=Path(tmp) / "e",
            profile=False,
            progress=False,
        )
        body = f"Exported {formats} to a temporary directory: {str(res)[:400]}"
        if "safetensors" in formats:
            model = nas.load(Path(tmp) / "e")
            body += f"; reloaded ({type(model).__name__})"
    if notes:
        body += "\n\n" + "; ".join(notes)
    return "passed", body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", help="report path (default benchmarks/gpu/REPORT-<UTC time>.md)")
    args = parser.parse_args()
    sys.meta_path.insert(0, _Block())
    sys.path.insert(0, str(ROOT))
    import torch

    cuda = torch.cuda.is_available()
    env = _env()
    report, state = Report(), {}
    report.run("pytest -m gpu", check_pytest, needs_cuda=True, cuda=cuda)
    report.run("nvml uuid", lambda: check_nvml_uuid(args.device), needs_cuda=True, cuda=cuda)
    report.run("cuda graph = eager", lambda: check_graph_equals_eager(args.device), needs_cuda=True, cuda=cuda)
    report.run("events vs wall clock", lambda: check_events_vs_wall(args.device), needs_cuda=True, cuda=cuda)
    report.run("latency repeatability", lambda: check_latency_repeatability(args.device), needs_cuda=True, cuda=cuda)
    report.run(
        "energy repeatability", lambda: check_energy_repeatability(state, args.device), needs_cuda=True, cuda=cuda
    )
    report.run("figure5", lambda: check_figure5(state, args.device), needs_cuda=True, cuda=cuda)
    report.run("net energy after settling", lambda: check_net_energy(state), needs_cuda=True, cuda=cuda)
    report.run("train + export on cuda", lambda: check_train_export(args.device), needs_cuda=True, cuda=cuda)
    # What runs everywhere: the modules the check uses import without Ray, Optuna, fvcore or ptflops.
    report.run("imports without ray/optuna/fvcore/ptflops", _check_imports, needs_cuda=False, cuda=cuda)
    stamp = env["time"].replace(":", "").replace("+0000", "Z")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "gpu" / f"REPORT-{stamp}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.markdown(env), encoding="utf-8")
    print(f"report: {out}")
    return 1 if any(status == "failed" for _, status, _ in report.sections) else 0


def _check_imports() -> tuple[str, str]:
    mods = [
        "profilers.latency",
        "profilers.energy",
        "profilers.memory",
        "profilers.figure5",
        "profilers.nvml",
        "profilers.gpusim",
        "nas.train.trainer",
        "nas.export",
        "nas",
    ]
    for m in mods:
        importlib.import_module(m)
    return "passed", f"imported {', '.join(mods)} with {', '.join(BLOCKED)} blocked"


if __name__ == "__main__":
    sys.exit(main())

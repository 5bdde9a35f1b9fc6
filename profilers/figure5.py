"""The paper's Figure 5 as a measurement: ESPNetv2 against ShuffleNetV2 and MobileNetV2 across batch sizes.

For each model and batch size: latency (median ms per batch with its bootstrap 95% CI), and, where the
device has a power source, average power (W) and energy per image (gross and net of idle, mJ), each with a
95% t-interval over the busy windows. The baselines come from torchvision where it imports; where it does
not (as on CPU-only machines with a broken torchvision), they are skipped and the report says why. Models
are measured one after another; the energy method's idle settle is the cool-down between them.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profilers.backend import device_type
from profilers.models import TORCHVISION_PREFIX
from search_spaces.errors import EspnasError

PRESETS = ("espnetv2-0.5", "espnetv2-1.0", "espnetv2-1.5", "espnetv2-2.0")
BASELINES = (TORCHVISION_PREFIX + "shufflenet_v2_x1_0", TORCHVISION_PREFIX + "mobilenet_v2")
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class Figure5:
    """One row per (model, batch size); `skipped` names the models left out and why."""

    rows: list[dict[str, Any]]
    skipped: dict[str, str]
    settings: dict[str, Any]
    energy_note: str = ""
    fingerprint: dict[str, Any] = field(default_factory=dict)


def t_interval(values: Sequence[float]) -> tuple[float, float]:
    """95% t-interval of the mean of `values` (NaNs with fewer than two)."""
    if len(values) < 2:
        return (math.nan, math.nan)
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return (mean - half, mean + half)


def baselines_available() -> tuple[list[str], dict[str, str]]:
    """The torchvision baselines that can be built here, and the reason for each that cannot."""
    try:
        importlib.import_module("torchvision.models")
    except Exception as err:  # ImportError, or the RuntimeError a mismatched torchvision raises
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        return [], {b: f"torchvision does not import here ({type(err).__name__}: {first})" for b in BASELINES}
    return list(BASELINES), {}


def figure5(
    device: str = "cuda",
    *,
    models: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    energy: bool | None = None,
    cuda_graph: bool = False,
    time_budget_s: float = 2.0,
    energy_window_s: float = 2.0,
    energy_repeats: int = 3,
    threads: int | None = None,
    reuse_idle: bool = False,
    on_step: Callable[[str], None] | None = None,
    measure_latency: Callable[..., Any] | None = None,
    measure_energy: Callable[..., Any] | None = None,
    power_available: Callable[[str], Any] | None = None,
) -> Figure5:
    """Measure the Figure-5 comparison on `device`. `models` defaults to the ESPNetv2 presets and the
    baselines that import; `energy` None measures it where a power source exists. The three measuring
    functions are injectable (tests use fakes; the GPU simulator can stand in for a GPU). `reuse_idle` measures
    idle power once (with its settle) and reuses it, which saves the settle at every point."""
    from profilers import energy as energy_mod
    from profilers import latency as latency_mod

    measure_latency = measure_latency or latency_mod.measure_latency
    measure_energy = measure_energy or energy_mod.measure_energy
    power_available = power_available or energy_mod.power_available
    device_type(device)
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise EspnasError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    skipped: dict[str, str] = {}
    if models is None:
        found, skipped = baselines_available()
        models = [*PRESETS, *found]
    note = ""
    if energy is None or energy:
        avail = power_available(device)
        if not avail:
            if energy:
                from profilers.backend import PowerUnavailable

                raise PowerUnavailable(f"energy: {avail.reason}")
            note = f"no power or energy: {avail.reason}"
        energy = bool(avail)
    rows: list[dict[str, Any]] = []
    fp: dict[str, Any] = {}
    idle_w: float | None = None
    for model in models:
        for bs in batch_sizes:
            if on_step:
                on_step(f"{model}, batch {bs}")
            lat = measure_latency(
                model, None, device, batch_size=bs, cuda_graph=cuda_graph, threads=threads, time_budget_s=time_budget_s
            )
            fp = fp or dict(lat.fingerprint or {})
            row: dict[str, Any] = {
                "model": model,
                "batch_size": bs,
                "latency_ms": lat.median_ms,
                "latency_ci95": list(lat.ci95_ms),
                "latency_per_image_ms": lat.median_ms / bs,
                "execution": lat.options.get("execution", "eager"),
            }
            if energy:
                e = measure_energy(
                    model,
                    None,
                    device,
                    batch_size=bs,
                    cuda_graph=cuda_graph,
                    threads=threads,
                    window_s=energy_window_s,
                    repeats=energy_repeats,
                    idle_power_w=idle_w,
                )
                if reuse_idle:
                    idle_w = e.idle_power_w
                busy = [w for w in e.windows if w["kind"] == "busy"]
                gross = [w["energy_mj"] / w["images"] for w in busy]
                power = [w["energy_mj"] / 1000.0 / w["duration_s"] for w in busy]
                row.update(
                    power_w=e.avg_power_w,
                    power_ci95=list(t_interval(power)),
                    idle_power_w=e.idle_power_w,
                    energy_mj_per_image=e.energy_mj_per_image,
                    energy_ci95=list(t_interval(gross)),
                    energy_mj_per_image_net=e.energy_mj_per_image_net,
                    energy_method=e.method,
                )
            rows.append(row)
    settings = {
        "device": device,
        "batch_sizes": [int(b) for b in batch_sizes],
        "cuda_graph": cuda_graph,
        "time_budget_s": time_budget_s,
        "energy": energy,
        "energy_window_s": energy_window_s,
        "energy_repeats": energy_repeats,
        "threads": threads,
        "reuse_idle": reuse_idle,
    }
    return Figure5(rows=rows, skipped=skipped, settings=settings, energy_note=note, fingerprint=fp)


def plot_figure5(fig5: Figure5, path: str | os.PathLike[str]) -> Path:
    """Latency per batch, power and energy per image against batch size (log 2), with 95% intervals."""
    out = Path(path)
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise EspnasError(f"plot file {str(out)!r} must end in .png, .pdf or .svg")
    if not out.resolve().parent.is_dir():
        raise EspnasError(f"plot directory {str(out.parent)!r} does not exist")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from results.files import write_bytes_atomic

    panels = [("latency_ms", "latency_ci95", "Inference time (ms per batch)")]
    if any("power_w" in r for r in fig5.rows):
        panels += [("power_w", "power_ci95", "Power (W)"), ("energy_mj_per_image", "energy_ci95", "Energy (mJ/image)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, ci, label) in zip(axes[0], panels, strict=True):
        for model in dict.fromkeys(r["model"] for r in fig5.rows):
            rows = sorted((r for r in fig5.rows if r["model"] == model), key=lambda r: r["batch_size"])
            xs, ys = [r["batch_size"] for r in rows], [r[key] for r in rows]
            lo = [max(0.0, y - r[ci][0]) if math.isfinite(r[ci][0]) else 0.0 for y, r in zip(ys, rows, strict=True)]
            hi = [max(0.0, r[ci][1] - y) if math.isfinite(r[ci][1]) else 0.0 for y, r in zip(ys, rows, strict=True)]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=2, label=model.removeprefix(TORCHVISION_PREFIX))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("Batch size")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{fig5.fingerprint.get('device_name', fig5.settings['device'])}: Figure 5")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lstrip(".").lower(), dpi=150)
    plt.close(fig)
    write_bytes_atomic(out, buf.getvalue())
    return out


def markdown_table(fig5: Figure5) -> str:
    """The rows as a markdown table (used by the GPU check's report)."""
    has_energy = any("power_w" in r for r in fig5.rows)
    head = "| model | batch | latency ms [95% CI] |" + (
        " power W [95% CI] | mJ/image [95% CI] | net mJ/image |" if has_energy else ""
    )
    sep = "|---|---|---|" + ("---|---|---|" if has_energy else "")
    lines = [head, sep]
    for r in fig5.rows:
        line = f"| {r['model']} | {r['batch_size']} | {r['latency_ms']:.3f} [{_ci(r['latency_ci95'])}] |"
        if has_energy:
            line += (
                f" {r['power_w']:.1f} [{_ci(r['power_ci95'], 1)}] | {r['energy_mj_per_image']:.3f} "
                f"[{_ci(r['energy_ci95'])}] | {r['energy_mj_per_image_net']:.3f} |"
            )
        lines.append(line)
    return "\n".join(lines)


def _ci(ci: Sequence[float], digits: int = 3) -> str:
    return "-" if not all(math.isfinite(v) for v in ci) else f"{ci[0]:.{digits}f}, {ci[1]:.{digits}f}"

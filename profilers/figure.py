"""Latency and power against batch size, like the paper's Figure 5, drawn from profile records."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from search_spaces.errors import EspnasError

_FORMATS = ("png", "pdf", "svg")


def plot_profile(records: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write a figure: latency (ms per batch) vs batch size, and power (W) vs batch size where measured.

    Without power records the second panel shows latency per image instead. Written atomically.
    """
    out = Path(path)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in _FORMATS:
        raise EspnasError(f"plot file {str(out)!r} must end in one of: {', '.join('.' + f for f in _FORMATS)}")
    if not out.parent.exists():
        raise EspnasError(f"plot directory {str(out.parent)!r} does not exist")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = [r for r in records if r["metric"] == "latency"]
    power = [r for r in records if r["metric"] == "power"]
    if not lat:
        raise EspnasError("nothing to plot: no latency records")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _panel(axes[0], lat, lambda r: r["value"], "Inference time (ms per batch)")
    if power:
        _panel(axes[1], power, lambda r: r["value"], "Power (W)")
    else:
        _panel(axes[1], lat, lambda r: r["per_image"], "Inference time per image (ms)")
    device = lat[0].get("fingerprint", {}).get("device_name", "")
    fig.suptitle(f"{device}".strip() or "profile")
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=f".{fmt}")
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=150)
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _panel(ax: Any, records: Sequence[dict[str, Any]], value: Any, ylabel: str) -> None:
    models = list(dict.fromkeys(r["model"] for r in records))
    for model in models:
        rows = sorted((r for r in records if r["model"] == model), key=lambda r: r["batch_size"])
        ax.plot([r["batch_size"] for r in rows], [value(r) for r in rows], marker="o", label=model)
    ax.set_xlabel("Batch size")
    ax.set_ylabel(ylabel)
    ax.set_xscale("log", base=2)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)

"""MODEL_CARD.md of an export: what the model is, how it was trained, its numbers, how to load it.

Only the standard library is imported at module level (`import nas` stays cheap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nas.export.layout import MANIFEST_FILE, ONNX_FILE, TORCHSCRIPT_FILE
from nas.export.result import fmt_pct, fmt_value
from results.timestamps import now_iso

if TYPE_CHECKING:  # pragma: no cover
    from nas.export.result import ExportResult


def model_card(result: ExportResult, *, input_shape: tuple[int, ...], fingerprint: Mapping[str, Any]) -> str:
    """MODEL_CARD.md: what the model is, how it was trained, its numbers, how to load it."""
    cfg, t, prof = result.config, result.training, result.profile
    counts = prof.get("counts", {})
    h, w = input_shape[2], input_shape[3]
    lines = [
        f"# EESP network {cfg.arch_id}",
        "",
        "## What it is",
        "",
        f"An image classifier of the ESPNetv2 (EESP) family, exported by espnas on {now_iso()[:10]}: "
        f"{cfg.num_classes} classes, input {cfg.in_channels}x{h}x{w} (any size of at least 32x32 works in "
        f"PyTorch; the ONNX and TorchScript files are traced at {h}x{w} with a dynamic batch).",
        "",
        f"- channels {list(cfg.channels)}, depths {list(cfg.depths)}, K = {cfg.branches}, "
        f"groups {cfg.reduce_groups}/{cfg.expand_groups}, dilation caps {list(cfg.dilation_caps)}, "
        f"HFF {'on' if cfg.hff else 'off'}, input shortcut {'on' if cfg.input_shortcut else 'off'}, "
        f"head {cfg.head_channels}",
        f"- parameters {_int(counts.get('params'))}, multiply-adds {_int(counts.get('macs'))} at {h}x{w} "
        "(analytic count; 1 MAC = one multiply-add)",
        f"- compact config: `{cfg.to_compact()}`",
        "",
    ]
    if result.search_metrics:
        s = result.search_metrics
        lines += [
            f"Chosen from search run `{s['run_name']}` ({s['run']}), trial {s['trial_id']}, selected by "
            f"{s['selected_by']}.",
            "",
        ]
    lines += ["## How it was trained", ""]
    if t.get("trained"):
        d = t["data"]
        lines += [
            f"- data: {d.get('source')} at {d.get('image_size')}x{d.get('image_size')}"
            + (f", {d['train_size']} training / {d['val_size']} validation images" if "train_size" in d else ""),
            f"- recipe: {t['recipe']}, {t['epochs']} epoch(s), batch {t['batch_size']}, seed {t['seed']}, "
            f"device {t['device']}",
            f"- final validation accuracy: top-1 {fmt_pct(t.get('final_top1'))}, top-5 {fmt_pct(t.get('final_top5'))}",
            "",
        ]
        curve = t.get("curve") or []
        if curve and isinstance(curve[0], dict):
            keys = [k for k in curve[0] if isinstance(curve[0][k], (int, float)) and not isinstance(curve[0][k], bool)]
            lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            lines += ["| " + " | ".join(fmt_value(row.get(k)) for k in keys) + " |" for row in curve]
            lines.append("")
    else:
        lines += ["Not trained: the weights are the network's initialisation (exported with train=False).", ""]
    lines += ["## Numbers", "", "| metric | measured here | recorded by the search |", "|---|---|---|"]
    if result.search_metrics:
        acc = result.search_metrics["metrics"].get("accuracy")
        if acc is not None:
            lines.append(f"| accuracy (search proxy) | - | {fmt_value(acc['value'])} {acc.get('unit', '')} |")
    if t.get("trained"):
        lines.append(f"| top-1 after export training | {fmt_pct(t.get('final_top1'))} | - |")
    compared = prof.get("search_form") or prof.get("deployed") or {}
    shape = "x".join(str(v) for v in compared.get("input_shape", []))
    for row in prof.get("comparison", []):
        unit = "ms" if row["metric"].startswith("latency") else "mJ/image"
        here = f"{fmt_value(row['measured'])} {unit}" if row.get("measured") is not None else row.get("note", "-")
        there = f"{fmt_value(row['search'])} {row.get('unit') or unit}" if row.get("search") is not None else "-"
        lines.append(f"| {row['metric']} (input {shape}, deploy form) | {here} | {there} |")
    deployed = prof.get("deployed", {})
    if "search_form" in prof and "latency" in deployed:
        lines.append(
            f"| latency_ms of this model (input {'x'.join(map(str, deployed['input_shape']))}) | "
            f"{fmt_value(deployed['latency'].get('median_ms'))} ms | - |"
        )
    if "skipped" in prof:
        lines.append("| latency, energy | not measured (profile=False) | - |")
    lines += [
        "",
        f"Measured on {fingerprint.get('device_name', fingerprint.get('device'))} "
        f"({prof.get('threads') or fingerprint.get('threads')} threads, torch {fingerprint.get('torch')}); "
        "see fingerprint.json and profile.json."
        + (
            f" The search's environment differed in {', '.join(prof['differs_from_search'])}: compare with care."
            if prof.get("differs_from_search")
            else ""
        ),
        "",
        "Each format was run on random inputs and compared with the eager PyTorch model (max |out - ref| / max |ref|):",
        "",
        "| file | runtime | max relative error | bound |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.file} | {c.runtime} | {c.max_rel_error:.2e} | {c.bound:.0e} |" for c in result.checks]
    lines += [
        "",
        "## How to load it",
        "",
        "```python",
        "import nas",
        'model = nas.load("<this directory>")               # eval mode, weights loaded, never unpickles',
        'fast = nas.load("<this directory>", deploy=True)   # BN folded, same outputs',
        "```",
        "",
    ]
    names = {c.file for c in result.checks}
    if ONNX_FILE in names:
        lines += [
            "```python",
            "import numpy as np, onnxruntime as ort",
            'session = ort.InferenceSession("model.onnx")',
            f'logits = session.run(None, {{"input": np.zeros((1, {cfg.in_channels}, {h}, {w}), np.float32)}})[0]',
            "```",
            "",
        ]
    if TORCHSCRIPT_FILE in names:
        lines += ["```python", "import torch", 'model = torch.jit.load("model.torchscript.pt")', "```", ""]
    data = t.get("data", {})
    if "normalize_mean" in data:
        normalised = (
            f"normalised as in training: (x - {_floats(data['normalize_mean'])}) / {_floats(data['normalize_std'])}"
        )
        if len(data["normalize_mean"]) == 1 and cfg.in_channels > 1:
            normalised += f", the one channel repeated {cfg.in_channels} times"
    else:
        normalised = "normalised as in training"
    lines += [
        f"Inputs are float32 (batch, {cfg.in_channels}, height, width) in [0, 1], {normalised}. "
        f"`{MANIFEST_FILE}` lists the sha256 of every file and `manifest.sha256` that of the manifest; `nas.load` "
        "refuses a directory that does not match.",
        "",
    ]
    return "\n".join(lines)


def _floats(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"

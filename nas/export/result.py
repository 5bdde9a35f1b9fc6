"""What an export wrote and measured (`ExportResult`), and the number formats its summary and the model card share.

Only the standard library is imported at module level (`import nas` stays cheap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from nas.export.formats import FormatCheck
    from search_spaces import EESPConfig


@dataclass
class ExportResult:
    """What `export` wrote and measured. `summary()` is the text the CLI prints."""

    path: Path
    config: EESPConfig
    files: list[str]
    checks: list[FormatCheck]
    training: dict[str, Any]
    profile: dict[str, Any]
    search_metrics: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    model: nn.Module | None = field(default=None, repr=False)  # the eager trained model, eval mode, on CPU

    @property
    def arch_id(self) -> str:
        return self.config.arch_id

    def summary(self) -> str:
        """A few lines: where, what, accuracy, each format's check, and local vs search measurements."""
        lines = [f"exported {self.arch_id} to {self.path}", f"  config   {self.config.to_compact()}"]
        t = self.training
        if t.get("trained"):
            lines.append(
                f"  trained  {t['epochs']} epoch(s), recipe {t['recipe']}, data {t['data']['source']}: "
                f"top-1 {fmt_pct(t.get('final_top1'))}, top-5 {fmt_pct(t.get('final_top5'))}"
            )
        else:
            lines.append("  trained  no (weights are the initialisation)")
        for check in self.checks:
            status = "ok" if check.passed else "FAILED"
            lines.append(
                f"  {check.format:<11} {check.file:<22} max rel error {check.max_rel_error:.2e} "
                f"(bound {check.bound:.0e}, {check.runtime}) {status}"
            )
        if self.profile.get("comparison") and self.profile.get("search_form"):
            shape = "x".join(str(v) for v in self.profile["search_form"]["input_shape"])
            lines.append(f"  measured here vs the search's values (its config re-measured here at {shape}):")
        for row in self.profile.get("comparison", []):
            here = fmt_value(row.get("measured"))
            there = fmt_value(row.get("search"))
            ratio = f"  here = {row['ratio']:.2f} x search" if row.get("ratio") is not None else ""
            lines.append(f"  {row['metric']:<11} here {here:>10}   search {there:>10}{ratio}   {row.get('note', '')}")
        deployed = self.profile.get("deployed", {})
        if "search_form" in self.profile and "latency" in deployed:
            shape = "x".join(str(v) for v in deployed["input_shape"])
            lines.append(f"  this model at {shape}: latency {fmt_value(deployed['latency'].get('median_ms'))} ms")
        lines.extend(f"  note     {w}" for w in self.warnings)
        lines.append(f"  load     nas.load({str(self.path)!r})")
        return "\n".join(line.rstrip() for line in lines)


def fmt_pct(value: Any) -> str:
    """An accuracy as a percentage (a fraction <= 1 is scaled); "-" when missing."""
    if not isinstance(value, (int, float)):
        return "-"
    return f"{100 * value:.1f}%" if value <= 1 else f"{value:.1f}%"


def fmt_value(value: Any) -> str:
    """A number to four significant digits; "-" when missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)

"""The paper's ImageNet models (Table 2) and ablations (Tables 4 and 5) as named configs, with the paper's
reported figures so that counts can be shown next to them."""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.config import EESPConfig


@dataclass(frozen=True)
class PaperFigures:
    """What the paper reports: parameters and FLOPs (= conv multiply-adds), both rounded as printed."""

    params: float
    macs: float
    source: str


PRESETS: dict[str, EESPConfig] = {
    **{f"espnetv2-{s}": EESPConfig.from_scale(float(s)) for s in ("0.5", "1.0", "1.25", "1.5", "1.75", "2.0")},
    # Table 4 R1: neither HFF nor the long-range input shortcut; R2: HFF without the shortcut.
    "espnetv2-1.0-r1": EESPConfig.from_scale(1.0, hff=False, input_shortcut=False),
    "espnetv2-1.0-r2": EESPConfig.from_scale(1.0, input_shortcut=False),
    # Table 5: plain point-wise (groups 1) reducing 1x1 convs; the expanding 1x1 stays grouped.
    "espnetv2-0.5-pw": EESPConfig.from_scale(0.5, reduce_groups=1),
    "espnetv2-1.0-pw": EESPConfig.from_scale(1.0, reduce_groups=1),
}

PAPER_FIGURES: dict[str, PaperFigures] = {
    "espnetv2-0.5": PaperFigures(1.24e6, 28e6, "Table 2"),
    "espnetv2-1.0": PaperFigures(1.67e6, 86e6, "Table 2"),
    "espnetv2-1.25": PaperFigures(1.97e6, 123e6, "Table 2"),
    "espnetv2-1.5": PaperFigures(2.31e6, 169e6, "Table 2"),
    "espnetv2-1.75": PaperFigures(3.03e6, 224e6, "Table 2"),
    "espnetv2-2.0": PaperFigures(3.49e6, 284e6, "Table 2"),
    "espnetv2-1.0-r1": PaperFigures(1.66e6, 84e6, "Table 4 (R1)"),
    "espnetv2-1.0-r2": PaperFigures(1.66e6, 84e6, "Table 4 (R2)"),
    "espnetv2-0.5-pw": PaperFigures(1.30e6, 39e6, "Table 5"),
    "espnetv2-1.0-pw": PaperFigures(1.92e6, 127e6, "Table 5"),
}

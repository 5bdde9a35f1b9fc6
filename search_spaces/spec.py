"""Turning what a user types (a preset name, a JSON file, a compact string, a config) into a config or model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from search_spaces.config import COMPACT_PREFIX, EESPConfig
from search_spaces.errors import ConfigError
from search_spaces.presets import PRESETS

if TYPE_CHECKING:
    from search_spaces.network import EESPNet
    from search_spaces.segmentation import SegmentationConfig
    from search_spaces.segmentation_net import SegmentationNet

Spec = EESPConfig | str | Path


def resolve(spec: Spec) -> EESPConfig:
    """A config from a config, a preset name, a compact string (`eesp:...`), inline JSON or a JSON file path."""
    if isinstance(spec, EESPConfig):
        return spec
    if isinstance(spec, Path):
        return _from_file(spec)
    if not isinstance(spec, str):
        raise ConfigError(
            f"cannot build from {type(spec).__name__}; valid: a config, preset name, JSON path or compact string"
        )
    text = spec.strip()
    if text in PRESETS:
        return PRESETS[text]
    if text.startswith(COMPACT_PREFIX):
        return EESPConfig.from_compact(text)
    if text.startswith("{"):
        return EESPConfig.from_json(text)
    path = Path(text)
    if path.suffix.lower() == ".json" or path.exists():
        return _from_file(path)
    raise ConfigError(
        f"unknown spec {text!r}; valid: a preset ({', '.join(PRESETS)}), a JSON file, or a compact string "
        f"starting with {COMPACT_PREFIX!r}"
    )


def build(spec: Spec | SegmentationConfig) -> EESPNet | SegmentationNet:
    """The network for `spec`; the module keeps its config as `.config`. A segmentation spec (a preset
    espnetv2-seg-*, `seg:...`, JSON with task "segmentation") builds the segmentation network."""
    from search_spaces.segmentation import is_segmentation_spec

    if is_segmentation_spec(spec):
        from search_spaces.segmentation_net import build_segmentation

        return build_segmentation(spec)
    from search_spaces.network import EESPNet

    return EESPNet(resolve(spec))


def _from_file(path: Path) -> EESPConfig:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {str(path)!r}: {err}") from None
    try:
        return EESPConfig.from_json(text)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None

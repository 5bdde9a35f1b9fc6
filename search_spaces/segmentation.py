"""The ESPNetv2 segmentation network (paper Sec. 4.2) built from the same config machinery as the classifier.

`SegmentationConfig` wraps an `EESPConfig` as the encoder: its L1..L4 (stem, the down-samplers with their
input shortcuts, the EESP units of L2..L4, every knob of the classifier: widths, K, groups, caps, HFF,
shortcut, depths). The encoder's L5, head and classifier fields are never built; they are normalised (depth of
L5 = 0, 1000 classes, dropout 0.2, the segmentation input size) so that two configs building the same network
have the same `arch_id`.

The decoder, as the authors' code builds it (../shared/ESPNETV2.md, "Segmentation network"):
  CBR 1x1 (c4 -> c3) on L4, bilinear up to L3's size; concat with L3 -> EESP(2c3 -> c3, cap 7, no residual)
  -> pyramid pooling (4 cascaded 3x3/2 average pools, each followed by a depth-wise 3x3 conv without BN,
  bilinear back up; concat (5 c3) -> CBR 1x1 -> c3) -> Dropout2d(p) -> 1x1 conv to classes (the auxiliary
  output) -> BN -> PReLU, up to L2's size; concat with L2 -> CBR 1x1 -> classes, up to L1's size; concat with L1
  -> Dropout2d(p) -> 1x1 conv to classes, up to the input size.

Any input size: every H, W >= 32 works. Each stride-2 layer maps a side n to ceil(n / 2); the decoder upsamples
to the size of the skip it is concatenated with (not by a fixed factor of 2, which is what breaks the authors'
code at sizes that are not multiples of 16), and the last upsampling goes to the input's exact H x W.
All upsampling is bilinear with align_corners=True, as in the authors' code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from search_spaces.config import COMPACT_PREFIX as CLASSIFIER_PREFIX
from search_spaces.config import MIN_INPUT_SIDE, SCHEMA_VERSION, EESPConfig, _check_eesp
from search_spaces.errors import ConfigError
from search_spaces.presets import PRESETS

TASK = "segmentation"
COMPACT_PREFIX = "seg:"
DEFAULT_CLASSES = 20  # the paper's Cityscapes setting: 19 train ids + background
DEFAULT_DECODER_CAP = 7
COUNT_INPUT_SIZE = (224, 224)  # Figure 7's FLOPs are counted at 224x224
PYRAMID_LEVELS = 4


@dataclass(frozen=True)
class SegmentationConfig:
    """One ESPNetv2 segmentation network. Defaults: the paper's s = 1.0 encoder, 20 classes.

    encoder:      the classifier config whose L1..L4 are the encoder (L5, head and classifier are not built).
    num_classes:  output channels of the per-pixel classifier (and of the auxiliary output).
    dropout:      Dropout2d probability before the two classifying 1x1 convs (the paper: 0.1 for s <= 0.5,
                  else 0.2), training only.
    decoder_cap:  r_lim of the decoder's EESP unit (the paper: 7).
    input_size:   (height, width) used for counting; the network accepts any size >= 32x32.
    """

    encoder: EESPConfig = dataclasses.field(default_factory=EESPConfig)
    num_classes: int = DEFAULT_CLASSES
    dropout: float = 0.2
    decoder_cap: int = DEFAULT_DECODER_CAP
    input_size: tuple[int, ...] = COUNT_INPUT_SIZE

    def __post_init__(self) -> None:
        if not isinstance(self.encoder, EESPConfig):
            raise ConfigError(f"encoder={self.encoder!r} is invalid; valid: an EESPConfig")
        for name in ("num_classes", "decoder_cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name}={value!r} is invalid; valid: an integer")
        if self.num_classes < 1:
            raise ConfigError(f"num_classes={self.num_classes} is invalid; valid: a positive integer")
        if self.decoder_cap < 3:
            raise ConfigError(f"decoder_cap={self.decoder_cap} is invalid; valid: 3 or more")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise ConfigError(f"dropout={self.dropout!r} is invalid; valid: a number in [0, 1)")
        object.__setattr__(self, "dropout", float(self.dropout))
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout} is invalid; valid: a number in [0, 1)")
        size = tuple(self.input_size)
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
            raise ConfigError(f"input_size={self.input_size!r} is invalid; valid: 2 integers (height, width)")
        if min(size) < MIN_INPUT_SIDE:
            raise ConfigError(f"input_size={size[0]}x{size[1]} is too small; valid: each side >= {MIN_INPUT_SIDE}")
        object.__setattr__(self, "input_size", size)
        # Normalise the encoder's fields that are never built (the constructor re-validates it).
        enc = self.encoder
        depths = (*enc.depths[:3], 0)
        object.__setattr__(
            self,
            "encoder",
            dataclasses.replace(enc, depths=depths, num_classes=1000, dropout=0.2, input_size=size),
        )
        c3 = enc.channels[2]
        _check_eesp(
            "decoder's EESP unit", "channels[2]", 2 * c3, c3, enc.branches, enc.reduce_groups, enc.expand_groups
        )

    # ----- construction helpers -------------------------------------------------------------------------

    @classmethod
    def from_scale(cls, scale: float, num_classes: int = DEFAULT_CLASSES, **encoder_overrides: Any):
        """The paper's network for width scale s: the classifier's widths, dropout 0.1 for s <= 0.5 else 0.2."""
        encoder = EESPConfig.from_scale(scale, **encoder_overrides)
        return cls(encoder=encoder, num_classes=num_classes, dropout=0.1 if scale <= 0.5 else 0.2)

    def replace(self, **changes: Any) -> SegmentationConfig:
        unknown = sorted(set(changes) - set(FIELD_NAMES))
        if unknown:
            raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; valid: {', '.join(FIELD_NAMES)}")
        return dataclasses.replace(self, **changes)

    # ----- the interface the rest of espnas uses for configs ------------------------------------------------

    @property
    def task(self) -> str:
        return TASK

    @property
    def in_channels(self) -> int:
        return self.encoder.in_channels

    @property
    def channels(self) -> tuple[int, ...]:
        """c1..c4: the encoder's stem and L2..L4 widths."""
        return self.encoder.channels[:4]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "task": TASK,
            "encoder": self.encoder.to_dict(),
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "decoder_cap": self.decoder_cap,
            "input_size": list(self.input_size),
        }

    def to_json(self, indent: int | None = None) -> str:
        if indent is None:
            return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @property
    def arch_id(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentationConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        schema = data.pop("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise ConfigError(f"config schema={schema!r} is not supported; valid: {SCHEMA_VERSION}")
        task = data.pop("task", TASK)
        if task != TASK:
            raise ConfigError(f"config task={task!r} is not a segmentation config; valid: {TASK!r}")
        unknown = sorted(set(data) - set(FIELD_NAMES))
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid: {', '.join(FIELD_NAMES)}")
        if "encoder" in data:
            data["encoder"] = EESPConfig.from_dict(data["encoder"])
        if isinstance(data.get("input_size"), list):
            data["input_size"] = tuple(data["input_size"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> SegmentationConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"malformed config JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
        return cls.from_dict(data)

    def to_compact(self) -> str:
        """`seg:cls=20,drop=0.2,rd=7,in=224x224|eesp:c=...` (the encoder's compact form after the bar)."""
        h, w = self.input_size
        head = f"cls={self.num_classes},drop={self.dropout!r},rd={self.decoder_cap},in={h}x{w}"
        return f"{COMPACT_PREFIX}{head}|{self.encoder.to_compact()}"

    @classmethod
    def from_compact(cls, text: str) -> SegmentationConfig:
        if not text.startswith(COMPACT_PREFIX):
            raise ConfigError(f"compact config {text!r} must start with {COMPACT_PREFIX!r}")
        head, sep, encoder = text[len(COMPACT_PREFIX) :].partition("|")
        fields: dict[str, Any] = {"encoder": EESPConfig.from_compact(encoder.strip()) if sep else EESPConfig()}
        keys = {"cls": "num_classes", "drop": "dropout", "rd": "decoder_cap", "in": "input_size"}
        for item in filter(None, head.split(",")):
            key, eq, raw = (part.strip() for part in item.partition("="))
            if not eq or key not in keys:
                raise ConfigError(
                    f"compact segmentation item {item!r} is invalid; valid keys: {', '.join(keys)} (as key=value), "
                    "then '|eesp:...'"
                )
            try:
                if key == "in":
                    value: Any = tuple(int(v) for v in raw.lower().split("x"))
                elif key == "drop":
                    value = float(raw)
                else:
                    value = int(raw)
            except ValueError:
                raise ConfigError(f"compact segmentation {key}={raw!r} is invalid; valid: a number") from None
            fields[keys[key]] = value
        return cls(**fields)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(SegmentationConfig))

SEGMENTATION_PRESETS: dict[str, SegmentationConfig] = {
    f"espnetv2-seg-{s}": SegmentationConfig.from_scale(float(s)) for s in ("0.5", "1.0", "1.5", "2.0")
}
# Parameters with 20 classes, as the authors' code builds them (../shared/ESPNETV2.md); conv MACs at 224x224
# from the paper's Figure 7 (54M at s = 0.5, 322M at s = 1.5; the other two are not given there).
SEGMENTATION_PAPER_PARAMS = {
    "espnetv2-seg-0.5": 99_418,
    "espnetv2-seg-1.0": 340_782,
    "espnetv2-seg-1.5": 725_166,
    "espnetv2-seg-2.0": 1_253_038,
}
SEGMENTATION_PAPER_MACS = {"espnetv2-seg-0.5": 54e6, "espnetv2-seg-1.5": 322e6}


def is_segmentation_spec(spec: Any) -> bool:
    """True when `spec` names a segmentation config (a preset, `seg:...`, or JSON with task 'segmentation')."""
    if isinstance(spec, SegmentationConfig):
        return True
    if not isinstance(spec, str):
        from pathlib import Path

        if isinstance(spec, Path) and spec.is_file():
            return _json_is_segmentation(spec.read_text(errors="replace"))
        return False
    text = spec.strip()
    if text in SEGMENTATION_PRESETS or text.startswith(COMPACT_PREFIX):
        return True
    if text.startswith("{"):
        return _json_is_segmentation(text)
    from pathlib import Path

    path = Path(text)
    try:
        return path.is_file() and _json_is_segmentation(path.read_text(errors="replace"))
    except OSError:
        return False


def config_from_json(text: str) -> EESPConfig | SegmentationConfig:
    """A stored config of either family: a segmentation config when its JSON says `"task": "segmentation"`,
    else an `EESPConfig` (whose schema has no task key). Errors are `ConfigError`s, one line."""
    if _json_is_segmentation(text):
        return SegmentationConfig.from_json(text)
    return EESPConfig.from_json(text)


def _json_is_segmentation(text: str) -> bool:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("task") == TASK


def resolve_segmentation(spec: Any) -> SegmentationConfig:
    """A segmentation config from a config, a preset name (espnetv2-seg-*), a compact string (`seg:...`),
    inline JSON or a JSON file; an `EESPConfig` (or classifier spec) becomes the encoder with 20 classes."""
    from pathlib import Path

    if isinstance(spec, SegmentationConfig):
        return spec
    if isinstance(spec, EESPConfig):
        return SegmentationConfig(encoder=spec)
    text = str(spec).strip() if isinstance(spec, (str, Path)) else None
    if text is None:
        raise ConfigError(f"cannot build a segmentation network from {type(spec).__name__}")
    if text in SEGMENTATION_PRESETS:
        return SEGMENTATION_PRESETS[text]
    if text.startswith(COMPACT_PREFIX):
        return SegmentationConfig.from_compact(text)
    if text.startswith("{"):
        data = _load_json(text, "inline JSON")
    elif Path(text).is_file():
        try:
            data = _load_json(Path(text).read_text(), text)
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read config file {text!r}: {err}") from None
    elif text in PRESETS:
        return SegmentationConfig(encoder=PRESETS[text])
    elif text.startswith(CLASSIFIER_PREFIX):
        return SegmentationConfig(encoder=EESPConfig.from_compact(text))
    else:
        raise ConfigError(
            f"unknown segmentation spec {text!r}; valid: a preset ({', '.join(SEGMENTATION_PRESETS)}), "
            f"a JSON file, a compact string starting with {COMPACT_PREFIX!r}, or a classifier spec as the encoder"
        )
    if isinstance(data, dict) and data.get("task") == TASK:
        return SegmentationConfig.from_dict(data)
    return SegmentationConfig(encoder=EESPConfig.from_dict(data))


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{where}: malformed config JSON: {err.msg} at line {err.lineno}") from None

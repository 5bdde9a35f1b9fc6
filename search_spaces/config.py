"""The architecture config: a frozen, validated description of one EESP (ESPNetv2-family) classifier.

An `EESPConfig` that exists is valid: every rule that would otherwise fail deep inside `forward()` (a channel
count that does not split into K branches, a group count that does not divide, an input too small for five
down-samplings) is checked in `__post_init__` and reported as a `ConfigError` naming the field, the value and
what would be valid.

Three interchangeable forms, all exact round trips:
- canonical JSON (`to_json`): sorted keys, a `schema` version, no whitespace; its sha256 gives `arch_id`;
- a compact one-line string (`to_compact`), e.g. `eesp:c=32/64/128/256/512,d=0/3/7/3,k=4,...`;
- the dataclass itself (`from_dict` / `replace`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from search_spaces.errors import ConfigError

SCHEMA_VERSION = 1
STAGE_NAMES = ("L2", "L3", "L4", "L5")  # the four down-sampling stages after the stem (L1)
MIN_INPUT_SIDE = 32  # five stride-2 layers: 32 is the smallest side that still yields a 1x1 map


@dataclass(frozen=True)
class EESPConfig:
    """One classifier of the ESPNetv2 family. Defaults are the paper's s = 1.0 ImageNet model.

    channels:        output channels c1..c5 of the stem (L1) and the four stages L2..L5.
    depths:          EESP units after the down-sampler of each stage L2..L5 (the paper: 0, 3, 7, 3).
    branches:        K, the parallel depth-wise dilated branches of every EESP unit.
    reduce_groups:   groups of the reducing 1x1 conv (the paper: K; 1 = plain point-wise, Table 5).
    expand_groups:   groups of the expanding 1x1 conv (the paper: K).
    dilation_caps:   r_lim per level. The down-sampler into stage L{s} uses cap s-2 and the units of stage L{s}
                     use cap s-1 (the paper's code: 13, 11, 9, 7, 5), so each down-sampler uses the cap of the
                     previous stage's units.
    hff:             hierarchical feature fusion (cumulative sum over the branches).
    input_shortcut:  the long-range shortcut from the (pooled) input image at the down-samplers to L2..L4.
    head_channels:   width of the grouped 1x1 conv before global pooling (1024, or 1280 for s > 1.5).
    num_classes:     outputs of the final Linear layer.
    dropout:         dropout before the classifier, training only.
    input_size:      (height, width) used for counting; the network itself accepts any size >= 32x32.
    in_channels:     channels of the input image.
    """

    channels: tuple[int, ...] = (32, 64, 128, 256, 512)
    depths: tuple[int, ...] = (0, 3, 7, 3)
    branches: int = 4
    reduce_groups: int = 4
    expand_groups: int = 4
    dilation_caps: tuple[int, ...] = (13, 11, 9, 7, 5)
    hff: bool = True
    input_shortcut: bool = True
    head_channels: int = 1024
    num_classes: int = 1000
    dropout: float = 0.2
    input_size: tuple[int, ...] = (224, 224)
    in_channels: int = 3

    def __post_init__(self) -> None:
        _check_types(self)
        _check_values(self)

    # ----- construction helpers -------------------------------------------------------------------------

    @classmethod
    def from_scale(cls, scale: float, **overrides: Any) -> EESPConfig:
        """The paper's width rule for scale s: c1 = min(32, b), c2..c5 = 2b, 4b, 8b, 16b with
        b = ceil(int(32 s) / K) * K; head 1024 for s <= 1.5, else 1280."""
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ConfigError(f"width scale s={scale!r} is invalid; valid: a positive number such as 0.5 .. 2.0")
        k = overrides.get("branches", cls.branches)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"branches={k!r} is invalid; valid: a positive integer")
        base = int(32 * scale)
        if base < 1:
            raise ConfigError(f"width scale s={scale!r} is too small: int(32*s) must be at least 1")
        b = math.ceil(base / k) * k
        fields: dict[str, Any] = {
            "channels": (min(32, b), 2 * b, 4 * b, 8 * b, 16 * b),
            "head_channels": 1024 if scale <= 1.5 else 1280,
        }
        fields.update(overrides)
        return cls(**fields)

    def replace(self, **changes: Any) -> EESPConfig:
        """A copy with some fields changed (validated like any new config)."""
        unknown = sorted(set(changes) - set(FIELD_NAMES))
        if unknown:
            raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; valid: {', '.join(FIELD_NAMES)}")
        return dataclasses.replace(self, **changes)

    # ----- serialisation ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (lists for tuples) with the schema version."""
        out: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self, indent: int | None = None) -> str:
        """Canonical JSON: sorted keys, compact separators (unless indent is given)."""
        if indent is None:
            return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @property
    def arch_id(self) -> str:
        """A stable short id: the first 12 hex digits of the sha256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EESPConfig:
        """Build from a JSON-like dict. Unknown keys, a foreign schema and wrong types are refused;
        missing fields take the defaults."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        schema = data.pop("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise ConfigError(f"config schema={schema!r} is not supported; valid: {SCHEMA_VERSION}")
        unknown = sorted(set(data) - set(FIELD_NAMES))
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid: {', '.join(FIELD_NAMES)}")
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> EESPConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"malformed config JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
        return cls.from_dict(data)

    def to_compact(self) -> str:
        """One line, every field, e.g. `eesp:c=32/64/128/256/512,d=0/3/7/3,k=4,gr=4,ge=4,...`."""
        parts = []
        for key, field in COMPACT_KEYS.items():
            value = getattr(self, field)
            if field == "input_size":
                text = "x".join(str(v) for v in value)
            elif isinstance(value, tuple):
                text = "/".join(str(v) for v in value)
            elif isinstance(value, bool):
                text = str(int(value))
            else:
                text = repr(value)
            parts.append(f"{key}={text}")
        return COMPACT_PREFIX + ",".join(parts)

    @classmethod
    def from_compact(cls, text: str) -> EESPConfig:
        """Parse the compact form. Keys may be omitted (defaults apply); unknown keys are refused."""
        if not text.startswith(COMPACT_PREFIX):
            raise ConfigError(f"compact config {text!r} must start with {COMPACT_PREFIX!r}")
        body = text[len(COMPACT_PREFIX) :].strip()
        fields: dict[str, Any] = {}
        for item in filter(None, body.split(",")):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or key not in COMPACT_KEYS:
                raise ConfigError(
                    f"compact config item {item!r} is invalid; valid keys: {', '.join(COMPACT_KEYS)} (as key=value)"
                )
            field = COMPACT_KEYS[key]
            if field in fields:
                raise ConfigError(f"compact config key {key!r} is given twice")
            fields[field] = _parse_compact_value(key, field, raw.strip())
        return cls(**fields)

    # ----- derived quantities ----------------------------------------------------------------------------

    def stage_caps(self, stage: int) -> tuple[int, int]:
        """(down-sampler cap, unit cap) of stage index 0..3 (L2..L5)."""
        return self.dilation_caps[stage], self.dilation_caps[stage + 1]

    def shortcut_stages(self) -> tuple[int, ...]:
        """Stage indices whose down-sampler takes the input-image shortcut: L2..L4, not L5 (as the paper's
        code runs it)."""
        return (0, 1, 2) if self.input_shortcut else ()


def branch_dilations(branches: int, cap: int) -> tuple[int, ...]:
    """Dilation rates of the K depth-wise 3x3 branches under the receptive-field cap r_lim.

    Branch i wants an effective kernel 3 + 2i; one larger than the cap falls back to 3. The kernels are sorted
    ascending and each becomes the dilation (kernel - 1) / 2 of a 3x3 conv. K = 4: caps 13, 11, 9 -> 1, 2, 3, 4;
    7 -> 1, 1, 2, 3; 5 -> 1, 1, 1, 2.
    """
    kernels = sorted(k if (k := 3 + 2 * i) <= cap else 3 for i in range(branches))
    return tuple((k - 1) // 2 for k in kernels)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(EESPConfig))
COMPACT_PREFIX = "eesp:"
COMPACT_KEYS = {
    "c": "channels",
    "d": "depths",
    "k": "branches",
    "gr": "reduce_groups",
    "ge": "expand_groups",
    "r": "dilation_caps",
    "hff": "hff",
    "sc": "input_shortcut",
    "head": "head_channels",
    "cls": "num_classes",
    "drop": "dropout",
    "in": "input_size",
    "ic": "in_channels",
}
_TUPLE_LENGTHS = {"channels": 5, "depths": 4, "dilation_caps": 5, "input_size": 2}
_BOOL_FIELDS = {"hff", "input_shortcut"}


def _parse_compact_value(key: str, field: str, raw: str) -> Any:
    try:
        if field == "input_size":
            return tuple(int(v) for v in raw.lower().split("x"))
        if field in _TUPLE_LENGTHS:
            return tuple(int(v) for v in raw.split("/"))
        if field in _BOOL_FIELDS:
            if raw not in ("0", "1"):
                raise ValueError
            return raw == "1"
        if field == "dropout":
            return float(raw)
        return int(raw)
    except ValueError:
        hint = {
            "input_size": "HxW, e.g. 224x224",
            "hff": "0 or 1",
            "input_shortcut": "0 or 1",
            "dropout": "a number",
        }.get(field, "integers separated by '/'" if field in _TUPLE_LENGTHS else "an integer")
        raise ConfigError(f"compact config {key}={raw!r} is invalid; valid: {hint}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_types(cfg: EESPConfig) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in _TUPLE_LENGTHS:
            n = _TUPLE_LENGTHS[f.name]
            if not isinstance(value, tuple) or len(value) != n or not all(_is_int(v) for v in value):
                raise ConfigError(f"{f.name}={_show(value)} is invalid; valid: {n} integers")
        elif f.name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise ConfigError(f"{f.name}={value!r} is invalid; valid: true or false")
        elif f.name == "dropout":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"dropout={value!r} is invalid; valid: a number in [0, 1)")
            object.__setattr__(cfg, "dropout", float(value))
        elif not _is_int(value):
            raise ConfigError(f"{f.name}={value!r} is invalid; valid: an integer")


def _show(value: Any) -> str:
    return "/".join(map(str, value)) if isinstance(value, tuple) else repr(value)


def _show_size(size: tuple[int, ...]) -> str:
    return "x".join(map(str, size))


def _check_values(cfg: EESPConfig) -> None:
    def positive(name: str, value: int) -> None:
        if value < 1:
            raise ConfigError(f"{name}={value} is invalid; valid: a positive integer")

    for name in ("branches", "reduce_groups", "expand_groups", "head_channels", "num_classes", "in_channels"):
        positive(name, getattr(cfg, name))
    for i, c in enumerate(cfg.channels):
        positive(f"channels[{i}]", c)
    for i, d in enumerate(cfg.depths):
        if d < 0:
            raise ConfigError(f"depths[{i}]={d} (stage {STAGE_NAMES[i]}) is invalid; valid: 0 or more units")
    for i, cap in enumerate(cfg.dilation_caps):
        if cap < 3:
            raise ConfigError(
                f"dilation_caps[{i}]={cap} is invalid; valid: 3 or more (a 3x3 kernel is the smallest receptive field)"
            )
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"dropout={cfg.dropout} is invalid; valid: a number in [0, 1)")
    for i, side in enumerate(cfg.input_size):
        if side < MIN_INPUT_SIDE:
            raise ConfigError(
                f"input_size={_show_size(cfg.input_size)} is too small for 5 down-samplings; "
                f"valid: each side >= {MIN_INPUT_SIDE}" + (" (height)" if i == 0 else " (width)")
            )

    k, gr, ge = cfg.branches, cfg.reduce_groups, cfg.expand_groups
    for s in range(4):
        c_in, c_out = cfg.channels[s], cfg.channels[s + 1]
        stage = STAGE_NAMES[s]
        eesp_out = c_out - c_in
        if eesp_out < 1:
            raise ConfigError(
                f"channels[{s + 1}]={c_out} (stage {stage}) must exceed channels[{s}]={c_in}: its down-sampler "
                f"concatenates the pooled input with a strided EESP of {c_out} - {c_in} channels"
            )
        _check_eesp(f"down-sampler of {stage}", f"channels[{s + 1}] - channels[{s}]", c_in, eesp_out, k, gr, ge)
        if cfg.depths[s] > 0:
            _check_eesp(f"units of {stage}", f"channels[{s + 1}]", c_out, c_out, k, gr, ge)
    c5 = cfg.channels[4]
    if c5 % k:
        raise ConfigError(f"channels[4]={c5} is invalid for the grouped head conv; valid: a multiple of branches K={k}")
    if cfg.head_channels % k:
        raise ConfigError(
            f"head_channels={cfg.head_channels} is invalid for the grouped head conv; "
            f"valid: a multiple of branches K={k}"
        )


def _check_eesp(where: str, what: str, c_in: int, c_out: int, k: int, gr: int, ge: int) -> None:
    """The divisibility rules of one EESP unit c_in -> c_out with K branches."""
    if c_out % k:
        raise ConfigError(f"{what}={c_out} ({where}) is not divisible by branches K={k}; valid: a multiple of {k}")
    n = c_out // k
    if n % gr or c_in % gr:
        raise ConfigError(
            f"reduce_groups={gr} does not divide the reducing 1x1 conv of the {where} ({c_in} -> {n} channels); "
            f"valid: a common divisor of {c_in} and {n}, e.g. {math.gcd(c_in, n)}"
        )
    if c_out % ge:
        raise ConfigError(
            f"expand_groups={ge} does not divide the expanding 1x1 conv of the {where} ({c_out} channels); "
            f"valid: a divisor of {c_out}"
        )

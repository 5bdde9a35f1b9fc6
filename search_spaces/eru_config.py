"""Configs of the ERU language model (the paper's Sec. 4.3, Table 3) and its equal-size LSTM baseline; no torch.

An `ERUConfig` describes a word-level language model: an embedding, `layers` ERU layers, and a decoder tied to
the embedding. Each ERU layer is an LSTM cell whose input transform (the 4 gate pre-activations from the input
vector) is a 1-D EESP unit running causally over time; see docs/language.md for why time is the axis.

Like `EESPConfig`, an `ERUConfig` that exists is valid (checked in `__post_init__`), and has canonical JSON
(`to_json`), an `arch_id`, and a compact string (`eru:v=10000,e=400,h=320,...`). `LSTMConfig` is the
torch.nn.LSTM baseline in the same form (`lstm:...`); `profilers.language_counting.equal_lstm(cfg)` gives the one
of equal parameter count (`lstm:eru-7m` as a spec).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from search_spaces.config import branch_dilations
from search_spaces.errors import ConfigError

ERU_SCHEMA_VERSION = 1
ERU_PREFIX = "eru:"
LSTM_PREFIX = "lstm:"
PTB_VOCAB = 10_000  # the Penn Treebank as prepared by Mikolov et al. (2010)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Serialised:
    """Canonical JSON, arch id, dict and compact forms shared by both language configs."""

    KIND: ClassVar[str] = ""
    PREFIX: ClassVar[str] = ""
    COMPACT: ClassVar[dict[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": ERU_SCHEMA_VERSION, "kind": self.KIND}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self, indent: int | None = None) -> str:
        if indent is None:
            return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @property
    def arch_id(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict):
            raise ConfigError(f"a {cls.KIND} config must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        schema = data.pop("schema", ERU_SCHEMA_VERSION)
        kind = data.pop("kind", cls.KIND)
        if schema != ERU_SCHEMA_VERSION:
            raise ConfigError(f"{cls.KIND} config schema={schema!r} is not supported; valid: {ERU_SCHEMA_VERSION}")
        if kind != cls.KIND:
            raise ConfigError(f"config kind={kind!r} is not a {cls.KIND} config")
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ConfigError(
                f"unknown {cls.KIND} config key(s) {', '.join(unknown)}; valid: {', '.join(cls.field_names())}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def replace(self, **changes: Any) -> Any:
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; valid: {', '.join(self.field_names())}")
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_compact(self) -> str:
        parts = []
        for key, name in self.COMPACT.items():
            value = getattr(self, name)
            if isinstance(value, tuple):
                text = "/".join(map(str, value))
            elif isinstance(value, bool):
                text = str(int(value))
            else:
                text = repr(value)
            parts.append(f"{key}={text}")
        return self.PREFIX + ",".join(parts)

    @classmethod
    def from_compact(cls, text: str) -> Any:
        if not text.startswith(cls.PREFIX):
            raise ConfigError(f"compact {cls.KIND} config {text!r} must start with {cls.PREFIX!r}")
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        fields: dict[str, Any] = {}
        for item in filter(None, text[len(cls.PREFIX) :].strip().split(",")):
            key, sep, raw = item.partition("=")
            key, raw = key.strip(), raw.strip()
            if not sep or key not in cls.COMPACT:
                raise ConfigError(
                    f"compact {cls.KIND} config item {item!r} is invalid; valid keys: {', '.join(cls.COMPACT)}"
                )
            name = cls.COMPACT[key]
            if name in fields:
                raise ConfigError(f"compact {cls.KIND} config key {key!r} is given twice")
            default = defaults[name]
            try:
                if isinstance(default, tuple):
                    fields[name] = tuple(int(v) for v in raw.split("/"))
                elif isinstance(default, bool):
                    if raw not in ("0", "1"):
                        raise ValueError
                    fields[name] = raw == "1"
                elif isinstance(default, float):
                    fields[name] = float(raw)
                else:
                    fields[name] = int(raw)
            except ValueError:
                hint = (
                    "integers separated by '/'"
                    if isinstance(default, tuple)
                    else "0 or 1"
                    if isinstance(default, bool)
                    else "a number"
                )
                raise ConfigError(f"compact {cls.KIND} config {key}={raw!r} is invalid; valid: {hint}") from None
        if "dilation_caps" not in fields and "layers" in fields and "dilation_caps" in defaults:
            fields["dilation_caps"] = (defaults["dilation_caps"][0],) * fields["layers"]
        return cls(**fields)


def _check_common(cfg: Any) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(f.default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{f.name}={value!r} is invalid; valid: true or false")
        elif isinstance(f.default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{f.name}={value!r} is invalid; valid: a number in [0, 1)")
            object.__setattr__(cfg, f.name, float(value))
        elif isinstance(f.default, tuple):
            if not isinstance(value, tuple) or not value or not all(_is_int(v) for v in value):
                raise ConfigError(f"{f.name}={value!r} is invalid; valid: integers separated by '/'")
        elif not _is_int(value) or value < 1:
            raise ConfigError(f"{f.name}={value!r} is invalid; valid: a positive integer")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"dropout={cfg.dropout} is invalid; valid: a number in [0, 1)")


@dataclass(frozen=True)
class ERUConfig(_Serialised):
    """A language model of `layers` ERU layers. Defaults: the 7M-parameter preset `eru-7m`.

    vocab_size:     words, including <unk> and <eos> (the Penn Treebank: 10,000).
    embedding:      embedding width (the paper: 400); with tied weights also the last layer's hidden size.
    hidden:         hidden size of every layer but the last (the last has `embedding` when tied).
    layers:         ERU layers (the paper: 3).
    branches:       K, the depth-wise dilated 1-D branches of each layer's EESP input transform.
    reduce_groups:  groups of the reducing point-wise (1x1) conv; expand_groups: of the expanding one.
    dilation_caps:  r_lim per layer, in tokens: branch i wants receptive field 3 + 2i, one above the cap uses 3;
                    the unit sees the current token and the 2*max(d) before it (causal).
    hff:            hierarchical feature fusion over the branches.
    dropout:        standard dropout after the embedding, between layers and after the last (the paper: 0.5).
    tie_weights:    decoder weight shared with the embedding (as AWD-LSTM, which the paper follows).
    """

    vocab_size: int = PTB_VOCAB
    embedding: int = 400
    hidden: int = 316
    layers: int = 3
    branches: int = 4
    reduce_groups: int = 4
    expand_groups: int = 4
    dilation_caps: tuple[int, ...] = (9, 9, 9)
    hff: bool = True
    dropout: float = 0.5
    tie_weights: bool = True

    KIND: ClassVar[str] = "eru"
    task: ClassVar[str] = "language"  # nas/search/tasks.py
    PREFIX: ClassVar[str] = ERU_PREFIX
    COMPACT: ClassVar[dict[str, str]] = {
        "v": "vocab_size",
        "e": "embedding",
        "h": "hidden",
        "l": "layers",
        "k": "branches",
        "gr": "reduce_groups",
        "ge": "expand_groups",
        "r": "dilation_caps",
        "hff": "hff",
        "drop": "dropout",
        "tie": "tie_weights",
    }

    def __post_init__(self) -> None:
        _check_common(self)
        if len(self.dilation_caps) != self.layers:
            raise ConfigError(
                f"dilation_caps has {len(self.dilation_caps)} value(s) for layers={self.layers}; valid: one per layer"
            )
        for i, cap in enumerate(self.dilation_caps):
            if cap < 3:
                raise ConfigError(f"dilation_caps[{i}]={cap} is invalid; valid: 3 or more (a 3-tap kernel)")
        k, gr, ge = self.branches, self.reduce_groups, self.expand_groups
        for i, (c_in, h) in enumerate(self.layer_sizes()):
            where = f"layer {i} ({c_in} -> 4x{h} gates)"
            gates = 4 * h
            if gates % k:
                raise ConfigError(f"4*hidden={gates} ({where}) is not divisible by branches K={k}")
            n = gates // k
            if n % gr or c_in % gr:
                raise ConfigError(
                    f"reduce_groups={gr} does not divide the reducing conv of {where} ({c_in} -> {n} channels); "
                    f"valid: a common divisor of {c_in} and {n}, e.g. {math.gcd(c_in, n)}"
                )
            if gates % ge:
                raise ConfigError(
                    f"expand_groups={ge} does not divide the expanding conv of {where} ({gates} channels); "
                    f"valid: a divisor of {gates}"
                )

    def layer_sizes(self) -> list[tuple[int, int]]:
        """(input width, hidden size) of each layer."""
        hs = [self.hidden] * self.layers
        if self.tie_weights:
            hs[-1] = self.embedding
        ins = [self.embedding, *hs[:-1]]
        return list(zip(ins, hs, strict=True))

    def layer_dilations(self, layer: int) -> tuple[int, ...]:
        return branch_dilations(self.branches, self.dilation_caps[layer])

    def context(self, layer: int) -> int:
        """Past tokens the layer's convolution sees (the state it carries between calls): 2 * max dilation."""
        return 2 * max(self.layer_dilations(layer))


@dataclass(frozen=True)
class LSTMConfig(_Serialised):
    """The baseline: AWD-LSTM's shape (embedding, `layers` torch.nn.LSTM layers, tied decoder) and dropout."""

    vocab_size: int = PTB_VOCAB
    embedding: int = 400
    hidden: int = 320
    layers: int = 3
    dropout: float = 0.5
    tie_weights: bool = True

    KIND: ClassVar[str] = "lstm"
    task: ClassVar[str] = "language"
    PREFIX: ClassVar[str] = LSTM_PREFIX
    COMPACT: ClassVar[dict[str, str]] = {
        "v": "vocab_size",
        "e": "embedding",
        "h": "hidden",
        "l": "layers",
        "drop": "dropout",
        "tie": "tie_weights",
    }

    def __post_init__(self) -> None:
        _check_common(self)

    def layer_sizes(self) -> list[tuple[int, int]]:
        hs = [self.hidden] * self.layers
        if self.tie_weights:
            hs[-1] = self.embedding
        return list(zip([self.embedding, *hs[:-1]], hs, strict=True))


LanguageConfig = ERUConfig | LSTMConfig

# Widths found by `profilers.language_counting` so that the totals land on the paper's 7M and 15M (Table 3)
# at the Penn Treebank's 10,000 words; `espnas count eru-7m` prints the exact figures.
ERU_PRESETS: dict[str, ERUConfig] = {
    "eru-7m": ERUConfig(hidden=316),  # 7,016,108 parameters (+0.23%)
    "eru-15m": ERUConfig(hidden=764),  # 15,003,052 parameters (+0.02%)
}
#: Table 3's parameter counts and test perplexities of the two ERU rows.
ERU_PAPER_FIGURES: dict[str, tuple[float, float]] = {"eru-7m": (7e6, 73.63), "eru-15m": (15e6, 63.47)}


def is_language_spec(spec: Any) -> bool:
    """True for an ERU/LSTM config, an ERU preset, `lstm:`/`eru:` strings, or JSON whose kind is eru/lstm."""
    if isinstance(spec, (ERUConfig, LSTMConfig)):
        return True
    if not isinstance(spec, str):
        return False
    text = spec.strip()
    if text in ERU_PRESETS or text.startswith((ERU_PREFIX, LSTM_PREFIX)):
        return True
    squeezed = text.replace(" ", "")
    return text.startswith("{") and ('"kind":"eru"' in squeezed or '"kind":"lstm"' in squeezed)


def resolve_language(spec: Any) -> LanguageConfig:
    """An ERU or LSTM config from a config, an ERU preset, `eru:...`, `lstm:...`, or JSON with kind eru/lstm.
    (`lstm:eru-7m`, the LSTM of equal parameter count, needs counting: `profilers.language_counting.resolve_model`.)"""
    if isinstance(spec, (ERUConfig, LSTMConfig)):
        return spec
    if not isinstance(spec, str):
        raise ConfigError(f"cannot read a language model from {type(spec).__name__}")
    text = spec.strip()
    if text in ERU_PRESETS:
        return ERU_PRESETS[text]
    if text.startswith(ERU_PREFIX):
        return ERUConfig.from_compact(text)
    if text.startswith(LSTM_PREFIX):
        rest = text[len(LSTM_PREFIX) :]
        if rest in ERU_PRESETS or rest.startswith(ERU_PREFIX):
            raise ConfigError(
                f"{text!r} names the LSTM of equal size to an ERU; resolve it with "
                "profilers.language_counting.resolve_model (counting decides the width)"
            )
        return LSTMConfig.from_compact(text)
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"malformed config JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
        kind = data.get("kind") if isinstance(data, dict) else None
        return (LSTMConfig if kind == "lstm" else ERUConfig).from_dict(data)
    raise ConfigError(
        f"unknown language model spec {text!r}; valid: {', '.join(ERU_PRESETS)}, 'eru:...', 'lstm:...' "
        "or 'lstm:PRESET' (the LSTM of equal parameter count)"
    )

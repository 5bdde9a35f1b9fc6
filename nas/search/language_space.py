"""The search space of `espnas search --task language`: the ERU's knobs, and the bridge to an `ERUConfig`.

The file format is the image spaces' (nas/search/spaces/paper.toml): `name`, `description` and a `[knobs]`
table of fixed values, choices and ranges. A space is a language space when its knobs name `hidden`
(`nas.search.space.parse_space` hands it over here). Knobs, with the paper's (Table 3) value where a file
leaves one out:

- embedding (400), layers (3), hidden (316: the 7M preset), dropout (0.5), tie_weights (true);
- branches (K, 4), reduce_groups and expand_groups ("K" = branches, or an integer), hff (true);
- dilation_cap: r_lim in tokens, one for every layer (9: dilations 1, 2, 3, 4 at K = 4).

Configs from the bridge count at the Penn Treebank's 10,000 words (the convention of the parameter band,
like 224x224 and 1000 classes for the classifier); the proxy trains them at the corpus's own vocabulary.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from search_spaces.errors import ConfigError, EspnasError
from search_spaces.eru_config import PTB_VOCAB, ERUConfig

# nas.search.space imports this module to hand language spaces over (`parse_space`); so that no import cycle
# forms, its knob parser, SearchSpace class and error class come in as arguments instead of imports.
KnobParser = Callable[[str, str, Any], Any]


class LanguageSpaceError(EspnasError, ValueError):
    """A sample that names a knob the language space does not have."""


LANGUAGE_DEFAULTS: dict[str, Any] = {
    "embedding": 400,
    "layers": 3,
    "hidden": 316,
    "branches": 4,
    "reduce_groups": "K",
    "expand_groups": "K",
    "dilation_cap": 9,
    "hff": True,
    "dropout": 0.5,
    "tie_weights": True,
}
LANGUAGE_KNOBS = tuple(LANGUAGE_DEFAULTS)
_TOP_LEVEL = ("name", "description", "knobs")


def is_language_space(data: Mapping[str, Any]) -> bool:
    knobs = data.get("knobs")
    return isinstance(knobs, Mapping) and "hidden" in knobs


def parse_language_space(
    data: Mapping[str, Any], source: str, *, parse_knob: KnobParser, space_class: Any, error: type[Exception]
) -> Any:
    """Validate a language space file; every error is one line naming the key. Called by
    `nas.search.space.parse_space`, which passes its `_parse_knob`, `SearchSpace` and `SpaceError`."""
    SpaceError = error
    unknown = sorted(set(data) - set(_TOP_LEVEL))
    if unknown:
        raise SpaceError(f"{source}: unknown key {unknown[0]!r}; valid top-level keys: {', '.join(_TOP_LEVEL)}")
    name = data.get("name", "language")
    if not isinstance(name, str) or not name:
        raise SpaceError(f"{source}: name={name!r} is invalid; valid: a non-empty string")
    knobs_in = data["knobs"]
    unknown = sorted(set(knobs_in) - set(LANGUAGE_KNOBS))
    if unknown:
        raise SpaceError(
            f"{source}: unknown knob {unknown[0]!r} for a language space; valid knobs: {', '.join(LANGUAGE_KNOBS)}"
        )
    merged = dict(LANGUAGE_DEFAULTS) | dict(knobs_in)
    for key in ("dropout", "tie_weights", "hff", "embedding", "layers"):
        value = merged[key]
        if isinstance(value, (list, Mapping)) and key in ("dropout", "tie_weights"):
            raise SpaceError(f"{source}: knobs.{key} must be one fixed value in a language space")
    knobs = tuple(parse_knob(f"{source}: knobs.{key}", key, value) for key, value in merged.items())
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SpaceError(f"{source}: description must be a string")
    space = space_class(name=name, knobs=knobs, description=description, source=source)
    rng = random.Random(0)
    last: ConfigError | None = None
    for _ in range(200):
        try:
            sample_to_language(space.sample(rng), space)
            return space
        except ConfigError as err:
            last = err
    raise SpaceError(f"{source}: no valid ERU in 200 random samples of this space (last: {last})")


def sample_to_language(flat: Mapping[str, Any], space: Any) -> ERUConfig:
    """Freeze one sampled flat dict into a validated ERU config at the PTB's vocabulary (10,000 words)."""
    unknown = sorted(set(flat) - set(LANGUAGE_KNOBS))
    if unknown:
        raise LanguageSpaceError(f"unknown knob {unknown[0]!r} in the sample; valid knobs: {', '.join(LANGUAGE_KNOBS)}")
    values = {k.name: k.value for k in space.knobs if k.kind == "fixed"}
    values.update(flat)
    merged = dict(LANGUAGE_DEFAULTS) | values
    k = int(merged["branches"])
    groups = {g: k if merged[g] == "K" else int(merged[g]) for g in ("reduce_groups", "expand_groups")}
    layers = int(merged["layers"])
    return ERUConfig(
        vocab_size=PTB_VOCAB,
        embedding=int(merged["embedding"]),
        hidden=int(merged["hidden"]),
        layers=layers,
        branches=k,
        dilation_caps=(int(merged["dilation_cap"]),) * layers,
        hff=bool(merged["hff"]),
        dropout=float(merged["dropout"]),
        tie_weights=bool(merged["tie_weights"]),
        **groups,
    )


def freeze_language(flat: Mapping[str, Any], space: Any) -> ERUConfig:
    """The task registry's bridge (nas/search/tasks.py)."""
    return sample_to_language(flat, space)

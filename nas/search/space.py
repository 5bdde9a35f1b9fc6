"""The search space as data: a TOML file of knobs, and one bridge from a sampled flat dict to a config.

Two vocabularies and one bridge (as NNI does it): a sampler sees flat labels (`scale`, `depth_L3`,
`reduce_groups`, ...) with plain values; `sample_to_config` freezes one such dict into a validated
`EESPConfig`. The default space, `nas/search/spaces/paper.toml`, ships as package data and documents the file format.

Configs from the bridge are ImageNet-shaped (224x224 input, 1000 classes): that is the convention the FLOP
band uses (the paper's Table 2), independent of the small data a proxy trains on.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from search_spaces import EESPConfig
from search_spaces.errors import ConfigError, EspnasError

STAGES = ("L2", "L3", "L4", "L5")
WIDTH_KNOBS = ("c1", "c2", "c3", "c4", "c5")
# Every knob a space file may name, with the paper's value used where the file leaves it out.
PAPER_DEFAULTS: dict[str, Any] = {
    "scale": 1.0,
    "depth_L2": 0,
    "depth_L3": 3,
    "depth_L4": 7,
    "depth_L5": 3,
    "branches": 4,
    "reduce_groups": "K",
    "expand_groups": "K",
    "dilation_caps": "13,11,9,7,5",
    "hff": True,
    "input_shortcut": True,
    "head_channels": "rule",
}
# Per-level dilation caps (r_lim), as an alternative to the five-cap string `dilation_caps`.
CAP_KNOBS = tuple(f"dilation_cap_{i}" for i in range(1, 6))
KNOB_NAMES = (*PAPER_DEFAULTS, *WIDTH_KNOBS, *CAP_KNOBS)
TOP_LEVEL_KEYS = ("name", "description", "knobs")
RANGE_KEYS = ("low", "high", "step", "log")
DEFAULT_SPACE = "paper"
# The paper's convention for counting: ImageNet input and classes.
COUNT_INPUT_SIZE = (224, 224)
COUNT_CLASSES = 1000


class SpaceError(EspnasError, ValueError):
    """A malformed search-space file: names the key, the value and what would be valid."""


@dataclass(frozen=True)
class Knob:
    """One dimension of the space: fixed (`value`), categorical (`choices`) or a range (`low`..`high`)."""

    name: str
    value: Any = None
    choices: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False

    @property
    def kind(self) -> str:
        if self.choices:
            return "categorical"
        if self.low is None:
            return "fixed"
        return "int" if isinstance(self.low, int) and isinstance(self.high, int) else "float"

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial (or anything with suggest_*) for this knob's value."""
        kind = self.kind
        if kind == "fixed":
            return self.value
        if kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def sample(self, rng: random.Random) -> Any:
        """A uniform random value (for tests and the random baseline; not log-aware)."""
        kind = self.kind
        if kind == "fixed":
            return self.value
        if kind == "categorical":
            return rng.choice(self.choices)
        if kind == "int":
            step = self.step or 1
            return self.low + step * rng.randrange((self.high - self.low) // step + 1)
        if self.step:
            n = math.floor((self.high - self.low) / self.step + 1e-9)
            return self.low + self.step * rng.randrange(n + 1)
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class SearchSpace:
    """A named set of knobs, as read from a space file."""

    name: str
    knobs: tuple[Knob, ...]
    description: str = ""
    source: str = ""

    @property
    def searched(self) -> tuple[Knob, ...]:
        """The knobs a sampler chooses (not fixed)."""
        return tuple(k for k in self.knobs if k.kind != "fixed")

    def knob(self, name: str) -> Knob:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(name)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Define-by-run: the full flat dict (fixed knobs included) for an Optuna trial."""
        return {k.name: k.suggest(trial) for k in self.knobs}

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return {k.name: k.sample(rng) for k in self.knobs}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, stored in the run's settings."""
        out: dict[str, Any] = {}
        for k in self.knobs:
            if k.kind == "fixed":
                out[k.name] = k.value
            elif k.kind == "categorical":
                out[k.name] = list(k.choices)
            else:
                out[k.name] = {"low": k.low, "high": k.high, "step": k.step, "log": k.log}
        return {"name": self.name, "description": self.description, "source": self.source, "knobs": out}


def default_space_path() -> Path:
    """The shipped paper space (package data)."""
    return shipped_space_path(DEFAULT_SPACE)


def shipped_space_path(name: str) -> Path:
    """The shipped space file of that name (package data: nas/search/spaces/NAME.toml)."""
    return Path(str(resources.files("nas.search") / "spaces" / f"{name}.toml"))


def shipped_spaces() -> tuple[str, ...]:
    """The names of the shipped spaces ("paper", "stages", ...)."""
    return tuple(
        sorted(
            p.name[: -len(".toml")]
            for p in resources.files("nas.search").joinpath("spaces").iterdir()
            if p.name.endswith(".toml")
        )
    )


def load_space(path: str | Path | None = None) -> SearchSpace:
    """Read a space file (TOML) or a shipped space by name ("paper", "stages"); None means the shipped paper
    space. Raises SpaceError naming the key."""
    p = default_space_path() if path is None else Path(path)
    if path is not None and not p.is_file() and str(path) in shipped_spaces():
        p = shipped_space_path(str(path))
    if not p.is_file():
        raise SpaceError(
            f"search-space file {str(p)!r} does not exist; valid: a TOML file such as {default_space_path()}"
        )
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpaceError(f"search-space file {str(p)!r} is not valid TOML: {err}") from None
    return parse_space(data, source=str(p))


def parse_space(data: Mapping[str, Any], source: str = "<dict>") -> SearchSpace:
    """Validate a parsed space file. Every error is one line naming the key."""
    if isinstance(data, Mapping) and isinstance(data.get("knobs"), Mapping) and "hidden" in data["knobs"]:
        from nas.search.language_space import parse_language_space  # the ERU's knobs (--task language)

        return parse_language_space(data, source, parse_knob=_parse_knob, space_class=SearchSpace, error=SpaceError)
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise SpaceError(f"{source}: unknown key {unknown[0]!r}; valid top-level keys: {', '.join(TOP_LEVEL_KEYS)}")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise SpaceError(f"{source}: name={name!r} is invalid; valid: a non-empty string")
    knobs_in = data.get("knobs", {})
    if not isinstance(knobs_in, Mapping):
        raise SpaceError(f"{source}: 'knobs' must be a table of knob = value | [choices] | {{low, high}}")
    unknown = sorted(set(knobs_in) - set(KNOB_NAMES))
    if unknown:
        raise SpaceError(f"{source}: unknown knob {unknown[0]!r}; valid knobs: {', '.join(KNOB_NAMES)}")
    widths = [w for w in WIDTH_KNOBS if w in knobs_in]
    if widths and len(widths) != len(WIDTH_KNOBS):
        missing = [w for w in WIDTH_KNOBS if w not in knobs_in]
        raise SpaceError(f"{source}: per-stage widths need all of c1..c5; missing {', '.join(missing)}")
    if widths and "scale" in knobs_in:
        raise SpaceError(f"{source}: give either 'scale' or per-stage widths c1..c5, not both")
    caps = [c for c in CAP_KNOBS if c in knobs_in]
    if caps and len(caps) != len(CAP_KNOBS):
        missing = [c for c in CAP_KNOBS if c not in knobs_in]
        raise SpaceError(
            f"{source}: per-level dilation caps need all of dilation_cap_1..5; missing {', '.join(missing)}"
        )
    if caps and "dilation_caps" in knobs_in:
        raise SpaceError(f"{source}: give either 'dilation_caps' or dilation_cap_1..5, not both")

    merged: dict[str, Any] = dict(PAPER_DEFAULTS)
    if widths:
        merged.pop("scale")
    if caps:
        merged.pop("dilation_caps")
    merged.update(knobs_in)
    knobs = tuple(_parse_knob(f"{source}: knobs.{key}", key, value) for key, value in merged.items())
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SpaceError(f"{source}: description must be a string")
    space = SearchSpace(name=name, knobs=knobs, description=description, source=source)
    _check_some_config_exists(space, source)
    return space


def _parse_knob(where: str, key: str, raw: Any) -> Knob:
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - set(RANGE_KEYS))
        if unknown:
            raise SpaceError(f"{where}: unknown range key {unknown[0]!r}; valid: {', '.join(RANGE_KEYS)}")
        if "low" not in raw or "high" not in raw:
            raise SpaceError(f"{where}: a range needs both 'low' and 'high'")
        low, high, step, log = raw["low"], raw["high"], raw.get("step"), raw.get("log", False)
        for label, v in (("low", low), ("high", high), ("step", step)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise SpaceError(f"{where}: {label}={v!r} is invalid; valid: a number")
        if not isinstance(log, bool):
            raise SpaceError(f"{where}: log={log!r} is invalid; valid: true or false")
        if low > high:
            raise SpaceError(f"{where}: low={low} > high={high}; valid: low <= high")
        if step is not None and step <= 0:
            raise SpaceError(f"{where}: step={step} is invalid; valid: a positive number")
        if log and (low <= 0 or step is not None):
            raise SpaceError(f"{where}: log=true needs low > 0 and no step")
        if key not in ("scale",) and not (isinstance(low, int) and isinstance(high, int)):
            raise SpaceError(f"{where}: range {low}..{high} is invalid; valid: integer bounds for {key}")
        if isinstance(low, int) and isinstance(high, int) and step is not None and not isinstance(step, int):
            raise SpaceError(f"{where}: step={step} is invalid for an integer range; valid: a positive integer")
        if key == "scale" and isinstance(low, int):
            low, high = float(low), float(high)
        knob = Knob(key, low=low, high=high, step=step, log=log)
        for v in (low, high):
            _check_value(where, key, v)
        return knob
    if isinstance(raw, list):
        if not raw:
            raise SpaceError(f"{where}: an empty list of choices; valid: at least one value")
        if len(set(map(repr, raw))) != len(raw):
            raise SpaceError(f"{where}: repeated choices in {raw!r}")
        for v in raw:
            _check_value(where, key, v)
        if len(raw) == 1:
            return Knob(key, value=raw[0])
        return Knob(key, choices=tuple(raw))
    _check_value(where, key, raw)
    return Knob(key, value=raw)


def _check_value(where: str, key: str, v: Any) -> None:
    """Type and range of one value of a knob (before any config is built)."""
    is_int = isinstance(v, int) and not isinstance(v, bool)
    if key in ("hff", "input_shortcut"):
        if not isinstance(v, bool):
            raise SpaceError(f"{where}: {v!r} is invalid; valid: true or false")
    elif key == "scale":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 8:
            raise SpaceError(f"{where}: {v!r} is invalid; valid: a width scale in (0, 8], the paper uses 0.5..2.0")
    elif key.startswith("depth_"):
        if not is_int or not 0 <= v <= 64:
            raise SpaceError(f"{where}: {v!r} is invalid; valid: an integer number of units 0..64")
    elif key in CAP_KNOBS:
        if not is_int or v < 3:
            raise SpaceError(f"{where}: {v!r} is invalid; valid: an integer dilation cap of at least 3")
    elif key in WIDTH_KNOBS or key == "branches":
        if not is_int or v < 1:
            raise SpaceError(f"{where}: {v!r} is invalid; valid: a positive integer")
    elif key in ("reduce_groups", "expand_groups"):
        if not (v == "K" or (is_int and v >= 1)):
            raise SpaceError(f'{where}: {v!r} is invalid; valid: a positive integer or "K" (= branches)')
    elif key == "head_channels":
        if not (v == "rule" or (is_int and v >= 1)):
            raise SpaceError(f'{where}: {v!r} is invalid; valid: a positive integer or "rule" (the paper\'s)')
    elif key == "dilation_caps":
        _parse_caps(where, v)


def _parse_caps(where: str, v: Any) -> tuple[int, ...]:
    try:
        caps = tuple(int(x) for x in str(v).split(","))
    except ValueError:
        caps = ()
    if not isinstance(v, str) or len(caps) != 5 or any(c < 3 for c in caps):
        raise SpaceError(f'{where}: {v!r} is invalid; valid: a string of five caps >= 3, e.g. "13,11,9,7,5"')
    return caps


def _check_some_config_exists(space: SearchSpace, source: str) -> None:
    """A space in which no sample is a valid network is a mistake in the file; try a few samples."""
    rng = random.Random(0)
    last: ConfigError | None = None
    for _ in range(200):
        try:
            sample_to_config(space.sample(rng), space)
            return
        except ConfigError as err:
            last = err
    raise SpaceError(f"{source}: no valid network in 200 random samples of this space (last: {last})")


def sample_to_config(flat: Mapping[str, Any], space: SearchSpace) -> EESPConfig:
    """Freeze one sampled flat dict into a validated, ImageNet-shaped (224x224, 1000 classes) config.

    Knobs missing from `flat` take the space's fixed value or the paper's default; unknown keys are refused.
    Raises ConfigError when the combination is not a valid network (e.g. widths not divisible by K).
    """
    unknown = sorted(set(flat) - set(KNOB_NAMES))
    if unknown:
        raise SpaceError(f"unknown knob {unknown[0]!r} in the sample; valid knobs: {', '.join(KNOB_NAMES)}")
    values: dict[str, Any] = {}
    for knob in space.knobs:
        values[knob.name] = flat.get(knob.name, knob.value if knob.kind == "fixed" else None)
        if values[knob.name] is None:
            raise SpaceError(f"the sample has no value for knob {knob.name!r} of space {space.name!r}")
    k = int(values["branches"])

    def groups(name: str) -> int:
        v = values[name]
        return k if v == "K" else int(v)

    fields: dict[str, Any] = {
        "depths": tuple(int(values[f"depth_{s}"]) for s in STAGES),
        "branches": k,
        "reduce_groups": groups("reduce_groups"),
        "expand_groups": groups("expand_groups"),
        "dilation_caps": (
            tuple(int(values[c]) for c in CAP_KNOBS)
            if "dilation_caps" not in values
            else _parse_caps("dilation_caps", values["dilation_caps"])
        ),
        "hff": bool(values["hff"]),
        "input_shortcut": bool(values["input_shortcut"]),
        "num_classes": COUNT_CLASSES,
        "input_size": COUNT_INPUT_SIZE,
    }
    if values.get("head_channels", "rule") != "rule":
        fields["head_channels"] = int(values["head_channels"])
    if "scale" in values:
        return EESPConfig.from_scale(float(values["scale"]), **fields)
    if fields.get("head_channels") is None:
        fields["head_channels"] = 1024
    return EESPConfig(channels=tuple(int(values[c]) for c in WIDTH_KNOBS), **fields)

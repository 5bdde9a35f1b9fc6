"""The objectives a search can optimise, by name, and the rule that picks the defaults.

Each objective is a metric column of the run (`accuracy`, `latency_ms`, ...) with a direction and a unit, and
says where its value comes from: the proxy training ("train"), a measurement on a target device ("measure"),
or the config alone ("analytic": params and MACs under the paper's 224x224 / 1000-class convention).
Defaults: accuracy and latency, plus energy where the device has a power source; otherwise energy is dropped
and the reason is given, so a run never silently optimises less than the user expects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from search_spaces.errors import EspnasError


class ObjectiveError(EspnasError, ValueError):
    """An unknown or unavailable objective name."""


@dataclass(frozen=True)
class SearchObjective:
    """One optimisable quantity: `metric` is its record column, `direction` "max" or "min"."""

    name: str
    metric: str
    direction: str
    unit: str
    source: str  # "train" | "measure" | "analytic"
    per_target: bool = False
    # Told to the sampler for trials outside the FLOP band; never stored as a measurement. Constraint
    # dominance ranks such trials below every feasible one, so only its finiteness matters.
    infeasible_value: float = 0.0

    @property
    def optuna_direction(self) -> str:
        return "maximize" if self.direction == "max" else "minimize"

    @property
    def tune_mode(self) -> str:
        return self.direction

    def to_dict(self) -> dict[str, str]:
        """The run.json form: {name, direction, unit} with name = the metric column."""
        return {"name": self.metric, "direction": self.direction, "unit": self.unit}


_WORST = 1e12
REGISTRY: dict[str, SearchObjective] = {
    o.name: o
    for o in (
        SearchObjective("accuracy", "accuracy", "max", "fraction", "train", infeasible_value=0.0),
        # segmentation's quality (nas/search/tasks.py): mean IoU over the classes, as a fraction
        SearchObjective("miou", "miou", "max", "fraction", "train", infeasible_value=0.0),
        # the language task's quality: validation perplexity of the proxy training (nas/train/language.py)
        SearchObjective("perplexity", "perplexity", "min", "ppl", "train", infeasible_value=_WORST),
        SearchObjective("latency", "latency_ms", "min", "ms", "measure", per_target=True, infeasible_value=_WORST),
        # predicted from a latency table (profilers.predictor; espnas predictor build), not measured
        SearchObjective("latency_pred", "latency_pred_ms", "min", "ms", "predict", infeasible_value=_WORST),
        SearchObjective("energy", "energy_mj", "min", "mJ/image", "measure", per_target=True, infeasible_value=_WORST),
        SearchObjective(
            "peak_memory", "peak_memory_mb", "min", "MB", "measure", per_target=True, infeasible_value=_WORST
        ),
        SearchObjective("params", "params", "min", "count", "analytic", infeasible_value=_WORST),
        SearchObjective("macs", "macs", "min", "MACs", "analytic", infeasible_value=_WORST),
    )
}
ALIASES = {o.metric: o.name for o in REGISTRY.values()} | {"memory": "peak_memory", "flops": "macs"}
DEFAULT_OBJECTIVES = ("accuracy", "latency", "energy")


def get_objective(name: str) -> SearchObjective:
    """Look an objective up by name or metric column (`latency` or `latency_ms`)."""
    key = ALIASES.get(name.strip(), name.strip())
    if key not in REGISTRY:
        raise ObjectiveError(f"unknown objective {name!r}; valid: {', '.join(REGISTRY)}")
    return REGISTRY[key]


@dataclass(frozen=True)
class Selection:
    """The objectives a run optimises, and notes on defaults that were dropped (with why)."""

    objectives: tuple[SearchObjective, ...]
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objectives)

    @property
    def metrics(self) -> list[str]:
        return [o.metric for o in self.objectives]

    @property
    def modes(self) -> list[str]:
        return [o.direction for o in self.objectives]

    def needs(self, source: str) -> bool:
        return any(o.source == source for o in self.objectives)

    def has(self, name: str) -> bool:
        return name in self.names


def energy_availability(device: str) -> tuple[bool, str]:
    """Whether energy per image can be measured on `device`, and why not (never raises)."""
    from profilers.energy import power_available

    try:
        result = power_available(device)
    except Exception as err:  # a probe that fails is the same as no power source, with its reason
        return False, f"power probe failed: {err}"
    ok = bool(getattr(result, "ok", result))
    return ok, str(getattr(result, "reason", "") or "")


def select_objectives(
    names: Sequence[str] | str | None,
    device: str = "cpu",
    *,
    power_check: Callable[[str], tuple[bool, str]] = energy_availability,
    defaults: Sequence[str] = DEFAULT_OBJECTIVES,
) -> Selection:
    """Resolve objective names (comma-separated string or list; None = defaults) for `device`.

    Energy is dropped from the defaults, with a note, where no power source exists; asked for explicitly
    there, it is an error (the user would otherwise get a front without the axis they wanted).
    """
    explicit = names is not None
    if names is None:
        names = tuple(defaults)  # the task's: its quality objective, latency, energy
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    if not names:
        raise ObjectiveError(f"no objectives given; valid: a comma-separated list of {', '.join(REGISTRY)}")
    chosen: list[SearchObjective] = []
    for name in names:
        obj = get_objective(name)
        if obj in chosen:
            raise ObjectiveError(f"objective {obj.name!r} is given twice")
        chosen.append(obj)
    notes: list[str] = []
    if any(o.name == "energy" for o in chosen):
        ok, reason = power_check(device)
        if not ok:
            if explicit:
                raise ObjectiveError(f"objective 'energy' is unavailable: {reason}; leave energy out of --objectives")
            chosen = [o for o in chosen if o.name != "energy"]
            notes.append(f"energy dropped from the objectives: {reason}")
    return Selection(tuple(chosen), tuple(notes))


def metric_name(base: str, target: str) -> str:
    """Per-target column, e.g. latency_ms_a10g (lower case, only [a-z0-9_])."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in target.lower()).strip("_")
    return f"{base}_{safe}"

"""A zero-cost first rung: score each proposed config at initialisation, train only the top fraction.

A zero-cost measure (nas.train.zero_cost) costs one minibatch; training costs epochs. `ZeroCostRung` is MO-ASHA's
rung logic (`nas.search.mo_asha.ParetoRungs`) at time 0, fed the measure instead of an accuracy: a proposal is
trained only when its (score, conv MACs) is in the top ceil(n * keep) of the n proposals scored so far by
non-dominated rank and crowding (itself included, so the first proposal is always trained). With
`with_cost=False` the rank is by the score alone. The decision is asynchronous, one proposal at a time, as the
searcher proposes them, so about `keep` of the proposals are trained; the others are recorded as pruned at
rung 0 and told to Optuna as pruned (they cost the score only).

`searcher_screen(rung)` adapts it to the searcher's `screen` hook (nas.search.searcher); `make_zero_cost_rung`
builds one that scores with a named measure on the search's data. Which measure ranks best on the scenes
task is measured in benchmarks/scenes_ranking.py (benchmarks/README.md, issue 12).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nas.search.errors import SearchError
from nas.search.mo_asha import ParetoRungs
from nas.search.recorder import trial_id

__all__ = ["ZeroCostRung", "make_zero_cost_rung", "searcher_screen"]

DEFAULT_KEEP = 1 / 3


@dataclass
class ZeroCostRung:
    """`admit(key, config, macs)` -> (trained?, score). `score(config)` is the measure (larger is better)."""

    score: Callable[[Any], float]
    keep: float = DEFAULT_KEEP
    with_cost: bool = True
    name: str = "zero-cost"
    scores: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.keep <= 1.0:
            raise SearchError(f"zero-cost rung keep fraction {self.keep!r} is invalid; valid: 0 < keep <= 1")
        directions = ("max", "min") if self.with_cost else ("max",)
        self._rung = ParetoRungs((0,), directions, 1.0 / self.keep)

    def admit(self, key: str, config: Any, macs: float) -> tuple[bool, float]:
        try:
            value = float(self.score(config))
        except Exception:  # a config the measure cannot score ranks last (NaN), it is not a crash
            value = math.nan
        self.scores[key] = value
        values = (value, float(macs)) if self.with_cost else (value,)
        return self._rung.decide(key, 0, values), value


def searcher_screen(rung: ZeroCostRung) -> Callable[[int, Any], str | None]:
    """The searcher's hook: (trial number, feasible verdict) -> None to train it, or the reason it is not."""

    def screen(number: int, verdict: Any) -> str | None:
        trained, value = rung.admit(trial_id(number), verdict.config, verdict.conv_macs)
        if trained:
            return None
        n = len(rung.scores)
        return f"zero-cost rung: {rung.name} {value:.4g} not in the top {math.ceil(n * rung.keep)} of {n} scored"

    return screen


def make_zero_cost_rung(
    measure: str, data: str, *, image_size: int, seed: int = 0, keep: float = DEFAULT_KEEP, batch_size: int = 64
) -> ZeroCostRung:
    """A rung scoring with the named zero-cost measure on `data`'s first seeded training batch."""
    from nas.train.zero_cost import MEASURES, zero_cost_scores

    if measure not in MEASURES:
        raise SearchError(f"zero-cost measure {measure!r} is unknown; valid: {', '.join(MEASURES)}")

    def score(config: Any) -> float:
        scores = zero_cost_scores(
            config, data, measures=[measure], batch_size=batch_size, seed=seed, image_size=image_size
        )
        return scores[measure]

    return ZeroCostRung(score, keep, name=measure)


def check_rung_settings(measure: str, keep: float) -> None:
    """A one-line error for an unknown measure or a keep fraction outside (0, 1]."""
    from nas.train.zero_cost import MEASURES

    if measure not in MEASURES:
        raise SearchError(f"zero-cost measure {measure!r} is unknown; valid: {', '.join(MEASURES)}")
    if not 0.0 < keep <= 1.0:
        raise SearchError(f"zero-cost rung keep fraction {keep!r} is invalid; valid: 0 < keep <= 1")

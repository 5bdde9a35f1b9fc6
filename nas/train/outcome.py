"""What a search's short training returns, for every task: kept free of torch so that the search's task
registry (nas.search.tasks) can name it without importing a trainer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyOutcome:
    """A trial's short training: whether it worked, the quality value, the per-epoch curve, why not."""

    ok: bool
    value: float
    curve: tuple[float, ...] = ()
    reason: str | None = None


__all__ = ["ProxyOutcome"]

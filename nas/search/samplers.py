"""Optuna samplers by name. The band reaches them as per-trial constraints (see nas.search.searcher)."""

from __future__ import annotations

from typing import Any

from nas.search.errors import SearchError

SAMPLERS = ("nsga2", "tpe", "random")


def make_sampler(name: str, seed: int | None) -> Any:
    """An Optuna sampler by name: nsga2, tpe, random, any optuna.samplers class name, or "module:Class".

    Constraint-aware samplers read the band from each trial's constraints (`Trial.set_constraint`).
    """
    import importlib
    import inspect

    import optuna

    key = name.strip()
    if key.lower() == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if key.lower() == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if key.lower() == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if ":" in key:
        module_name, _, attr = key.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise SearchError(f"sampler {name!r} cannot be imported ({err}); valid: module:ClassName") from None
    else:
        cls = getattr(optuna.samplers, key, None)
        if cls is None:
            valid = [n for n in dir(optuna.samplers) if n.endswith("Sampler")]
            raise SearchError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}, {', '.join(valid)}")
    if not (isinstance(cls, type) and issubclass(cls, optuna.samplers.BaseSampler)):
        raise SearchError(f"sampler {name!r} is not an optuna.samplers.BaseSampler subclass")
    kwargs = {"seed": seed} if "seed" in inspect.signature(cls).parameters else {}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise SearchError(f"sampler {name!r} cannot be built with defaults ({err})") from None


__all__ = ["SAMPLERS", "make_sampler"]

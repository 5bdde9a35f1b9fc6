"""espnas: hardware-aware architecture search for EESP (ESPNetv2) networks.

The top of the package, in rooms named for what they do: `nas.train` (data, schedules, the trainer, the search's
proxy), `nas.search` (the space, the FLOP band, trials, the Optuna searcher behind Ray Tune), `nas.export`
(final training, formats, re-profiling, the model card, `load`) and `nas.cli` (the `espnas` command).

    model = nas.load("exports/0123abcd4567")        # an exported, trained model, in eval mode
    outcome = nas.run_search(nas.SearchSettings(trials=4))
    result = nas.export.export("espnetv2-0.5", data="digits", epochs=1)

Importing `nas` is cheap on purpose (the CLI starts with it): only `load` is imported eagerly (standard library
at module level); the other names import their room, and with it torch or Ray, when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from nas.export.loading import load

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "SearchSettings": "nas.search.driver",
    "SearchOutcome": "nas.search.driver",
    "run_search": "nas.search.driver",
    "Trainer": "nas.train.trainer",
    "TrainResult": "nas.train.trainer",
    "ExportResult": "nas.export.result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nas' has no attribute {name!r}")


__all__ = ["ExportResult", "SearchOutcome", "SearchSettings", "TrainResult", "Trainer", "load", "run_search"]

"""The EESP network generator: configs, presets, models and their deploy form.

Configs, presets and counting need no torch; the model classes import it on first use, so that reading
configs (and stored runs) stays fast.
"""

from __future__ import annotations

from typing import Any

from search_spaces.config import SCHEMA_VERSION, EESPConfig, branch_dilations
from search_spaces.errors import ConfigError, EspnasError
from search_spaces.presets import PAPER_FIGURES, PRESETS
from search_spaces.spec import build, resolve

__all__ = [
    "PAPER_FIGURES",
    "PRESETS",
    "SCHEMA_VERSION",
    "ConfigError",
    "EESPConfig",
    "EESPNet",
    "EspnasError",
    "branch_dilations",
    "build",
    "deploy",
    "resolve",
]


def __getattr__(name: str) -> Any:
    if name == "EESPNet":
        from search_spaces.network import EESPNet

        return EESPNet
    if name == "deploy":
        from search_spaces.folding import deploy

        return deploy
    raise AttributeError(f"module 'search_spaces' has no attribute {name!r}")

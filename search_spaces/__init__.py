"""The EESP network generator: configs, presets, models and their deploy form."""

from search_spaces.config import SCHEMA_VERSION, EESPConfig
from search_spaces.deploy import deploy
from search_spaces.eesp import branch_dilations
from search_spaces.errors import ConfigError, EspnasError
from search_spaces.network import EESPNet
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

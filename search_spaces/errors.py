"""Errors that mean "the user asked for something invalid", as opposed to a bug.

Every public function of espnas raises a subclass of `EspnasError` for a user mistake (an invalid config, a
missing file, an unknown name). Its message is one line that names the problem and what would be valid; the
CLI prints it without a traceback. Anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations


class EspnasError(Exception):
    """A user mistake or an unmet precondition. `str(err)` is a single line meant for the user."""


class ConfigError(EspnasError, ValueError):
    """An invalid architecture config or spec: names the field, the value and what would be valid."""

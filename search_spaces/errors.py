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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, caught where the work can say what it kept: `kept` says what survives (one line) and `resume`
    is the exact command that continues (None when nothing can be continued). The CLI prints one line and
    exits 130. A KeyboardInterrupt, so code that knows nothing of it still stops."""

    def __init__(self, kept: str, resume: str | None = None) -> None:
        super().__init__(kept)
        self.kept, self.resume = kept, resume

    def line(self) -> str:
        return self.kept + (f"; resume with: {self.resume}" if self.resume else "")

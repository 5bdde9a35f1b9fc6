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


def one_line(err: BaseException, limit: int = 200, *, with_type: bool = False) -> str:
    """An exception's message as one line, for a one-line error or a failure reason: its first non-blank line
    (third-party errors often add lines of detail), whitespace runs squeezed, cut to `limit` characters.
    `with_type` prefixes the exception's type name; an empty message is the type name alone."""
    lines = [" ".join(line.split()) for line in str(err).splitlines()]
    lines = [line for line in lines if line]
    if lines and lines[0].startswith("Caught ") and "Original Traceback" in str(err):
        lines = lines[-1:]  # torch's DataLoader-worker wrapper: the worker's own "Type: cause" line is the last
        with_type = False  # that line names the worker's exception type already
    text = lines[0] if lines else ""
    if with_type or not text:
        text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, caught where the work can say what it kept: `kept` says what survives (one line) and `resume`
    is the exact command that continues (None when nothing can be continued). The CLI prints one line and
    exits 130. A KeyboardInterrupt, so code that knows nothing of it still stops."""

    def __init__(self, kept: str, resume: str | None = None) -> None:
        super().__init__(kept)
        self.kept, self.resume = kept, resume

    def line(self) -> str:
        return self.kept + (f"; resume with: {self.resume}" if self.resume else "")

"""The data's user-facing error, one line even when raised inside a DataLoader worker process."""

from __future__ import annotations

from search_spaces.errors import EspnasError

_WORKER_PREFIX = "Caught "
_TRACEBACK = "Original Traceback"


class DataError(EspnasError):
    """Unusable data: a missing path, a corrupt file, labels out of range, one class only.

    A DataLoader worker re-raises an exception in the parent as `type(err)(wrapped)`, where `wrapped` is
    "Caught DataError in DataLoader worker process 0." followed by the worker's traceback; that wrapper is
    removed here, so the message is the worker's own line (its cause), not the wrapper's first line."""

    def __init__(self, message: object = "") -> None:
        super().__init__(worker_cause(str(message)))


def worker_cause(text: str) -> str:
    """The cause of an exception text wrapped by a DataLoader worker (its last line, without the type name);
    other text unchanged."""
    if not (text.startswith(_WORKER_PREFIX) and _TRACEBACK in text):
        return text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else text
    name, sep, rest = last.partition(": ")
    return rest if sep and name.replace(".", "").replace("_", "").isalnum() else last


__all__ = ["DataError", "worker_cause"]

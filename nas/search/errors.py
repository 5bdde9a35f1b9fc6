"""The search's user-facing error, kept below every search module so each can raise it."""

from __future__ import annotations

from search_spaces.errors import EspnasError


class SearchError(EspnasError):
    """A search that cannot start or continue: bad settings, a missing run, an unknown target."""


__all__ = ["SearchError"]

"""One rich Console for the CLI: the terminal's width, or 120 columns when output goes to a file or pipe."""

from __future__ import annotations

import sys

from rich.console import Console


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 120)

"""One rich Console for the CLI, and tables that fit it.

Width: the terminal's; without a terminal (a log, a pipe) $COLUMNS or 80. No highlighting: rich would colour
the digits inside paths and commands. Lines that hold a path or a command are printed with `line()`, which
never breaks them (the terminal may wrap them, but a copy-paste gets the whole command).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

PLAIN_WIDTH = 80


def plain_width() -> int:
    """The width of output that is not a terminal: $COLUMNS when it is a number above 20, else 80."""
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isdigit() and int(text) > 20 else PLAIN_WIDTH


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(file=stream, width=None if tty else plain_width(), highlight=False, soft_wrap=False)


def line(out: Console, text: str, **kw: Any) -> None:
    """Print `text` unbroken and unhighlighted (a path, a command, a note that names one)."""
    out.print(text, soft_wrap=True, highlight=False, markup=False, **kw)


def prose(out: Console, text: str, indent: str = "  ") -> None:
    """Print `text` wrapped at the console's width between words only, so a path or command in it stays whole
    (on a line of its own if need be); continuation lines are indented."""
    import textwrap

    parts = textwrap.wrap(text, out.width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    for part in parts or [""]:
        line(out, part)


@dataclass(frozen=True)
class Column:
    """A table column: its header, alignment and priority (columns with the highest number are dropped first
    when the table is too wide; priority 0 is never dropped). `fold` columns (paths, ids) wrap by character
    instead of being cut with an ellipsis; `fold_at` (for names, not paths) counts a fold column as at most that
    wide when deciding what to drop, so a long name folds in its cell rather than pushing other columns out."""

    header: str
    justify: str = "right"
    priority: int = 0
    fold: bool = False
    fold_at: int | None = None


def fitted_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, **table_kw: Any
) -> tuple[Any, list[str]]:
    """A rich Table of `rows` that fits `width` columns: whole columns are dropped by priority until the rest
    fit at their natural width; no header or cell is ever cut. Returns the table and the headers dropped.

    The natural widths are the widest line of each column's header and cells (display cells, as rich counts
    them), taken once; the borders and padding come from measuring the headers alone. So a table of a few
    hundred rows (`count --by-layer`) is measured once, not once per dropped column (rich measures every cell).
    """
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    # Cells are markup (count's bold total row), never emoji codes: ":a:" in a name stays ":a:", and the width
    # counted below is the width rich draws.
    cells = [[Text.from_markup(str(cell), emoji=False) for cell in row] for row in rows]

    def build(indices: list[int], with_rows: bool = True) -> Table:
        table = Table(**table_kw)
        for i in indices:
            c = columns[i]
            table.add_column(
                c.header,
                justify=c.justify,  # type: ignore[arg-type]
                no_wrap=not c.fold,
                overflow="fold" if c.fold else "ellipsis",
                min_width=cell_len(c.header),
            )
        for row in cells if with_rows else ():
            table.add_row(*[row[i] for i in indices])
        return table

    def natural(i: int) -> int:
        c = columns[i]
        texts = [c.header, *(row[i].plain for row in cells)]
        widest = max(cell_len(part) for text in texts for part in text.split("\n"))
        return min(widest, max(cell_len(c.header), c.fold_at)) if c.fold and c.fold_at else widest

    widths = [natural(i) for i in range(len(columns))]
    measurer = Console(width=10_000, highlight=False)  # wide enough to measure every natural width
    keep = list(range(len(columns)))
    dropped: list[str] = []
    while True:
        frame = measurer.measure(build(keep, with_rows=False)).maximum - sum(cell_len(columns[i].header) for i in keep)
        need = frame + sum(widths[i] for i in keep)
        droppable = [i for i in keep if columns[i].priority > 0]
        if need <= width or not droppable:
            return build(keep), dropped
        worst = max(droppable, key=lambda i: (columns[i].priority, i))
        keep.remove(worst)
        dropped.append(columns[worst].header)


__all__ = ["PLAIN_WIDTH", "Column", "console", "fitted_table", "line", "plain_width", "prose"]

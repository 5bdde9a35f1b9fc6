"""The exact command that continues an interrupted command: its own command line, with the output location made
explicit and the resume flag added (so it works even when the first run chose a default location)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence


def resume_command(argv: Sequence[str], options: Mapping[str, str], flags: Sequence[str] = ("--resume",)) -> str:
    """`espnas ARGV` with each of `options` (e.g. {"--out": DIR}) set to its value (replacing a given one, in
    either `--out X` or `--out=X` form) and each of `flags` present once; quoted for a POSIX shell."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if name in options:
            i += 1 if "=" in arg else 2
            continue
        out.append(arg)
        i += 1
    for name, value in options.items():
        out += [name, str(value)]
    out += [f for f in flags if f not in out]
    return shlex.join(["espnas", *out])


__all__ = ["resume_command"]

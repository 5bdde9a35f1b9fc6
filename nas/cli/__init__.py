"""The `espnas` command: a thin layer over the library.

Each subcommand lives in its own module in this package. A module exposes `register(subparsers)`, which adds
its parser(s) and sets `run=` to a function `run(args) -> int | None` that calls one library function and
prints. User mistakes surface as `EspnasError` and are printed as one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from search_spaces.errors import EspnasError, Interrupted

# Each command's module, in the order the commands appear in `espnas --help`. Only the module of the command
# being run is imported, so that `espnas pareto` does not wait for torch and `espnas count` not for Ray.
COMMANDS = {
    "presets": "nas.cli.counting",
    "count": "nas.cli.counting",
    "profile": "nas.cli.profile",
    "figure5": "nas.cli.figure5",
    "predictor": "nas.cli.predictor",
    "train": "nas.cli.train",
    "search": "nas.cli.search",
    "runs": "nas.cli.runs",
    "pareto": "nas.cli.runs",
    "compare": "nas.cli.runs",
    "select": "nas.cli.runs",
    "export": "nas.cli.export",
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line (no usage dump), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for one command's module, or for all of them (for `--help` and unknown commands)."""
    parser = OneLineParser(
        prog="espnas",
        description="Generate, count, profile, search, compare and export EESP (ESPNetv2) networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv[0] if argv else None)  # imports the command's module (torch, Ray: seconds)
    except KeyboardInterrupt:
        name = f"espnas {argv[0]}" if argv and argv[0] in COMMANDS else "espnas"
        print(f"{name}: interrupted; nothing was kept (run the command again)", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    args.argv = argv  # commands that can resume rebuild their command line from it
    try:
        status = args.run(args)
    except EspnasError as err:
        print(f"espnas {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as stop:  # Ctrl-C where the command could say what it kept and how to go on
        print(f"espnas {args.command}: interrupted; {stop.line()}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"espnas {args.command}: interrupted; nothing was kept (run the command again)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `espnas ... | head`: the reader has gone; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())

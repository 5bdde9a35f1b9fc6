"""The `espnas` command: a thin layer over the library.

Each subcommand lives in its own module in this package. A module exposes `register(subparsers)`, which adds
its parser(s) and sets `run=` to a function `run(args) -> int | None` that calls one library function and
prints. User mistakes surface as `EspnasError` and are printed as one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from search_spaces.errors import EspnasError

# Subcommand modules, in the order their commands appear in `espnas --help`.
COMMAND_MODULES = (
    "nas.cli.counting",  # presets, count
    "nas.cli.profile",  # profile
    "nas.cli.train",  # train
    "nas.cli.search",  # search
    "nas.cli.runs",  # runs, pareto, compare, select
    "nas.cli.export",  # export
)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line (no usage dump), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="espnas",
        description="Generate, count, profile, search, compare and export EESP (ESPNetv2) networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a subcommand still being written
            if err.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.run(args)
    except EspnasError as err:
        print(f"espnas {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"espnas {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())

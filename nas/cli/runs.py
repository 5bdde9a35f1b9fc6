"""`espnas runs | pareto | compare | select`: list stored runs, show fronts, compare runs, pick trials."""

from __future__ import annotations

import argparse
from pathlib import Path

from search_spaces.errors import EspnasError


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "runs",
        help="list stored runs: trials, status counts, objectives, devices",
        description="List the runs under DIR (a run is a directory with run.json and trials/): their trial "
        "counts by status, objectives, devices and state (running, interrupted or ended).",
    )
    p.add_argument("dir", nargs="?", default="runs", help="directory holding run directories (default: runs)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=cmd_runs)

    objectives_help = "comma-separated objectives (default: the run's); name:max or name:min for other metrics"

    p = subparsers.add_parser(
        "pareto",
        help="print the Pareto front of a run",
        description="Print the Pareto front of a run over its objectives (or --objectives), with its hypervolume "
        "(each objective scaled to [0, 1] over the run's complete trials, reference point 1.1 in each).",
    )
    p.add_argument("run_dir", metavar="RUN", help="run directory")
    p.add_argument("--objectives", help=objectives_help)
    p.add_argument("--json", action="store_true", help="print the front as JSON records")
    p.add_argument("--plot", action="append", metavar="FILE", help="also write a figure (.png, .svg or .html)")
    p.set_defaults(run=cmd_pareto)

    p = subparsers.add_parser(
        "compare",
        help="compare the Pareto fronts of runs (hypervolume, coverage)",
        description="Compare the Pareto fronts of two or more runs on the same objectives: hypervolume on one "
        "scale for all runs (each objective scaled to [0, 1] over the union of their complete trials, reference "
        "point 1.1 in each), each run's own hypervolume, coverage, and the best trial under a constraint.",
    )
    p.add_argument("run_dirs", metavar="RUN", nargs="+", help="run directories")
    p.add_argument("--objectives", help=objectives_help)
    p.add_argument(
        "--reference-point", type=_floats, metavar="V,V,...",
        help="hypervolume reference in raw units, one value per objective (default: 1.1 normalised)",
    )  # fmt: skip
    p.add_argument("--where", metavar="EXPR", help="constraint for each run's best trial, e.g. 'latency_ms <= 3'")
    p.add_argument("--by", metavar="OBJ", help="objective the best trial maximises/minimises (default: first)")
    p.add_argument("--plot", action="append", metavar="FILE", help="also write a figure (.png, .svg or .html)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(run=cmd_compare)

    p = subparsers.add_parser(
        "select",
        help="pick trials of a run and print their configs",
        description="Pick trials of a run (by id, Pareto rank, the knee of the front, or the best under a "
        "constraint) and print their configs as a table, JSON or compact strings for export or count.",
    )
    p.add_argument("run_dir", metavar="RUN", help="run directory")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--trial", metavar="ID", help="a trial id (or its number)")
    how.add_argument("--rank", type=int, metavar="N", help="every trial of Pareto rank N (0 = the front)")
    how.add_argument("--knee", action="store_true", help="the knee of the front (see results/README.md)")
    how.add_argument("--where", metavar="EXPR", help="the best trial satisfying EXPR, e.g. 'latency_ms <= 3'")
    p.add_argument("--by", metavar="OBJ", help="with --where: the objective that decides 'best' (default: first)")
    p.add_argument("--all", action="store_true", help="with --where: every matching trial, best first")
    p.add_argument("--objectives", help=objectives_help)
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print config JSON only (one line per trial)")
    form.add_argument("--compact", action="store_true", help="print the compact config string only")
    p.set_defaults(run=cmd_select)


def _under(path: Path, root: Path | None) -> str:
    """`path` relative to `root` ("." for the root itself), or whole when it is not below it."""
    if root is None:
        return str(path)
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def cmd_runs(args: argparse.Namespace) -> int:
    from results.report import runs_table

    if args.json:
        print(runs_table(args.dir, as_json=True))
        return 0
    from nas.cli._console import console, line
    from results.store import list_runs

    summaries = list_runs(args.dir)
    out = console()
    if not summaries:
        line(out, runs_table(args.dir))
        return 0
    line(out, f"runs under {args.dir}:")
    out.print(runs_rich_table(summaries, out.width, Path(args.dir)))
    return 0


def runs_rich_table(summaries: list, width: int, root: Path | None = None) -> object:
    """The runs as a table that fits `width`: each run by its path under `root` (a long one folds rather than
    being cut); the objectives, name and devices go first when narrow."""
    from nas.cli._console import Column, fitted_table

    columns = [
        Column("run", "left", fold=True),
        Column("name", "left", priority=4, fold=True),
        Column("trials"),
        Column("done"),
        Column("failed"),
        Column("pruned", priority=1),
        Column("outside", priority=2),
        Column("objectives", "left", priority=5, fold=True),
        Column("devices", "left", priority=3),
        Column("state", "left"),
    ]
    rows = []
    for s in summaries:
        if s.error:
            rows.append([_under(s.path, root), s.name, "?", "-", "-", "-", "-", "-", "-", f"unreadable: {s.error}"])
            continue
        c = s.status_counts
        rows.append(
            [
                _under(s.path, root),
                "" if s.name == s.path.name else s.name,
                str(s.trials),
                str(c.get("complete", 0)),
                str(c.get("failed", 0)),
                str(c.get("pruned", 0)),
                str(c.get("infeasible", 0)),
                ", ".join(f"{o.name} ({o.direction})" for o in s.objectives),
                ", ".join(s.devices) or "-",
                s.state,
            ]
        )
    if not any(row[1] for row in rows):  # every name is its directory's: no column for it
        columns.pop(1)
        rows = [row[:1] + row[2:] for row in rows]
    table, dropped = fitted_table(columns, rows, width, header_style="bold")
    caption = "done = complete; outside = outside the FLOP band, not trained"
    if dropped:
        caption += f"; not shown at {width} columns: {', '.join(dropped)} (see --json)"
    table.caption = caption
    return table


def cmd_pareto(args: argparse.Namespace) -> int:
    from results.report import pareto_report, pareto_view

    if args.json:
        print(pareto_report(args.run_dir, args.objectives, as_json=True, plots=args.plot or ()))
        return 0
    from nas.cli._console import console
    from nas.cli._reports import print_pareto

    print_pareto(console(), pareto_view(args.run_dir, args.objectives, plots=args.plot or ()))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from results.report import compare_report, compare_view

    if len(args.run_dirs) < 2:
        raise EspnasError("compare needs at least two runs (espnas compare RUN RUN ...)")
    how = dict(reference_point=args.reference_point, constraint=args.where, best_by=args.by, plots=args.plot or ())
    if args.json:
        print(compare_report(args.run_dirs, args.objectives, as_json=True, **how))
        return 0
    from nas.cli._console import console
    from nas.cli._reports import print_comparison

    comparison, written = compare_view(args.run_dirs, args.objectives, **how)
    print_comparison(console(), comparison, written)
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from results.report import select_report

    form = "json" if args.json else "compact" if args.compact else "table"
    print(
        select_report(
            args.run_dir, trial=args.trial, rank=args.rank, knee=args.knee, where=args.where, by=args.by,
            all_matches=args.all, objectives=args.objectives, form=form,
        )
    )  # fmt: skip
    return 0

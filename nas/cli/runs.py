"""`espnas runs | pareto | compare | select`: list stored runs, show fronts, compare runs, pick trials."""

from __future__ import annotations

import argparse

from search_spaces.errors import EspnasError


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("runs", help="list stored runs: trials, status counts, objectives, devices")
    p.add_argument("dir", nargs="?", default="runs", help="directory holding run directories (default: runs)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=cmd_runs)

    objectives_help = "comma-separated objectives (default: the run's); name:max or name:min for other metrics"

    p = subparsers.add_parser("pareto", help="print the Pareto front of a run")
    p.add_argument("run_dir", metavar="RUN", help="run directory")
    p.add_argument("--objectives", help=objectives_help)
    p.add_argument("--json", action="store_true", help="print the front as JSON records")
    p.add_argument("--plot", action="append", metavar="FILE", help="also write a figure (.png, .svg or .html)")
    p.set_defaults(run=cmd_pareto)

    p = subparsers.add_parser("compare", help="compare the Pareto fronts of runs (hypervolume, coverage)")
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

    p = subparsers.add_parser("select", help="pick trials of a run and print their configs")
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


def cmd_runs(args: argparse.Namespace) -> int:
    from results.report import runs_table

    print(runs_table(args.dir, as_json=args.json))
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    from results.report import pareto_report

    print(pareto_report(args.run_dir, args.objectives, as_json=args.json, plots=args.plot or ()))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from results.report import compare_report

    if len(args.run_dirs) < 2:
        raise EspnasError("compare needs at least two runs (espnas compare RUN RUN ...)")
    print(
        compare_report(
            args.run_dirs, args.objectives, reference_point=args.reference_point, constraint=args.where,
            best_by=args.by, as_json=args.json, plots=args.plot or (),
        )
    )  # fmt: skip
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

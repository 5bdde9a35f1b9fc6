"""`espnas predictor build|calibrate|list`: latency tables for predicting instead of measuring; and the
`--predict` options that `espnas count` and `espnas profile` share."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nas.cli._console import console
from profilers.predictor.timing import CLOCKS, NETWORK_ROUNDS, UNIT_ROUNDS
from search_spaces.errors import EspnasError

DEFAULT_UNIT_CONFIGS = 3000  # configs sampled to collect the space's distinct units (depths add none)
DEFAULT_FIT = 20  # whole networks measured to fit the overhead
CALIBRATE_SEED_OFFSET = 2_000_029  # calibration networks: a seed the build's units and fitting networks never use


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; valid: a positive integer")
    return value


def positive_seconds(text: str) -> float:
    """argparse type for a duration in seconds (> 0); shared by `predictor build` and `profile`."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; valid: a positive number of seconds")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predictor",
        help="build latency tables that predict a config's latency in microseconds",
        description="Latency prediction (profilers.predictor): `build` measures every distinct unit a search "
        "space can produce on this machine in one runtime, plus a few whole networks to fit the overhead, and "
        "stores a table keyed by the environment fingerprint; `count --predict`, `profile --predict` and the "
        "search's latency_pred objective read it. Building resumes where it stopped.",
    )
    cmds = p.add_subparsers(dest="predictor_command", metavar="ACTION")
    cmds.required = True
    b = cmds.add_parser("build", help="measure a table on this machine (resumable)")
    b.add_argument("--space", metavar="FILE", help="search space (default: the shipped paper space)")
    b.add_argument("--runtime", default="eager", help="eager, deploy, compile, onnxruntime, ... (default: eager)")
    b.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    b.add_argument("--batch", type=_positive_int, default=1, metavar="N", help="batch size (default: 1)")
    b.add_argument("--threads", type=_positive_int, default=1, metavar="N", help="CPU threads (default: 1)")
    b.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    b.add_argument(
        "--fit", type=int, default=DEFAULT_FIT, metavar="N", help=f"networks to fit (default: {DEFAULT_FIT})"
    )
    _timing_arguments(b)
    b.add_argument("--unit-rounds", type=_positive_int, default=UNIT_ROUNDS, metavar="N",
                   help=f"rounds per unit, each between two reference samples (default: {UNIT_ROUNDS})")  # fmt: skip
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--dir", metavar="DIR", help="table directory (default: $ESPNAS_PREDICTOR_DIR or ~/.cache)")
    b.add_argument("--out", metavar="FILE", help="table file (default: a name from the target in --dir)")
    b.add_argument("--json", action="store_true", help="print the table's summary as JSON")
    b.set_defaults(run=run_build)
    c = cmds.add_parser(
        "calibrate",
        help="adapt a table to this target with N measured networks",
        description="Transfer with few measurements (HELP's setting): measure N configs of the space on this "
        "target (runtime, batch, threads; by default the table's own) and write a table for this target with "
        "TABLE's unit times and an overhead refitted on them. The source table is never changed.",
    )
    c.add_argument("table", metavar="TABLE", help="the latency table to adapt (a file from `predictor build`)")
    c.add_argument("--configs", type=_positive_int, required=True, metavar="N", help="networks to measure here")
    c.add_argument("--space", metavar="FILE", help="search space to draw them from (default: the paper space)")
    c.add_argument("--runtime", help="runtime of the new target (default: the table's)")
    c.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    c.add_argument("--batch", type=_positive_int, metavar="N", help="batch size (default: the table's)")
    c.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads (default: the table's)")
    c.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], help="default: the table's")
    _timing_arguments(c)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--dir", metavar="DIR", help="table directory (default: $ESPNAS_PREDICTOR_DIR or ~/.cache)")
    c.add_argument("--out", metavar="FILE", help="calibrated table file (default: a name from the target in --dir)")
    c.add_argument("--json", action="store_true", help="print the calibrated table's summary as JSON")
    c.set_defaults(run=run_calibrate)
    ls = cmds.add_parser("list", help="the tables in the table directory, with their targets")
    ls.add_argument("--dir", metavar="DIR")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_list)


def _timing_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network-rounds", type=_positive_int, default=NETWORK_ROUNDS, metavar="N",
                   help=f"rounds per whole network (default: {NETWORK_ROUNDS})")  # fmt: skip
    p.add_argument("--clock", choices=sorted(CLOCKS), help="cpu: the thread's CPU time (default with 1 thread on the "
                   "CPU; excludes waiting for a busy core); wall: elapsed time (default otherwise)")  # fmt: skip


def add_predict_arguments(p: argparse.ArgumentParser, *, runtime_flag: bool) -> None:
    """`--predict` and its table options, for `count` and `profile`."""
    p.add_argument(
        "--predict",
        action="store_true",
        help="also the latency predicted from this machine's table (espnas predictor build)",
    )
    if runtime_flag:
        p.add_argument("--predict-runtime", default="eager", metavar="NAME", help="runtime of the table (eager)")
        p.add_argument("--predict-batch", type=_positive_int, default=1, metavar="N", help="batch of the table (1)")
        p.add_argument("--predict-threads", type=_positive_int, default=1, metavar="N", help="threads (1)")
    p.add_argument("--table", metavar="FILE", help="latency table file (default: the one for this machine)")
    p.add_argument("--allow-foreign-table", action="store_true", help="use a table of another target, flagged")


def prediction(args: argparse.Namespace, config: Any, *, runtime: str, batch: int, threads: int) -> dict[str, Any]:
    from profilers.predictor import predict

    device = getattr(args, "device", "cpu")
    pred = predict(
        config,
        runtime,
        device,
        batch=batch,
        threads=threads,
        table=args.table,
        allow_foreign=args.allow_foreign_table,
    )
    return pred.to_dict() | {"runtime": runtime, "batch_size": batch, "threads": threads}


def _fit_configs(space: str | None, n: int, seed: int, exclude: set[str]) -> list[Any]:
    from nas.search.predicted import space_configs

    pool = space_configs(space, n + len(exclude), seed=seed + 1_000_003)
    return [c for c in pool if c.arch_id not in exclude][:n]


@contextlib.contextmanager
def _progress(command: str, runtime: str, batch: int) -> Iterator[Callable[[str, int, int, str], None]]:
    """A progress bar on a terminal, else a line on stderr every tenth of each phase."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False, disable=not err.is_terminal) as bar:
        tasks: dict[str, Any] = {}
        last: dict[str, int] = {}

        def on_progress(phase: str, done: int, total: int, what: str) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{phase} ({runtime}, batch {batch})", total=total)
            bar.update(tasks[phase], completed=done)
            if not err.is_terminal and done - last.get(phase, -100) >= max(1, total // 10):
                last[phase] = done
                err.print(f"predictor {command}: {phase} {done}/{total}", markup=False)

        yield on_progress


def _check_out(path: str | None) -> None:
    if path and not Path(path).resolve().parent.is_dir():
        raise EspnasError(f"directory of {path!r} does not exist")


def run_build(args: argparse.Namespace) -> None:
    from nas.search.predicted import space_configs
    from profilers.predictor.build import build_table

    if args.fit < 0:
        raise EspnasError(f"--fit {args.fit} is invalid; valid: 0 or more networks")
    _check_out(args.out)
    unit_configs = space_configs(args.space, DEFAULT_UNIT_CONFIGS, seed=args.seed)
    fit = _fit_configs(args.space, args.fit, args.seed, set()) if args.fit else []
    with _progress("build", args.runtime, args.batch) as on_progress:
        table = build_table(
            unit_configs,
            fit,
            args.runtime,
            args.device,
            batch=args.batch,
            dtype=args.dtype,
            threads=args.threads,
            directory=args.dir,
            path=args.out,
            unit_rounds=args.unit_rounds,
            network_rounds=args.network_rounds,
            clock=args.clock,
            on_progress=on_progress,
            settings={"space": args.space or "paper", "seed": args.seed, "fit": args.fit},
        )
    _print_table(args, table, f"measuring took {table.build.get('seconds_units', 0):.0f} s + "
                 f"{table.build.get('seconds_networks', 0):.0f} s")  # fmt: skip


def run_calibrate(args: argparse.Namespace) -> None:
    from nas.search.predicted import space_configs
    from profilers.predictor import LatencyTable
    from profilers.predictor.build import calibrate_table

    source = LatencyTable.load(args.table)
    _check_out(args.out)
    tg = source.target
    runtime = args.runtime or source.runtime
    batch = args.batch or source.batch
    threads = args.threads or int(tg.get("threads") or 1)
    configs = space_configs(args.space, args.configs, seed=args.seed + CALIBRATE_SEED_OFFSET)
    if len(configs) < args.configs:
        raise EspnasError(f"--configs {args.configs}: the space has only {len(configs)} distinct configs")
    with _progress("calibrate", runtime, batch) as on_progress:
        table = calibrate_table(
            source,
            configs,
            runtime,
            args.device,
            batch=batch,
            dtype=args.dtype or str(tg.get("dtype", "fp32")),
            threads=threads,
            rounds=args.network_rounds,
            clock=args.clock,
            directory=args.dir,
            path=args.out,
            on_progress=on_progress,
        )
    _print_table(args, table, f"calibrated from {source.path} on {len(configs)} networks measured here "
                 f"({table.build['seconds_networks']:.0f} s)")  # fmt: skip


def _print_table(args: argparse.Namespace, table: Any, how: str) -> None:
    if args.json:
        print(json.dumps(_summary(table), indent=2, default=str))
        return
    o = table.overhead
    out = console()
    out.print(f"table: {table.path}", soft_wrap=True, markup=False)
    out.print(
        f"{len(table.entries)} units, {len(table.networks)} networks; overhead scale {o.scale:.3f}, "
        f"intercept {o.intercept_ms:.3f} ms, per unit {o.per_unit_ms:.4f} ms (fit MAPE {_pct(o.fit_mape)}); {how}",
        markup=False,
    )


def _calibrated(table: Any) -> str:
    src = table.build.get("calibrated_from")
    return f"; calibrated from {src['runtime']} batch {src['batch']} ({src['target_id']})" if src else ""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _summary(table: Any) -> dict[str, Any]:
    return {
        "path": str(table.path),
        "target": table.target,
        "units": len(table.entries),
        "networks": len(table.networks),
        "overhead": table.overhead.__dict__,
        "reference": table.reference,
        "build": table.build,
    }


def run_list(args: argparse.Namespace) -> None:
    from profilers.predictor import LatencyTable, default_table_dir

    directory = Path(args.dir) if args.dir else default_table_dir()
    tables = [LatencyTable.load(p) for p in sorted(directory.glob("*.json"))] if directory.is_dir() else []
    if args.json:
        print(json.dumps([_summary(t) for t in tables], indent=2, default=str))
        return
    out = console()
    if not tables:
        out.print(f"no latency tables in {directory} (espnas predictor build)", markup=False)
        return
    for t in tables:
        tg = t.target
        out.print(
            f"{t.path.name}: {tg.get('runtime')} {tg.get('runtime_version')}, batch {tg.get('batch')}, "
            f"{tg.get('threads')} thread(s), {tg.get('device_name')}; {len(t.entries)} units, "
            f"fit MAPE {_pct(t.overhead.fit_mape)}{_calibrated(t)}",
            markup=False,
        )

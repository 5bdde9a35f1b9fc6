"""Fronts and comparisons as tables that fit the console: what `espnas search`, `pareto` and `compare` print.

Every table drops whole columns by priority when it is too wide and says which it dropped (--json has them
all); paths, commands and the prose around the tables go through nas.cli._console, never broken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nas.cli._console import Column, fitted_table, line, prose
from nas.search.band import fmt_count

COUNTS = ("params", "macs")  # shown as 1.545M; measured values to 4 significant digits


def cell(name: str, value: Any) -> str:
    """One value as the tables show it: counts as 1.545M, numbers to 4 significant digits, '-' when missing."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, float)):
        return fmt_count(value) if name in COUNTS else f"{value:.4g}"
    return str(value)


def front_table(
    objectives: Sequence[Mapping[str, Any]], front: Any, width: int, title: str, empty: str = "nothing on the front"
) -> Any:
    """A front (a DataFrame of trial records) as a table that fits `width`: the trial and the objectives
    always; then conv MACs, params, a preset name and the architecture id (when narrow the preset goes first,
    then params, conv MACs, and the id last). Units go in the caption, so headers stay short; the caption
    names the columns dropped."""
    names = [str(o["name"]) for o in objectives]
    columns = [Column("trial", "left"), *[Column(n) for n in names]]
    extra = [c for c in COUNTS[::-1] if c not in names and c in front.columns]  # counts not already objectives
    headers = {"macs": Column("conv MACs", priority=2), "params": Column("params", priority=3)}
    columns += [headers[c] for c in extra]
    presets = "preset" in front.columns and front["preset"].notna().any()
    if presets:
        columns.append(Column("preset", "left", priority=4))
    columns.append(Column("arch", "left", priority=1))
    rows = []
    for _, row in front.iterrows():
        cells = [str(row["trial_id"]), *[cell(n, row.get(n)) for n in names], *[cell(c, row[c]) for c in extra]]
        if presets:
            cells.append("" if row.get("preset") is None or row.get("preset") != row.get("preset") else row["preset"])
        cells.append(str(row.get("arch_id", "-")))
        rows.append(cells)
    table, dropped = fitted_table(columns, rows, width, title=title, header_style="bold")
    units = ", ".join(f"{o['name']} in {o['unit']}" for o in objectives if o.get("unit"))
    caption = units if len(front) else empty
    if dropped:
        caption += f"; not shown at {width} columns: {', '.join(dropped)} (see --json)"
    table.caption = caption
    return table


def print_pareto(out: Any, view: Any) -> None:
    """`espnas pareto`: the run, its path, objectives and hypervolume, then the front's table."""
    run, hv = view.run, view.hypervolume
    n_front, n_complete = len(view.front), len(run.complete())
    prose(out, f"run {run.name}: front of {n_front} of {n_complete} complete trials ({len(run.trials)} in all)")
    line(out, f"path: {run.path}")
    prose(out, "objectives: " + ", ".join(f"{o.name} ({o.direction}, {o.unit})" for o in view.objectives))
    hv_text = "-" if hv is None else f"{hv.value:.4g}"
    prose(out, f"hypervolume {hv_text}: " + (hv.definition if hv is not None else "no complete trial"))
    objectives = [o.to_dict() for o in view.objectives]
    out.print(front_table(objectives, view.front, out.width, title=f"Pareto front ({n_front} trials)"))
    for path in view.plots:
        line(out, f"wrote {path}")


def print_comparison(out: Any, comparison: Any, plots: Sequence[str] = (), max_rows: int = 15) -> None:
    """`espnas compare`: the objectives and hypervolume definition, a table of the runs (numbered), their
    coverage matrix by number, the best trial of each under the constraint, and each front."""
    c = comparison
    prose(out, "objectives: " + ", ".join(f"{o.name} ({o.direction}, {o.unit or 'no unit'})" for o in c.objectives))
    ref = ", ".join(f"{o.name}={cell(o.name, r)}" for o, r in zip(c.objectives, c.reference_raw, strict=True))
    prose(
        out,
        "hypervolume: each objective scaled to [0, 1] over the union of these runs' complete trials (0 best), "
        f"reference point 1.1 in each (raw: {ref}); 'alone': each run over its own trials, as espnas pareto "
        "prints it",
    )
    number = {name: f"#{i + 1}" for i, name in enumerate(c.names)}
    alone = {n: c.hypervolume_alone.get(n) for n in c.names}
    rows = [
        [number[n], n, str(c.trials[n]), str(len(c.fronts[n])), f"{c.hypervolume[n]:.4f}",
         "-" if alone[n] is None else f"{alone[n]:.4f}"]
        for n in c.names
    ]  # fmt: skip
    columns = [Column("#", "left"), Column("run", "left", fold=True, fold_at=24), Column("trials", priority=2)]
    columns += [Column("front"), Column("hypervolume"), Column("alone", priority=1)]
    table, dropped = fitted_table(columns, rows, out.width, title="runs", header_style="bold")
    if dropped:
        table.caption = f"not shown at {out.width} columns: {', '.join(dropped)} (see --json)"
    out.print(table)
    # coverage by run number, so that long run names do not widen the matrix
    columns = [Column("C(row, col)", "left")] + [Column(number[n], priority=i + 1) for i, n in enumerate(c.names)]
    rows = [[number[a], *["-" if a == b else f"{c.coverage[(a, b)]:.2f}" for b in c.names]] for a in c.names]
    table, dropped = fitted_table(columns, rows, out.width, title="coverage", header_style="bold")
    table.caption = "share of col's front weakly dominated by row's front"
    if dropped:
        table.caption += f"; not shown at {out.width} columns: {', '.join(dropped)} (see --json)"
    out.print(table)
    if c.best_by is not None:
        where = f" with {c.constraint}" if c.constraint else ""
        prose(out, f"best {c.best_by.direction} {c.best_by.name}{where}:")
        for name in c.names:
            row = c.best.get(name)
            if row is None:
                prose(out, f"  {name}: no complete trial satisfies it", indent="    ")
                continue
            values = ", ".join(f"{o.name}={cell(o.name, row[o.name])}" for o in c.objectives)
            prose(out, f"  {name}: trial {row['trial_id']} ({values}) arch {row.get('arch_id')}", indent="    ")
    objectives = [o.to_dict() for o in c.objectives]
    for name in c.names:
        front = c.fronts[name]
        title = f"front of {number[name]} ({len(front)} trials)"  # its name is in the table of runs
        out.print(front_table(objectives, front.head(max_rows), out.width, title=title, empty="empty"))
        if len(front) > max_rows:
            line(out, f"  ... {len(front) - max_rows} more (use --json for all)")
    for path in plots:
        line(out, f"wrote {path}")


__all__ = ["cell", "front_table", "print_comparison", "print_pareto"]

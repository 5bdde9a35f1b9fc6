"""Figures of runs: 2-D fronts, a three-objective view, hypervolume against trial number.

`plot_runs(runs, path)` writes one figure whose format follows the file suffix: `.png` or `.svg` through
matplotlib (Agg backend, no display needed), `.html` through plotly with its JavaScript inline so the file
opens offline. Every run gets its own colour; all complete trials are drawn faint, each 2-D front bold as a
staircase; trials that evaluated a preset (the `preset` column) and caller-given reference points are
labelled markers.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from results.compare import DEFAULT_REFERENCE, check_comparable
from results.files import atomic_path
from results.pareto import HV_DEFINITION, HV_REFERENCE, _values, hypervolume, non_dominated, normalise
from results.store import Objective, Run, RunError

FORMATS = (".png", ".svg", ".html")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
HISTORY_POINTS = 200  # hypervolume is evaluated at most this many times along a run
MAX_LABELLED = 25  # front points labelled with their trial id (more would be unreadable; the HTML hovers)

ReferencePoints = Mapping[str, Mapping[str, float]]


def _label(o: Objective) -> str:
    arrow = "higher is better" if o.direction == "max" else "lower is better"
    unit = f" [{o.unit}]" if o.unit else ""
    return f"{o.name}{unit} ({arrow})"


def _front_2d(frame: pd.DataFrame, x: Objective, y: Objective) -> pd.DataFrame:
    """The 2-D front of `frame` over (x, y), ordered along x so it can be drawn as a staircase."""
    values = _values(frame, [x, y])
    front = frame[non_dominated(values, [x.direction, y.direction])]
    return front.sort_values([x.name, y.name], ascending=[True, y.direction == "min"], kind="stable")


def _staircase(front: pd.DataFrame, x: Objective, y: Objective) -> tuple[np.ndarray, np.ndarray]:
    """Step coordinates through the front points, turning where the dominated region's corner lies."""
    xs = front[x.name].to_numpy(float)
    ys = front[y.name].to_numpy(float)
    if len(xs) < 2:
        return xs, ys
    # Sorted by x ascending; the corner between two neighbours keeps the worse y of the pair for "min x"
    # fronts (y improves as x grows) and is symmetric for the other direction.
    sx, sy = [xs[0]], [ys[0]]
    for i in range(1, len(xs)):
        if x.direction == "min":
            sx.append(xs[i])
            sy.append(ys[i - 1])
        else:
            sx.append(xs[i - 1])
            sy.append(ys[i])
        sx.append(xs[i])
        sy.append(ys[i])
    return np.array(sx), np.array(sy)


def hypervolume_history(
    run: Run,
    objectives: Sequence[Objective],
    lower: Sequence[float],
    upper: Sequence[float],
    reference: Sequence[float],
    points: int = HISTORY_POINTS,
) -> pd.DataFrame:
    """Normalised hypervolume of the front of the first k trials, at up to `points` values of k.

    x is the trial `number` (failed and pruned trials count as trials, adding no volume). The front is
    kept incrementally, so a long run costs one small front update per checkpoint.
    """
    trials = run.trials.sort_values("number", kind="stable")
    directions = [o.direction for o in objectives]
    ok = (trials["status"] == "complete").to_numpy()
    values = normalise(_values(trials, objectives), directions, lower, upper)
    numbers = trials["number"].to_numpy(dtype=float, na_value=np.nan)
    n = len(trials)
    if n == 0:
        return pd.DataFrame({"number": [], "hypervolume": []})
    stops = np.unique(np.linspace(1, n, num=min(points, n)).round().astype(int))
    current = np.empty((0, len(objectives)))
    start = 0
    rows = []
    minimise = ["min"] * len(objectives)
    for stop in stops:
        chunk = values[start:stop][ok[start:stop]]
        if len(chunk):
            merged = np.vstack([current, chunk])
            current = merged[non_dominated(merged, minimise)]
        rows.append((numbers[stop - 1], hypervolume(current, minimise, reference)))
        start = stop
    return pd.DataFrame(rows, columns=["number", "hypervolume"])


class _Scene:
    """What every figure format draws, computed once: runs, objectives, shared bounds, histories."""

    def __init__(
        self,
        runs: Sequence[Run],
        objectives: Sequence[str] | str | None,
        reference_points: ReferencePoints | None,
        reference_point: Sequence[float] | None,
    ) -> None:
        if not runs:
            raise RunError("nothing to plot; give at least one run")
        self.objectives = check_comparable(runs, objectives)
        if len(self.objectives) < 2:
            raise RunError("a front plot needs at least two objectives; pass e.g. --objectives accuracy,latency_ms")
        names = [r.name for r in runs]
        self.names = names if len(set(names)) == len(names) else [f"{n} #{i + 1}" for i, n in enumerate(names)]
        self.runs = dict(zip(self.names, runs, strict=True))
        self.complete = {name: run.complete() for name, run in self.runs.items()}
        if all(frame.empty for frame in self.complete.values()):
            raise RunError("no complete trials to plot in " + ", ".join(self.names))
        union = np.vstack([_values(f, self.objectives) for f in self.complete.values() if len(f)])
        self.lower, self.upper = union.min(axis=0), union.max(axis=0)
        directions = [o.direction for o in self.objectives]
        if reference_point is None:
            self.reference = np.full(len(self.objectives), DEFAULT_REFERENCE)
        else:
            ref = np.asarray(reference_point, dtype=float).reshape(1, -1)
            if ref.shape[1] != len(self.objectives):
                raise RunError(f"reference point needs {len(self.objectives)} values, one per objective")
            self.reference = normalise(ref, directions, self.lower, self.upper)[0]
        self.history = {
            name: hypervolume_history(run, self.objectives, self.lower, self.upper, self.reference)
            for name, run in self.runs.items()
        }
        self.colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(self.names)}
        self.reference_points = {k: dict(v) for k, v in (reference_points or {}).items()}
        self.pairs = list(itertools.combinations(self.objectives[:3], 2))

    def presets(self, name: str) -> pd.DataFrame:
        frame = self.complete[name]
        return frame[frame["preset"].notna()] if "preset" in frame else frame.iloc[:0]

    def hv_definition(self) -> str:
        """The hypervolume definition of this figure (the one every espnas output uses), with its bounds."""
        over = "the run's complete trials" if len(self.names) == 1 else "the union of the runs' complete trials"
        ref = ", ".join(f"{r:.3g}" for r in self.reference)
        text = HV_DEFINITION.format(over=over)
        return text if np.allclose(self.reference, HV_REFERENCE) else text.replace("1.1 in each", f"({ref})")

    def title(self) -> str:
        objectives = ", ".join(o.name for o in self.objectives)
        return f"Pareto fronts of {', '.join(self.names)} over {objectives}"


def plot_runs(
    runs: Sequence[Run],
    path: str | os.PathLike[str],
    objectives: Sequence[str] | str | None = None,
    reference_points: ReferencePoints | None = None,
    reference_point: Sequence[float] | None = None,
) -> Path:
    """Write the figure of one or more runs to `path` (.png, .svg or .html); returns the path.

    reference_points: labelled markers, e.g. {"espnetv2-1.0 (paper)": {"accuracy": 72.1, "macs": 86e6}},
    drawn on every panel whose two axes they give. reference_point: the hypervolume reference in raw units.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise RunError(f"cannot write a plot to {str(target)!r}; the file must end in {', '.join(FORMATS)}")
    for p in (target, *target.parents):  # checked before any figure is drawn
        if p.exists() and (p.is_dir() if p == target else not p.is_dir()):
            what = "a directory" if p == target else "a file, not a directory"
            raise RunError(f"cannot write a plot to {str(target)!r}: {str(p)!r} is {what}; valid: a file path")
    scene = _Scene(runs, objectives, reference_points, reference_point)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target, suffix=f".tmp{suffix}") as tmp:  # the writers look at the extension
        if suffix == ".html":
            _plotly(scene, tmp)
        else:
            _matplotlib(scene, tmp, suffix[1:])
    return target


# ---------------------------------------------------------------------------------------------------------
# matplotlib
# ---------------------------------------------------------------------------------------------------------


def _matplotlib(scene: _Scene, path: Path, fmt: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    three = len(scene.objectives) >= 3
    panels = len(scene.pairs) + (1 if three else 0) + 1
    cols = 2 if panels <= 4 else 3
    rows = int(np.ceil(panels / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.8 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax, (x, y) in zip(flat, scene.pairs, strict=False):
        _mpl_front(ax, scene, x, y)
    used = len(scene.pairs)
    if three:
        _mpl_parallel(flat[used], scene)
        used += 1
    _mpl_history(flat[used], scene)
    used += 1
    for ax in flat[used:]:
        ax.set_visible(False)
    fig.suptitle(scene.title(), fontsize=12)
    fig.tight_layout()
    fig.savefig(path, format=fmt, dpi=130)
    plt.close(fig)


def _mpl_front(ax, scene: _Scene, x: Objective, y: Objective) -> None:
    for name in scene.names:
        frame = scene.complete[name]
        if frame.empty:
            continue
        colour = scene.colours[name]
        ax.scatter(frame[x.name], frame[y.name], s=10, color=colour, alpha=0.18, linewidths=0)
        front = _front_2d(frame, x, y)
        sx, sy = _staircase(front, x, y)
        ax.plot(sx, sy, color=colour, linewidth=1.6, alpha=0.9)
        ax.scatter(
            front[x.name], front[y.name], s=34, color=colour, edgecolors="black", linewidths=0.6, zorder=3,
            label=f"{name} (front {len(front)} of {len(frame)})",
        )  # fmt: skip
        if len(front) <= MAX_LABELLED and "trial_id" in front:  # which trial each front point is
            for _, row in front.iterrows():
                ax.annotate(
                    str(row["trial_id"]), (row[x.name], row[y.name]), textcoords="offset points", xytext=(4, -9),
                    fontsize=6, color=colour,
                )  # fmt: skip
        for _, row in scene.presets(name).iterrows():
            ax.scatter(row[x.name], row[y.name], marker="D", s=46, color=colour, edgecolors="black", zorder=4)
            ax.annotate(
                str(row["preset"]), (row[x.name], row[y.name]), textcoords="offset points", xytext=(5, 5),
                fontsize=7, color="black",
            )  # fmt: skip
    for label, point in scene.reference_points.items():
        if x.name in point and y.name in point:
            ax.scatter(point[x.name], point[y.name], marker="*", s=120, color="black", zorder=5)
            ax.annotate(label, (point[x.name], point[y.name]), textcoords="offset points", xytext=(6, -10), fontsize=7)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{y.name} vs {x.name}", fontsize=10)


def _mpl_parallel(ax, scene: _Scene) -> None:
    """Parallel coordinates of each run's front over the first three objectives, 0 = best on every axis."""
    objectives = scene.objectives[:3]
    lower, upper = scene.lower[:3], scene.upper[:3]
    xs = np.arange(len(objectives))
    directions = [o.direction for o in objectives]
    for name in scene.names:
        frame = scene.complete[name]
        if frame.empty:
            continue
        values = _values(frame, objectives)
        front = values[non_dominated(values, directions)]
        scaled = normalise(front, directions, lower, upper)
        for i, line in enumerate(scaled):
            ax.plot(xs, line, color=scene.colours[name], alpha=0.55, linewidth=1, label=name if i == 0 else None)
    ax.set_xticks(xs)
    ax.set_xticklabels(
        [f"{o.name}\nbest {_fmt(_best(o, lo, hi))}\nworst {_fmt(_worst(o, lo, hi))}" for o, lo, hi in
         zip(objectives, lower, upper, strict=True)],
        fontsize=8,
    )  # fmt: skip
    ax.set_ylim(1.02, -0.02)  # best at the top
    ax.set_ylabel("normalised (top = best)")
    ax.set_title("fronts over three objectives (parallel coordinates)", fontsize=10)
    ax.grid(True, axis="x", alpha=0.4)
    ax.legend(fontsize=8, loc="lower right")


def _best(o: Objective, lo: float, hi: float) -> float:
    return hi if o.direction == "max" else lo


def _worst(o: Objective, lo: float, hi: float) -> float:
    return lo if o.direction == "max" else hi


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _mpl_history(ax, scene: _Scene) -> None:
    for name in scene.names:
        history = scene.history[name]
        ax.step(history["number"], history["hypervolume"], where="post", color=scene.colours[name], label=name)
    ax.set_xlabel("trial number")
    ax.set_ylabel("hypervolume (normalised)")
    ax.set_title(f"hypervolume vs trials: {scene.hv_definition()}", fontsize=7, wrap=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


# ---------------------------------------------------------------------------------------------------------
# plotly
# ---------------------------------------------------------------------------------------------------------


def _hover(frame: pd.DataFrame, objectives: Sequence[Objective]) -> list[str]:
    parts = [frame["trial_id"].astype(str).radd("trial ")]
    if "arch_id" in frame:
        parts.append(frame["arch_id"].astype(str).radd("arch "))
    for o in objectives:
        parts.append(frame[o.name].map(lambda v, o=o: f"{o.name}={v:.5g}"))
    text = parts[0]
    for part in parts[1:]:
        text = text + "<br>" + part
    return text.tolist()


def _plotly(scene: _Scene, path: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    three = len(scene.objectives) >= 3
    titles = [f"{y.name} vs {x.name}" for x, y in scene.pairs]
    specs: list[list[dict]] = []
    if three:
        titles += ["three objectives (all trials faint, front bold)", "hypervolume vs trial number"]
        specs = [[{"type": "xy"}] * 3, [{"type": "scene", "colspan": 2}, None, {"type": "xy"}]]
        fig = make_subplots(rows=2, cols=3, specs=specs, subplot_titles=titles, row_heights=[0.42, 0.58])
        history_at = (2, 3)
        pair_at = [(1, 1), (1, 2), (1, 3)]
    else:
        titles += ["hypervolume vs trial number"]
        fig = make_subplots(rows=1, cols=2, subplot_titles=titles)
        history_at = (1, 2)
        pair_at = [(1, 1)]
    for (x, y), (row, col) in zip(scene.pairs, pair_at, strict=True):
        for name in scene.names:
            frame = scene.complete[name]
            if frame.empty:
                continue
            colour = scene.colours[name]
            first = (row, col) == pair_at[0]
            fig.add_trace(
                go.Scatter(
                    x=frame[x.name], y=frame[y.name], mode="markers", marker={"color": colour, "size": 5},
                    opacity=0.2, name=f"{name} trials", legendgroup=name, showlegend=first,
                    text=_hover(frame, scene.objectives), hoverinfo="text",
                ),
                row=row, col=col,
            )  # fmt: skip
            front = _front_2d(frame, x, y)
            sx, sy = _staircase(front, x, y)
            fig.add_trace(
                go.Scatter(x=sx, y=sy, mode="lines", line={"color": colour, "width": 2}, legendgroup=name,
                           showlegend=False, hoverinfo="skip"),
                row=row, col=col,
            )  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=front[x.name], y=front[y.name], mode="markers",
                    marker={"color": colour, "size": 9, "line": {"color": "black", "width": 1}},
                    name=f"{name} front", legendgroup=name, showlegend=first,
                    text=_hover(front, scene.objectives), hoverinfo="text",
                ),
                row=row, col=col,
            )  # fmt: skip
            presets = scene.presets(name)
            if len(presets):
                fig.add_trace(
                    go.Scatter(
                        x=presets[x.name], y=presets[y.name], mode="markers+text", text=presets["preset"],
                        textposition="top right", marker={"symbol": "diamond", "size": 10, "color": colour},
                        legendgroup=name, showlegend=False,
                    ),
                    row=row, col=col,
                )  # fmt: skip
        refs = {k: p for k, p in scene.reference_points.items() if x.name in p and y.name in p}
        if refs:
            fig.add_trace(
                go.Scatter(
                    x=[p[x.name] for p in refs.values()], y=[p[y.name] for p in refs.values()],
                    mode="markers+text", text=list(refs), textposition="bottom right",
                    marker={"symbol": "star", "size": 13, "color": "black"}, name="reference points",
                    showlegend=(row, col) == pair_at[0],
                ),
                row=row, col=col,
            )  # fmt: skip
        fig.update_xaxes(title_text=_label(x), row=row, col=col)
        fig.update_yaxes(title_text=_label(y), row=row, col=col)
    if three:
        a, b, c = scene.objectives[:3]
        for name in scene.names:
            frame = scene.complete[name]
            if frame.empty:
                continue
            values = _values(frame, scene.objectives[:3])
            mask = non_dominated(values, [a.direction, b.direction, c.direction])
            for part, size, opacity, label in ((frame[~mask], 2, 0.25, "trials"), (frame[mask], 5, 1.0, "front")):
                fig.add_trace(
                    go.Scatter3d(
                        x=part[a.name], y=part[b.name], z=part[c.name], mode="markers",
                        marker={"size": size, "color": scene.colours[name], "opacity": opacity},
                        name=f"{name} {label} (3-D)", legendgroup=name, showlegend=False,
                        text=_hover(part, scene.objectives), hoverinfo="text",
                    ),
                    row=2, col=1,
                )  # fmt: skip
        fig.update_scenes(xaxis_title=a.name, yaxis_title=b.name, zaxis_title=c.name)
    for name in scene.names:
        history = scene.history[name]
        fig.add_trace(
            go.Scatter(
                x=history["number"], y=history["hypervolume"], mode="lines", line={"shape": "hv"},
                marker={"color": scene.colours[name]}, line_color=scene.colours[name], legendgroup=name,
                name=f"{name} hypervolume", showlegend=False,
            ),
            row=history_at[0], col=history_at[1],
        )  # fmt: skip
    fig.update_xaxes(title_text="trial number", row=history_at[0], col=history_at[1])
    fig.update_yaxes(title_text="hypervolume (normalised)", row=history_at[0], col=history_at[1])
    fig.add_annotation(
        text=f"hypervolume: {scene.hv_definition()}",
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0,
        y=-0.08,
        font={"size": 10},
    )
    fig.update_layout(title=scene.title(), height=950 if three else 520, template="plotly_white")
    fig.write_html(path, include_plotlyjs=True, full_html=True)

"""The two-stage search's second stage, after the trials: measure only the complete trials near the front of
(the other objectives, predicted latency), in the search's runtime, and write them beside the run.

It sits above both `nas.search.predicted` (the screen) and `nas.search.trial` (the measurement), which is why
it is not part of either: the trial predicts latency through `predicted`, so `predicted` cannot import the trial.
"""

from __future__ import annotations

from typing import Any

from nas.search.predicted import two_stage

TWO_STAGE_FILE = "two_stage.json"


def measure_near_front(run_dir: Any, settings: Any, selection: Any) -> str:
    """The two-stage search's second stage: measure (in the search's runtime) only the complete trials near the
    front of the other objectives and the predicted latency; write them to <run>/two_stage.json. Returns a note.
    """
    import json
    from pathlib import Path

    from nas.search.trial import measure_config
    from results.files import write_json_atomic
    from results.store import read_trials

    frame = read_trials(run_dir)
    frame = frame[frame["status"] == "complete"]
    others = [o for o in selection.objectives if o.metric != "latency_pred_ms"]
    if "latency_pred_ms" not in frame or not len(frame):
        return "two-stage: no complete trial with a predicted latency to measure"
    frame = frame.dropna(subset=["latency_pred_ms", *[o.metric for o in others]])
    points = [
        [(-float(row[o.metric]) if o.direction == "max" else float(row[o.metric])) for o in others]
        for _, row in frame.iterrows()
    ]
    rows = list(frame.to_dict("records"))

    def measure(i: int) -> float:
        got = measure_config(
            rows[i]["config_json"], ["latency_ms"], settings.device, budget_s=settings.latency_budget_s,
            batch=settings.latency_batch, threads=settings.measure_threads, runtime=settings.runtime,
        )  # fmt: skip
        return float(got["latency_ms"])

    screen = two_stage(points, [float(r["latency_pred_ms"]) for r in rows], measure, margin=settings.two_stage_margin)
    measured = [
        {
            "trial_id": rows[i]["trial_id"],
            "arch_id": rows[i].get("arch_id"),
            "latency_pred_ms": screen.predicted[i],
            "latency_ms": screen.values[i],
            "runtime": settings.runtime,
        }
        for i in screen.measured
    ]
    out = {"margin": settings.two_stage_margin, "screened": len(rows), "measured": measured}
    out["seconds_measuring"] = screen.seconds_measuring
    write_json_atomic(Path(run_dir) / TWO_STAGE_FILE, json.loads(json.dumps(out, default=str)))
    return (
        f"two-stage: {len(measured)} of {len(rows)} complete trials were near the predicted front (margin "
        f"{settings.two_stage_margin:.0%}) and were measured in {settings.runtime} ({screen.seconds_measuring:.1f} s); "
        f"see {TWO_STAGE_FILE}"
    )

"""Latency prediction from a table of measured units (nn-Meter's idea, once-for-all's lookup tables): build
the table on the target once (`build_table`, `espnas predictor build`), then `predict` any config of the
space in microseconds, without the target present. See `table.py` for the model and `units.py` for the
decomposition."""

from __future__ import annotations

from typing import Any

from profilers.predictor.table import (
    LatencyTable,
    Overhead,
    Prediction,
    PredictorError,
    calibrate,
    default_table_dir,
    find_table,
    fit_overhead,
)
from profilers.predictor.units import Unit, decompose, distinct_units


def predict(
    config: Any,
    runtime: str = "eager",
    device: str = "cpu",
    *,
    batch: int = 1,
    dtype: str = "fp32",
    threads: int = 1,
    table: str | None = None,
    directory: str | None = None,
    allow_foreign: bool = False,
) -> Prediction:
    """Predicted latency of `config` (a config or a spec) on this machine's target, from its table."""
    from profilers.predictor.build import current_target
    from search_spaces.spec import resolve

    cfg = resolve(config)
    here, _ = current_target(runtime, device, dtype=dtype, batch=batch, threads=threads)
    if table is not None:
        tab = LatencyTable.load(table)
        tab.check_target(here, allow_foreign=allow_foreign)
    else:
        tab = find_table(here, directory, allow_foreign=allow_foreign)
    return tab.predict(cfg)


__all__ = [
    "LatencyTable",
    "Overhead",
    "Prediction",
    "PredictorError",
    "Unit",
    "calibrate",
    "decompose",
    "default_table_dir",
    "distinct_units",
    "find_table",
    "fit_overhead",
    "predict",
]

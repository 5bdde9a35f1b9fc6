"""The search: Ray Tune runs the trials, Optuna proposes them, the FLOP band filters them.

`run_search(SearchSettings(...)) -> SearchOutcome` is the whole job (`nas.search.driver`). The pieces, in the
order data flows: `space` (the TOML search space and its bridge to `EESPConfig`) -> `band` (the analytic FLOP
band) -> `trial` (what runs in a Ray trial) -> `recorder` (trial results -> run records) -> `searcher` (Optuna
behind Tune) and `progress` (the live table) -> `driver`; `objectives`, `samplers`, `ray_session`, `resume` and
`errors` serve the driver. Importing this package imports neither Ray nor Optuna nor torch.
"""

from __future__ import annotations

from nas.search.driver import SearchOutcome, SearchSettings, run_search

__all__ = ["SearchOutcome", "SearchSettings", "run_search"]

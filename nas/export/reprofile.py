"""Re-profiling an exported model, and the comparison with the values its search recorded.

Only the standard library is imported at module level (`import nas` stays cheap).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nas.export.layout import plain, plain_tree

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from search_spaces import EESPConfig


def profile_export(
    deployed: nn.Module,
    input_shape: tuple[int, ...],
    device: str,
    search: dict[str, Any] | None,
    *,
    enabled: bool,
    budget_s: float,
    runtime: str | None = None,
) -> dict[str, Any]:
    """Latency (and energy where a power source exists) measured here, beside the search's values.

    Two forms can differ. "deployed" is the exported model as it will run (deploy form, its own input size,
    batch 1). The search measured its config as recorded (usually ImageNet-shaped: 224x224, 1000 classes) at
    its latency batch and thread count, while training adapted the classifier and input size to the data; so
    for the comparison the search's config is measured again here exactly as the search measured it.
    """
    settings = (search or {}).get("search_settings", {})
    threads = settings.get("measure_threads")
    if not isinstance(threads, int):  # not from a search: measure as `espnas profile` does (profilers.threads)
        from profilers.threads import choose_threads

        threads = choose_threads(None, "measure").threads
    if runtime is None:  # as the search measured it (its --runtime), else the deploy form
        runtime = settings.get("runtime") if isinstance(settings.get("runtime"), str) else "deploy"
    out: dict[str, Any] = {"device": device, "threads": threads, "runtime": runtime}
    if not enabled:
        out["skipped"] = "profile=False"
        return out
    out["deployed"] = measure(deployed, input_shape, device, threads=threads, budget_s=budget_s, runtime=runtime)
    compared = out["deployed"]
    if search is not None:
        from search_spaces import EESPConfig

        searched = EESPConfig.from_json(search["config_json"])
        batch = settings.get("latency_batch") if isinstance(settings.get("latency_batch"), int) else 1
        shape = (batch, searched.in_channels, *searched.input_size)
        if searched != deployed.config or tuple(shape) != tuple(input_shape):
            # Weights do not change the cost of a forward: the config at the search's shape is what it timed.
            out["search_form"] = measure(searched, shape, device, threads=threads, budget_s=budget_s, runtime=runtime)
            out["search_form"]["arch_id"] = searched.arch_id
            compared = out["search_form"]
    out["comparison"] = comparison(compared, search)
    differs = sorted({key for row in out["comparison"] for key in row.get("differs_from_search", [])})
    if differs:
        out["differs_from_search"] = differs
    return out


def measure(
    model_or_config: Any,
    shape: tuple[int, ...],
    device: str,
    *,
    threads: int | None,
    budget_s: float,
    runtime: str = "deploy",
) -> dict[str, Any]:
    """Latency and energy (or why no energy) of a deploy-form model or a config at `shape` on `device`.

    With another `runtime` (profilers.runtimes) latency is measured there, checked against eager first;
    energy stays the deploy form's."""
    from profilers import energy
    from profilers.latency import measure_latency

    is_config = not hasattr(model_or_config, "forward")
    options = {"deploy": is_config, "threads": threads}  # a model passed here is already the deploy form
    out: dict[str, Any] = {"input_shape": list(shape), "form": "deploy (BN folded)"}
    if runtime == "deploy":
        out["latency"] = _as_dict(measure_latency(model_or_config, shape, device, time_budget_s=budget_s, **options))
    else:
        from profilers.runtimes import measure_runtime

        res = measure_runtime(model_or_config, shape, device, runtime=runtime, threads=threads, time_budget_s=budget_s)
        out["latency"] = _as_dict(res)
        out["form"] = f"{runtime} runtime" + (" (of the deploy form)" if not is_config else "")
    ok, reason = energy.power_available(device)
    if ok:
        out["energy"] = _as_dict(energy.measure_energy(model_or_config, shape, device, **options))
    else:
        out["energy"] = {"unavailable": str(reason)}
    return out


def comparison(measured: dict[str, Any], search: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of (metric, measured here, recorded by the search, ratio) for latency and energy.

    A search over several targets records one column per target (`latency_ms_<target>`); each gets a row, and
    each row says on which fingerprint fields (device, versions, threads) this machine differs from the one
    the search measured that column on.
    """
    recorded = (search or {}).get("metrics", {})
    here_fp = measured.get("latency", {}).get("fingerprint")
    rows = []
    for prefix, key, field_name in (
        ("latency_ms", "latency", "median_ms"),
        ("energy_mj", "energy", "energy_mj_per_image"),
    ):
        here = measured.get(key, {})
        value = _pick(here, field_name)
        columns = sorted(name for name in recorded if name.startswith(prefix)) or [prefix]
        for column in columns:
            row: dict[str, Any] = {"metric": column, "measured": value, "search": None}
            if column in recorded:
                row["search"] = recorded[column]["value"]
                row["unit"] = recorded[column].get("unit")
            if value is not None and row["search"]:
                row["ratio"] = value / row["search"]
            differs = _differs(search_fingerprint(search, column[len(prefix) + 1 :]), here_fp)
            if differs:
                row["differs_from_search"] = differs
            if value is None and "unavailable" in here:
                row["note"] = f"not measured here: {here['unavailable']}"
            elif search is None:
                row["note"] = "exported from a config: no search values"
            elif row["search"] is None:
                row["note"] = "the search did not record it"
            elif differs:
                row["note"] = f"environment differs from the search's in {', '.join(differs)}"
            rows.append(row)
    return rows


def search_fingerprint(search: dict[str, Any] | None, target: str) -> dict[str, Any] | None:
    """The fingerprint the search measured on: flat, or one per target (keyed by target name)."""
    fp = (search or {}).get("fingerprint")
    if not isinstance(fp, dict) or not fp:
        return None
    if "device_name" in fp or "device" in fp:
        return fp
    if target and isinstance(fp.get(target), dict):
        return fp[target]
    nested = [v for v in fp.values() if isinstance(v, dict)]
    return nested[0] if len(nested) == 1 else None


def _differs(searched: dict[str, Any] | None, here: dict[str, Any] | None) -> list[str]:
    if not isinstance(searched, dict) or not isinstance(here, dict):
        return []
    from profilers.fingerprint import comparable

    return comparable(searched, here)


def _pick(record: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def local_fingerprint(device: str) -> dict[str, Any]:
    """The environment this export is verified and profiled in (fingerprint.json)."""
    from profilers.fingerprint import fingerprint

    return plain_tree(fingerprint(device))


def count_summary(config: EESPConfig, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Parameters and multiply-adds of `config` at the export's input size (analytic)."""
    from profilers.counting import count

    counts = count(config, input_size=tuple(input_shape[2:]))
    return {
        "params": int(counts.params),
        "macs": int(counts.macs),
        "conv_macs": int(counts.conv_macs),
        "input_size": list(input_shape[2:]),
    }


def _as_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        return plain_tree(result.to_dict())
    if isinstance(result, Mapping):
        return plain_tree(dict(result))
    return {"value": plain(result)}

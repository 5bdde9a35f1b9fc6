"""Does the cluttered-scenes task separate networks, and do the proxies rank them? (issue 12)

    python benchmarks/scenes_ranking.py [--configs 12] [--seeds 3] [--proxy-epochs 3] [--long-epochs 15]
                                        [--n-train 4000] [--n-val 1000] [--recipe proxy-adam] [--data-seed 0]
                                        [--only-seed S] [--out runs/bench/scenes_ranking.json]
    python benchmarks/scenes_ranking.py --merge a.json b.json --out merged.json   # then print the figures

Configs: the paper's six width presets, then random configs of the "stages" space inside the default band
(28M..285M conv MACs at 224x224; drawn with random.Random(0), so the same list every time). Each config is
trained on the scenes (32x32 unless `--image-size`), per training seed, twice: with the proxy budget and with
the long budget (same recipe), and scored by every zero-cost measure at initialisation (seed 0). The scenes
are the same for every training seed (`--data-seed`, 0) unless `--data-seed per-seed`, so the seed noise is
the training's.
`--only-seed S` runs one seed (two processes, one per seed, each with its own `--out`; `--merge` joins them).
Results are appended to the JSON file as they finish (an interrupted run picks up where it stopped); the figures
are printed at the end:

- the presets' spread at the long budget (max - min of the per-preset mean accuracy) and the seed noise
  (mean over configs of the per-config standard deviation across seeds);
- Spearman rho and Kendall tau of the proxy's mean accuracy against the long budget's mean accuracy;
- Spearman rho of each zero-cost measure against the long budget's mean accuracy.

Every long run keeps its per-epoch validation curve, which benchmarks/mo_asha_replay.py replays.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import torch
from scipy.stats import kendalltau, spearmanr

from nas.search.band import DEFAULT_BAND
from nas.search.space import load_space, sample_to_config
from nas.train.data import DataSource
from nas.train.data.scenes import load_scene_classification
from nas.train.proxy import PROXY_RECIPES, proxy_accuracy
from nas.train.zero_cost import MEASURES, zero_cost_scores
from profilers.counting import count
from search_spaces import resolve
from search_spaces.errors import ConfigError

PRESETS = ("espnetv2-0.5", "espnetv2-1.0", "espnetv2-1.25", "espnetv2-1.5", "espnetv2-1.75", "espnetv2-2.0")


def config_list(n: int, space_name: str = "stages") -> list[tuple[str, str]]:
    """(name, compact spec) of the six presets, then random in-band configs of a space (a shipped name or a
    TOML file; the 2026-12-02 campaign drew from benchmarks/data/scenes_campaign/stages-2026-12-01.toml)."""
    out = [(p, resolve(p).to_compact()) for p in PRESETS[:n]]
    space, rng = load_space(space_name), random.Random(0)
    while len(out) < n:
        try:
            cfg = sample_to_config(space.sample(rng), space)
        except ConfigError:
            continue
        if DEFAULT_BAND[0] <= count(cfg).conv_macs <= DEFAULT_BAND[1]:
            out.append((f"stages-{len(out) - len(PRESETS)}", cfg.to_compact()))
    return out


def searched_front(run_dir: Path) -> list[tuple[str, str]]:
    """(name, compact spec) of a search run's Pareto front over its own objectives; a name is the run
    directory's name and the trial id ("search-t00015"), so the fronts of two runs do not collide."""
    from results.pareto import front
    from results.store import open_run

    rows = front(open_run(run_dir))
    return [(f"{run_dir.name}-{r.trial_id}", resolve(r.config_json).to_compact()) for r in rows.itertuples()]


def _save(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def scene_data(image_size: int, seed: int, n_train: int, n_val: int) -> DataSource:
    train, val, names = load_scene_classification(image_size, seed=seed, augment=False, n_train=n_train, n_val=n_val)
    return DataSource("scenes", train, val, len(names), names, image_size)


def merge(paths: list[Path]) -> dict:
    """The union of several results files (config rows, their budgets' seeds), later files filling gaps."""
    out: dict = {}
    for path in paths:
        for key, rows in json.loads(path.read_text()).items():
            for name, row in rows.items():
                mine = out.setdefault(key, {}).setdefault(name, {})
                for field, value in row.items():
                    if isinstance(value, dict) and field in ("proxy", "long"):
                        mine.setdefault(field, {}).update({s: v for s, v in value.items() if s not in mine[field]})
                    else:
                        mine.setdefault(field, value)
    return out


def summarise(rows: dict, seeds: int) -> dict[str, float]:
    """The printed figures, from the stored rows. Seed noise: configs with at least two of seeds 0..seeds-1 at
    the long budget. Rankings: configs with at least one seed of both budgets, each budget's mean over the
    seeds it has, and again on seed 0 alone (the same seed for every config)."""
    wanted = [str(s) for s in range(seeds)]

    def accs(row: dict, budget: str) -> list[float]:
        return [row[budget][s]["accuracy"] for s in wanted if s in row.get(budget, {})]

    done = {n: r for n, r in rows.items() if accs(r, "long") and accs(r, "proxy")}
    out: dict[str, float] = {"configs": len(done)}
    presets = [statistics.mean(accs(r, "long")) for n, r in done.items() if n in PRESETS]
    if presets:
        out["preset_spread_points"] = 100 * (max(presets) - min(presets))
    noisy = [accs(r, "long") for r in rows.values() if len(accs(r, "long")) >= 2]
    if noisy:
        out["seed_std_configs"] = len(noisy)
        out["seed_std_points"] = 100 * statistics.mean(statistics.stdev(a) for a in noisy)
    noisy = [accs(r, "proxy") for r in rows.values() if len(accs(r, "proxy")) >= 2]
    if noisy:
        out["proxy_seed_std_configs"] = len(noisy)
        out["proxy_seed_std_points"] = 100 * statistics.mean(statistics.stdev(a) for a in noisy)
    if len(done) >= 3:
        long = [statistics.mean(accs(r, "long")) for r in done.values()]
        proxy = [statistics.mean(accs(r, "proxy")) for r in done.values()]
        out["proxy_spearman"] = float(spearmanr(proxy, long)[0])
        out["proxy_spearman_p"] = float(spearmanr(proxy, long)[1])
        out["proxy_kendall"] = float(kendalltau(proxy, long)[0])
        first = [r for r in done.values() if "0" in r["long"] and "0" in r["proxy"]]
        if len(first) >= 3:
            long0 = [r["long"]["0"]["accuracy"] for r in first]
            out["seed0_proxy_spearman"] = float(spearmanr([r["proxy"]["0"]["accuracy"] for r in first], long0)[0])
            # the long run's own curve after epoch k (same schedule, stopped early) against its end
            curves = [r["long"]["0"]["curve"] for r in first]
            for k in range(1, min(len(c) for c in curves)):
                out[f"seed0_long_epoch{k}_spearman"] = float(spearmanr([c[k - 1] for c in curves], long0)[0])
        for m in MEASURES:
            scores = [r.get("zero_cost", {}).get(m, float("nan")) for r in done.values()]
            out[f"zc_{m}_spearman"] = float(spearmanr(scores, long, nan_policy="omit")[0])
        out["macs_spearman"] = float(spearmanr([r["macs_224"] for r in done.values()], long)[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only-seed", type=int, help="train this seed only (the figures still need every seed)")
    parser.add_argument("--proxy-epochs", type=int, default=3)
    parser.add_argument("--long-epochs", type=int, default=15)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--recipe", choices=sorted(PROXY_RECIPES), default="proxy-adam")
    parser.add_argument("--data-seed", default="0", help="the scenes' seed for every run, or per-seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reverse", action="store_true", help="train the configs last to first (a 2nd process)")
    parser.add_argument("--space", default="stages", help="the space the non-preset configs are drawn from")
    parser.add_argument("--only", help="train only these configs (comma-separated names)")
    parser.add_argument(
        "--spec", action="append", default=[], metavar="NAME=SPEC", help="also train this config (e.g. a searched one)"
    )
    parser.add_argument(
        "--from-run", type=Path, action="append", default=[], help="also train this search run's front (repeatable)"
    )
    parser.add_argument("--budgets", default="proxy,long", help="which budgets to train (proxy, long or both)")
    parser.add_argument("--merge", type=Path, nargs="+", help="join these results files into --out and summarise")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/scenes_ranking.json"))
    args = parser.parse_args()
    if args.only_seed is not None and not 0 <= args.only_seed < args.seeds:
        parser.error(f"--only-seed {args.only_seed} is invalid; valid: 0..{args.seeds - 1} (--seeds {args.seeds})")
    if args.data_seed != "per-seed" and not args.data_seed.isdigit():
        parser.error(f"--data-seed {args.data_seed!r} is invalid; use a non-negative integer or per-seed")
    torch.set_num_threads(args.threads)
    if args.merge:
        results = merge(args.merge)
        _save(args.out, results)
        for key, rows in results.items():
            figures = summarise(rows, args.seeds)
            print(json.dumps({"key": key, **{k: round(v, 4) for k, v in figures.items()}}, indent=1))
        return
    key = (
        f"scenes{args.image_size}-n{args.n_train}-v{args.n_val}-p{args.proxy_epochs}-l{args.long_epochs}"
        f"-t{args.threads}-{args.recipe}-d{args.data_seed}"
    )
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    rows = results.setdefault(key, {})
    t0 = time.perf_counter()
    seeds = [args.only_seed] if args.only_seed is not None else list(range(args.seeds))
    data_seed = {s: s if args.data_seed == "per-seed" else int(args.data_seed) for s in range(args.seeds)}
    data = {d: scene_data(args.image_size, d, args.n_train, args.n_val) for d in sorted(set(data_seed.values()))}
    recipe = PROXY_RECIPES[args.recipe]
    configs = config_list(args.configs, args.space)
    for item in args.spec:
        name, _, spec = item.partition("=")
        if not name or not spec:
            parser.error(f"--spec {item!r} is invalid; use NAME=SPEC with a compact config spec")
        configs.append((name, resolve(spec).to_compact()))
    for run in args.from_run:
        configs += searched_front(run)
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {n for n, _ in configs})
        if unknown:
            valid = ", ".join(n for n, _ in configs)
            parser.error(f"--only names unknown config(s) {', '.join(unknown)}; valid: {valid}")
        configs = [(n, spec) for n, spec in configs if n in names]
    budgets = [b for b in ("proxy", "long") if b in args.budgets.split(",")]
    if not budgets or set(args.budgets.split(",")) - {"proxy", "long"}:
        parser.error(f"--budgets {args.budgets!r} is invalid; use proxy, long or proxy,long")
    for name, spec in reversed(configs) if args.reverse else configs:
        row = rows.setdefault(name, {"spec": spec, "macs_224": count(resolve(spec)).conv_macs})
        if row["spec"] != spec:
            raise SystemExit(
                f"{args.out} holds {name} as {row['spec']}, not {spec} (another --space or space version); "
                "use the --space it was drawn from or another --out"
            )
        if "zero_cost" not in row and 0 in seeds:
            t = time.perf_counter()
            row["zero_cost"] = zero_cost_scores(spec, data[data_seed[0]], batch_size=64, seed=0)
            row["zero_cost_seconds"] = time.perf_counter() - t
            _save(args.out, results)
        for seed in seeds:
            for budget, epochs in (("proxy", args.proxy_epochs), ("long", args.long_epochs)):
                if budget not in budgets:
                    continue
                runs = row.setdefault(budget, {})
                if str(seed) in runs:
                    continue
                res = proxy_accuracy(spec, data[data_seed[seed]], epochs=epochs, seed=seed, recipe=recipe)
                runs[str(seed)] = {"accuracy": res.accuracy, "curve": list(res.curve), "seconds": res.seconds}
                _save(args.out, results)
                print(
                    f"{name:14s} seed {seed} {budget:5s} {epochs:2d} ep: {res.accuracy:.4f} ({res.seconds:.0f} s)",
                    flush=True,
                )
    figures = summarise(rows, args.seeds)
    print(json.dumps({"key": key, **{k: round(v, 4) for k, v in figures.items()}}, indent=1))
    print(f"took {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""How far espnas's latency and energy method is from the truth, on the GPU simulator (profilers.gpusim).

The real `measure_latency` and `measure_energy` run unchanged against a simulated GPU (asynchronous work,
launch overhead per kernel, power rising and decaying with time constants, an NVML energy counter that
advances in 20-100 ms steps, NVML power as a 1 s moving average, an idle floor); their figures are scored
against the simulator's ground truth, which comes from its parameters alone. Models run back to back on one
device, as in a search, so each one's idle window follows the previous one's load.

    .venv/bin/python benchmarks/gpusim_accuracy.py            # the table in benchmarks/README.md
    .venv/bin/python benchmarks/gpusim_accuracy.py --quick    # fewer models, for a look

Goals (issue 14): energy per image within 3% for 0.05-100 ms per batch, net energy never negative, latency
within 2% of device time at batch 1 and 64.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from profilers.energy import measure_energy
from profilers.gpusim import GpuSim, GpuSpec, SimModel
from profilers.latency import measure_latency

SHAPE = (3, 4, 4)
# Device time per batch and kernel count: from a tiny launch-bound net to a big batch of a big one.
ENERGY_MODELS = [
    SimModel("0.05 ms", fixed_ms=0.05, kernels=10, intensity=0.3),
    SimModel("0.2 ms", fixed_ms=0.2, kernels=40, intensity=0.4),
    SimModel("1 ms", fixed_ms=1.0, kernels=100, intensity=0.5),
    SimModel("5 ms", fixed_ms=5.0, kernels=200, intensity=0.7),
    SimModel("20 ms", fixed_ms=20.0, kernels=300, intensity=0.8),
    SimModel("100 ms", fixed_ms=100.0, kernels=300, intensity=0.9),
]
# An ESPNetv2-like net: ~300 kernels; 0.3 ms at batch 1 (launch-bound eagerly), 6.6 ms at batch 64.
LATENCY_MODEL = SimModel("espnetv2-like", fixed_ms=0.2, per_image_ms=0.1, kernels=300, intensity=0.6)
SOURCES = {
    "counter 20 ms": (lambda g: g.energy_counter(), {"counter_period_s": 0.02}),
    "counter 100 ms": (lambda g: g.energy_counter(), {"counter_period_s": 0.1}),
    "power 1 s avg": (lambda g: g.power_sampler(), {}),
}


def energy_rows(models: list[SimModel], sources: list[str]) -> list[dict]:
    rows = []
    for source_name in sources:
        make_source, spec_kw = SOURCES[source_name]
        gpu = GpuSim(replace(GpuSpec(), **spec_kw))
        for model in models:
            for graph in (False, True):
                t0 = time.perf_counter()
                res = measure_energy(
                    gpu.net(model),
                    SHAPE,
                    "cpu",
                    source=make_source(gpu),
                    timing=gpu.timing(),
                    sleep=gpu.sleep,
                    cuda_graph=graph,
                )
                gross, net = gpu.true_energy_mj_per_image(model, 1, graph=graph)
                rows.append(
                    {
                        "source": source_name,
                        "model": model.name,
                        "execution": res.execution,
                        "gross_mj": res.energy_mj_per_image,
                        "gross_true_mj": gross,
                        "gross_err": res.energy_mj_per_image / gross - 1,
                        "net_mj": res.energy_mj_per_image_net,
                        "net_true_mj": net,
                        "net_err": res.energy_mj_per_image_net / net - 1,
                        "idle_w": res.idle_power_w,
                        "idle_err": res.idle_power_w / gpu.spec.idle_w - 1,
                        "simulated_s": res.seconds,
                        "real_s": time.perf_counter() - t0,
                    }
                )
                print(_energy_line(rows[-1]), flush=True)
    return rows


def latency_rows() -> list[dict]:
    rows = []
    for batch in (1, 64):
        for graph in (False, True):
            gpu = GpuSim()
            res = measure_latency(
                gpu.net(LATENCY_MODEL),
                SHAPE,
                "cpu",
                batch_size=batch,
                cuda_graph=graph,
                timing=gpu.timing(),
                time_budget_s=2.0,
            )
            truth = gpu.true_latency_ms(LATENCY_MODEL, batch, graph=graph)
            rows.append(
                {
                    "model": LATENCY_MODEL.name,
                    "batch": batch,
                    "execution": res.options["execution"],
                    "median_ms": res.median_ms,
                    "true_ms": truth,
                    "err": res.median_ms / truth - 1,
                    "n_samples": res.n_samples,
                }
            )
            print(_latency_line(rows[-1]), flush=True)
    return rows


def _energy_line(r: dict) -> str:
    return (
        f"| {r['source']} | {r['model']} | {r['execution']} | {r['gross_mj']:.4g} | {r['gross_true_mj']:.4g} | "
        f"{100 * r['gross_err']:+.2f}% | {r['net_mj']:.4g} | {r['net_true_mj']:.4g} | {100 * r['net_err']:+.2f}% | "
        f"{r['idle_w']:.2f} |"
    )


def _latency_line(r: dict) -> str:
    return (
        f"| {r['model']} | {r['batch']} | {r['execution']} | {r['median_ms']:.4f} | {r['true_ms']:.4f} | "
        f"{100 * r['err']:+.2f}% |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="three models, one source")
    parser.add_argument("--out", help="also write every row as JSON")
    args = parser.parse_args()
    models = [ENERGY_MODELS[i] for i in (0, 2, 5)] if args.quick else ENERGY_MODELS
    sources = ["counter 100 ms"] if args.quick else list(SOURCES)
    t0 = time.perf_counter()
    print("| latency model | batch | execution | measured ms | true ms | error |\n|---|---|---|---|---|---|")
    lat = latency_rows()
    print(
        "\n| source | model (per batch) | execution | gross mJ/img | true | error | net mJ/img | true | error | "
        "idle W (true 60) |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    energy = energy_rows(models, sources)
    worst_gross = max(abs(r["gross_err"]) for r in energy)
    worst_net = max(abs(r["net_err"]) for r in energy)
    worst_lat = max(abs(r["err"]) for r in lat)
    negative = sum(r["net_mj"] < 0 for r in energy)
    print(
        f"\nworst errors: energy per image gross {100 * worst_gross:.2f}%, net {100 * worst_net:.2f}%, "
        f"latency {100 * worst_lat:.2f}%; negative net energies: {negative} of {len(energy)}; "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"latency": lat, "energy": energy}, fh, indent=1)


if __name__ == "__main__":
    main()

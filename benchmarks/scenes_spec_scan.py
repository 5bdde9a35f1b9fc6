"""Which scene composition and proxy recipe learn something in a short budget? (issue 12, the scan behind
"Making the scenes learnable in a short budget" in benchmarks/README.md)

    OMP_NUM_THREADS=1 python benchmarks/scenes_spec_scan.py SPEC RECIPE EPOCHS N_TRAIN PRESET [PRESET ...]

SPEC is a JSON object of `SceneSpec.for_size(32, ...)` overrides (e.g. '{"fragments": 0, "digit_scale": [18, 28]}'),
RECIPE one of proxy, adam, lr03, lr02. Trains each preset with `proxy_accuracy` on N_TRAIN training and 500
validation scenes (seed 0) and prints the validation accuracy per epoch and the seconds taken.
"""

from __future__ import annotations

import json
import sys

import torch

from nas.train.data import DataSource
from nas.train.data.memory import InMemoryDataset
from nas.train.data.scenes import SceneSpec, load_scenes
from nas.train.proxy import PROXY_RECIPE, proxy_accuracy
from nas.train.trainer import RECIPES

SIZE = 32


def main(argv: list[str]) -> None:
    if len(argv) < 5:
        sys.exit(__doc__)
    overrides = json.loads(argv[0])
    if "digit_scale" in overrides:
        overrides["digit_scale"] = tuple(overrides["digit_scale"])
    recipe_name, epochs, n_train = argv[1], int(argv[2]), int(argv[3])
    recipes = {
        "proxy": PROXY_RECIPE,
        "adam": RECIPES["adam"].replace(label_smoothing=0.0, warmup_epochs=0.3),
        "lr03": PROXY_RECIPE.replace(lr=0.3),
        "lr02": PROXY_RECIPE.replace(lr=0.2),
    }
    if recipe_name not in recipes:
        sys.exit(f"unknown recipe {recipe_name!r}; valid: {', '.join(recipes)}")
    torch.set_num_threads(1)
    train, val = load_scenes(n_train, 500, SceneSpec.for_size(SIZE, **overrides), seed=0)
    norm = {"image_size": SIZE, "mean": (float(train.images.mean()),), "std": (float(train.images.std()),)}
    norm["out_channels"] = 3
    data = DataSource(
        "scenes",
        InMemoryDataset(train.images, train.labels, **norm),
        InMemoryDataset(val.images, val.labels, **norm),
        10,
        tuple("0123456789"),
        SIZE,
    )
    for preset in argv[4:]:
        r = proxy_accuracy(preset, data, epochs=epochs, seed=0, recipe=recipes[recipe_name])
        print(argv[0], recipe_name, preset, [round(x, 3) for x in r.curve], round(r.seconds, 1), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""`espnas export`, in process: from a config and from a run, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nas
from nas.cli import main
from results.store import RunWriter
from search_spaces import EESPConfig

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = EESPConfig(
    channels=(16, 32, 64, 128, 256), depths=(0, 0, 1, 0), head_channels=64, num_classes=10, input_size=(32, 32)
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image folder of two classes (dark and bright squares), ten 32x32 PNGs each."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label, base in (("dark", 40), ("bright", 200)):
        (root / label).mkdir()
        for i in range(10):
            pixels = np.clip(base + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runs") / "cli"
    metadata = {
        "name": "cli",
        "objectives": [{"name": "accuracy", "direction": "max"}, {"name": "latency_ms", "direction": "min"}],
        "metrics": {"accuracy": "fraction", "latency_ms": "ms"},
    }
    with RunWriter(path, metadata) as writer:
        writer.append(
            {
                "trial_id": "a",
                "number": 0,
                "status": "complete",
                "config_json": TINY.to_json(),
                "arch_id": TINY.arch_id,
                "accuracy": 0.5,
                "latency_ms": 2.0,
            }
        )
    return path


def test_export_a_config(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exp"
    argv = ["export", "--config", TINY.to_compact(), "--data", str(folder), "--image-size", "32", "--epochs", "1"]
    argv += ["--batch-size", "8", "--formats", "safetensors", "--no-profile", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    model = nas.load(out)
    # The trainer matched the classifier to the folder's two classes; the summary says so.
    assert model.config == TINY.replace(num_classes=2)
    assert f"exported {model.config.arch_id} to {out}" in printed and "nas.load(" in printed
    assert TINY.arch_id in printed  # the note about the adapted config names the original
    training = json.loads((out / "training.json").read_text())
    assert training["data"]["name"] == f"folder:{folder}" and training["data"]["class_names"] == ["bright", "dark"]


def test_export_a_run_trial(folder: Path, run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exp"
    argv = ["export", str(run_dir), "--trial", "a", "--data", str(folder), "--epochs", "1", "--batch-size", "8"]
    argv += ["--formats", "safetensors", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "latency_ms" in printed and "search" in printed
    search = json.loads((out / "search_metrics.json").read_text())
    assert search["trial_id"] == "a" and search["metrics"]["latency_ms"]["value"] == 2.0


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["export"], "nothing to export"),
        (["export", "RUN"], "exactly one of"),
        (["export", "RUN", "--trial", "zz"], "no trial"),
        (["export", "--config", "no-such-preset"], "no-such-preset"),
        (["export", "--config", "espnetv2-0.5", "--formats", "pickle"], "pickle"),
        (["export", "RUN", "--knee", "--config", "espnetv2-0.5"], "not allowed with"),
    ],
)
def test_mistakes_are_one_line(
    argv: list[str], fragment: str, run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(run_dir) if a == "RUN" else a for a in argv] + ["--out", str(tmp_path / "x"), "--quiet"]
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse refuses mutually exclusive flags itself
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and fragment in err, err
    assert err.startswith("espnas export: error:")
    assert not (tmp_path / "x").exists()

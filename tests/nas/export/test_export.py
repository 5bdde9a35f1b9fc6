"""nas.export: from a stored run's trial or a config to a trained, verified export directory."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nas
from nas.export.loading import read_manifest
from nas.export.pipeline import ExportError, ExportResult, max_rel_error
from nas.train.data import DataSource, load_data
from nas.train.data.memory import InMemoryDataset
from profilers.fingerprint import fingerprint
from results.store import RunWriter
from search_spaces import PRESETS, EESPConfig, deploy
from search_spaces.errors import ConfigError, EspnasError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = EESPConfig(
    channels=(16, 32, 64, 128, 256), depths=(0, 0, 1, 0), head_channels=64, num_classes=10, input_size=(32, 32)
)
# t2 is shaped like a search's config (ImageNet classes, a larger counting size): training adapts it to the data.
CONFIGS = [
    TINY,
    TINY.replace(depths=(0, 1, 1, 0)),
    TINY.replace(head_channels=128, num_classes=1000, input_size=(64, 64)),
]
# (accuracy, latency_ms, energy_mj) the "search" recorded for each config: trial t1 is the knee.
RECORDED = [(0.70, 1.5, 4.0), (0.80, 2.5, 6.0), (0.90, 6.0, 9.0)]
ALL_FILES = {
    "model.safetensors",
    "config.json",
    "manifest.json",
    "manifest.sha256",
    "training.json",
    "search_metrics.json",
    "fingerprint.json",
    "profile.json",
    "verification.json",
    "model.onnx",
    "model.torchscript.pt",
    "MODEL_CARD.md",
}


def _subset(dataset: InMemoryDataset, n: int) -> InMemoryDataset:
    return InMemoryDataset(
        dataset.images[:n],
        dataset.labels[:n],
        image_size=dataset.image_size,
        mean=dataset.mean,
        std=dataset.std,
        augment=dataset.augment,
        flip=dataset.flip,
        out_channels=dataset.out_channels,
    )


@pytest.fixture(scope="module")
def tiny_data() -> DataSource:
    """The digits at 32x32, cut to 64 training and 40 validation images: training takes a few steps."""
    full = load_data("digits", 32)
    return dataclasses.replace(full, train=_subset(full.train, 64), val=_subset(full.val, 40))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A search run written with the results store: three complete trials and one failed."""
    path = tmp_path_factory.mktemp("runs") / "demo"
    metadata = {
        "name": "demo",
        "objectives": [
            {"name": "accuracy", "direction": "max", "unit": "fraction"},
            {"name": "latency_ms", "direction": "min", "unit": "ms"},
        ],
        "metrics": {"accuracy": "fraction", "latency_ms": "ms", "energy_mj": "mJ/image"},
        "devices": ["cpu"],
        "settings": {"image_size": 32, "data": "digits"},
    }
    records = [
        {
            "trial_id": f"t{i}",
            "number": i,
            "status": "complete",
            "config_json": cfg.to_json(),
            "arch_id": cfg.arch_id,
            "params": 1000 + i,
            "macs": 2000 + i,
            "accuracy": acc,
            "latency_ms": lat,
            "latency_ms_iqr": 0.1,
            "energy_mj": energy,
            # As nas.search.driver stores it: one fingerprint per target ("local" when measuring here).
            "fingerprint_json": json.dumps({"local": {**fingerprint("cpu", threads=1), "host": "search-host"}}),
        }
        for i, (cfg, (acc, lat, energy)) in enumerate(zip(CONFIGS, RECORDED, strict=True))
    ]
    records.append({"trial_id": "t3", "number": 3, "status": "failed", "reason": "loss became nan"})
    with RunWriter(path, metadata) as writer:
        writer.append(records)
    return path


@pytest.fixture(scope="module")
def from_run(run_dir: Path, tiny_data: DataSource, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    """Trial t1 of the run, trained for one short epoch, every format, re-profiled briefly."""
    out = tmp_path_factory.mktemp("exports") / "t1"
    return nas.export.export(
        run=run_dir,
        trial="t1",
        data=tiny_data,
        epochs=1,
        batch_size=32,
        out=out,
        profile_budget_s=0.3,
        progress=False,
    )


def _read(result: ExportResult, name: str) -> dict:
    return json.loads((result.path / name).read_text())


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ----- export from a run, all formats ---------------------------------------------------------------------


def test_run_export_writes_every_file(from_run: ExportResult) -> None:
    assert set(_listing(from_run.path)) == ALL_FILES
    manifest = read_manifest(from_run.path)
    assert set(manifest["files"]) == ALL_FILES - {"manifest.json", "manifest.sha256"}
    assert manifest["arch_id"] == CONFIGS[1].arch_id == from_run.arch_id
    # Nothing left beside it: no temporary directory and no training work directory.
    assert _listing(from_run.path.parent) == ["t1"]


def test_loaded_model_equals_the_trained_model(from_run: ExportResult) -> None:
    loaded = nas.load(from_run.path)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), from_run.model(x))


def test_training_summary(from_run: ExportResult, tiny_data: DataSource) -> None:
    training = _read(from_run, "training.json")
    assert training["trained"] is True
    assert training["epochs"] == 1 and len(training["curve"]) == 1
    assert training["data"]["train_size"] == 64 and training["data"]["val_size"] == 40
    assert training["data"]["num_classes"] == 10
    assert 0.0 <= training["final_top1"] <= training["final_top5"] <= 1.0
    assert training["final_top1"] == pytest.approx(training["curve"][-1]["val_top1"])
    assert training["data"]["normalize_mean"] == pytest.approx(list(tiny_data.train.mean))


def test_search_metrics_are_the_recorded_values(from_run: ExportResult, run_dir: Path) -> None:
    search = _read(from_run, "search_metrics.json")
    assert search["trial_id"] == "t1" and search["run_name"] == "demo"
    assert search["arch_id"] == CONFIGS[1].arch_id
    accuracy, latency, energy = RECORDED[1]
    assert search["metrics"]["accuracy"] == {"value": accuracy, "unit": "fraction"}
    assert search["metrics"]["latency_ms"] == {"value": latency, "unit": "ms", "iqr": 0.1}
    assert search["metrics"]["energy_mj"]["value"] == energy
    assert search["fingerprint"]["local"]["host"] == "search-host"
    assert search["search_settings"]["image_size"] == 32


def test_reprofiled_next_to_the_search(from_run: ExportResult) -> None:
    from profilers.energy import power_available

    profile = _read(from_run, "profile.json")
    assert "search_form" not in profile  # the trained config is the searched one: one measurement serves both
    deployed = profile["deployed"]
    assert deployed["input_shape"] == [1, 3, 32, 32]
    measured = deployed["latency"]["median_ms"]
    assert measured > 0 and deployed["latency"]["n_samples"] >= 1
    rows = {row["metric"]: row for row in profile["comparison"]}
    assert rows["latency_ms"]["search"] == RECORDED[1][1]
    assert rows["latency_ms"]["ratio"] == pytest.approx(measured / RECORDED[1][1])
    assert rows["energy_mj"]["search"] == RECORDED[1][2]
    available = power_available("cpu")
    if not available:  # this machine: the reason is recorded, not a zero
        assert deployed["energy"]["unavailable"] == available.reason
        assert rows["energy_mj"]["measured"] is None
    # Same machine, torch and thread count as the "search": the values are comparable, and no note says otherwise.
    assert "differs_from_search" not in profile and "differs_from_search" not in rows["latency_ms"]
    assert profile["counts"]["params"] == sum(p.numel() for p in from_run.model.parameters())
    # The summary's latency row: this machine's median beside the search's, and their ratio worked out here.
    latency_row = next(line for line in from_run.summary().splitlines() if line.strip().startswith("latency_ms"))
    assert latency_row.split() == [
        "latency_ms", "here", f"{measured:.4g}", "search", "2.5", "here", "=", f"{measured / RECORDED[1][1]:.2f}", "x",
        "search",
    ]  # fmt: skip


def test_search_shaped_config_is_remeasured_as_the_search_measured_it(
    run_dir: Path, tiny_data: DataSource, tmp_path: Path
) -> None:
    """t2 was searched as a 1000-class 64x64 network and trained here as a 10-class 32x32 one: its latency is
    compared with the search's by timing the searched config at the searched shape, and the exported model's
    own latency is reported beside it."""
    result = nas.export.export(
        run=run_dir,
        trial="t2",
        data=tiny_data,
        epochs=1,
        formats=(),
        out=tmp_path / "a",
        profile_budget_s=0.2,
        progress=False,
    )
    assert result.config == CONFIGS[2].replace(num_classes=10, input_size=(32, 32))
    profile = _read(result, "profile.json")
    assert profile["search_form"]["arch_id"] == CONFIGS[2].arch_id
    assert profile["search_form"]["input_shape"] == [1, 3, 64, 64]
    assert profile["deployed"]["input_shape"] == [1, 3, 32, 32]
    rows = {row["metric"]: row for row in profile["comparison"]}
    assert rows["latency_ms"]["measured"] == profile["search_form"]["latency"]["median_ms"]
    assert rows["latency_ms"]["search"] == RECORDED[2][1]
    assert "this model at 1x3x32x32" in result.summary()
    assert _read(result, "search_metrics.json")["arch_id"] == CONFIGS[2].arch_id


def test_every_format_checked_within_the_bound(from_run: ExportResult) -> None:
    checks = {c["format"]: c for c in _read(from_run, "verification.json")["checks"]}
    assert set(checks) == {"safetensors", "onnx", "torchscript"}
    assert checks["safetensors"]["max_rel_error"] == 0.0
    for check in checks.values():
        assert check["passed"] and check["max_rel_error"] <= check["bound"] == 1e-4
    assert checks["onnx"]["runtime"].startswith("onnxruntime")


def test_onnx_file_runs_in_onnxruntime(from_run: ExportResult) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(from_run.path / "model.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 3, 32, 32)  # a batch size the export's own check did not use
    with torch.no_grad():
        reference = nas.load(from_run.path)(x)
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert max_rel_error([out], [reference]) <= 1e-4


def test_torchscript_file_matches(from_run: ExportResult) -> None:
    scripted = torch.jit.load(str(from_run.path / "model.torchscript.pt"))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert max_rel_error([scripted(x)], [from_run.model(x)]) <= 1e-4


def test_model_card(from_run: ExportResult) -> None:
    card = (from_run.path / "MODEL_CARD.md").read_text()
    for section in ("## What it is", "## How it was trained", "## Numbers", "## How to load it"):
        assert section in card
    assert from_run.arch_id in card and "trial t1" in card and "nas.load(" in card
    top1 = _read(from_run, "training.json")["final_top1"]
    assert f"{100 * top1:.1f}%" in card


# ----- choosing the trial -----------------------------------------------------------------------------------


def test_knee_and_where_pick_the_trial_worked_out_by_hand(run_dir: Path, tmp_path: Path) -> None:
    for i, (kwargs, expected) in enumerate(
        (
            # By hand over (accuracy, latency_ms), normalised on the front to 0 = best: t0 (1, 0), t1 (0.5, 0.22),
            # t2 (0, 1); t1 has the smallest sum, so it is the knee.
            ({"knee": True}, "t1"),
            ({"where": "latency_ms <= 3"}, "t1"),  # best accuracy among t0 and t1
            ({"trial": 0}, "t0"),  # a trial number works too
        )
    ):
        result = nas.export.export(
            run=run_dir, **kwargs, train=False, profile=False, formats=(), out=tmp_path / str(i), progress=False
        )
        assert result.search_metrics["trial_id"] == expected
        assert result.config == CONFIGS[int(expected[1])]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"spec": TINY, "run": "somewhere"}, "not both"),
        ({}, "nothing to export"),
        ({"run": "RUN"}, "exactly one of"),
        ({"run": "RUN", "trial": "t0", "knee": True}, "exactly one of"),
        ({"spec": TINY, "knee": True}, "give no selection"),
        ({"run": "RUN", "trial": "t9"}, "no trial"),
        ({"run": "RUN", "trial": "t3"}, "no config_json"),
        ({"run": "RUN", "where": "latency_ms <= 0"}, "satisfies"),
        ({"run": "RUN", "where": "latency_ms <== 3"}, "malformed constraint 'latency_ms <== 3'"),
        ({"spec": TINY, "formats": "onnx,tflite"}, "tflite"),
        ({"spec": TINY, "recipe": "long"}, "recipe"),
        ({"spec": TINY, "epochs": 0}, "epochs"),
        ({"spec": "no-such-preset"}, "no-such-preset"),
    ],
)
def test_user_mistakes_are_one_line_errors(run_dir: Path, tmp_path: Path, kwargs: dict, fragment: str) -> None:
    if kwargs.get("run") == "RUN":
        kwargs = {**kwargs, "run": run_dir}
    with pytest.raises(EspnasError) as info:
        nas.export.export(**kwargs, train=False, profile=False, out=tmp_path / "x", progress=False)
    assert "\n" not in str(info.value) and fragment in str(info.value)
    assert not (tmp_path / "x").exists()


# ----- export from a config -------------------------------------------------------------------------------


def test_config_export_with_chosen_formats(tmp_path: Path) -> None:
    result = nas.export.export(
        TINY, train=False, profile=False, formats=["torchscript"], out=tmp_path / "a", progress=False
    )
    files = set(_listing(result.path))
    assert "model.torchscript.pt" in files and "model.onnx" not in files
    assert "search_metrics.json" not in files and result.search_metrics is None
    assert [c.format for c in result.checks] == ["safetensors", "torchscript"]
    assert _read(result, "training.json")["trained"] is False
    assert "not trained" in (result.path / "MODEL_CARD.md").read_text().lower()
    # The TorchScript file is the deploy form (BN folded): equal to folding the loaded model.
    folded = deploy(nas.load(result.path))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert max_rel_error([torch.jit.load(str(result.path / "model.torchscript.pt"))(x)], [folded(x)]) < 1e-6

    def norms(model: torch.nn.Module) -> int:
        return sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())

    assert norms(folded) < norms(nas.load(result.path))


def test_trainer_matches_the_classifier_to_the_data(tiny_data: DataSource, tmp_path: Path) -> None:
    """A 1000-class preset trained on the 10 digits: the export holds the 10-class config it trained."""
    wide = TINY.replace(num_classes=1000)
    result = nas.export.export(
        wide, data=tiny_data, epochs=1, batch_size=64, profile=False, formats=(), out=tmp_path / "a", progress=False
    )
    assert result.config.num_classes == 10 and result.arch_id == TINY.arch_id
    assert nas.load(result.path).config == TINY
    assert any(wide.arch_id in note and TINY.arch_id in note for note in result.warnings)
    assert _read(result, "training.json")["adapted_from"]["arch_id"] == wide.arch_id


def test_interrupted_export_resumes_training(tiny_data: DataSource, tmp_path: Path) -> None:
    """The training work directory outlives a failed export; the same export then resumes instead of
    training again, and produces the same weights."""
    args = {"data": tiny_data, "epochs": 1, "batch_size": 64, "profile": False, "progress": False}
    with pytest.raises(ExportError, match="relative error"):  # fails after training, at the format check
        nas.export.export(TINY, **args, formats="torchscript", rtol=1e-30, out=tmp_path / "a")
    assert not (tmp_path / "a").exists()
    work = [p for p in tmp_path.iterdir() if p.name.startswith(".a.train")]
    assert len(work) == 1  # the checkpoint survived the failed export
    result = nas.export.export(TINY, **args, formats=(), out=tmp_path / "a")
    training = _read(result, "training.json")
    assert training["resumed"] is True and len(training["curve"]) == 1
    fresh = nas.export.export(TINY, **args, formats=(), out=tmp_path / "b")
    assert _read(fresh, "training.json")["resumed"] is False
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(nas.load(result.path)(x), nas.load(fresh.path)(x))
    assert _listing(tmp_path) == ["a", "b"]  # work directories removed once exports succeeded


def test_a_failed_check_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as info:
        nas.export.export(
            TINY, train=False, profile=False, formats="torchscript", rtol=1e-30, out=tmp_path / "a", progress=False
        )
    assert "\n" not in str(info.value) and "torchscript" in str(info.value)
    assert _listing(tmp_path) == []


def test_existing_target_is_refused_unless_overwrite(tmp_path: Path) -> None:
    """An existing export is replaced only with overwrite; a directory that is not an export never is."""
    target = tmp_path / "a"
    nas.export.export(TINY, train=False, profile=False, formats=(), out=target, progress=False, seed=1)
    (target / "old.txt").write_text("old")  # a leftover inside an export goes with it
    with pytest.raises(ExportError, match="already exists"):
        nas.export.export(TINY, train=False, profile=False, formats=(), out=target, progress=False)
    nas.export.export(TINY, train=False, profile=False, formats=(), out=target, overwrite=True, progress=False)
    assert "old.txt" not in _listing(target) and "model.safetensors" in _listing(target)
    assert _listing(tmp_path) == ["a"]
    mine = tmp_path / "b"
    mine.mkdir()
    (mine / "old.txt").write_text("old")
    with pytest.raises(ExportError, match="not an espnas export"):
        nas.export.export(TINY, train=False, profile=False, formats=(), out=mine, overwrite=True, progress=False)
    assert _listing(mine) == ["old.txt"]


def test_max_rel_error_is_relative_to_the_output_scale() -> None:
    ref = np.array([[10.0, -20.0, 0.0]])
    assert max_rel_error([ref], [ref]) == 0.0
    assert max_rel_error([ref + np.array([[0.0, 0.0, 0.002]])], [ref]) == pytest.approx(1e-4)
    assert max_rel_error([ref[:, :2]], [ref]) == float("inf")
    assert max_rel_error([ref * np.nan], [ref]) == float("inf")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_export_on_cuda_measures_there(run_dir: Path, tiny_data: DataSource, tmp_path: Path) -> None:
    """Training and profiling on the GPU; the files are still checked on CPU and load on CPU."""
    from profilers.energy import power_available

    result = nas.export.export(
        run=run_dir,
        trial="t0",
        data=tiny_data,
        epochs=1,
        device="cuda",
        formats="onnx",
        out=tmp_path / "a",
        profile_budget_s=0.5,
        progress=False,
    )
    profile = _read(result, "profile.json")
    assert profile["device"] == "cuda"
    assert profile["deployed"]["latency"]["median_ms"] > 0
    if power_available("cuda"):
        assert profile["deployed"]["energy"]["energy_mj_per_image"] > 0
        assert {row["metric"]: row for row in profile["comparison"]}["energy_mj"]["measured"] > 0
    assert nas.load(result.path).config == CONFIGS[0]


@st.composite
def small_configs(draw: st.DrawFn) -> EESPConfig:
    """Valid small configs across the knobs export must not care about (K, groups, HFF, shortcut, sizes)."""
    k = draw(st.sampled_from([1, 2, 4]))
    groups = draw(st.sampled_from([1, k]))
    side = draw(st.integers(32, 48))
    try:
        return EESPConfig.from_scale(
            draw(st.sampled_from([0.25, 0.5])),
            branches=k,
            reduce_groups=groups,
            expand_groups=groups,
            depths=tuple(draw(st.lists(st.integers(0, 1), min_size=4, max_size=4))),
            hff=draw(st.booleans()),
            input_shortcut=draw(st.booleans()),
            head_channels=draw(st.sampled_from([32, 64])) * k,
            num_classes=draw(st.integers(2, 12)),
            input_size=(side, side),
        )
    except ConfigError:
        assume(False)
        raise


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=small_configs())
def test_any_config_round_trips_through_export_and_load(config: EESPConfig, tmp_path: Path) -> None:
    out = tmp_path / config.arch_id
    result = nas.export.export(config, train=False, profile=False, formats=(), out=out, overwrite=True, progress=False)
    loaded = nas.load(out)
    assert loaded.config == config == result.config
    x = torch.randn(2, config.in_channels, *config.input_size)
    with torch.no_grad():
        assert torch.equal(loaded(x), result.model(x))


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_exports_to_every_format(preset: str, tmp_path: Path) -> None:
    """The paper's networks at 224x224 (HFF on and off, shortcut on and off, plain point-wise): ONNX and
    TorchScript of the deploy form match the eager model."""
    result = nas.export.export(preset, train=False, profile=False, out=tmp_path / "a", progress=False)
    assert [c.format for c in result.checks] == ["safetensors", "onnx", "torchscript"]
    assert all(c.passed for c in result.checks)


def test_default_export_directory(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    quick = {"train": False, "profile": False, "formats": (), "progress": False}
    assert nas.export.export(run=run_dir, trial="t0", **quick).path == Path("exports/demo-t0")
    assert nas.export.export(TINY, **quick).path == Path("exports") / TINY.arch_id
    assert (tmp_path / "exports" / "demo-t0" / "model.safetensors").is_file()


def test_search_fingerprint_per_target() -> None:
    from nas.export.reprofile import search_fingerprint

    a, b = {"device_name": "A"}, {"device_name": "B"}
    assert search_fingerprint({"fingerprint": a}, "") == a  # flat
    assert search_fingerprint({"fingerprint": {"local": a}}, "") == a  # the only target
    assert search_fingerprint({"fingerprint": {"h100": a, "a10g": b}}, "a10g") == b  # latency_ms_a10g
    assert search_fingerprint({"fingerprint": {"h100": a, "a10g": b}}, "") is None  # ambiguous
    assert search_fingerprint(None, "") is None


def test_an_exporter_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unsupported operator\nwith a long multi-line trace")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(ExportError) as info:
        nas.export.export(TINY, train=False, profile=False, formats="onnx", out=tmp_path / "a", progress=False)
    message = str(info.value)
    assert "\n" not in message and "onnx export failed" in message and "--formats safetensors,torchscript" in message
    assert _listing(tmp_path) == []

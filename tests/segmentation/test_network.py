"""The segmentation network: presets against the documented figures, any input size, exact counts, deploy."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profilers.segmentation_counting import (
    count_segmentation,
    count_segmentation_model,
    segmentation_preset_rows,
)
from search_spaces import EESPConfig, deploy
from search_spaces.errors import ConfigError
from search_spaces.segmentation import (
    SEGMENTATION_PRESETS,
    SegmentationConfig,
    is_segmentation_spec,
    resolve_segmentation,
)
from search_spaces.segmentation_net import build_segmentation
from tests.search_spaces.strategies import valid_configs

# ../shared/ESPNETV2.md: parameters with 20 classes, as the authors' code builds them (with the never-run
# PReLU of each strided EESP, c4 - c1 slopes), and Figure 7's FLOPs at 224x224.
DOCUMENTED_PARAMS = {"0.5": 99_418, "1.0": 340_782, "1.5": 725_166, "2.0": 1_253_038}
NEVER_RUN = {"0.5": 128 - 16, "1.0": 256 - 32, "1.5": 384 - 32, "2.0": 512 - 32}
FIGURE_7_MACS = {"0.5": 54e6, "1.5": 322e6}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("scale", sorted(DOCUMENTED_PARAMS))
def test_preset_parameters_are_the_documented_ones(scale: str) -> None:
    cfg = SEGMENTATION_PRESETS[f"espnetv2-seg-{scale}"]
    model = build_segmentation(cfg)
    built = sum(p.numel() for p in model.parameters())
    assert built + NEVER_RUN[scale] == DOCUMENTED_PARAMS[scale]
    assert count_segmentation(cfg).params == built


@pytest.mark.parametrize("scale", sorted(FIGURE_7_MACS))
def test_conv_macs_at_224_within_1_percent_of_figure_7(scale: str) -> None:
    macs = count_segmentation(f"espnetv2-seg-{scale}").conv_macs
    assert abs(macs / FIGURE_7_MACS[scale] - 1) < 0.01


def test_preset_rows_carry_the_documented_figures() -> None:
    rows = {r["preset"]: r for r in segmentation_preset_rows()}
    for scale, params in DOCUMENTED_PARAMS.items():
        row = rows[f"espnetv2-seg-{scale}"]
        assert row["params"] + row["never_run_params"] == params


@pytest.mark.parametrize("size", [(32, 32), (33, 47), (100, 75), (72, 130)])
def test_any_input_size_gives_output_at_input_size(size: tuple[int, int]) -> None:
    model = build_segmentation("espnetv2-seg-0.5").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 20, *size)


def test_training_mode_returns_main_and_auxiliary_at_input_size() -> None:
    model = build_segmentation(SegmentationConfig.from_scale(0.5, num_classes=5)).train()
    main, aux = model(torch.randn(2, 3, 45, 61))
    assert main.shape == aux.shape == (2, 5, 45, 61)
    (main.mean() + aux.mean()).backward()


def test_too_small_input_is_one_line_error() -> None:
    model = build_segmentation("espnetv2-seg-0.5").eval()
    with pytest.raises(ConfigError, match="H, W >= 32"):
        model(torch.randn(1, 3, 31, 64))


def _small_seg_configs():
    return st.builds(
        lambda enc, classes, size: SegmentationConfig(encoder=enc, num_classes=classes, input_size=size),
        valid_configs(max_side=48),
        st.integers(1, 7),
        st.tuples(st.integers(32, 70), st.integers(32, 70)),
    )


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_small_seg_configs())
def test_analytic_counts_equal_hook_counts_for_any_config_and_size(cfg: SegmentationConfig) -> None:
    model = build_segmentation(cfg).eval()
    analytic = count_segmentation(cfg)
    hooked = count_segmentation_model(model)
    assert analytic.totals == hooked.totals
    assert analytic.params == sum(p.numel() for p in model.parameters())
    # the per-layer listing walks every unit and sums to the same totals
    assert sum(layer.macs for layer in analytic.layers) == analytic.conv_macs
    with torch.no_grad():
        out = model(torch.randn(1, cfg.in_channels, *cfg.input_size))
    assert out.shape == (1, cfg.num_classes, *cfg.input_size)


def test_count_at_other_size_and_classes() -> None:
    a = count_segmentation("espnetv2-seg-1.0", (65, 130), num_classes=19)
    assert a.input_size == (65, 130) and a.config.num_classes == 19
    b = count_segmentation_model(build_segmentation(a.config).eval())
    assert a.totals == b.totals


@pytest.mark.parametrize("size", [(50, 77)])
def test_deploy_form_equals_eval(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = build_segmentation(SegmentationConfig.from_scale(0.5, num_classes=4)).train()
    with torch.no_grad():  # non-trivial BN statistics
        for _ in range(3):
            model(torch.randn(2, 3, *size))
    model.eval()
    fast = deploy(model)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), atol=1e-4, rtol=1e-4)
    assert fast.config == model.config


def test_config_forms_round_trip_and_arch_id_ignores_unbuilt_fields() -> None:
    cfg = SEGMENTATION_PRESETS["espnetv2-seg-1.0"]
    assert SegmentationConfig.from_json(cfg.to_json()) == cfg
    assert SegmentationConfig.from_compact(cfg.to_compact()) == cfg
    assert resolve_segmentation(cfg.to_compact()) == cfg
    assert resolve_segmentation(cfg.to_json()) == cfg
    assert json.loads(cfg.to_json())["task"] == "segmentation"
    # L5 depth, classes and dropout of the encoder are never built: same network, same arch_id
    other = SegmentationConfig(encoder=cfg.encoder.replace(depths=(0, 3, 7, 1), num_classes=10), dropout=0.2)
    assert other.arch_id == cfg.arch_id
    assert SegmentationConfig(encoder=cfg.encoder, num_classes=19).arch_id != cfg.arch_id


def test_spec_recognition() -> None:
    assert is_segmentation_spec("espnetv2-seg-0.5")
    assert is_segmentation_spec("seg:cls=3")
    assert is_segmentation_spec('{"task": "segmentation"}')
    assert not is_segmentation_spec("espnetv2-0.5")
    assert resolve_segmentation("espnetv2-0.5").encoder.channels == EESPConfig.from_scale(0.5).channels


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SegmentationConfig(num_classes=0), "num_classes=0"),
        (lambda: SegmentationConfig(dropout=1.0), "dropout=1.0"),
        (lambda: SegmentationConfig(input_size=(31, 64)), "each side >= 32"),
        (lambda: SegmentationConfig(decoder_cap=2), "decoder_cap=2"),
        (lambda: SegmentationConfig.from_compact("seg:bogus=1"), "valid keys"),
        (lambda: SegmentationConfig.from_dict({"task": "language"}), "not a segmentation config"),
        (lambda: resolve_segmentation("no-such-thing"), "unknown segmentation spec"),
    ],
)
def test_invalid_configs_are_one_line_errors(make, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        make()
    assert "\n" not in str(err.value)

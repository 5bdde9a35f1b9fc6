from __future__ import annotations

import json

import pytest

from nas.cli import main
from search_spaces import PRESETS


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_presets_table_and_json(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0 and "espnetv2-2.0" in out and "284.81M" in out
    code, out, _ = run(capsys, "presets", "--json")
    rows = json.loads(out)
    assert [r["preset"] for r in rows] == list(PRESETS)


@pytest.mark.parametrize(
    ("preset", "macs", "params"),
    [
        ("espnetv2-0.5", 28e6, 1.24e6),
        ("espnetv2-1.0", 86e6, 1.67e6),
        ("espnetv2-1.25", 123e6, 1.97e6),
        ("espnetv2-1.5", 169e6, 2.31e6),
        ("espnetv2-1.75", 224e6, 3.03e6),
        ("espnetv2-2.0", 284e6, 3.49e6),
    ],
)
def test_count_json_matches_table_2(capsys, preset, macs, params):
    code, out, _ = run(capsys, "count", preset, "--json")
    data = json.loads(out)
    assert code == 0
    assert abs(data["conv_macs"] / macs - 1) <= 0.015 and abs(data["params"] / params - 1) <= 0.005
    for key in ("params", "macs", "conv_macs", "linear_macs", "elementwise_ops", "input_size", "arch_id", "config"):
        assert key in data
    assert data["macs"] == data["conv_macs"] + data["linear_macs"]
    assert data["input_size"] == [224, 224]


def test_count_options(capsys):
    code, out, _ = run(capsys, "count", "espnetv2-1.0", "--input-size", "96x128", "--classes", "10", "--json")
    data = json.loads(out)
    assert data["input_size"] == [96, 128] and data["config"]["num_classes"] == 10
    assert data["linear_macs"] == 1024 * 10
    code, out, _ = run(capsys, "count", PRESETS["espnetv2-0.5"].to_compact(), "--by-layer", "--json")
    assert json.loads(out)["layers"][0]["name"] == "stem.conv"
    code, out, _ = run(capsys, "count", "espnetv2-0.5", "--by-layer")
    assert code == 0 and "stages.1.units.0.reduce.conv" in out


def test_count_cross_check(capsys):
    code, out, _ = run(capsys, "count", "espnetv2-0.5", "--input-size", "64", "--cross-check", "--json")
    cc = json.loads(out)["cross_check"]
    assert code == 0 and cc["agrees"] and cc["fvcore"]["total"] > cc["analytic"]["macs"]


def test_count_from_json_file(capsys, tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(PRESETS["espnetv2-1.5"].to_json())
    code, out, _ = run(capsys, "count", str(path), "--json")
    assert code == 0 and json.loads(out)["arch_id"] == PRESETS["espnetv2-1.5"].arch_id


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["count", "espnetv2-9"], "unknown spec 'espnetv2-9'"),
        (["count", "{bad json"], "malformed config JSON"),
        (["count", "missing.json"], "does not exist"),
        (["count", "eesp:k=3"], "not divisible by branches K=3"),
        (["count", "espnetv2-1.0", "--input-size", "abc"], "is not a size"),
        (["count", "espnetv2-1.0", "--input-size", "16"], "too small for 5 down-samplings"),
        (["count", "espnetv2-1.0", "--classes", "0"], "--classes 0 is invalid"),
        (["count", "espnetv2-1.0", "--frobnicate"], "unrecognized arguments"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_user_mistakes_are_one_line_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

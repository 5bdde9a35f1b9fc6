"""`espnas profile` in-process, and the library function behind it."""

from __future__ import annotations

import json

import pytest

from nas.cli import main
from profilers.energy import power_available
from profilers.profile import parse_batch_sizes, profile
from search_spaces.errors import EspnasError

FAST = ["--time-budget", "0.3", "--threads", "1", "--input-size", "64"]


def test_json_gives_latency_records_with_spread_and_fingerprint(capsys):
    assert main(["profile", "espnetv2-0.5", "--batch-sizes", "1,2", "--json", *FAST]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["batch_size"], r["metric"]) for r in records] == [(1, "latency"), (2, "latency")]
    for r in records:
        assert r["unit"] == "ms" and r["value"] > 0 and r["backend"] == "latency-cpu"
        assert set(r["spread"]) == {"iqr", "ci95"} and len(r["spread"]["ci95"]) == 2
        assert r["n_samples"] == len(r["samples"]) >= 2
        assert r["fingerprint"]["threads"] == 1 and r["fingerprint"]["torch"]
        assert r["options"]["input_shape"][2:] == [64, 64]


def test_table_compares_models_with_ratios(capsys, tmp_path):
    out, plot = tmp_path / "records.jsonl", tmp_path / "fig.png"
    argv = ["profile", "espnetv2-0.5", "espnetv2-1.0", *FAST, "--rounds", "2", "--out", str(out), "--plot", str(plot)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "espnetv2-0.5" in text and "espnetv2-1.0" in text and "1.000" in text
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["ratio"] == 1.0 and records[1]["ratio"] > 0
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_energy_without_a_power_source_is_one_line(capsys):
    if power_available("cpu"):
        pytest.skip("this machine has a CPU power source")
    assert main(["profile", "espnetv2-0.5", "--energy", *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("espnas profile: error: --energy: no power source for cpu")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["torchvision:mobilenet_v2"], "torchvision"),
        (["torchvision:resnet50"], "valid: torchvision:shufflenet_v2_x0_5"),
        (["no-such-preset"], "unknown spec 'no-such-preset'; valid: a preset (espnetv2-0.5,"),
        (["espnetv2-0.5", "--device", "tpu"], "valid: cpu, cuda"),
        (["espnetv2-0.5", "--threads", "0"], "--threads"),
        (["espnetv2-0.5", "--plot", "/no/such/dir/x.png"], "does not exist"),
    ],
)
def test_user_mistakes_are_one_line_errors(capsys, argv, match):
    try:
        import torchvision  # noqa: F401

        if argv[0] == "torchvision:mobilenet_v2":
            pytest.skip("torchvision imports here")
    except ImportError:
        pass
    assert main(["profile", *argv, "--time-budget", "0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("espnas profile: error:")
    assert match in err


def test_bad_batch_sizes_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["profile", "espnetv2-0.5", "--batch-sizes", "1,x"])
    assert info.value.code == 2
    assert "comma-separated" in capsys.readouterr().err


def test_parse_batch_sizes():
    assert parse_batch_sizes("1, 8,32") == [1, 8, 32]
    for bad in ("", "0", "a", "-1"):
        with pytest.raises(EspnasError):
            parse_batch_sizes(bad)


def test_profile_library_function_with_memory(tiny):
    report = profile([tiny], batch_sizes=[1], input_size=(16, 16), memory=True, threads=1, time_budget_s=0.2)
    assert [r["metric"] for r in report.records] == ["latency", "peak_memory"]
    assert report.metric("peak_memory")[0]["unit"] == "MB"
    assert report.settings["batch_sizes"] == [1]


def test_a_time_budget_that_is_not_positive_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["profile", "espnetv2-0.5", "--time-budget", "0"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "'0' is invalid; valid: a positive number of seconds" in err

"""nas.load: an export directory back to the model, and every way a directory can be refused."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nas
from nas.export.formats import save_weights
from nas.export.layout import write_manifest
from nas.export.loading import CONFIG_FILE, MANIFEST_FILE, WEIGHTS_FILE, ExportDirError, read_manifest
from search_spaces import EESPConfig, build
from search_spaces.errors import EspnasError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = EESPConfig(
    channels=(16, 32, 64, 128, 256), depths=(0, 0, 1, 0), head_channels=64, num_classes=10, input_size=(32, 32)
)
OTHER = TINY.replace(depths=(0, 1, 1, 0))  # same widths, one more unit: different tensors


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, safetensors-only export of TINY (fast: no training, no ONNX, no profiling)."""
    out = tmp_path_factory.mktemp("load") / "tiny"
    nas.export.export(TINY, train=False, profile=False, formats="safetensors", out=out, progress=False, seed=3)
    return out


@pytest.fixture
def copy(exported: Path, tmp_path: Path) -> Path:
    """A private copy of the export to damage."""
    return Path(shutil.copytree(exported, tmp_path / "copy"))


def refused(directory: Path, *fragments: str) -> str:
    with pytest.raises(EspnasError) as info:
        nas.load(directory)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_load_gives_the_exported_weights_in_eval_mode(exported: Path) -> None:
    model = nas.load(exported)
    assert not model.training
    assert model.config == TINY
    torch.manual_seed(3)  # export(train=False, seed=3) built the network under this seed
    reference = build(TINY).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_deploy_form_matches(exported: Path) -> None:
    eager, folded = nas.load(exported), nas.load(exported, deploy=True)
    x = torch.randn(3, 3, 40, 48)  # any size of at least 32x32, not only the export's
    with torch.no_grad():
        a, b = eager(x), folded(x)
    assert (a - b).abs().max() <= 1e-5 * a.abs().max()
    assert folded.config == TINY


def test_config_json_is_the_canonical_config(exported: Path) -> None:
    from search_spaces import resolve

    assert resolve(str(exported / CONFIG_FILE)) == TINY
    assert read_manifest(exported)["arch_id"] == TINY.arch_id


def test_loading_never_unpickles(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("nas.load unpickled something")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    assert nas.load(exported).config == TINY


def test_missing_directory(tmp_path: Path) -> None:
    refused(tmp_path / "nowhere", "does not exist")


@pytest.mark.parametrize("name", [CONFIG_FILE, WEIGHTS_FILE, MANIFEST_FILE, "MODEL_CARD.md"])
def test_missing_file(copy: Path, name: str) -> None:
    (copy / name).unlink()
    refused(copy, name, "missing")


def test_truncated_weights(copy: Path) -> None:
    data = (copy / WEIGHTS_FILE).read_bytes()
    (copy / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    refused(copy, WEIGHTS_FILE)


def test_garbage_weights(copy: Path) -> None:
    (copy / WEIGHTS_FILE).write_bytes(b"\x00\x01not a safetensors file" * 10)
    refused(copy, WEIGHTS_FILE, "corrupted")


def test_flipped_weight_byte_fails_the_checksum(copy: Path) -> None:
    path = copy / WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the tensor data: the header still parses, only the checksum can tell
    path.write_bytes(bytes(data))
    refused(copy, WEIGHTS_FILE, "sha256")


def test_config_from_another_export_disagrees(copy: Path) -> None:
    (copy / CONFIG_FILE).write_text(OTHER.to_json(indent=2))
    refused(copy, "disagree", TINY.arch_id, OTHER.arch_id)


def test_invalid_config(copy: Path) -> None:
    data = json.loads((copy / CONFIG_FILE).read_text())
    data["branches"] = 3  # 16 channels do not split into 3 branches
    (copy / CONFIG_FILE).write_text(json.dumps(data))
    refused(copy, CONFIG_FILE, "not a valid EESP config")


def test_weights_that_do_not_fit_the_config(copy: Path) -> None:
    """Weights of another network under this config's id (and a matching manifest): a clear message,
    not a shape error from load_state_dict."""
    save_weights(copy / WEIGHTS_FILE, build(OTHER), TINY)
    write_manifest(copy, TINY, (1, 3, 32, 32), "2026-01-01T00:00:00+00:00")
    message = refused(copy, "does not fit", "unexpected")
    assert "size mismatch" not in message


def test_weights_without_espnas_metadata(copy: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.clone() for k, v in build(TINY).state_dict().items()}, str(copy / WEIGHTS_FILE))
    refused(copy, "not written by 'espnas export'")


def test_malformed_manifest(copy: Path) -> None:
    (copy / MANIFEST_FILE).write_text("{not json")
    refused(copy, MANIFEST_FILE, "not valid JSON")
    (copy / MANIFEST_FILE).write_text(json.dumps({"schema": 99, "files": {}}))
    refused(copy, MANIFEST_FILE, "schema")


def test_edited_manifest_is_refused(copy: Path) -> None:
    """Even a field nothing else checks (the creation time) is covered, by manifest.sha256."""
    path = copy / MANIFEST_FILE
    path.write_text(path.read_text().replace('"created": "2', '"created": "3'))
    refused(copy, MANIFEST_FILE, "does not match manifest.sha256", "re-export")
    (copy / "manifest.sha256").unlink()
    refused(copy, "manifest.sha256", "missing")


def test_error_type_is_an_espnas_error() -> None:
    assert issubclass(ExportDirError, EspnasError)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(
        [CONFIG_FILE, WEIGHTS_FILE, MANIFEST_FILE, "manifest.sha256", "training.json", "MODEL_CARD.md"]
    ),
    where=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    flip=st.integers(min_value=1, max_value=255),
)
def test_any_single_byte_corruption_is_refused(
    exported: Path, tmp_path: Path, name: str, where: float, flip: int
) -> None:
    """Whatever byte of whichever file changes, loading refuses with a one-line EspnasError (never a crash,
    never a silently different model)."""
    target = tmp_path / f"c-{name}-{where}-{flip}"
    shutil.rmtree(target, ignore_errors=True)  # hypothesis may replay an example in the same tmp_path
    shutil.copytree(exported, target)
    path = target / name
    data = bytearray(path.read_bytes())
    data[int(where * len(data))] ^= flip
    path.write_bytes(bytes(data))
    with pytest.raises(EspnasError) as info:
        nas.load(target)
    assert "\n" not in str(info.value)
    shutil.rmtree(target)


def test_import_nas_stays_light() -> None:
    """`import nas` and its rooms (and so the CLI's start) pull in neither torch nor safetensors; nas.load is the
    function, nas.export the room, and the public names resolve from a short path."""
    import subprocess
    import sys

    code = (
        "import sys, nas, nas.export, nas.export.loading, nas.search, nas.train.schedule;"
        "print(callable(nas.load), callable(nas.export.export), 'torch' in sys.modules, 'ray' in sys.modules,"
        " nas.SearchSettings is nas.search.SearchSettings, callable(nas.run_search))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "False", "False", "True", "True"]

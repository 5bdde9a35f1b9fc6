"""Export of an ERU config: safetensors (tied weight once), the one-token step as TorchScript and ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nas.export.language import export_language, load_language
from nas.export.layout import ExportError, sha256_file
from nas.train.data.text import load_corpus
from tests.language.conftest import TINY


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("pydoc").head(600)


@pytest.mark.slow  # tracing and checking the step: about 20 s on a busy 2-core machine
def test_export_writes_checked_weights_and_a_torchscript_step(corpus, tmp_path: Path) -> None:
    got = export_language(TINY, data=corpus, train=False, formats="torchscript", out=tmp_path / "e", progress=False)
    root = got.path
    assert {c.format for c in got.checks} == {"safetensors", "torchscript"} and all(c.passed for c in got.checks)
    weights = load_file(str(root / "model.safetensors"))
    assert "decoder.weight" not in weights and "embedding.weight" in weights  # tied: stored once
    model = load_language(root)
    assert model.config == got.config and model.config.vocab_size == corpus.vocab_size
    assert model.decoder.weight is model.embedding.weight
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["kind"] == "language"
    for name, entry in manifest["files"].items():
        assert sha256_file(root / name) == entry["sha256"]
    step = torch.jit.load(str(root / "model.torchscript.pt"))
    state = [t for s in model.init_state(1) for t in s]
    tokens = torch.tensor([[3]])
    logits, *_ = step(tokens, *state)
    with torch.no_grad():
        torch.testing.assert_close(logits, model(tokens)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ExportError):
        export_language(TINY, data=corpus, train=False, formats="torchscript", out=root, progress=False)


def test_weights_of_another_config_are_refused(corpus, tmp_path: Path) -> None:
    got = export_language(TINY, data=corpus, train=False, formats=(), out=tmp_path / "e", progress=False)
    other = TINY.replace(hidden=24, vocab_size=corpus.vocab_size)
    (got.path / "config.json").write_text(other.to_json())
    with pytest.raises(ExportError, match="not the weights of config"):
        load_language(got.path)


def test_nas_load_reads_a_language_export_and_checks_its_manifest(corpus, tmp_path: Path) -> None:
    import nas
    from search_spaces.errors import EspnasError

    got = export_language(TINY, data=corpus, train=False, formats=(), out=tmp_path / "e", progress=False)
    model = nas.load(got.path)
    assert model.config == got.config and not model.training
    tokens = torch.tensor([[3, 5, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(tokens)[0], load_language(got.path)(tokens)[0])
    with pytest.raises(EspnasError, match="no deploy form"):
        nas.load(got.path, deploy=True)
    (got.path / "training.json").write_text("{}")  # any file changed after export is refused
    with pytest.raises(EspnasError, match="does not match the sha256"):
        nas.load(got.path)


@pytest.mark.slow  # the ONNX exporter takes about a minute per model on a busy 2-core machine
def test_export_from_the_pipeline_with_onnx(small_ptb: Path, tmp_path: Path) -> None:
    from nas.export import export

    got = export(
        TINY.to_compact(), data=str(small_ptb), epochs=1, formats="onnx,torchscript", out=tmp_path / "x", progress=False
    )
    assert {c.format for c in got.checks} == {"safetensors", "onnx", "torchscript"}
    assert all(c.passed for c in got.checks) and got.training["val_ppl"] > 1

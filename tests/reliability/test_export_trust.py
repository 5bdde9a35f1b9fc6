"""Nothing in an export directory makes nas.load read outside it; --force replaces only an export or an
empty directory; a killed export's temporary directories are removed by the next export of that target."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import nas
from nas.export.layout import (
    MANIFEST_DIGEST_FILE,
    MANIFEST_FILE,
    ExportError,
    check_target,
    manifest_digest_line,
    remove_leftovers,
)
from search_spaces import EESPConfig
from search_spaces.errors import EspnasError

TINY = EESPConfig(
    channels=(16, 32, 64, 128, 256), depths=(0, 0, 1, 0), head_channels=64, num_classes=10, input_size=(32, 32)
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "tiny"
    nas.export.export(TINY, train=False, profile=False, formats="safetensors", out=out, progress=False, seed=1)
    return out


def _with_manifest_entry(src: Path, dst: Path, name: object, entry: object) -> Path:
    """A copy whose manifest lists `name: entry`, with manifest.sha256 rewritten to match (the digest is no
    signature: whoever can write the directory can rewrite both)."""
    shutil.copytree(src, dst)
    manifest = json.loads((dst / MANIFEST_FILE).read_text())
    manifest["files"][name] = entry
    (dst / MANIFEST_FILE).write_text(json.dumps(manifest))
    (dst / MANIFEST_DIGEST_FILE).write_text(manifest_digest_line(dst / MANIFEST_FILE))
    return dst


@pytest.mark.parametrize(
    ("name", "entry", "fragment"),
    [
        ("../../../etc/hostname", {"sha256": "0" * 64, "bytes": 1}, "not a file name inside the export directory"),
        ("/etc/hostname", {"sha256": "0" * 64, "bytes": 1}, "not a file name inside the export directory"),
        ("..", {"sha256": "0" * 64, "bytes": 1}, "not a file name inside the export directory"),
        ("notes.txt", "a string, not a table", "the entry of notes.txt is str"),
        ("notes.txt", ["sha", 1], "the entry of notes.txt is list"),
    ],
)
def test_load_refuses_manifest_entries_outside_the_directory(exported, tmp_path, name, entry, fragment):
    bad = _with_manifest_entry(exported, tmp_path / "bad", name, entry)
    with pytest.raises(EspnasError) as info:
        nas.load(bad)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_load_refuses_a_listed_file_that_is_a_link_out_of_the_directory(exported, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    import hashlib

    entry = {"sha256": hashlib.sha256(b"secret").hexdigest(), "bytes": 6}
    bad = _with_manifest_entry(exported, tmp_path / "bad", "notes.txt", entry)
    (bad / "notes.txt").symlink_to(outside)
    with pytest.raises(EspnasError, match="is a symbolic link"):
        nas.load(bad)


def test_force_replaces_an_export_or_an_empty_directory_only(exported, tmp_path):
    check_target(exported, overwrite=True)  # an export: may be replaced
    (tmp_path / "empty").mkdir()
    check_target(tmp_path / "empty", overwrite=True)
    mine = tmp_path / "my-photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(ExportError, match="is not an espnas export .* --force replaces only an export"):
        check_target(mine, overwrite=True)
    with pytest.raises(ExportError, match="already exists"):
        check_target(exported, overwrite=False)


def test_export_force_never_deletes_a_directory_that_is_not_an_export(tmp_path, capsys):
    from nas.cli import main

    mine = tmp_path / "work"
    mine.mkdir()
    (mine / "thesis.tex").write_text("months of work")
    argv = ["export", "--config", "espnetv2-0.5", "--epochs", "1", "--out", str(mine), "--force"]
    assert main(argv) == 2
    assert "not an espnas export" in capsys.readouterr().err
    assert (mine / "thesis.tex").read_text() == "months of work"


def test_leftovers_of_a_killed_export_are_removed(tmp_path):
    target = tmp_path / "model"
    for name in (".model.tmp-1a2b3c4d", ".model.old-5e6f7a8b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "weights.safetensors").write_bytes(b"half")
    (tmp_path / ".other.tmp-1a2b3c4d").mkdir()  # another target's: kept
    removed = sorted(p.name for p in remove_leftovers(target))
    assert removed == [".model.old-5e6f7a8b", ".model.tmp-1a2b3c4d"]
    assert (tmp_path / ".other.tmp-1a2b3c4d").is_dir()

"""The export directory's layout (its file names, manifest schema, weights format) and its writing: JSON
files, the manifest, and the move into place. Export (`pipeline`, `formats`, `model_card`) and loading
(`loading`) both take the schema from here, so it has one owner.

Only the standard library is imported at module level (`import nas` stays cheap).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from results.files import write_json_atomic, write_text_atomic
from search_spaces.errors import EspnasError

if TYPE_CHECKING:  # pragma: no cover
    pass


# The files of an export directory. The first three are what loading needs.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
MANIFEST_DIGEST_FILE = "manifest.sha256"  # the manifest's own sha256, in `sha256sum -c` format
ONNX_FILE = "model.onnx"
TORCHSCRIPT_FILE = "model.torchscript.pt"
TRAINING_FILE = "training.json"
SEARCH_METRICS_FILE = "search_metrics.json"
FINGERPRINT_FILE = "fingerprint.json"
PROFILE_FILE = "profile.json"
VERIFICATION_FILE = "verification.json"
MODEL_CARD_FILE = "MODEL_CARD.md"

MANIFEST_SCHEMA = 1
# safetensors metadata key marking a file as espnas weights, and its value.
WEIGHTS_FORMAT = "espnas-eesp-weights/1"
LM_WEIGHTS_FORMAT = "espnas-language-weights/1"  # nas/export/language.py: the tied weight stored once


class ExportError(EspnasError):
    """An export that cannot be done as asked (bad selection, bad format, target exists, a failed check)."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (weights files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_digest_line(manifest_path: Path) -> str:
    """The whole content of manifest.sha256 for this manifest, in `sha256sum` format."""
    return f"{sha256_file(manifest_path)}  {MANIFEST_FILE}\n"


def check_target(target: Path, overwrite: bool) -> None:
    """The target must not exist; with `overwrite` (--force) it may be an espnas export or an empty directory,
    never anything else (--force must not delete a user's directory)."""
    if not target.exists() and not target.is_symlink():
        return
    if not overwrite:
        raise ExportError(f"{target} already exists; choose another --out or pass --force to replace it")
    if target.is_symlink() or not target.is_dir():
        raise ExportError(f"{target} exists and is not a directory; choose another --out")
    if any(target.iterdir()) and not is_export_dir(target):
        raise ExportError(
            f"{target} is not an espnas export (no {MANIFEST_FILE} of schema {MANIFEST_SCHEMA}); --force replaces "
            "only an export or an empty directory, choose another --out"
        )


def is_export_dir(path: Path) -> bool:
    """Whether `path` looks like a directory `espnas export` wrote: its manifest and the manifest's digest."""
    manifest = path / MANIFEST_FILE
    if not manifest.is_file() or not (path / MANIFEST_DIGEST_FILE).is_file():
        return False
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("schema") == MANIFEST_SCHEMA and isinstance(data.get("files"), dict)


def remove_leftovers(target: Path) -> list[Path]:
    """Remove the temporary directories a killed export of `target` left beside it (`.NAME.tmp-*`,
    `.NAME.old-*`); returns them. Only that target's own names are touched."""
    if not target.parent.is_dir():
        return []
    found = [
        p
        for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*")
        for p in target.parent.glob(pattern)
        if p.is_dir() and not p.is_symlink()
    ]
    for p in found:
        shutil.rmtree(p, ignore_errors=True)
    return found


def move_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    """os.replace the finished directory into place; an existing target (overwrite) is moved aside first."""
    if not target.exists():
        os.replace(tmp, target)
        return
    check_target(target, overwrite)  # it may have appeared while we trained
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_manifest(directory: Path, config: Any, input_shape: tuple[int, ...], created: str, /, **extra: Any) -> dict:
    """manifest.json: the sha256 and size of every other file in `directory`, and manifest.sha256: the
    manifest's own sha256 (`sha256sum -c manifest.sha256` checks it). `extra` fields (a language export's
    "kind": "language", its counts) go into the manifest too. Returns the manifest."""
    files = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name not in (MANIFEST_FILE, MANIFEST_DIGEST_FILE)
    }
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "arch_id": config.arch_id,
        "created": created,
        "input_shape": list(input_shape),
        "espnas_version": espnas_version(),
        **extra,
        "files": files,
    }
    write_json(directory / MANIFEST_FILE, manifest)
    write_text_atomic(directory / MANIFEST_DIGEST_FILE, manifest_digest_line(directory / MANIFEST_FILE))
    return manifest


def write_json(path: Path, data: Any) -> None:
    """Canonical JSON (sorted keys, no NaN: `plain_tree` turns it into null), written atomically."""
    write_json_atomic(path, plain_tree(data), indent=2, sort_keys=True, allow_nan=False)


def plain(value: Any) -> Any:
    """A JSON-safe scalar: numpy scalars to Python, NaN/None to None."""
    if value is None:
        return None
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plain_tree(value: Any) -> Any:
    """A JSON-safe tree: mappings, sequences, arrays and objects with `to_dict` made plain, recursively."""
    if isinstance(value, Mapping):
        return {str(k): plain_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_tree(v) for v in value]
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return plain_tree(value.to_dict())
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and callable(value.tolist):
        return plain_tree(value.tolist())
    value = plain(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def espnas_version() -> str:
    """The installed espnas version, or "unknown" in a checkout that is not installed."""
    try:
        from importlib.metadata import version

        return version("espnas")
    except Exception:  # running from a checkout that is not installed
        return "unknown"

"""Load an exported model: `nas.load(DIR)` -> the trained network in eval mode.

An export directory (written by `nas.export`) holds the architecture as canonical config JSON and the weights as
safetensors. Loading rebuilds the network from the config and fills in the weights; nothing is ever unpickled,
so a directory from an untrusted source cannot run code. Before any weight is copied the directory is checked:
every file named in manifest.json must be present with its recorded sha256, the config must be valid, and the
weights must be those of that config (same architecture id, same tensor names and shapes). Anything else is
refused with a one-line `EspnasError`, never a shape error from deep inside `load_state_dict`.

Only the standard library is imported at module level: `import nas` stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.export.layout import (
    CONFIG_FILE,
    LM_WEIGHTS_FORMAT,
    MANIFEST_DIGEST_FILE,
    MANIFEST_FILE,
    MANIFEST_SCHEMA,
    WEIGHTS_FILE,
    WEIGHTS_FORMAT,
    ExportError,
    manifest_digest_line,
    sha256_file,
)
from search_spaces.errors import EspnasError, one_line

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from search_spaces import EESPConfig


class ExportDirError(EspnasError):
    """An export directory that cannot be loaded: missing, corrupted, or whose config and weights disagree."""


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The parsed manifest.json of an export directory (checked for shape, not for checksums)."""
    root = Path(directory)
    path = root / MANIFEST_FILE
    if not root.is_dir():
        raise ExportDirError(f"export directory {root} does not exist; give a directory written by 'espnas export'")
    if not path.is_file():
        raise ExportDirError(
            f"{path} is missing; an export directory holds {MANIFEST_FILE}, {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportDirError(f"{path} is not valid JSON ({one_line(err)}); re-export the model") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise ExportDirError(
            f"{path} is not an espnas export manifest (expected schema {MANIFEST_SCHEMA} with a 'files' table)"
        )
    digest_path = root / MANIFEST_DIGEST_FILE
    if not digest_path.is_file():
        raise ExportDirError(f"{digest_path} is missing; it holds the sha256 of {MANIFEST_FILE}, re-export the model")
    if digest_path.read_bytes() != manifest_digest_line(path).encode():
        raise ExportDirError(
            f"{path} does not match {MANIFEST_DIGEST_FILE}: the manifest or its digest is corrupted or was "
            "modified; re-export the model"
        )
    return manifest


def verify(directory: str | Path) -> dict[str, Any]:
    """Check every file listed in the manifest exists with its recorded size and sha256; return the manifest."""
    root = Path(directory)
    manifest = read_manifest(root)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if name not in manifest["files"]:
            raise ExportDirError(f"{root / MANIFEST_FILE} does not list {name}; re-export the model")
    for name, entry in manifest["files"].items():
        # A manifest names files of this directory only: no path separators, no '..', no links out of it.
        if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
            raise ExportDirError(
                f"{root / MANIFEST_FILE} lists {name!r}, which is not a file name inside the export directory; "
                "re-export the model"
            )
        if not isinstance(entry, dict):
            raise ExportDirError(
                f"{root / MANIFEST_FILE}: the entry of {name} is {type(entry).__name__}, not "
                "{sha256, bytes}; re-export the model"
            )
        path = root / name
        if path.is_symlink():
            raise ExportDirError(f"{path} is a symbolic link; an export holds plain files only, re-export the model")
        if not path.is_file():
            raise ExportDirError(f"{path} is missing; the export in {root} is incomplete, re-export the model")
        if path.stat().st_size != entry.get("bytes") or sha256_file(path) != entry.get("sha256"):
            raise ExportDirError(
                f"{path} does not match the sha256 recorded in {MANIFEST_FILE}: "
                "the file is corrupted or was modified; re-export the model"
            )
    return manifest


def read_config(directory: str | Path) -> EESPConfig:
    """The architecture stored in an export directory's config.json."""
    from search_spaces.segmentation import config_from_json  # a classifier's or a segmentation config

    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ExportDirError(f"{path} is missing; an export directory holds {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        return config_from_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as err:
        # ConfigError is a ValueError; json.JSONDecodeError is too.
        raise ExportDirError(f"{path} is not a valid EESP config: {one_line(err)}") from None


def read_weights_metadata(directory: str | Path) -> dict[str, str]:
    """The metadata header of model.safetensors (reads the header only, not the tensors)."""
    from safetensors import safe_open

    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise ExportDirError(f"{path} is missing; an export directory holds {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as err:  # safetensors raises SafetensorError / OSError / ValueError on a bad header
        raise ExportDirError(f"{path} is corrupted or not a safetensors file ({one_line(err)})") from None
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise ExportDirError(f"{path} was not written by 'espnas export' (no '{WEIGHTS_FORMAT}' metadata)")
    return metadata


def load(directory: str | Path, *, deploy: bool = False, device: str = "cpu") -> nn.Module:
    """Rebuild the exported network from DIR: eval mode, trained weights loaded, `.config` set.

    `deploy=True` returns the deploy form (batch-norm folded; same outputs within 1e-5 relative).
    Raises `EspnasError` (one line) for a missing, corrupted or inconsistent directory.
    """
    import torch
    from safetensors.torch import load_file

    from search_spaces import build
    from search_spaces import deploy as deploy_form

    root = Path(directory)
    manifest = read_manifest(root)
    if manifest.get("kind") == "language":  # an ERU or LSTM language model (nas/export/language.py)
        if deploy:
            raise ExportDirError(f"{root} holds a language model, which has no deploy form; load it without deploy")
        verify(root)
        return load_language(root).to(torch.device(device))
    config = read_config(root)
    metadata = read_weights_metadata(root)
    _check_agreement(root, config, metadata, manifest)
    verify(root)

    model = build(config)
    expected = model.state_dict()
    try:
        tensors = load_file(str(root / WEIGHTS_FILE))
    except Exception as err:  # truncated data after a valid header
        raise ExportDirError(f"{root / WEIGHTS_FILE} is corrupted ({one_line(err)}); re-export the model") from None
    _check_tensors(root, expected, tensors)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    if deploy:
        model = deploy_form(model)
    return model.to(torch.device(device))


def _check_agreement(root: Path, config: EESPConfig, metadata: dict[str, str], manifest: dict[str, Any]) -> None:
    """Config, weights and manifest must name the same architecture."""
    weights_arch = metadata.get("arch_id")
    if weights_arch != config.arch_id:
        raise ExportDirError(
            f"{CONFIG_FILE} (arch {config.arch_id}) and {WEIGHTS_FILE} (arch {weights_arch}) in {root} disagree: "
            "they come from different models; re-export, or copy both files from the same export"
        )
    if manifest.get("arch_id") != config.arch_id:
        raise ExportDirError(
            f"{CONFIG_FILE} (arch {config.arch_id}) and {MANIFEST_FILE} (arch {manifest.get('arch_id')}) "
            f"in {root} disagree; re-export the model"
        )


def _check_tensors(root: Path, expected: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Every tensor the config's network needs is present with the right shape, and nothing else is."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [
        f"{name} {tuple(tensors[name].shape)} vs {tuple(expected[name].shape)}"
        for name in sorted(set(expected) & set(tensors))
        if tuple(tensors[name].shape) != tuple(expected[name].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            parts.append(f"{len(wrong)} of the wrong shape (e.g. {wrong[0]}, file vs config)")
        raise ExportDirError(f"{WEIGHTS_FILE} does not fit {CONFIG_FILE} in {root}: tensors " + "; ".join(parts))


def load_language(directory: str | Path) -> Any:
    """The model of a language export (eval mode), from config.json and model.safetensors."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from search_spaces.errors import ConfigError
    from search_spaces.eru import build_language_model
    from search_spaces.eru_config import resolve_language

    root = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (root / name).is_file():
            raise ExportError(f"{root} is not a language-model export: {name} is missing")
    try:
        config = resolve_language((root / CONFIG_FILE).read_text())
    except ConfigError as err:
        raise ExportError(f"{root / CONFIG_FILE}: {err}") from None
    with safe_open(str(root / WEIGHTS_FILE), "pt") as handle:
        meta = handle.metadata() or {}
    if meta.get("format") != LM_WEIGHTS_FORMAT or meta.get("arch_id") != config.arch_id:
        raise ExportError(
            f"{root / WEIGHTS_FILE} is not the weights of config {config.arch_id} ({LM_WEIGHTS_FORMAT}); "
            "the export is inconsistent"
        )
    model = build_language_model(config)
    state = load_file(str(root / WEIGHTS_FILE))
    if config.tie_weights:
        state["decoder.weight"] = state["embedding.weight"]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ExportError(f"{root / WEIGHTS_FILE} does not fit config {config.arch_id}: {str(err)[:200]}") from None
    return model.eval()

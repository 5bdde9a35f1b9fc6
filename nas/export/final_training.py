"""Training for an export: the config trained with nas.train.trainer in a resumable work directory.

Only the standard library is imported at module level (`import nas` stays cheap).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.export.layout import ExportError, plain, plain_tree

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from search_spaces import EESPConfig


def train_for_export(
    config: EESPConfig,
    *,
    data: Any,
    image_size: int | None,
    epochs: int | None,
    recipe: str,
    batch_size: int | None,
    seed: int,
    device: str,
    work_root: Path,
    progress: bool,
) -> tuple[nn.Module, EESPConfig, dict[str, Any], Path]:
    """Train with nas.train.trainer; returns the model, the config it was trained as, the summary and the work dir.

    Checkpoints go to a work directory named after the config and every training setting, so re-running an
    interrupted export with the same arguments resumes it, and different arguments never resume the wrong run.
    """
    from nas.train.data import DataSource, load_data
    from nas.train.trainer import CHECKPOINT_NAME, train

    if isinstance(data, DataSource):
        if image_size is not None and image_size != data.image_size:
            raise ExportError(
                f"image_size={image_size} differs from the given DataSource's {data.image_size}; leave it out"
            )
        source, source_name, side = data, data.name, data.image_size
    else:
        source_name = str(data if data is not None else "digits")
        # The trainer's own default: 32x32 for the 8x8 digits, the config's size for real images.
        side = image_size if image_size is not None else (32 if source_name == "digits" else config.input_size[0])
        source = load_data(source_name, side, seed=seed)
    settings = [config.arch_id, source_name, len(source.train), len(source.val), side, recipe, epochs, batch_size, seed]
    work_dir = work_root / hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
    resume = (work_dir / CHECKPOINT_NAME).is_file()
    result = train(
        config,
        source,
        recipe=recipe,
        epochs=epochs,
        batch_size=batch_size,
        out_dir=work_dir,
        resume=resume,
        seed=seed,
        device=device,
        progress=progress,
    )
    history = [plain_tree(h) for h in (result.history or [])]
    summary = {
        "trained": True,
        "data": {"source": source_name, "image_size": side, **_describe_data(source)},
        "recipe": recipe,
        "epochs": int(result.settings.get("epochs", len(history))),
        "batch_size": int(result.settings.get("batch_size", batch_size or 0)),
        "seed": seed,
        "device": device,
        "resumed": resume,
        "seconds": round(float(result.seconds), 3),
        "final_top1": plain(result.final_top1),
        "final_top5": plain(result.final_top5),
        "accuracy_unit": "fraction",
        "recipe_settings": plain_tree(result.settings.get("recipe", {})),
        "curve": history,
    }
    return result.model, result.config, summary, work_dir


def search_setting(search: dict[str, Any] | None, key: str, kind: type) -> Any:
    """A setting of the search the trial came from (its data, its proxy image size), when it recorded one."""
    value = (search or {}).get("search_settings", {}).get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def config_changes(before: EESPConfig, after: EESPConfig) -> str:
    """The fields that differ, as "name old -> new" (for the note when training adapted the config)."""
    a, b = before.to_dict(), after.to_dict()
    return ", ".join(f"{k} {a[k]} -> {b[k]}" for k in sorted(a) if a[k] != b[k])


def _describe_data(source: Any) -> dict[str, Any]:
    """What a deployer needs to know about the data: name, sizes, classes and the input normalisation."""
    out: dict[str, Any] = {
        "name": source.name,
        "num_classes": source.num_classes,
        "class_names": list(source.class_names),
        "train_size": len(source.train),
        "val_size": len(source.val),
    }
    if getattr(source, "skipped", 0):
        out["skipped_files"] = source.skipped
    # In-memory sets keep `mean`/`std`; folder sets keep them as tensors `_mean`/`_std`.
    for key in ("mean", "std"):
        value = getattr(source.train, key, None)
        if value is None:
            value = getattr(source.train, f"_{key}", None)
        if value is not None:
            flat = value.flatten().tolist() if hasattr(value, "flatten") else list(value)
            out[f"normalize_{key}"] = [float(v) for v in flat]
    return out


def input_side(config: EESPConfig, training: dict[str, Any], image_size: int | None) -> tuple[int, int]:
    """The input size the exported files are traced at: the training size, else the config's counting size."""
    if image_size is not None:
        return (image_size, image_size)
    trained = training.get("data", {}).get("image_size") if training.get("trained") else None
    if isinstance(trained, int):
        return (trained, trained)
    return (int(config.input_size[0]), int(config.input_size[1]))

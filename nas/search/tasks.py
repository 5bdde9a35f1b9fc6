"""The task registry: what a search optimises the quality of, and how, per task (classification, segmentation).

A task is data (one `Task` per entry of `TASKS`), so the driver, the band check and the trials need no
branches per task:

- `quality`: the name of its quality objective in `nas.search.objectives` (accuracy, miou: "max"; the
  language task's perplexity: "min");
- `default_space`, `default_data`, `default_band`: what `espnas search --task NAME` uses when not told;
- `band_convention`: the words for the FLOP band (which network, input size and classes are counted);
- `searched_config(encoder)`: the task's config from the `EESPConfig` the search-space bridge freezes;
- `counts(config)`: the analytic counts whose conv MACs are checked against the band;
- `load_data(source, image_size, seed)` and `proxy(config, data, ...)`: the short training that gives the
  quality objective's value in a trial (returns an object with ok, value, curve, reason).

The stored config JSON says which task it belongs to (`config_from_json`): a segmentation config carries
`"task": "segmentation"`, a classifier's carries no task key (the schema predates tasks).

Adding a task: write its `Task` (functions imported lazily, so that the driver process stays light) and add
it to `TASKS`. A task whose networks are not built from an `EESPConfig` (language: the ERU) gives `freeze`
(its own bridge from a sample to a config) and, when its band bounds another count, `band_metric`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from nas.search.errors import SearchError
from nas.train.outcome import ProxyOutcome


@dataclass(frozen=True)
class Task:
    """One task a search can run; see the module docstring for each field."""

    name: str
    quality: str
    default_space: str
    default_data: str
    default_band: tuple[int, int]
    band_convention: str
    searched_config: Callable[[Any], Any]
    counts: Callable[[Any], Any]
    load_data: Callable[[str, int, int], Any]
    proxy: Callable[..., ProxyOutcome]
    data_hint: str = ""
    # A task whose space has knobs of its own freezes a sample itself: freeze(flat, space) -> config.
    freeze: Callable[[Any, Any], Any] | None = None
    band_metric: str = "conv_macs"  # which count of `counts(config)` the band bounds
    band_label: str = "conv MACs"

    @property
    def quality_metric(self) -> str:
        from nas.search.objectives import get_objective

        return get_objective(self.quality).metric

    @property
    def default_objectives(self) -> tuple[str, ...]:
        return (self.quality, "latency", "energy")


# ----- classification -------------------------------------------------------------------------------------


def _classifier_counts(config: Any) -> Any:
    from profilers.counting import count

    return count(config)


def _classifier_data(source: str, image_size: int, seed: int) -> Any:
    from nas.train.proxy import proxy_data

    return proxy_data(source, image_size, seed)


def _classifier_proxy(config: Any, data: Any, recipe: str = "proxy", **kwargs: Any) -> ProxyOutcome:
    from nas.train.proxy import PROXY_RECIPES, proxy_accuracy

    got = proxy_accuracy(config, data, recipe=PROXY_RECIPES[recipe], **kwargs)  # adapts classes and input size
    return ProxyOutcome(bool(got.ok), float(got.accuracy), tuple(got.curve or ()), got.reason)


# ----- segmentation ---------------------------------------------------------------------------------------


def _segmentation_config(encoder: Any) -> Any:
    from search_spaces.segmentation import COUNT_INPUT_SIZE, DEFAULT_CLASSES, SegmentationConfig

    # Figure 7's convention: 224x224 input, 20 classes; dropout by the paper's rule for the encoder's width
    dropout = 0.1 if encoder.channels[1] <= 32 else 0.2
    return SegmentationConfig(
        encoder=encoder, num_classes=DEFAULT_CLASSES, dropout=dropout, input_size=COUNT_INPUT_SIZE
    )


def _segmentation_counts(config: Any) -> Any:
    from profilers.segmentation_counting import count_segmentation

    return count_segmentation(config)


@lru_cache(maxsize=2)
def _segmentation_data(source: str, image_size: int, seed: int) -> Any:
    """Loaded once per process (each Ray worker trains many trials on it)."""
    from nas.train.data.segmentation import load_segmentation_data

    if source == "digits":
        raise SearchError(
            "--data digits has no per-pixel masks; valid for --task segmentation: scenes, a Cityscapes root "
            "or an image-and-mask folder"
        )
    return load_segmentation_data(source, image_size, seed=seed)


def _segmentation_proxy(config: Any, data: Any, **kwargs: Any) -> ProxyOutcome:
    from nas.train.segmentation import proxy_miou

    return proxy_miou(config, data, **kwargs)


# ----- language (the ERU, nas/train/language.py) ----------------------------------------------------------


def _language_freeze(flat: Any, space: Any) -> Any:
    from nas.search.language_space import freeze_language

    return freeze_language(flat, space)


def _language_counts(config: Any) -> Any:
    from profilers.language_counting import count_language

    return count_language(config)


@lru_cache(maxsize=2)
def _language_data(source: str, image_size: int, seed: int) -> Any:
    """The corpus, loaded once per process; image_size and seed do not apply (the splits are fixed)."""
    from nas.train.data.text import load_corpus

    if source in ("digits", "scenes"):
        raise SearchError(f"--data {source} is images; valid for --task language: pydoc or a PTB-format directory")
    return load_corpus(source)


def _language_proxy(config: Any, data: Any, **kwargs: Any) -> ProxyOutcome:
    from nas.train.language import proxy_perplexity

    got = proxy_perplexity(config, data, **kwargs)  # adapts the vocabulary to the corpus
    return ProxyOutcome(bool(got.ok), float(got.value), tuple(got.curve), got.reason)


# ----- the registry ---------------------------------------------------------------------------------------

TASKS: dict[str, Task] = {
    "classification": Task(
        name="classification",
        quality="accuracy",
        default_space="stages",  # every knob the generator has; "paper" is the paper's own space
        default_data="digits",
        default_band=(28_000_000, 284_000_000),  # the paper's Table 2: s = 0.5 .. 2.0
        band_convention="conv MACs of the classifier at 224x224 input, 1000 classes (the paper's Table 2)",
        searched_config=lambda encoder: encoder,
        counts=_classifier_counts,
        load_data=_classifier_data,
        proxy=_classifier_proxy,
        data_hint="digits, scenes, an image folder or a CIFAR directory",
    ),
    "segmentation": Task(
        name="segmentation",
        quality="miou",
        default_space="segmentation",
        default_data="scenes",
        default_band=(54_000_000, 543_000_000),  # espnetv2-seg-0.5 (54.0M) .. espnetv2-seg-2.0 (542.7M)
        band_convention=(
            "conv MACs of the segmentation network (encoder L1..L4 + decoder) at 224x224 input, 20 classes "
            "(the paper's Figure 7)"
        ),
        searched_config=_segmentation_config,
        counts=_segmentation_counts,
        load_data=_segmentation_data,
        proxy=_segmentation_proxy,
        data_hint="scenes, a Cityscapes root or an image-and-mask folder",
    ),
    "language": Task(
        name="language",
        quality="perplexity",
        default_space="language",
        default_data="pydoc",
        default_band=(5_000_000, 15_000_000),  # parameters: about the paper's 7M and 15M ERUs (Table 3)
        band_convention="parameters of the ERU language model at the Penn Treebank's 10,000 words (Table 3)",
        searched_config=lambda config: config,
        counts=_language_counts,
        load_data=_language_data,
        proxy=_language_proxy,
        data_hint="pydoc (CPython's documentation, embedded) or a directory with ptb.train/valid/test.txt",
        freeze=_language_freeze,
        band_metric="params",
        band_label="parameters",
    ),
}
DEFAULT_TASK = "classification"


def get_task(name: str | None) -> Task:
    """The task by name (None: classification); an unknown name is a one-line SearchError."""
    key = DEFAULT_TASK if name is None else str(name).strip()
    if key not in TASKS:
        raise SearchError(f"unknown task {name!r}; valid: {', '.join(TASKS)}")
    return TASKS[key]


def config_from_json(text: str) -> Any:
    """A stored config of any task (`search_spaces.segmentation.config_from_json`; ERU/LSTM by their kind)."""
    from search_spaces.eru_config import is_language_spec, resolve_language

    if is_language_spec(text):
        return resolve_language(text)
    from search_spaces.segmentation import config_from_json as from_json

    return from_json(text)


def task_of_config(config: Any) -> Task:
    return get_task(getattr(config, "task", DEFAULT_TASK))


__all__ = ["DEFAULT_TASK", "TASKS", "ProxyOutcome", "Task", "config_from_json", "get_task", "task_of_config"]

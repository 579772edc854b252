"""``search evaluate model.yaml --data-dir DIR``: score an exported design on any class-folder dataset.

The clips are read like ``--data-dir`` (any audio format, made mono 16 kHz, cut or
padded to the design's input length), without augmentation, labelled with the design's
own classes (its keywords by folder name, other words as ``_unknown_``, silence from
the folder's background noise or synthetic noise), turned into the design's features
and normalised with the ``model.yaml``'s statistics. ``precision="int8"`` runs the
integer deployment (``cost_models.deploy``: int8 weights, Q3.12 input, bit-exact with the
generated C) instead of the float model.

Example (after ``search export ... --to exported``):

    >>> from search.training import evaluate_exported
    >>> result = evaluate_exported("exported/model.yaml", "my-words/")  # doctest: +SKIP
    >>> result.accuracy  # doctest: +SKIP
    0.41
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import torch

from cost_models.deploy import quantize_model, simulate
from reports import format_table
from spaces import ArchConfig, build_model

from search._errors import UsageError
from search._settings import EVALUATION_SPLITS, PRECISIONS
from search.data import CLASS_NAMES, SAMPLE_RATE, SPLITS, apply_mask, dataset_notes, load_folder_dataset, load_se_data, log_magnitude, si_snr_improvement
from search.training._train_exported import _read
from search.training._weights_file import state_dict_from_bytes

_BATCH = 512


@dataclass
class Evaluation:
    """Scores of one design on one folder; ``confusion[true, predicted]`` counts clips."""

    config: ArchConfig
    class_names: tuple[str, ...]
    data_dir: Path
    split: str
    precision: str
    weights: Path
    labels: torch.Tensor  # [clips] true class per clip
    predictions: torch.Tensor  # [clips] predicted class per clip
    notes: tuple[str, ...]

    @property
    def confusion(self) -> torch.Tensor:
        count = len(self.class_names)
        return torch.bincount(self.labels * count + self.predictions, minlength=count * count).reshape(count, count)

    @property
    def clips(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(self.confusion.diag().sum()) / max(1, self.clips)

    def class_accuracy(self) -> dict[str, Optional[float]]:
        """Recall per class (None for a class without clips)."""
        totals = self.confusion.sum(dim=1)
        return {name: (float(self.confusion[i, i]) / int(totals[i]) if int(totals[i]) else None) for i, name in enumerate(self.class_names)}

    def to_dict(self) -> dict[str, Any]:
        return _header(self) | {
            "accuracy": self.accuracy,
            "class_accuracy": self.class_accuracy(),
            "classes": list(self.class_names),
            "confusion": self.confusion.tolist(),
        }


@dataclass
class SeEvaluation:
    """SI-SNR improvement per mixture (dB) of an SE design on a folder's clean/ and noise/ recordings."""

    config: ArchConfig
    data_dir: Path
    split: str
    precision: str
    weights: Path
    improvements: torch.Tensor  # [clips] dB
    snr_db: torch.Tensor  # [clips] the SNR each mixture was made at

    @property
    def clips(self) -> int:
        return int(self.improvements.numel())

    @property
    def si_snri_db(self) -> float:
        return float(self.improvements.mean())

    def by_snr(self) -> list[tuple[float, float, int, float]]:
        """(low, high, clips, mean SI-SNRi) per 5 dB band of input SNR."""
        bands = []
        for low in range(int(self.snr_db.min().floor()) // 5 * 5, int(self.snr_db.max().ceil()) + 1, 5):
            inside = (self.snr_db >= low) & (self.snr_db < low + 5)
            if inside.any():
                bands.append((float(low), float(low + 5), int(inside.sum()), float(self.improvements[inside].mean())))
        return bands

    def to_dict(self) -> dict[str, Any]:
        return _header(self) | {
            "si_snri_db": self.si_snri_db,
            "by_input_snr": [{"snr_db": [low, high], "clips": clips, "si_snri_db": value} for low, high, clips, value in self.by_snr()],
        }


def _header(result: Union[Evaluation, SeEvaluation]) -> dict[str, Any]:
    """What was scored, on what, how: the start of ``to_dict``."""
    return {
        "design": result.config.describe(),
        "data_dir": str(result.data_dir),
        "split": result.split,
        "precision": result.precision,
        "weights": str(result.weights),
        "clips": result.clips,
    }


def _class_names(document: dict[str, Any], config: ArchConfig, path: Path) -> tuple[str, ...]:
    names = document.get("training", {}).get("data", {}).get("classes")
    if names is None and config.classes == len(CLASS_NAMES):
        names = CLASS_NAMES  # an export of the synthetic corpus from before the classes were recorded
    if names is None or len(names) != config.classes:
        raise UsageError(f"{path} does not name its {config.classes} classes (training.data.classes); export the design again with 'search export'")
    return tuple(names)


def _normalization(document: dict[str, Any], path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    section = document.get("features", {}).get("normalization", {})
    try:
        return torch.tensor(section["mean"], dtype=torch.float32), torch.tensor(section["std"], dtype=torch.float32)
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{path} has no features.normalization mean/std; export the design again with 'search export'") from None


@torch.no_grad()
def _predict(model: torch.nn.Module, config: ArchConfig, features: torch.Tensor, precision: str) -> torch.Tensor:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the training's arithmetic: results never depend on the thread count
    try:
        if precision == "int8":
            quantized = quantize_model(model, config)
            batches = [simulate(quantized, quantized.quantize_input(features[i : i + _BATCH])) for i in range(0, len(features), _BATCH)]
        else:
            batches = [model(features[i : i + _BATCH]) for i in range(0, len(features), _BATCH)]
    finally:
        torch.set_num_threads(threads)
    return torch.cat(batches).argmax(dim=1) if batches else torch.zeros(0, dtype=torch.int64)


def evaluate_exported(
    model_yaml: Union[str, Path],
    data_dir: Union[str, os.PathLike],
    split: Optional[str] = None,
    precision: str = "float",
    weights: Union[str, Path, None] = None,
    cache_dir: Union[str, os.PathLike, None] = None,
    progress: bool = True,
) -> Union[Evaluation, SeEvaluation]:
    """Accuracy, per-class accuracy and confusion matrix of an exported KWS design on ``data_dir``
    (an SE design: SI-SNRi on mixtures of ``data_dir``'s clean/ and noise/ recordings).

    ``split``: ``test`` (the default when the folder has list files) or ``all`` (the
    default otherwise). ``weights``: default ``weights.pt`` beside the ``model.yaml``.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if split is not None and split not in EVALUATION_SPLITS:
        raise UsageError(f"unknown split {split!r}; valid: {', '.join(EVALUATION_SPLITS)}")
    path = Path(model_yaml)
    document, config = _read(path)
    mean, std = _normalization(document, path)
    weights_path = Path(weights) if weights is not None else path.parent / "weights.pt"
    if not weights_path.is_file():
        raise UsageError(f"{weights_path} does not exist; pass --weights (e.g. weights-trained.pt from 'search train')")
    model = build_model(config)
    try:
        raw = weights_path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {weights_path} ({error.strerror}); pass a readable --weights") from None
    state_dict = state_dict_from_bytes(
        raw, f"the weights in {weights_path}", "pass the weights.pt written by 'search export' (or weights-trained.pt from 'search train')", UsageError
    )
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, OSError, ValueError) as error:
        raise UsageError(f"the weights in {weights_path} do not fit {path}'s design ({str(error).splitlines()[0]})") from None
    model.eval()
    if config.task == "se":
        return _evaluate_se(model, config, data_dir, split or "all", precision, weights_path, (mean, std), cache_dir, progress)
    names = _class_names(document, config, path)
    front = config.front_end
    clip_seconds = ((config.frames - 1) * front.hop_samples + front.window_samples) / SAMPLE_RATE
    dataset = load_folder_dataset(data_dir, config.features, class_names=names, clip_seconds=clip_seconds, augment=False, cache_dir=cache_dir, progress=progress)
    chosen = split or ("test" if dataset.layout.split_rule == "lists" else "all")
    parts = [dataset.splits[name] for name in (SPLITS if chosen == "all" else ("test",))]
    features = torch.cat([part.features for part in parts])
    labels = torch.cat([part.labels for part in parts])
    if not len(labels):
        raise UsageError(f"{dataset.layout.root} has no clips in the test split; pass --split all")
    predicted = _predict(model, config, (features - mean) / std, precision)
    notes = dataset_notes(dataset.layout, names, splits=chosen == "test")
    return Evaluation(config, names, dataset.layout.root, chosen, precision, weights_path, labels, predicted, notes)


@torch.no_grad()
def _evaluate_se(
    model: torch.nn.Module,
    config: ArchConfig,
    data_dir: Union[str, os.PathLike],
    split: str,
    precision: str,
    weights_path: Path,
    normalization: tuple[torch.Tensor, torch.Tensor],
    cache_dir: Union[str, os.PathLike, None],
    progress: bool,
) -> SeEvaluation:
    """SI-SNRi of the design's masks, float or int8, with the model.yaml's normalisation."""
    data = load_se_data(data_dir=data_dir, cache_dir=cache_dir, progress=progress)
    parts = [data.split(name) for name in (SPLITS if split == "all" else ("test",))]
    noisy, clean = torch.cat([part.noisy for part in parts]), torch.cat([part.clean for part in parts])
    inputs = (log_magnitude(noisy) - normalization[0]) / normalization[1]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        quantized = quantize_model(model, config) if precision == "int8" else None
        improvements = []
        for start in range(0, len(noisy), _BATCH):
            batch = inputs[start : start + _BATCH]
            mask = simulate(quantized, quantized.quantize_input(batch)).float() / 32768.0 if quantized is not None else model(batch)
            estimate = apply_mask(mask, noisy[start : start + _BATCH])
            improvements.append(si_snr_improvement(estimate, noisy[start : start + _BATCH], clean[start : start + _BATCH]))
    finally:
        torch.set_num_threads(threads)
    snr = torch.cat([part.snr_db for part in parts])
    return SeEvaluation(config, Path(data_dir).expanduser(), split, precision, weights_path, torch.cat(improvements), snr)


def evaluation_summary(result: Union[Evaluation, SeEvaluation]) -> str:
    """Accuracy, the per-class table and the confusion matrix (SE: SI-SNRi per input SNR band), as text."""
    if isinstance(result, SeEvaluation):
        rows = [{"input SNR dB": f"{low:g} to {high:g}", "clips": clips, "SI-SNRi dB": round(value, 2)} for low, high, clips, value in result.by_snr()]
        return "\n".join(
            [
                format_table(rows, list(rows[0])),
                f"\n{result.config.describe()} ({result.precision}, {result.weights.name}) on {result.data_dir}, split {result.split}: "
                f"SI-SNRi {result.si_snri_db:.2f} dB over {result.clips} mixtures",
            ]
        )
    lines = [*result.notes, ""]
    per_class = result.class_accuracy()
    totals = result.confusion.sum(dim=1).tolist()
    rows = [
        {"class": name, "clips": totals[i], "correct": int(result.confusion[i, i]), "accuracy %": "-" if per_class[name] is None else round(100 * per_class[name], 1)}
        for i, name in enumerate(result.class_names)
    ]
    lines.append(format_table(rows, list(rows[0])))
    lines.append("\nconfusion matrix (rows: true class, columns: predicted)")
    short = [name.strip("_")[:7] for name in result.class_names]
    matrix = [{"true": short[i], **{short[j]: int(result.confusion[i, j]) for j in range(len(short))}} for i in range(len(short))]
    lines.append(format_table(matrix, ["true", *short]))
    lines.append(
        f"\n{result.config.describe()} ({result.precision}, {result.weights.name}) on {result.data_dir}, split {result.split}: "
        f"accuracy {100 * result.accuracy:.2f} % over {result.clips} clips (chance {100 / len(result.class_names):.1f} %)"
    )
    return "\n".join(lines)

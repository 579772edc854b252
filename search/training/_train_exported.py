"""``search train model.yaml``: train an exported design at full fidelity and test it.

The data pipeline is the search's own (same corpus or class-folder dataset, same
front end, same normalisation from the training split) as recorded in the
``model.yaml``; the recipe is the search's proxy recipe with all of the training data,
more epochs and no time limit. The result is scored on the test split, which the
search never looked at.

Example (after ``search export ... --to exported``):

    >>> from search.training._train_exported import train_exported
    >>> outcome = train_exported("exported/model.yaml", epochs=20)  # doctest: +SKIP
    >>> outcome.test_metric  # doctest: +SKIP
    0.71
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import torch

from reports import format_table, read_model_yaml
from spaces import ArchConfig, SchemaError, build_model

from search.data import load_kws_data, load_se_data
from search._errors import UsageError
from search.training._fidelity import DEFAULT_EPOCHS, Fidelity
from search.training._trainer import ProxyResult, evaluate_kws, evaluate_se, train_proxy

MAX_EPOCHS = 100_000


@dataclass
class TrainOutcome:
    """A full-fidelity training run of an exported design."""

    config: ArchConfig
    result: ProxyResult
    test_metric: float
    weights: Path


def _read(path: Union[str, Path]) -> tuple[dict[str, Any], ArchConfig]:
    path = Path(path)
    if not path.is_file():
        what = "does not exist" if not path.exists() else ("is a directory" if path.is_dir() else "is not a regular file")
        raise UsageError(f"{path} {what}; pass the model.yaml written by 'search export'")
    try:
        document = read_model_yaml(path)
    except SchemaError as error:
        raise UsageError(str(error)) from None
    try:
        config = ArchConfig.from_dict(document["architecture"])
    except (ValueError, TypeError) as error:
        raise UsageError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
    return document, config


def load_exported_data(document: dict[str, Any], config: ArchConfig, progress: bool = True):
    """The data the design was searched on, as recorded in ``training.data``."""
    source = document.get("training", {}).get("data", {})
    seed = int(source.get("seed", 0))
    count = source.get("utterances_per_class")
    if config.task == "kws":
        options = {} if count is None else {"utterances_per_class": int(count)}
        if source.get("data_dir") is not None:
            options |= {"keywords": source.get("keywords"), "clip_seconds": float(source.get("clip_seconds", 1.0))}
        return load_kws_data(features=config.features, data_dir=source.get("data_dir"), seed=seed, progress=progress, **options)
    options = {} if count is None else {"train_clips": int(count)}
    if source.get("data_dir") is not None:
        options |= {"data_dir": source["data_dir"], "clip_seconds": float(source.get("clip_seconds", 1.0))}
    return load_se_data(seed=seed, progress=progress, **options)


def train_exported(
    model_yaml: Union[str, Path],
    epochs: int = DEFAULT_EPOCHS,
    max_seconds: Optional[float] = None,
    save: Union[str, Path, None] = None,
    progress: bool = True,
) -> TrainOutcome:
    """Train the design of ``model_yaml`` from scratch on all training data; score it on test."""
    if not 1 <= epochs <= MAX_EPOCHS:
        raise UsageError(f"--epochs must be from 1 to {MAX_EPOCHS}, got {epochs}")
    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
        raise UsageError(f"--max-seconds must be a finite positive number, got {max_seconds}")
    document, config = _read(model_yaml)
    recipe = dict(document.get("training", {}).get("recipe", {}))
    known = set(Fidelity().to_dict())
    try:
        fidelity = Fidelity.from_dict(
            {key: value for key, value in recipe.items() if key in known}
            | {"epochs": epochs, "data_fraction": 1.0, "max_seconds": max_seconds}
        )
    except (TypeError, ValueError) as error:
        raise UsageError(f"{model_yaml}: training.recipe: {str(error).splitlines()[0]}") from None
    data = load_exported_data(document, config, progress)
    if progress:
        print(
            f"training {config.describe()} from scratch (new random weights; the proxy-trained weights.pt is not used) "
            f"for {epochs} epochs on {len(data.train)} training clips",
            flush=True,
        )
    result = train_proxy(config, data, fidelity, on_epoch=_epoch_printer(config.task, epochs) if progress else None)
    model = build_model(config)
    assert result.state_dict is not None
    model.load_state_dict(result.state_dict)
    threads = torch.get_num_threads()
    torch.set_num_threads(fidelity.threads)
    try:
        test = evaluate_kws(model, data.test) if config.task == "kws" else evaluate_se(model, data.test)
    finally:
        torch.set_num_threads(threads)
    target = Path(save) if save is not None else Path(model_yaml).parent / "weights-trained.pt"
    torch.save(result.state_dict, target)
    return TrainOutcome(config=config, result=result, test_metric=test, weights=target)


def _epoch_printer(task: str, epochs: int):
    """Prints one line per finished epoch, so a long training shows where it is."""

    def show(record: dict[str, float]) -> None:
        metric = f"val accuracy {100 * record['metric']:.2f} %" if task == "kws" else f"val SI-SNRi {record['metric']:.2f} dB"
        print(f"epoch {record['epoch']:g}/{epochs}: train loss {record['train_loss']:.4f}, {metric}, {record['seconds']:.0f} s", flush=True)

    return show


def train_summary(outcome: TrainOutcome) -> str:
    """The per-epoch curve, the validation and test scores and where the weights went."""
    accuracy = outcome.result.metric_name == "accuracy"
    label = "val accuracy %" if accuracy else "val SI-SNRi dB"
    scale = 100.0 if accuracy else 1.0
    rows = [
        {"epoch": point["epoch"], "train loss": round(point["train_loss"], 4), label: round(scale * point["metric"], 2), "seconds": point["seconds"]}
        for point in outcome.result.curve
    ]
    unit = "%" if accuracy else "dB"
    name = "accuracy" if accuracy else "SI-SNRi"
    lines = [f"{outcome.config.describe()}: {outcome.result.fidelity.epochs} epochs, status {outcome.result.status}" + (f" ({outcome.result.reason})" if outcome.result.reason else "")]
    if rows:
        lines.append(format_table(rows, list(rows[0])))
    lines.append(f"validation {name} {scale * outcome.result.metric:.2f} {unit}, test {name} {scale * outcome.test_metric:.2f} {unit}")
    lines.append(f"wrote {outcome.weights}")
    return "\n".join(lines)

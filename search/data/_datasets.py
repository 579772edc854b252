"""The data the search trains on: one call per task, cached, normalised.

``load_kws_data`` returns keyword-spotting features from a local Speech Commands copy
(``data_dir``) or, by default, from the embedded synthetic corpus; ``load_se_data``
returns speech-enhancement mixtures. Features are computed once per dataset and cached
on disk (see ``search.data._cache`` for where); normalisation statistics come from the
training split only and are kept with the data so a deployment can apply them.

Example:
    >>> from search.data._datasets import load_kws_data
    >>> data = load_kws_data(utterances_per_class=10, progress=False)
    >>> data.train.features.shape, data.num_classes
    (torch.Size([120, 49, 10]), 12)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from search._settings import RunSettings
from search.data._cache import PathLike
from search.data._corpus import SPLITS, CorpusConfig, load_synthetic_corpus
from search.data._se_data import SeConfig, SeData, load_se_mixtures
from search.data._speech_commands import load_speech_commands

# Per-dimension standard deviations below this are treated as constant dimensions.
_MIN_STD = 1e-5


@dataclass
class KwsSplit:
    """Normalised features [N, frames, dims] (float32) and labels [N] (int64)."""

    features: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class KwsData:
    """Keyword-spotting data ready for training.

    ``mean`` and ``std`` [dims] are the training-split statistics the features were
    normalised with (``(raw - mean) / std``); ``source`` says where the audio came from.
    """

    train: KwsSplit
    validation: KwsSplit
    test: KwsSplit
    class_names: tuple[str, ...]
    feature_name: str
    mean: torch.Tensor
    std: torch.Tensor
    source: str
    cache_path: Optional[Path] = None

    task = "kws"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> KwsSplit:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]


def feature_statistics(train_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation per feature dimension over all training frames."""
    frames = train_features.reshape(-1, train_features.shape[-1]).double()
    mean = frames.mean(dim=0)
    std = frames.std(dim=0).clamp_min(_MIN_STD)
    return mean.float(), std.float()


def normalise(features: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return ((features - mean) / std).contiguous()


def load_kws_data(
    features: str = "mfcc10",
    data_dir: Optional[PathLike] = None,
    cache_dir: Optional[PathLike] = None,
    utterances_per_class: int = 1000,
    seed: int = 0,
    setup: str = "12",
    progress: bool = True,
) -> KwsData:
    """KWS data for a feature front end.

    With ``data_dir`` it reads a Speech Commands v1/v2 copy (``setup`` ``"12"``: 10
    keywords + silence + unknown, or ``"35"``: every word); otherwise it generates (once)
    the synthetic eSpeak NG corpus with ``utterances_per_class`` training clips per class.
    Raises ``DataError`` for a missing or malformed ``data_dir``.
    """
    if data_dir is not None:
        raw = load_speech_commands(data_dir, features, setup=setup, cache_dir=cache_dir, seed=seed, progress=progress)
        source = f"speech-commands:{Path(data_dir).resolve()}"
    else:
        raw = load_synthetic_corpus(
            CorpusConfig(utterances_per_class=utterances_per_class, seed=seed), features, cache_dir, progress
        )
        source = f"synthetic-espeak-ng:n{utterances_per_class}:s{seed}"
    mean, std = feature_statistics(raw.splits["train"].features)
    splits = {
        name: KwsSplit(normalise(raw.splits[name].features, mean, std), raw.splits[name].labels) for name in SPLITS
    }
    return KwsData(
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        class_names=tuple(raw.class_names),
        feature_name=features,
        mean=mean,
        std=std,
        source=source,
        cache_path=raw.cache_path,
    )


def load_se_data(
    cache_dir: Optional[PathLike] = None,
    train_clips: int = SeConfig.train_clips,
    eval_clips: int = SeConfig.eval_clips,
    snr_db: tuple[float, float] = SeConfig.snr_db,
    seed: int = 0,
    progress: bool = True,
) -> SeData:
    """Speech-enhancement mixtures (synthetic speech + noise), cached; see ``search.data._se_data``."""
    config = SeConfig(train_clips=train_clips, eval_clips=eval_clips, snr_db=tuple(snr_db), seed=seed)
    return load_se_mixtures(config, cache_dir=cache_dir, progress=progress)


def load_task_data(settings: RunSettings, progress: bool = True):
    """The data of a run's task (generated and cached on first use)."""
    if settings.task == "kws":
        features = settings.space.get("features", "mfcc10")
        if isinstance(features, list):
            raise ValueError("a KWS space must fix one feature front end (features: mfcc10 or logmel40)")
        options = {} if settings.utterances_per_class is None else {"utterances_per_class": settings.utterances_per_class}
        return load_kws_data(features=features, data_dir=settings.data_dir, seed=settings.seed, progress=progress, **options)
    options = {} if settings.utterances_per_class is None else {"train_clips": settings.utterances_per_class}
    return load_se_data(seed=settings.seed, progress=progress, **options)

"""The data the search trains on: one call per task, cached, normalised.

``load_kws_data`` returns keyword-spotting features from a folder of class folders
(``data_dir``, e.g. a Speech Commands copy or one's own words) or, by default, from the
embedded synthetic corpus; ``load_se_data``
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
from typing import Optional, Sequence

import torch

from search._settings import RunSettings
from search.data._cache import PathLike
from search._errors import DataError
from search.data._corpus import SILENCE, SPLITS, UNKNOWN, CorpusConfig, check_corpus_fits, load_synthetic_corpus
from search.data._folder_dataset import FolderDataset, load_folder_dataset
from search.data._se_data import SeConfig, SeData, check_se_mixtures_fit, load_se_mixtures
from search.data._se_folders import load_se_folders

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
    notes: tuple[str, ...] = ()  # what a user should know about the data (one line each)

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
    keywords: Optional[Sequence[str]] = None,
    clip_seconds: float = 1.0,
    progress: bool = True,
) -> KwsData:
    """KWS data for a feature front end.

    With ``data_dir`` it reads a folder of class folders (any audio format; ``keywords``
    picks the target words, see ``search.data._class_folders``), every split and every
    keyword's training clips required; otherwise it generates (once) the synthetic
    eSpeak NG corpus with ``utterances_per_class`` training clips per class.
    Raises ``DataError`` for a missing or unusable ``data_dir``.
    """
    notes: tuple[str, ...] = ()
    if data_dir is not None:
        raw = load_folder_dataset(data_dir, features, keywords=keywords, clip_seconds=clip_seconds, cache_dir=cache_dir, seed=seed, progress=progress)
        _check_trainable(raw)
        source = f"class-folders:{Path(data_dir).expanduser().resolve()}"
        notes = raw.notes
    else:
        if keywords is not None or clip_seconds != 1.0:
            raise DataError("--keywords and --clip-seconds need --data-dir; the synthetic corpus has the 10 Speech Commands keywords in 1 s clips")
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
        notes=notes,
    )


def _check_trainable(raw: FolderDataset) -> None:
    """Every split holds clips and every keyword has training clips, or a one-line DataError."""
    root = raw.layout.root
    for split in SPLITS:
        if not len(raw.splits[split].labels):
            fix = "add clips, or fix the list files" if raw.layout.split_rule == "lists" else "add clips of at least 3 speakers, or add validation_list.txt and testing_list.txt"
            raise DataError(f"{root} gives no clips to the {split} split; {fix}")
    counts = torch.bincount(raw.splits["train"].labels, minlength=len(raw.class_names)).tolist()
    for name, count in zip(raw.class_names, counts):
        if count == 0 and name not in (SILENCE, UNKNOWN):
            raise DataError(f"keyword {name!r} has no training clips in {root} (all of them fall in validation or test); add clips of more speakers")


def load_se_data(
    cache_dir: Optional[PathLike] = None,
    train_clips: int = SeConfig.train_clips,
    eval_clips: int = SeConfig.eval_clips,
    snr_db: tuple[float, float] = SeConfig.snr_db,
    seed: int = 0,
    data_dir: Optional[PathLike] = None,
    clip_seconds: float = 1.0,
    progress: bool = True,
) -> SeData:
    """Speech-enhancement mixtures, cached: synthetic speech + noise (``search.data._se_data``),
    or with ``data_dir`` its ``clean/`` and ``noise/`` recordings (``search.data._se_folders``)."""
    clip_samples = int(round(clip_seconds * SeConfig.clip_samples))
    config = SeConfig(train_clips=train_clips, eval_clips=eval_clips, snr_db=tuple(snr_db), seed=seed, clip_samples=clip_samples)
    if data_dir is not None:
        return load_se_folders(data_dir, config, cache_dir=cache_dir, progress=progress)
    if clip_seconds != 1.0:
        raise DataError("--clip-seconds needs --data-dir; the synthetic mixtures are 1 s clips")
    return load_se_mixtures(config, cache_dir=cache_dir, progress=progress)


def check_task_data_fits(settings: RunSettings) -> None:
    """Refuse, in one line and before anything is made, synthetic data that this machine's
    memory or cache disk cannot hold (``--utterances-per-class``). A ``--data-dir`` is
    checked when it is read, once its clips are counted."""
    if settings.data_dir is not None:
        return
    if settings.task == "kws":
        features = settings.space.get("features", "mfcc10")
        if isinstance(features, str):
            size = {} if settings.utterances_per_class is None else {"utterances_per_class": settings.utterances_per_class}
            check_corpus_fits(CorpusConfig(seed=settings.seed, **size), features)
        return
    size = {} if settings.utterances_per_class is None else {"train_clips": settings.utterances_per_class}
    check_se_mixtures_fit(SeConfig(seed=settings.seed, **size))


def load_task_data(settings: RunSettings, progress: bool = True):
    """The data of a run's task (generated and cached on first use)."""
    if settings.task == "kws":
        features = settings.space.get("features", "mfcc10")
        if isinstance(features, list):
            raise ValueError("a KWS space must fix one feature front end (features: mfcc10 or logmel40)")
        options = {} if settings.utterances_per_class is None else {"utterances_per_class": settings.utterances_per_class}
        return load_kws_data(
            features=features,
            data_dir=settings.data_dir,
            seed=settings.seed,
            keywords=settings.keywords,
            clip_seconds=settings.clip_seconds,
            progress=progress,
            **options,
        )
    options = {} if settings.utterances_per_class is None else {"train_clips": settings.utterances_per_class}
    return load_se_data(seed=settings.seed, data_dir=settings.data_dir, clip_seconds=settings.clip_seconds, progress=progress, **options)

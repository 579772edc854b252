"""The bridge from a search's settings to proxy training: load the data once, train a design.

Example:
    >>> from search._evaluate import make_trainer  # doctest: +SKIP
    >>> trainer = make_trainer(settings)           # doctest: +SKIP
    >>> trainer(ArchConfig(hidden=64)).metric      # doctest: +SKIP
"""

from __future__ import annotations

from spaces import ArchConfig

from search._datasets import load_kws_data, load_se_data
from search._settings import RunSettings
from search._study import Trainer
from search._trainer import Fidelity, ProxyResult, train_proxy


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


def make_trainer(settings: RunSettings, progress: bool = True) -> Trainer:
    """A function that proxy-trains one design with the run's fidelity."""
    data = load_task_data(settings, progress)
    fidelity = Fidelity.from_dict(settings.fidelity)

    def train(config: ArchConfig) -> ProxyResult:
        return train_proxy(config, data, fidelity)

    return train

"""The bridge from a search's settings to proxy training: load the data once, train a design.

Example:
    >>> from search.training import make_trainer  # doctest: +SKIP
    >>> trainer = make_trainer(settings)           # doctest: +SKIP
    >>> trainer(ArchConfig(hidden=64)).metric      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Optional, Protocol

from spaces import ArchConfig

from search.data import load_task_data
from search._settings import RunSettings
from search.training._deployed import with_deployed_score
from search.training._trainer import EpochCallback, Fidelity, ProxyResult, train_proxy


class Trainer(Protocol):
    """What the study driver calls to score one design (``on_epoch`` as in :func:`train_proxy`)."""

    def __call__(self, config: ArchConfig, on_epoch: Optional[EpochCallback] = None) -> ProxyResult: ...


def make_trainer(settings: RunSettings, progress: bool = True) -> Trainer:
    """A function that proxy-trains one design with the run's fidelity and scores it in float and int8."""
    data = load_task_data(settings, progress)
    fidelity = Fidelity.from_dict(settings.fidelity)

    def train(config: ArchConfig, on_epoch: Optional[EpochCallback] = None) -> ProxyResult:
        return with_deployed_score(train_proxy(config, data, fidelity, on_epoch), config, data)

    return train

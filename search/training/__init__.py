"""Training: the short proxy training of the search, and full training of an exported design.

* :class:`Fidelity`: how much training a trial gets (epochs, data fraction, seed),
  counted in samples and epochs, never in seconds;
* :func:`train_proxy`: train one design on loaded data, return its validation metric
  and learning curve (:class:`ProxyResult`);
* :func:`deployed_score` / :func:`with_deployed_score`: the int8 score of trained
  weights (bit-exact integer simulation of the deployed C, input scale calibrated on
  the training split) on the validation split;
* :func:`make_trainer`: the function the study driver calls for each design;
* :func:`train_exported`: ``search train model.yaml``.

Example:
    >>> from spaces import ArchConfig
    >>> from search.data import load_kws_data
    >>> from search.training import Fidelity, train_proxy
    >>> data = load_kws_data(utterances_per_class=10, progress=False)  # doctest: +SKIP
    >>> train_proxy(ArchConfig(hidden=16), data, Fidelity(epochs=1)).metric  # doctest: +SKIP
"""

from search.training._deployed import (
    DEFAULT_PRECISION,
    PRECISIONS,
    DeployedScore,
    deployed_model,
    deployed_score,
    evaluate_int8,
    summary_attrs,
    with_deployed_score,
)
from search.training._evaluate import Trainer, make_trainer
from search.training._train_exported import DEFAULT_EPOCHS, train_exported, train_summary
from search.training._trainer import Fidelity, ProxyResult, evaluate_kws, evaluate_se, train_proxy

__all__ = [
    "DEFAULT_EPOCHS",
    "DEFAULT_PRECISION",
    "DeployedScore",
    "PRECISIONS",
    "deployed_model",
    "deployed_score",
    "evaluate_int8",
    "summary_attrs",
    "with_deployed_score",
    "Fidelity",
    "ProxyResult",
    "Trainer",
    "evaluate_kws",
    "evaluate_se",
    "make_trainer",
    "train_exported",
    "train_proxy",
    "train_summary",
]

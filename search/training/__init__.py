"""Training: the short proxy training of the search, and full training of an exported design.

* :class:`Fidelity`: how much training a trial gets (epochs, data fraction, seed),
  counted in samples and epochs, never in seconds;
* :func:`train_proxy`: train one design on loaded data, return its validation metric
  and learning curve (:class:`ProxyResult`);
* :func:`deployed_score` / :func:`with_deployed_score`: the int8 score of trained
  weights (bit-exact integer simulation of the deployed C, input scale calibrated on
  the training split) on the validation split;
* :func:`make_trainer`: the function the study driver calls for each design;
* :func:`train_exported`: ``search train model.yaml``;
* :func:`evaluate_exported`: ``search evaluate model.yaml --data-dir DIR`` (accuracy per
  class and confusion matrix on any class-folder dataset, float or int8).

Example:
    >>> from spaces import ArchConfig
    >>> from search.data import load_kws_data
    >>> from search.training import Fidelity, train_proxy
    >>> data = load_kws_data(utterances_per_class=10, progress=False)  # doctest: +SKIP
    >>> train_proxy(ArchConfig(hidden=16), data, Fidelity(epochs=1)).metric  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from spaces import lazy_exports

# Each name is imported from its module on first use, so that `search --help` does not
# wait for torch, plotly and Optuna; the imports below are what the names are.
if TYPE_CHECKING:
    from search._settings import DEFAULT_PRECISION, PRECISIONS
    from search.training._deployed import DeployedScore, deployed_model, deployed_score, evaluate_int8, summary_attrs, with_deployed_score
    from search.training._evaluate import Trainer, make_trainer
    from search.training._evaluate_exported import Evaluation, evaluate_exported, evaluation_summary
    from search.training._fidelity import DEFAULT_EPOCHS, Fidelity
    from search.training._train_exported import train_exported, train_summary
    from search.training._trainer import EpochCallback, ProxyResult, evaluate_kws, evaluate_se, train_proxy
    from search.training._weights_file import state_dict_from_bytes

_EXPORTS = {
    "DEFAULT_PRECISION": "search._settings",
    "PRECISIONS": "search._settings",
    "DeployedScore": "search.training._deployed",
    "deployed_model": "search.training._deployed",
    "deployed_score": "search.training._deployed",
    "evaluate_int8": "search.training._deployed",
    "summary_attrs": "search.training._deployed",
    "with_deployed_score": "search.training._deployed",
    "Trainer": "search.training._evaluate",
    "make_trainer": "search.training._evaluate",
    "Evaluation": "search.training._evaluate_exported",
    "evaluate_exported": "search.training._evaluate_exported",
    "evaluation_summary": "search.training._evaluate_exported",
    "DEFAULT_EPOCHS": "search.training._fidelity",
    "train_exported": "search.training._train_exported",
    "train_summary": "search.training._train_exported",
    "EpochCallback": "search.training._trainer",
    "Fidelity": "search.training._fidelity",
    "ProxyResult": "search.training._trainer",
    "evaluate_kws": "search.training._trainer",
    "evaluate_se": "search.training._trainer",
    "train_proxy": "search.training._trainer",
    "state_dict_from_bytes": "search.training._weights_file",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "Evaluation",
    "evaluate_exported",
    "evaluation_summary",
    "DEFAULT_EPOCHS",
    "EpochCallback",
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
    "state_dict_from_bytes",
    "train_proxy",
    "train_summary",
]

"""Hardware-aware architecture search for GhostRNN: the ``search`` command and its Python API.

Example (in a notebook; the first call generates and caches the synthetic corpus):

    >>> import search
    >>> result = search.run(device="cortex-m7", budget="100KB", trials=20)  # doctest: +SKIP
    >>> result.pareto[["design", "accuracy", "memory_bytes", "latency_ms"]]  # doctest: +SKIP

The package is grouped by concern, one room each:

* ``search.cli``: the ``search`` command line;
* ``search.study``: the study driver (settings, Optuna study, workers, promotion);
* ``search.training``: proxy training and full training of an exported design;
* ``search.data``: audio, features (:func:`search.data.compute_features`), corpora,
  datasets and their cache;
* ``search.storage``: storage URLs, heartbeat and reconnection;
* ``search.results``: a finished run's tables, HTML report and export.
"""

from typing import TYPE_CHECKING

from spaces import lazy_exports

# Each name is imported from its module on first use, so that `search --help` does not
# wait for torch, plotly and Optuna; the imports below are what the names are.
if TYPE_CHECKING:
    from search._errors import DataError, RunInterrupted, UsageError
    from search.study import RunResult, join_study, run
    from search.storage import StudyError, mask_url
    from search.training import Fidelity

_EXPORTS = {
    "DataError": "search._errors",
    "UsageError": "search._errors",
    "RunInterrupted": "search._errors",
    "RunResult": "search.study",
    "join_study": "search.study",
    "run": "search.study",
    "StudyError": "search.storage",
    "mask_url": "search.storage",
    "Fidelity": "search.training",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = ["DataError", "Fidelity", "RunInterrupted", "RunResult", "StudyError", "UsageError", "join_study", "mask_url", "run"]

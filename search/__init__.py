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

from search._errors import DataError, RunInterrupted, UsageError
from search.study import RunResult, join_study, run
from search.storage import StudyError, mask_url
from search.training import Fidelity

__all__ = ["DataError", "Fidelity", "RunInterrupted", "RunResult", "StudyError", "UsageError", "join_study", "mask_url", "run"]

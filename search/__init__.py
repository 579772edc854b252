"""Hardware-aware architecture search for GhostRNN: the ``search`` command and its Python API.

Example (in a notebook; the first call generates and caches the synthetic corpus):

    >>> import search
    >>> result = search.run(device="cortex-m7", budget="100KB", trials=20)  # doctest: +SKIP
    >>> result.pareto[["design", "accuracy", "memory_bytes", "latency_ms"]]  # doctest: +SKIP
"""

from search._errors import DataError, UsageError
from search._run import RunResult, join_study, run
from search._storage import StudyError, mask_url
from search._trainer import Fidelity

__all__ = ["DataError", "Fidelity", "RunResult", "StudyError", "UsageError", "join_study", "mask_url", "run"]

"""Where studies live: storage URLs, heartbeat, and riding out a lost database connection.

* :func:`open_storage`: SQLite, a journal file, or any Optuna storage URL
  (PostgreSQL, MySQL), with Optuna's heartbeat on database servers;
* :func:`local_storage_url`: the default storage file of a run directory;
* :func:`mask_url` / :func:`split_password`: passwords never printed, never on a
  command line;
* :class:`RetryStoredDesign`: a dead worker's trial is retried only when its design was
  stored whole (:func:`mark_design_stored`), so a retry never becomes another design;
* reconnection with backoff (``GHOSTRNN_STORAGE_RETRY_SECONDS``) and
  :func:`lost_error`, the one-line error of a database that stayed away.

Example:
    >>> from search.storage import mask_url
    >>> mask_url("postgresql://ghostrnn:secret@dbhost/ghostrnn")
    'postgresql://ghostrnn:***@dbhost/ghostrnn'
"""

from typing import TYPE_CHECKING

from spaces import lazy_exports

# Each name is imported from its module on first use, so that `search --help` does not
# wait for torch, plotly and Optuna; the imports below are what the names are.
if TYPE_CHECKING:
    from search._errors import StudyError
    from search.storage._reconnect import StorageLostError, lost_error
    from search.storage._storage import DESIGN_STORED_ATTR, RetryStoredDesign, design_is_stored, heartbeat_options, local_storage_url, mark_design_stored, open_storage
    from search.storage._urls import PASSWORD_ENV, is_shared_url, mask_url, split_password

_EXPORTS = {
    "StudyError": "search._errors",
    "StorageLostError": "search.storage._reconnect",
    "lost_error": "search.storage._reconnect",
    "DESIGN_STORED_ATTR": "search.storage._storage",
    "RetryStoredDesign": "search.storage._storage",
    "design_is_stored": "search.storage._storage",
    "heartbeat_options": "search.storage._storage",
    "mark_design_stored": "search.storage._storage",
    "local_storage_url": "search.storage._storage",
    "open_storage": "search.storage._storage",
    "PASSWORD_ENV": "search.storage._urls",
    "is_shared_url": "search.storage._urls",
    "mask_url": "search.storage._urls",
    "split_password": "search.storage._urls",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "DESIGN_STORED_ATTR",
    "PASSWORD_ENV",
    "RetryStoredDesign",
    "StorageLostError",
    "StudyError",
    "design_is_stored",
    "heartbeat_options",
    "is_shared_url",
    "local_storage_url",
    "lost_error",
    "mark_design_stored",
    "mask_url",
    "open_storage",
    "split_password",
]

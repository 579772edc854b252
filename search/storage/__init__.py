"""Where studies live: storage URLs, heartbeat, and riding out a lost database connection.

* :func:`open_storage`: SQLite, a journal file, or any Optuna storage URL
  (PostgreSQL, MySQL), with Optuna's heartbeat on database servers;
* :func:`local_storage_url`: the default storage file of a run directory;
* :func:`mask_url` / :func:`split_password`: passwords never printed, never on a
  command line;
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
    from search.storage._storage import heartbeat_options, local_storage_url, open_storage
    from search.storage._urls import PASSWORD_ENV, is_shared_url, mask_url, split_password

_EXPORTS = {
    "StudyError": "search._errors",
    "StorageLostError": "search.storage._reconnect",
    "lost_error": "search.storage._reconnect",
    "heartbeat_options": "search.storage._storage",
    "local_storage_url": "search.storage._storage",
    "open_storage": "search.storage._storage",
    "PASSWORD_ENV": "search.storage._urls",
    "is_shared_url": "search.storage._urls",
    "mask_url": "search.storage._urls",
    "split_password": "search.storage._urls",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "PASSWORD_ENV",
    "StorageLostError",
    "StudyError",
    "heartbeat_options",
    "is_shared_url",
    "local_storage_url",
    "lost_error",
    "mask_url",
    "open_storage",
    "split_password",
]

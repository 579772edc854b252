"""Riding out a dropped database connection: retry with backoff, then stop in one line.

A worker on a shared PostgreSQL/MySQL study can lose its connection (server restart,
network blip, failover). SQLAlchemy's ``pool_pre_ping`` replaces connections that are
already dead before a call; this module covers a connection that drops *during* a
call: the call is repeated with exponential backoff for up to ``retry_seconds``
(``GHOSTRNN_STORAGE_RETRY_SECONDS``, default 60). If the database is still gone, the
storage is marked lost and every later call fails at once with
:class:`StorageLostError`, so the worker stops with one line instead of piling up
retries or tracebacks.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from typing import Any, Callable, Optional, TypeVar

from optuna.storages import RDBStorage

from search._errors import StudyError, UsageError
from search.storage._urls import mask_url

RETRY_SECONDS_ENV = "GHOSTRNN_STORAGE_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 60.0
# First pause and the cap of one pause: short enough to catch a quick restart,
# long enough not to hammer a server that is coming back up.
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 10.0

Result = TypeVar("Result")


class StorageLostError(StudyError):
    """The database stayed unreachable for longer than the retry window."""


def retry_seconds_from_env() -> float:
    text = os.environ.get(RETRY_SECONDS_ENV)
    if text is None or not text.strip():
        return DEFAULT_RETRY_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{RETRY_SECONDS_ENV}={text!r} is not a number of seconds") from None
    if value < 0:
        raise UsageError(f"{RETRY_SECONDS_ENV} must be >= 0, got {text}")
    return value


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a lost or refused database connection.

    Optuna wraps SQLAlchemy errors raised inside its sessions in
    ``StorageInternalError``, so the cause chain is searched.
    """
    import sqlalchemy.exc

    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlalchemy.exc.DBAPIError):
            if current.connection_invalidated or isinstance(current, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
                return True
        if isinstance(current, (sqlalchemy.exc.DisconnectionError, ConnectionError)):
            return True
        current = current.__cause__ or current.__context__
    return False


def first_line(error: BaseException) -> str:
    """The first line of an error, without SQLAlchemy's wrapper prefix."""
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause).strip()
    line = text.splitlines()[0].strip() if text else type(cause).__name__
    if line.startswith("(") and ") " in line:
        line = line.split(") ", 1)[1]

    return mask_url(line)


class Reconnector:
    """Runs storage calls, repeating those that fail on a lost connection."""

    def __init__(self, shown_url: str, retry_seconds: float):
        self.shown_url = shown_url
        self.retry_seconds = retry_seconds
        self.lost: Optional[StorageLostError] = None
        self._lock = threading.Lock()
        # One "retrying" line per outage, not one per call or thread.
        self._reported = False

    def call(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        if self.lost is not None:
            raise self.lost
        waited, pause = 0.0, FIRST_PAUSE_SECONDS
        while True:
            try:
                result = function(*args, **kwargs)
                self._reported = False
                return result
            except Exception as error:
                if not is_connection_error(error):
                    raise
                if self.lost is not None:
                    raise self.lost from None
                if waited >= self.retry_seconds:
                    with self._lock:
                        if self.lost is None:
                            self.lost = StorageLostError(
                                f"lost the connection to {self.shown_url} and it did not come back within "
                                f"{self.retry_seconds:g} s ({first_line(error)}); this worker stopped, start it again "
                                "when the database is reachable"
                            )
                    raise self.lost from None
                if not self._reported:
                    self._reported = True
                    print(f"search: database connection lost ({first_line(error)}); retrying for up to {self.retry_seconds:g} s", file=sys.stderr)
                step = min(pause, self.retry_seconds - waited)
                time.sleep(step)
                waited += step
                pause = min(2 * pause, MAX_PAUSE_SECONDS)


# The RDBStorage methods a worker calls while it runs. Each is one short transaction,
# so repeating it after a dropped connection writes the same value again; the one
# exception, a trial created twice, is handled by ReconnectingRDBStorage's stale check.
_RETRIED_METHODS = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "get_all_trials",
    "get_best_trial",
    # Optuna's cache in front of an RDB storage calls these internal ones directly.
    "_create_new_trial",
    "_get_best_trial_id",
    "_get_trials",
    "_set_trial_param",
)


class ReconnectingRDBStorage(RDBStorage):
    """Optuna's RDB storage whose calls survive a short database outage.

    ``reconnector`` must be set right after construction (construction itself is not
    retried: a database unreachable at start is reported at once).
    """

    reconnector: Reconnector
    # Trial id -> when this process first saw it running without a heartbeat.
    _silent_since: dict[int, float]

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Optuna's stale trials, plus running trials that never beat at all.

        A trial whose creation was committed just as the connection dropped is created
        again by the retried call; the first copy stays RUNNING with no worker and no
        heartbeat, and Optuna's check (which only compares heartbeats) never fails it.
        Such a trial is failed once this process has seen it silent for the grace
        period, timed by this process's own clock so that no two machines' clocks or
        time zones are compared.
        """
        stale = self.reconnector.call(RDBStorage._get_stale_trial_ids, self, study_id)
        silent = self.reconnector.call(self._never_beaten_trial_ids, study_id)
        now = time.monotonic()
        seen = getattr(self, "_silent_since", {})
        self._silent_since = {trial_id: seen.get(trial_id, now) for trial_id in silent}
        grace = self.grace_period if self.grace_period is not None else 2 * (self.heartbeat_interval or 1)
        orphans = [trial_id for trial_id, since in self._silent_since.items() if now - since > grace and trial_id not in stale]
        return stale + orphans

    def _never_beaten_trial_ids(self, study_id: int) -> list[int]:
        from optuna.storages._rdb import models
        from optuna.trial import TrialState

        session = self.scoped_session()
        try:
            rows = (
                session.query(models.TrialModel.trial_id)
                .outerjoin(models.TrialHeartbeatModel, models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
                .filter(models.TrialModel.study_id == study_id, models.TrialModel.state == TrialState.RUNNING)
                .filter(models.TrialHeartbeatModel.trial_heartbeat_id.is_(None))
                .all()
            )
        finally:
            session.close()
        return [row[0] for row in rows]

    def record_heartbeat(self, trial_id: int) -> None:
        # Runs in Optuna's heartbeat thread: an exception there would print a
        # traceback, and the main thread reports a lost database anyway.
        try:
            self.reconnector.call(RDBStorage.record_heartbeat, self, trial_id)
        except StorageLostError:
            pass


def _retrying(name: str) -> Callable[..., Any]:
    original = getattr(RDBStorage, name)

    @functools.wraps(original)
    def method(self: ReconnectingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return self.reconnector.call(original, self, *args, **kwargs)

    return method


for _name in _RETRIED_METHODS:
    setattr(ReconnectingRDBStorage, _name, _retrying(_name))


def lost_error(storage: Any) -> Optional[StorageLostError]:
    """The error that stopped ``storage`` (a study's storage), or None while it works."""
    backend = getattr(storage, "_backend", storage)  # Optuna wraps an RDB storage in a cache
    reconnector = getattr(backend, "reconnector", None)
    return reconnector.lost if reconnector is not None else None

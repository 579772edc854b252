"""Where a study lives: SQLite by default, a journal file for local workers, or any URL.

* ``runs/<study>/study.db`` (SQLite) for a single process;
* ``runs/<study>/study.journal`` (Optuna's journal file) when ``--workers`` > 1, since
  SQLite serialises writers and several processes then fail with "database is locked";
* ``--storage URL``: any Optuna storage (``postgresql://``, ``mysql://``, ``sqlite:///``),
  which is how many machines share one study. Database servers get Optuna's heartbeat
  (a dead worker's trial is failed and retried) and calls that survive a short outage
  (:mod:`search.storage._reconnect`).

Passwords in URLs are never printed: :func:`mask_url` replaces them. A password can
also come from ``PGPASSWORD``/``~/.pgpass`` (PostgreSQL) or ``GHOSTRNN_STORAGE_PASSWORD``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from search._errors import StudyError, UsageError
from search.storage._urls import is_shared_url, mask_url, with_password_from_env
from search.storage._reconnect import ReconnectingRDBStorage, Reconnector, first_line, retry_seconds_from_env

HEARTBEAT_INTERVAL_ENV = "GHOSTRNN_HEARTBEAT_INTERVAL"
HEARTBEAT_GRACE_ENV = "GHOSTRNN_HEARTBEAT_GRACE"
DEFAULT_HEARTBEAT_INTERVAL = 10
DEFAULT_HEARTBEAT_GRACE = 30
CONNECT_TIMEOUT_SECONDS = 10


def local_storage_url(run_dir: Path, workers: int) -> str:
    """The default storage of a run directory: an existing study file wins."""
    database, journal = run_dir / "study.db", run_dir / "study.journal"
    if journal.exists():
        return f"journal:{journal}"
    if database.exists():
        if workers > 1:
            raise UsageError(
                f"{database} is SQLite, which takes one worker; resume it with --workers 1, "
                "or start a new --study for several workers"
            )
        return f"sqlite:///{database}"
    return f"journal:{journal}" if workers > 1 else f"sqlite:///{database}"


def _check_sqlite_file(path: Path) -> None:
    """Refuse a study file that is not SQLite or whose pages are damaged, naming the fix.

    ``quick_check`` reads every page (milliseconds for a study), so damage in the middle
    of the file is found here rather than as an obscure error at some later commit.
    """
    if not path.exists():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            connection.execute("select name from sqlite_master limit 1").fetchall()
    except sqlite3.DatabaseError as error:
        raise StudyError(f"{path} is not a readable study database ({error}); move it away or choose another --study") from None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            problems = [row[0] for row in connection.execute("pragma quick_check").fetchall()]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    if problems != ["ok"]:
        raise StudyError(
            f"{path} is damaged ({problems[0]}); restore it from a backup, or salvage it with "
            f"'sqlite3 {path} .recover | sqlite3 recovered.db', or move it away and choose another --study"
        )


# Every record of Optuna's journal file is one JSON object on its own line, starting so.
_JOURNAL_RECORD = b'{"op_code"'


def repair_journal(path: Path) -> Optional[str]:
    """Remove what a writer killed mid-record left in a journal file; a line on what was done.

    Optuna skips a last line without its newline, but the next record is then appended
    to that fragment and the journal becomes unreadable. A fragment at the end is cut
    off; one already glued to the next record is removed (the file is copied to
    ``<name>.damaged`` first). Any other unreadable line is a StudyError naming it.
    The journal's own lock is held, so no live writer is mid-record.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return None
    lock = JournalFileOpenLock(str(path))
    lock.acquire()
    try:
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        repaired, glued = [], []
        for number, line in enumerate(lines, start=1):
            if _is_record(line):
                repaired.append(line)
                continue
            start = line.find(_JOURNAL_RECORD, 1)
            if start > 0 and _is_record(line[start:]):
                repaired.append(line[start:])
                glued.append(number)
                continue
            raise StudyError(
                f"{path} is damaged at line {number} (not a journal record); keep a copy, then delete that line "
                f"(sed -i '{number}d' {path}) or move the file away and choose another --study"
            )
        if not tail and not glued:
            return None
        if glued:
            shutil.copyfile(path, path.with_name(path.name + ".damaged"))
        body = b"".join(line + b"\n" for line in repaired)
        temporary = path.with_name(path.name + ".repair")
        temporary.write_bytes(body)
        os.replace(temporary, path)
    finally:
        lock.release()
    if glued:
        return f"{path}: removed the cut-short records glued to line(s) {', '.join(map(str, glued))} (the file as it was is {path.name}.damaged)"
    return f"{path}: removed a record cut short at its end ({len(tail)} bytes) by a process killed while writing"


def _is_record(line: bytes) -> bool:
    """A whole record, told without parsing it (Optuna parses every line anyway): one
    record start (quotes inside values are escaped, so it cannot occur there) and its end."""
    return line.startswith(_JOURNAL_RECORD) and line.endswith(b"}") and line.count(_JOURNAL_RECORD) == 1


def _positive_int_env(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(f"{name}={text!r} must be a whole number of seconds >= 1")
    return int(text)


# The trial system attribute a trial's design is marked whole with, in one write after
# its last parameter (Optuna stores a trial's parameters one write each).
DESIGN_STORED_ATTR = "design_stored"


def mark_design_stored(trial: Any) -> None:
    """Mark a running trial's design whole; call it right after its last parameter."""
    trial.storage.set_trial_system_attr(trial._trial_id, DESIGN_STORED_ATTR, True)


def design_is_stored(trial: Any) -> bool:
    """Whether a (frozen) trial's design was stored whole."""
    return bool(trial.system_attrs.get(DESIGN_STORED_ATTR))


class RetryStoredDesign(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a stale trial, for a whole stored design only.

    Optuna queues the stale trial's stored parameters again; if its worker died while
    the design was being stored, that is half a design, and the retry would sample the
    rest anew: another design, trained and counted as a retry of this one. Such a trial
    stays failed, is not counted, and is not retried: the next trial is a fresh proposal.
    """

    def __call__(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        if design_is_stored(trial):
            super().__call__(study, trial)


def heartbeat_options() -> dict[str, Any]:
    """Optuna's heartbeat settings, from ``GHOSTRNN_HEARTBEAT_INTERVAL`` / ``_GRACE``.

    A worker that dies mid-trial stops beating; after the grace period the next
    worker to start a trial (or to wait for one) fails it, and the callback queues
    its design again, once, when the design was stored whole.
    """
    interval = _positive_int_env(HEARTBEAT_INTERVAL_ENV, DEFAULT_HEARTBEAT_INTERVAL)
    grace = _positive_int_env(HEARTBEAT_GRACE_ENV, max(DEFAULT_HEARTBEAT_GRACE, 2 * interval))
    if grace <= interval:
        raise UsageError(f"{HEARTBEAT_GRACE_ENV} ({grace} s) must be longer than {HEARTBEAT_INTERVAL_ENV} ({interval} s)")
    return dict(
        heartbeat_interval=interval,
        grace_period=grace,
        heartbeat_stale_trial_callback=RetryStoredDesign(max_retry=1),
    )


def open_storage(url: str, heartbeat: Optional[bool] = None) -> BaseStorage:
    """An Optuna storage for ``url`` (``journal:PATH`` selects a journal file).

    ``heartbeat`` defaults to on for database servers and off for local files: a
    local SQLite or journal study recovers its interrupted trials from their process
    ids (:func:`search.study._study.recover_interrupted`), which a remote worker's pid
    cannot tell.
    """
    if url.startswith("journal:"):
        path = Path(url[len("journal:") :])
        repaired = repair_journal(path)
        if repaired is not None:
            print(f"search: {repaired}", file=sys.stderr)
        try:
            backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
            return JournalStorage(backend)
        except Exception as error:  # a damaged journal raises from deep inside Optuna
            raise StudyError(f"{path} is not a readable study journal ({error}); move it away or choose another --study") from None
    if "://" not in url:
        raise UsageError(
            f"storage {mask_url(url)!r} is not a storage URL; expected postgresql://USER@HOST/DB, "
            "mysql+pymysql://USER@HOST/DB, sqlite:///PATH or journal:PATH"
        )
    creating = contextlib.nullcontext()
    if url.startswith("sqlite:///"):
        database = Path(url[len("sqlite:///") :])
        _check_sqlite_file(database)
        # Two commands opening a new study file at once would both create its tables
        # (one then fails on Optuna's schema version row).
        creating = _file_lock(database.with_name(database.name + ".open-lock"))
    if heartbeat is None:
        heartbeat = is_shared_url(url)
    reconnector = Reconnector(mask_url(url), retry_seconds_from_env())
    try:
        with creating, warnings.catch_warnings():
            # Heartbeat and retry callback are marked experimental; the warning says
            # nothing a user can act on.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            options = heartbeat_options() if heartbeat else {}
            storage = ReconnectingRDBStorage(with_password_from_env(url), engine_kwargs=_engine_options(url), **options)
    except UsageError:
        raise
    except ImportError:
        raise StudyError(
            f"cannot open storage {mask_url(url)}: its database driver is not installed; "
            "for PostgreSQL: pip install 'ghostrnn-search[postgres]'"
        ) from None
    except Exception as error:  # SQLAlchemy/driver errors: bad URL, unreachable server, wrong password
        raise StudyError(f"cannot open storage {mask_url(url)}: {first_line(error)}") from None
    storage.reconnector = reconnector
    return storage


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing) for the block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _engine_options(url: str) -> Optional[dict]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    options: dict[str, Any] = {"pool_pre_ping": True}  # dead pooled connections are replaced before use
    if url.startswith("postgresql"):
        # An unreachable host fails in seconds instead of the TCP timeout (minutes).
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return options

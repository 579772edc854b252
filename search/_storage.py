"""Where a study lives: SQLite by default, a journal file for local workers, or any URL.

* ``runs/<study>/study.db`` (SQLite) for a single process;
* ``runs/<study>/study.journal`` (Optuna's journal file) when ``--workers`` > 1, since
  SQLite serialises writers and several processes then fail with "database is locked";
* ``--storage URL``: any Optuna storage (``postgresql://``, ``mysql://``, ``sqlite:///``),
  which is how many machines share one study.

Passwords in URLs are never printed: :func:`mask_url` replaces them.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Optional

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from search._errors import UsageError


class StudyError(Exception):
    """A study that cannot be opened or resumed; one line with the fix."""


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(://[^/:@]+:)[^@/]*@", r"\1***@", url)


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
    if not path.exists():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            connection.execute("select name from sqlite_master limit 1").fetchall()
    except sqlite3.DatabaseError as error:
        raise StudyError(f"{path} is not a readable study database ({error}); move it away or choose another --study") from None


def open_storage(url: str, heartbeat: bool = False) -> BaseStorage:
    """An Optuna storage for ``url`` (``journal:PATH`` selects a journal file)."""
    if url.startswith("journal:"):
        path = Path(url[len("journal:") :])
        try:
            backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
            return JournalStorage(backend)
        except Exception as error:  # a damaged journal raises from deep inside Optuna
            raise StudyError(f"{path} is not a readable study journal ({error}); move it away or choose another --study") from None
    if url.startswith("sqlite:///"):
        _check_sqlite_file(Path(url[len("sqlite:///") :]))
    options = {}
    if heartbeat:
        # A worker that dies mid-trial stops beating; another worker then fails the
        # trial and retries its design once.
        options = dict(
            heartbeat_interval=10,
            grace_period=30,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
        )
    try:
        return RDBStorage(url, engine_kwargs=_engine_options(url), **options)
    except Exception as error:  # SQLAlchemy/driver errors: bad URL, unreachable server, missing driver
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StudyError(f"cannot open storage {mask_url(url)}: {first_line}") from None


def _engine_options(url: str) -> Optional[dict]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    # Dropped connections are detected before use and replaced.
    return {"pool_pre_ping": True}

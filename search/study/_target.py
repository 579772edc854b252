"""Running a shared study up to its target trial count, with any number of workers.

A worker that joins without a quota (``search worker`` without ``--max-trials``, or
``search run --storage URL``) runs trials until the study has its target number of
finished ones. Counting the trials and starting a new one are two steps, so two
workers doing them at the same moment would both start "the last" trial; a
:class:`TrialClaim` makes the pair atomic across machines:

* PostgreSQL: a session-level advisory lock keyed by the study name (the server
  releases it when a worker's connection dies, so a killed worker never blocks);
* SQLite and journal files: an exclusive ``flock`` on a file next to the study;
* other servers (MySQL, ...): no lock; the count can then overshoot by one trial per
  worker that starts at the very same instant.

With Optuna's heartbeat on, a worker that finds every remaining trial running
elsewhere does not leave: it waits, failing stale trials as they appear, because the
retry of a dead worker's trial needs someone to run it.
"""

from __future__ import annotations

import fcntl
import hashlib
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, Trial, TrialState

from search.storage import lost_error
from search.study._processes import deferred_interrupts, delivered_interrupts, stop_if_requested, worker_id

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# The trial attribute naming the process that created a trial (host:pid).
CLAIMED_BY_ATTR = "claimed_by"
# How often an idle worker looks again when heartbeats are off (with them, the
# heartbeat interval is used).
DEFAULT_POLL_SECONDS = 5.0
# How often a worker whose next proposal waits for earlier trials looks again.
PROPOSAL_POLL_SECONDS = 0.25


class TrialClaim:
    """Mutual exclusion around "count the trials, then start one"; a no-op by default."""

    exclusive = False  # whether holding it really keeps other workers out

    def acquire(self) -> None:
        """Block until this worker alone may start a trial."""

    def release(self) -> None:
        """Let the next worker in; safe to call when not held."""


class _FileClaim(TrialClaim):
    exclusive = True

    def __init__(self, path: Path):
        self.path = path
        self._handle: Optional[Any] = None

    def acquire(self) -> None:
        self._handle = open(self.path, "a")
        fcntl.flock(self._handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


class _AdvisoryClaim(TrialClaim):
    """A PostgreSQL advisory lock on its own pooled connection."""

    exclusive = True

    def __init__(self, storage: Any, key: int):
        self.storage = storage
        self.key = key
        self._connection: Optional[Any] = None

    def acquire(self) -> None:
        from sqlalchemy import text

        def lock() -> Any:
            connection = self.storage.engine.connect()
            try:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self.key})
                connection.commit()
            except Exception:
                connection.invalidate()
                connection.close()
                raise
            return connection

        self._connection = self.storage.reconnector.call(lock)

    def release(self) -> None:
        from sqlalchemy import text

        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            connection.commit()
        except Exception:
            # The lock lives as long as the server session: dropping the connection
            # frees it, and a pooled connection must never keep it.
            connection.invalidate()
        finally:
            connection.close()


def trial_claim(url: str, storage: BaseStorage, study_name: str) -> TrialClaim:
    """The claim that suits the storage at ``url``."""
    if url.startswith("journal:"):
        return _FileClaim(Path(url[len("journal:") :] + ".claim"))
    if url.startswith("sqlite:///"):
        return _FileClaim(Path(url[len("sqlite:///") :] + ".claim"))
    engine = getattr(storage, "engine", None)
    if engine is not None and engine.dialect.name == "postgresql" and hasattr(storage, "reconnector"):
        digest = hashlib.sha256(f"ghostrnn-search:{study_name}".encode()).digest()
        return _AdvisoryClaim(storage, int.from_bytes(digest[:8], "big", signed=True))
    return TrialClaim()


def _next_step(study: optuna.Study, target: int, heartbeat: bool) -> str:
    """``run``, ``wait`` or ``done``, from the trials in the study right now."""
    trials = study.get_trials(deepcopy=False, states=FINISHED + (TrialState.RUNNING,))
    finished = sum(1 for trial in trials if trial.state in FINISHED)
    running = len(trials) - finished
    if finished >= target:
        return "done"
    if finished + running < target:
        return "run"  # Optuna's ask takes a queued (WAITING) trial first, e.g. a retry
    # Every remaining slot is being run elsewhere. One of those workers may be dead:
    # with heartbeats, stay to fail its trial and run the retry.
    return "wait" if heartbeat else "done"


def fail_stale_trials(study: optuna.Study) -> None:
    """Optuna's stale-trial check (which also queues the retries), without its warning."""
    if not is_heartbeat_enabled(study._storage):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def run_to_target(
    study: optuna.Study,
    objective: Callable[[Trial], Sequence[float]],
    target: int,
    claim: TrialClaim,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    timeout: Optional[float] = None,
    prefix: str = "",
    max_runs: Optional[int] = None,
) -> int:
    """Run trials until ``study`` has ``target`` finished ones; returns how many ran here.

    ``timeout`` stops starting new trials after that many seconds, like Optuna's;
    ``max_runs`` after this process has run that many. A trial whose proposal needs
    earlier trials' results (:mod:`search.study._proposal`) is created only once they
    are stored; meanwhile this worker holds neither the claim nor any interrupt.
    """
    heartbeat = is_heartbeat_enabled(study._storage)
    poll = float(study._storage.get_heartbeat_interval()) if heartbeat else DEFAULT_POLL_SECONDS
    started, ran = time.monotonic(), 0
    while (timeout is None or time.monotonic() - started < timeout) and (max_runs is None or ran < max_runs):
        stop_if_requested()
        current: list[Trial] = []

        def claimed(trial: Trial) -> Sequence[float]:
            # Recorded under the claim: a trial without it is then one whose process died
            # while creating it (see recover_interrupted). The objective records "worker"
            # once the design is stored.
            trial.set_user_attr(CLAIMED_BY_ATTR, worker_id())
            # The new trial now exists in the study, so the next worker counts it.
            claim.release()
            current.append(trial)
            with delivered_interrupts():  # Ctrl-C acts during the trial itself
                return objective(trial)

        claim.acquire()
        try:
            step = _next_step(study, target, heartbeat)
            if step == "run" and _proposal_blocked(study, claim):
                step = "propose later"
            if step == "run":
                # Held while Optuna creates the trial and stores its result: an interrupt
                # there would leave a trial RUNNING forever or a result half-stored.
                with deferred_interrupts():
                    study.optimize(claimed, n_trials=1, callbacks=list(callbacks))
                ran += 1
        except Exception as error:
            lost = lost_error(study._storage)
            if lost is not None:
                raise lost from None
            if current and _finished_elsewhere(error):
                # This worker stalled past the grace period (e.g. the database was
                # unreachable); another worker failed the trial and queued its retry.
                print(f"{prefix}trial #{current[0].number} was declared stale by another worker; its design is retried", file=sys.stderr)
                continue
            raise
        finally:
            claim.release()
        if step == "done":
            break
        if step == "wait":
            time.sleep(poll)
            fail_stale_trials(study)
        if step == "propose later":
            # Outside the claim and any deferral: other workers go on, Ctrl-C acts at once.
            time.sleep(PROPOSAL_POLL_SECONDS)
            fail_stale_trials(study)
    return ran


def _proposal_blocked(study: optuna.Study, claim: TrialClaim) -> bool:
    """Whether the next trial's proposal still waits for earlier trials (see
    :mod:`search.study._proposal`); checked before the trial is created."""
    from search.study._proposal import FixedHistorySampler

    return isinstance(study.sampler, FixedHistorySampler) and study.sampler.next_trial_blocked(study, claim_held=claim.exclusive)


def _finished_elsewhere(error: Exception) -> bool:
    """Whether Optuna refused to record this worker's result because the trial was
    already finished (failed as stale by another worker)."""
    if isinstance(error, optuna.exceptions.UpdateFinishedTrialError):
        return True
    return isinstance(error, ValueError) and str(error).startswith("Cannot tell a ")

"""How a search process and its workers stop: signals, orphans and Optuna's failure log.

* :func:`deferred_interrupts`: Ctrl-C or SIGTERM while a trial is created, stores its
  design or stores its result is held until that is whole, so a retry re-runs exactly
  the stored design and no trial is left half-made (:func:`delivered_interrupts` lets
  them act at once again, e.g. while a trial trains);
* :func:`die_with_parent`: a worker process gets SIGTERM when the ``search run`` that
  started it dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``), so no orphan keeps
  running trials past the study's target;
* :func:`request_stop` / :func:`stop_if_requested`: the command's SIGINT/SIGTERM handler
  remembers the request, so an interrupt that Python swallows (one that lands in a
  garbage-collection callback is printed as "Exception ignored" and lost) still stops
  the run at the next epoch or trial;
* :func:`quiet_trial_failures`: Optuna logs a failed trial with its traceback; the
  command reports the failure itself in one line, so the traceback is kept for
  ``--debug`` (``GHOSTRNN_DEBUG=1``) and an interrupted trial is not logged at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import signal
import socket
import sys
import threading
from typing import Any, Iterator

from search._errors import debugging

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def worker_id() -> str:
    """This process, as recorded on the trials it runs: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


_stop_requested = False


def request_stop(signum: int, frame: Any) -> None:
    """Signal handler of ``search`` commands: remember the request, then act as Ctrl-C."""
    global _stop_requested
    _stop_requested = True
    raise KeyboardInterrupt


def stop_if_requested() -> None:
    """Raise KeyboardInterrupt if a stop was requested: a safe point (an epoch, a trial)."""
    if _stop_requested:
        raise KeyboardInterrupt


def forget_stop_request() -> None:
    """A new command in this process starts without the last one's stop request."""
    global _stop_requested
    _stop_requested = False


class _Deferral:
    """The handlers a deferred block replaced, and the signals it is holding."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.previous = {number: signal.signal(number, self.hold) for number in _STOP_SIGNALS}

    def hold(self, signum: int, frame: Any) -> None:
        self.pending.append(signum)

    def restore(self) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def deliver(self) -> None:
        """Act on the first held signal as the replaced handler would have."""
        if not self.pending:
            return
        number = self.pending.pop(0)
        self.pending.clear()
        handler = self.previous[number]
        if callable(handler):
            handler(number, None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), number)
        # SIG_IGN: the signal was ignored before the block; it stays ignored.


_deferrals: list[_Deferral] = []


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the duration of the block, then deliver the first one.

    Outside the main thread signals cannot be handled (nor arrive) here: no-op.
    """
    if not _in_main_thread():
        yield
        return
    deferral = _Deferral()
    _deferrals.append(deferral)
    try:
        yield
    finally:
        _deferrals.pop()
        deferral.restore()
        deferral.deliver()


@contextlib.contextmanager
def delivered_interrupts() -> Iterator[None]:
    """Inside a deferred block: signals act at once again, a held one right here."""
    if not _in_main_thread() or not _deferrals:
        yield
        return
    deferral = _deferrals[-1]
    deferral.restore()
    try:
        deferral.deliver()
        stop_if_requested()
        yield
    finally:
        for number in _STOP_SIGNALS:
            signal.signal(number, deferral.hold)


def die_with_parent() -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies (Linux).

    Meant as ``preexec_fn`` of a worker: it runs in the child between fork and exec,
    and the setting survives exec. If the parent is already gone the child stops at
    once. Elsewhere than Linux this does nothing.
    """
    if _prctl is None:
        return
    parent = os.getppid()
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _find_prctl() -> Any:
    # Looked up here, in the parent: loading a library between fork and exec could
    # deadlock on a lock another thread of the parent held at the fork.
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _find_prctl()


class _TrialFailureFilter(logging.Filter):
    """Drops Optuna's failed-trial warnings for interrupts; strips tracebacks otherwise."""

    _VALUE_LINE = re.compile(r"Trial (\d+) failed with value ")
    _ERROR_LINE = re.compile(r"Trial (\d+) failed with parameters: ")

    def __init__(self) -> None:
        super().__init__()
        self.silenced: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        failed = self._ERROR_LINE.match(message)
        if failed:
            interrupted = record.exc_info is not None and isinstance(record.exc_info[1], KeyboardInterrupt)
            if interrupted or not debugging():
                # The run reports an interrupt or an error itself, in one line.
                self.silenced.add(failed.group(1))
                return False
            return True
        value = self._VALUE_LINE.match(message)
        if value and value.group(1) in self.silenced:
            self.silenced.discard(value.group(1))
            return False
        return True


_FILTER = _TrialFailureFilter()


def quiet_trial_failures() -> None:
    """Install the filter on Optuna's optimisation logger (once per process)."""
    logger = logging.getLogger("optuna.study._optimize")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)

"""Errors the command line reports as one line, without a traceback."""

from __future__ import annotations

import os

# Set by ``search --debug`` (and inherited by its worker processes): show tracebacks.
DEBUG_ENV = "GHOSTRNN_DEBUG"


def debugging() -> bool:
    """Whether ``--debug`` (or ``GHOSTRNN_DEBUG=1``) asked for tracebacks."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


class DataError(Exception):
    """A data source is missing or malformed.

    The message is one line that says what was expected and how to fix it, so the
    CLI can print it as is.
    """


class UsageError(Exception):
    """A bad option value or combination; one line naming the problem and the fix."""


class StudyError(Exception):
    """A study that cannot be opened, resumed or reached; one line with the fix."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run after its outputs were written.

    The message is the one line to show: how many trials are done and how to resume.
    """

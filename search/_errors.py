"""Errors the command line reports as one line, without a traceback."""

from __future__ import annotations


class DataError(Exception):
    """A data source is missing or malformed.

    The message is one line that says what was expected and how to fix it, so the
    CLI can print it as is.
    """


class UsageError(Exception):
    """A bad option value or combination; one line naming the problem and the fix."""


class StudyError(Exception):
    """A study that cannot be opened, resumed or reached; one line with the fix."""

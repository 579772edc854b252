"""The ``search`` command line: ``devices``, ``spaces``, ``cost``, ``run``, ``worker``,
``show``, ``report``, ``export``, ``train`` and ``calibrate``.

Every error a user can cause ends in one line on stderr and exit code 2.

Example:
    >>> from search.cli import main
    >>> main(["devices"])  # doctest: +SKIP
"""

from search.cli._main import build_parser, entry_point, main

__all__ = ["build_parser", "entry_point", "main"]

"""``python -m search`` is the ``search`` command."""

from search.cli import entry_point

entry_point()

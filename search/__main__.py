"""``python -m search`` is the ``search`` command."""

from search._cli import entry_point

entry_point()

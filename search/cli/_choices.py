"""Option choices that are read from a registry only when argparse needs them.

Some registries live in modules that import torch (cheap ops, activations, calibration
grids) or pandas (export picks); building the parser must not load them, or every
``--help`` would wait seconds. argparse only iterates the choices to check a value or
to print that option's usage, which is when they are loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable, Iterator


class LazyChoices(Sequence):
    """A sequence of names produced by ``load`` on first use."""

    def __init__(self, load: Callable[[], Sequence[str]]):
        self._load = load
        self._names: tuple[str, ...] | None = None

    def _all(self) -> tuple[str, ...]:
        if self._names is None:
            self._names = tuple(self._load())
        return self._names

    def __getitem__(self, index):  # type: ignore[override]
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __contains__(self, value: object) -> bool:
        return value in self._all()

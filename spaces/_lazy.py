"""Package names resolved on first use, so that ``search --help`` never waits for torch.

It lives in ``spaces`` because every package of the project may import ``spaces``;
``spaces``, ``cost_models``, ``reports`` and the ``search`` packages all use it.

A package ``__init__`` lists its public names and the private module of each; a name is
imported when it is first read (PEP 562), then kept in the package like any other.

Example:
    >>> import types
    >>> package = types.ModuleType("demo")
    >>> package.__getattr__, package.__dir__ = lazy_exports("demo", {"dedent": "textwrap"})
    >>> package.__getattr__("dedent")("  a")
    'a'
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package whose ``exports`` map names to modules."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        module = sys.modules.get(package)
        if module is not None:
            setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        module = sys.modules.get(package)
        return sorted(set(vars(module) if module is not None else ()) | set(exports))

    return __getattr__, __dir__

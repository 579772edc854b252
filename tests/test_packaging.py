"""The installed project: the package list of pyproject.toml."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_is_listed_for_installation():
    # setuptools installs only the packages named here: a subpackage left out works in a
    # checkout and is missing from a wheel.
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for top in ("search", "spaces", "cost_models", "reports"):
        found.add(top)
        package = importlib.import_module(top)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{top}."):
            if info.ispkg:
                found.add(info.name)
    assert found == listed

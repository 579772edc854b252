"""Design spaces: YAML files that list the choices the search may make.

Each architecture key of :class:`ArchConfig` is either fixed (a scalar) or a list of
choices. A file with an unknown key or an empty choice is refused with its line
number. The shipped spaces are ``spaces/*.yaml``; a user passes a name or a path.

Example:
    >>> from spaces import load_space
    >>> space = load_space("kws-default")
    >>> space.task, space.choices["ghost_ratio"][:3]
    ('kws', [1.0, 1.5, 2.0])
    >>> space.size() > 1000
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from spaces._config import ArchConfig
from spaces._schema import describe_yaml_error, read_text_file

SPACES_DIR = Path(__file__).parent
ARCH_KEYS = tuple(field.name for field in dataclasses.fields(ArchConfig))
META_KEYS = ("name", "description")
# Order in which a sampler meets the dimensions (kept stable so seeds reproduce).
DIMENSION_ORDER = ("cell", "layers", "hidden", "ghost_ratio", "cheap_op", "groups", "activation", "features")


class SpaceError(ValueError):
    """A design-space file that cannot be used; the message names file and line."""


@dataclass(frozen=True)
class DesignSpace:
    """The fixed values and the choices of a design space."""

    name: str
    description: str
    fixed: dict[str, Any]
    choices: dict[str, list[Any]]
    path: str = ""

    @property
    def task(self) -> str:
        return self.fixed.get("task", "kws")

    @property
    def dimensions(self) -> list[str]:
        """Keys with more than one choice, in sampling order."""
        ordered = [key for key in DIMENSION_ORDER if key in self.choices]
        return ordered + sorted(key for key in self.choices if key not in ordered)

    def config(self, values: dict[str, Any]) -> ArchConfig:
        """The design for one value per dimension, made canonical."""
        return ArchConfig(**{**self.fixed, **values}).canonical()

    def size(self) -> int:
        count = 1
        for values in self.choices.values():
            count *= len(values)
        return count

    def enumerate(self) -> Iterator[ArchConfig]:
        """Every distinct design of the space (duplicates after canonicalisation removed)."""
        seen: set[ArchConfig] = set()
        keys = self.dimensions
        for combination in itertools.product(*(self.choices[key] for key in keys)):
            config = self.config(dict(zip(keys, combination)))
            if config not in seen:
                seen.add(config)
                yield config

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, **self.fixed, **self.choices}

    def fingerprint(self) -> str:
        """Stable hash of the space's content: a study refuses to resume on another space."""
        content = json.dumps({"fixed": self.fixed, "choices": self.choices}, sort_keys=True)
        return hashlib.sha256(content.encode()).hexdigest()[:12]


def list_spaces() -> list[str]:
    return sorted(path.stem for path in SPACES_DIR.glob("*.yaml"))


def load_space(name_or_path: str) -> DesignSpace:
    """A shipped space by name, or a user's space from a YAML path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        path = SPACES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise SpaceError(f"unknown space {name_or_path!r}; valid: {', '.join(list_spaces())} (or a path to a space YAML)")
    elif not path.is_file():
        raise SpaceError(f"space file {name_or_path} not found; pass a shipped name ({', '.join(list_spaces())}) or a YAML path")
    return parse_space(read_text_file(path, "a design space", SpaceError), str(path), default_name=path.stem)


def _ratio(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"ghost_ratio {value!r} is not a number")
    return float(value)


def parse_space(text: str, origin: str = "<space>", default_name: str = "custom") -> DesignSpace:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpaceError(f"{origin}: not valid YAML: {describe_yaml_error(error)}") from None
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        raise SpaceError(f"{origin}: a design space must be a mapping of keys to a value or a list of choices")
    lines = {key_node.value: key_node.start_mark.line + 1 for key_node, _ in root.value}
    fixed: dict[str, Any] = {}
    choices: dict[str, list[Any]] = {}
    for key, value in data.items():
        where = f"{origin}, line {lines.get(key, '?')}"
        if key in META_KEYS:
            continue
        if key not in ARCH_KEYS:
            raise SpaceError(f"{where}: unknown key {key!r}; valid keys: {', '.join(META_KEYS + ARCH_KEYS)}")
        try:
            if isinstance(value, list):
                if not value:
                    raise SpaceError(f"{where}: {key!r} has no choices; give at least one value")
                if len(set(map(repr, value))) != len(value):
                    raise SpaceError(f"{where}: {key!r} lists a choice twice")
                values = [_ratio(v) for v in value] if key == "ghost_ratio" else value
                if len(values) == 1:
                    fixed[key] = values[0]
                else:
                    choices[key] = values
            else:
                fixed[key] = _ratio(value) if key == "ghost_ratio" else value
            for candidate in choices.get(key, [fixed.get(key)]):
                ArchConfig(**{key: candidate})
        except SpaceError:
            raise
        except (TypeError, ValueError) as error:
            raise SpaceError(f"{where}: {error}") from None
    if "task" in choices:
        raise SpaceError(f"{origin}, line {lines['task']}: a space has one task; write two spaces for kws and se")
    space = DesignSpace(
        name=str(data.get("name", default_name)), description=str(data.get("description", "")), fixed=fixed, choices=choices, path=origin
    )
    try:
        next(space.enumerate())
    except (TypeError, ValueError) as error:
        raise SpaceError(f"{origin}: the fixed values do not form a design: {error}") from None
    return space

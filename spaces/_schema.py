"""Checking user-edited files against a schema: one rule per key, one line per problem.

Every YAML file a user writes (a device profile, a design space, an exported
``model.yaml``) is read with :func:`read_yaml_file` and its values checked with
:class:`Number`, :class:`Choice` and :class:`Text` rules. A failure is one line that
names the file, the key, the bad value and what is accepted, e.g.
``board.yaml: clock_mhz = -216 is out of range; accepted: a number > 0 and <= 100000``.
The error class is the caller's (``DeviceError``, ``SpaceError``, ...), so each file
type keeps its own exception while sharing the wording.

Example:
    >>> rules = {"clock_mhz": Number(low=0, high=1e5, low_open=True)}
    >>> check_mapping({"clock_mhz": 216}, rules, "board.yaml")
    {'clock_mhz': 216.0}
    >>> check_mapping({"clock_mhz": -216}, rules, "board.yaml")
    Traceback (most recent call last):
    ...
    spaces._schema.SchemaError: board.yaml: clock_mhz = -216 is out of range; accepted: a number > 0 and <= 100000
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Type, Union

import yaml


class SchemaError(ValueError):
    """A value or file that breaks its schema; the message is one line for the user."""


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bound(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() and abs(limit) < 1e16 else f"{limit:g}"


@dataclass(frozen=True)
class Number:
    """A finite number in a range; ``integer`` also refuses fractions (and booleans)."""

    low: Optional[float] = None
    high: Optional[float] = None
    integer: bool = False
    low_open: bool = False  # True: the value must be > low, not >= low

    def accepted(self) -> str:
        kind = "an integer" if self.integer else "a number"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {_bound(self.low)}")
        if self.high is not None:
            parts.append(f"<= {_bound(self.high)}")
        return f"{kind} {' and '.join(parts)}" if parts else kind

    def check(self, value: Any) -> Union[int, float]:
        """The value as int or float; raises ValueError(why) when it does not fit."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    value = float(value) if not self.integer else int(value)
                except ValueError:
                    raise ValueError("is not a number") from None
            else:
                raise ValueError("is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("is not finite")
        if self.integer:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("is not an integer")
            value = int(value)
        else:
            value = float(value)
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and value > self.high
        if below or above:
            raise ValueError("is out of range")
        return value


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of values."""

    values: Sequence[Any]

    def accepted(self) -> str:
        return "one of " + ", ".join(str(value) for value in self.values)

    def check(self, value: Any) -> Any:
        if value not in self.values:
            raise ValueError("is not accepted")
        return value


@dataclass(frozen=True)
class Text:
    """A string (a number or other scalar written without quotes is accepted as its text)."""

    def accepted(self) -> str:
        return "a text"

    def check(self, value: Any) -> str:
        if isinstance(value, (dict, list)) or value is None:
            raise ValueError("is not a text")
        return str(value)


Rule = Union[Number, Choice, Text]


def check_value(value: Any, rule: Rule, origin: str, key: str, error: Type[Exception] = SchemaError) -> Any:
    """``value`` checked by ``rule``, or ``error`` naming ``origin``, ``key``, value and range."""
    try:
        return rule.check(value)
    except ValueError as why:
        where = f"{origin}: " if origin else ""
        raise error(f"{where}{key} = {_shown(value)} {why}; accepted: {rule.accepted()}") from None


def check_mapping(
    data: Mapping[str, Any],
    rules: Mapping[str, Rule],
    origin: str,
    error: Type[Exception] = SchemaError,
    optional: Sequence[str] = (),
    prefix: str = "",
) -> dict[str, Any]:
    """The values of ``rules``' keys in ``data``, each checked; other keys pass through.

    A key of ``optional`` may be missing or null; any other missing key is an error.
    ``prefix`` names the section in messages (``cycles.`` gives ``cycles.mac``).
    """
    checked = dict(data)
    for key, rule in rules.items():
        if key not in data or data[key] is None:
            if key in optional:
                continue
            raise error(f"{origin}: {prefix}{key} is missing; accepted: {rule.accepted()}")
        checked[key] = check_value(data[key], rule, origin, prefix + key, error)
    return checked


def require_mapping(data: Any, origin: str, what: str, error: Type[Exception] = SchemaError) -> dict[str, Any]:
    """``data`` when it is a mapping with text keys, else one line saying what was expected."""
    if not isinstance(data, dict):
        found = "empty" if data is None else f"a {type(data).__name__}"
        raise error(f"{origin}: {what} must be a mapping of keys to values, found {found}")
    return data


def read_text_file(path: Union[str, Path], what: str, error: Type[Exception] = SchemaError) -> str:
    """The UTF-8 text at ``path``; a missing, unreadable or binary file is one-line ``error``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise error(f"{path} is a directory, not {what}") from None
    except OSError as failure:
        raise error(f"cannot read {path} ({failure.strerror or failure}); pass {what}") from None
    if b"\x00" in raw:
        raise error(f"{path} is a binary file, not {what} (YAML text)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as failure:
        raise error(f"{path} is not UTF-8 text (byte {failure.start}); save {what} as UTF-8 YAML") from None


def describe_yaml_error(error: yaml.YAMLError) -> str:
    r"""PyYAML's problem with its line and column (1-based), in one line.

    Example:
        >>> try:
        ...     yaml.safe_load("hidden: 64\ncell: [gru\n")
        ... except yaml.YAMLError as error:
        ...     print(describe_yaml_error(error))
        expected ',' or ']', but got '<stream end>' at line 3, column 1 (in the flow sequence that starts at line 2, column 7)
    """
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem is None or mark is None:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    text = f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None:
        text += f" ({context.replace('while parsing a ', 'in the ')} that starts at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return text


def read_yaml_file(path: Union[str, Path], what: str, error: Type[Exception] = SchemaError) -> Any:
    """The YAML document at ``path``; a missing, binary or malformed file is one-line ``error``.

    ``what`` says what the file should be (``a device profile``), for the message.
    """
    text = read_text_file(path, what, error)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as failure:
        raise error(f"{path} is not valid YAML: {describe_yaml_error(failure)}") from None

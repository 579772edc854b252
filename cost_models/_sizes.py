"""Byte sizes as users write them: ``100KB``, ``100 KiB``, ``0.1MB``, ``80000``.

SI prefixes are powers of 1000 and IEC prefixes powers of 1024, as the units say:
``100KB`` is 100,000 bytes and ``100KiB`` is 102,400 bytes. Datasheets that say
"320 KB SRAM" mean KiB; the device profiles therefore write ``320KiB``.

Example:
    >>> parse_size("100KB"), parse_size("100 KiB"), parse_size("0.1mb"), parse_size("80000")
    (100000, 102400, 100000, 80000)
    >>> format_size(102400)
    '100.0 KiB'
"""

from __future__ import annotations

import math
import re

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")

ACCEPTED_FORMS = "a number of bytes with an optional unit B, KB, MB, GB (x1000) or KiB, MiB, GiB (x1024), e.g. 100KB, 100 KiB, 0.1MB, 80000"


class SizeError(ValueError):
    """A size string that cannot be read; the message lists the accepted forms."""


def parse_size(text: str | int | float) -> int:
    """Bytes in ``text``; raises :class:`SizeError` naming the accepted forms."""
    if isinstance(text, bool):
        raise SizeError(f"invalid size {text!r}: expected {ACCEPTED_FORMS}")
    if isinstance(text, (int, float)):
        if not math.isfinite(text) or text <= 0:
            raise SizeError(f"invalid size {text!r}: must be positive; expected {ACCEPTED_FORMS}")
        return int(text)
    match = _PATTERN.match(str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise SizeError(f"invalid size {text!r}: expected {ACCEPTED_FORMS}")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value < 1:
        raise SizeError(f"invalid size {text!r}: must be at least 1 byte; expected {ACCEPTED_FORMS}")
    return int(round(value))


def format_size(num_bytes: float) -> str:
    """Human form with IEC units (what a linker map shows)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(num_bytes) >= factor:
            return f"{num_bytes / factor:.1f} {unit}"
    return f"{int(num_bytes)} B"

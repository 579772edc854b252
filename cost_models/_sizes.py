"""Byte sizes as users write them: ``100KB``, ``100 KiB``, ``0.1MB``, ``80000``.

SI prefixes are powers of 1000 and IEC prefixes powers of 1024, as the units say:
``100KB`` is 100,000 bytes and ``100KiB`` is 102,400 bytes. Datasheets that say
"320 KB SRAM" mean KiB; the device profiles therefore write ``320KiB``.

Example:
    >>> parse_size("100KB"), parse_size("100 KiB"), parse_size("0.1mb"), parse_size("80000")
    (100000, 102400, 100000, 80000)
    >>> format_size(102400), format_size(100000, units="si"), format_size(1024**2, units="si")
    ('100.0 KiB', '100 KB', '1.0 MB')
    >>> canonical_size("100kb"), canonical_size("0.1 MB"), canonical_size("100 kib")
    ('100KB', '100KB', '100KiB')
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

# How sizes are shown: "si" (KB = 1000 bytes) or "iec" (KiB = 1024 bytes). A run shows
# its sizes in the system its budget was typed in, so "100KB" reads back as "100 KB".
SIZE_UNITS = ("si", "iec")
_SHOWN = {
    "iec": (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)),
    "si": (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)),
}

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
    if str(text).strip().startswith("-"):
        raise SizeError(f"invalid size {text!r}: a size must be positive; expected {ACCEPTED_FORMS}")
    match = _PATTERN.match(str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise SizeError(f"invalid size {text!r}: expected {ACCEPTED_FORMS}")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value < 1:
        raise SizeError(f"invalid size {text!r}: must be at least 1 byte; expected {ACCEPTED_FORMS}")
    return int(round(value))


def size_units(text: str | int | float) -> str:
    """The unit system a size was typed in: ``iec`` for KiB/MiB/GiB, else ``si``."""
    match = _PATTERN.match(str(text).lower())
    return "iec" if match and match.group(2).endswith("ib") else "si"


def canonical_size(text: str | int | float) -> str:
    """One spelling per size and unit system: ``100kb``, ``100 KB`` and ``0.1MB`` are all ``100KB``.

    Used in study names, so that the same budget typed differently resumes the same study.
    """
    num_bytes = parse_size(text)
    for unit, factor in _SHOWN[size_units(text)]:
        if num_bytes >= factor:
            return f"{num_bytes / factor:.6g}{unit}"
    return f"{num_bytes}B"


def format_size(num_bytes: float, units: str = "iec") -> str:
    """Human form: IEC units by default (what a linker map shows), SI with ``units="si"``.

    An exact SI size is shown as typed (``100 KB``), any other with one decimal
    (``97.7 KB``, ``1.0 MB`` for 1 MiB); IEC sizes always keep one decimal.
    """
    if units not in _SHOWN:
        raise ValueError(f"unknown size units {units!r}; valid: {', '.join(SIZE_UNITS)}")
    for unit, factor in _SHOWN[units]:
        if abs(num_bytes) >= factor:
            if units == "si" and float(num_bytes) % factor == 0:
                return f"{int(num_bytes) // factor} {unit}"
            return f"{num_bytes / factor:.1f} {unit}"
    return f"{int(num_bytes)} B"

"""Plain-text tables for the terminal (no dependency, aligned columns)."""

from __future__ import annotations

from typing import Any, Sequence


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows of dicts as an aligned table; numbers right-aligned, text left-aligned.

    Example:
        >>> print(format_table([{"name": "gru1", "macs": 1234}], ["name", "macs"]))
        name   macs
        gru1  1,234
    """
    cells = [[_cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[index]) for line in cells]) for index, column in enumerate(columns)]
    numeric = [all(isinstance(row.get(column), (int, float)) for row in rows) and rows for column in columns]
    lines = []
    for line in [list(columns)] + cells:
        parts = [text.rjust(width) if is_number else text.ljust(width) for text, width, is_number in zip(line, widths, numeric)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)

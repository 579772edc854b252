"""What a person reads first about a run: trial counts, time spent, the Pareto designs as rows.

The terminal (``search show``) and the HTML report print the same rows, so both come
from :func:`pareto_rows`.

Example:
    >>> front = pd.DataFrame({"number": [3], "design": ["gru 1x16 r2 linear/tanh"], "accuracy": [0.5],
    ...     "memory_bytes": [1300], "flash_bytes": [1100], "ram_bytes": [200], "latency_ms": [1.0],
    ...     "macs": [33900], "params": [948], "baseline": [False]})
    >>> pareto_rows(front, "accuracy", knee=3)[0]["accuracy %"]
    50.0
    >>> from reports._table import format_table
    >>> print(format_table(pareto_rows(front, "accuracy", knee=3), ["trial", "design", "memory"]))
    trial  design                   memory
        3  gru 1x16 r2 linear/tanh  1.3 KiB
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import pandas as pd

from cost_models import format_size

from reports._frames import eligible_mask


# Display column -> trials-table column holding the raw number behind it.
RAW_COLUMNS = {"memory": "memory_bytes", "flash": "flash_bytes", "RAM": "ram_bytes"}


def metric_label(metric_name: str) -> str:
    """Column title of the task metric: ``accuracy %`` or ``SI-SNRi dB``."""
    return "accuracy %" if metric_name == "accuracy" else "SI-SNRi dB"


def metric_display(metric_name: str, value: float) -> float:
    """Accuracy in percent, SI-SNRi in dB as stored."""
    return 100.0 * value if metric_name == "accuracy" else value


def precision_columns(row: Any, metric_name: str) -> dict[str, float]:
    """``float``, ``int8`` and ``drop`` (float minus int8) of one trials-table row, in the
    metric's display unit; empty for a trial scored before int8 scores were kept."""
    floats, ints = row.get(f"{metric_name}_float"), row.get(f"{metric_name}_int8")
    if floats is None or ints is None or pd.isna(floats) or pd.isna(ints):
        return {}
    shown_float, shown_int8 = metric_display(metric_name, float(floats)), metric_display(metric_name, float(ints))
    return {"float": round(shown_float, 2), "int8": round(shown_int8, 2), "drop": round(shown_float - shown_int8, 2)}


def pareto_rows(front: pd.DataFrame, metric_name: str, knee: Optional[int] = None, units: str = "iec") -> list[dict[str, Any]]:
    """One display row per Pareto-optimal design (trial number ``knee`` marked as the knee).

    Sizes are strings with units for people (``units`` "si": KB, "iec": KiB); the HTML
    table sorts on the raw byte counts (:data:`RAW_COLUMNS`).
    """
    rows = []
    for _, row in front.iterrows():
        rows.append(
            {
                "trial": int(row["number"]),
                "design": row["design"],
                metric_label(metric_name): round(metric_display(metric_name, float(row[metric_name])), 2),
                **precision_columns(row, metric_name),
                "memory": format_size(int(row["memory_bytes"]), units),
                "flash": format_size(int(row["flash_bytes"]), units),
                "RAM": format_size(int(row["ram_bytes"]), units),
                "latency ms": round(float(row["latency_ms"]), 3),
                "MMAC": round(float(row["macs"]) / 1e6, 4),
                "params": int(row["params"]),
                "kind": "plain" if bool(row.get("baseline")) else "ghost",
                "knee": "knee" if knee is not None and int(row["number"]) == knee else "",
            }
        )
    return rows


@dataclass(frozen=True)
class RunFacts:
    """Counts and times of a study's trials."""

    total: int
    complete: int
    feasible: int
    infeasible: int
    trained: int  # distinct designs trained (repeats of a design excluded)
    repeats: int
    failed: int
    running: int
    pareto: int
    compute_seconds: float  # sum of the trials' durations
    train_seconds: float  # of which proxy training
    wall_seconds: float  # first trial start to last trial end
    first_start: Optional[str]
    last_end: Optional[str]

    def counts_text(self) -> str:
        parts = [
            f"{self.total} trials",
            f"{self.feasible} feasible",
            f"{self.infeasible} infeasible (not trained)",
            f"{self.trained} trained",
        ]
        if self.repeats:
            parts.append(f"{self.repeats} repeated designs")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.running:
            parts.append(f"{self.running} running")
        parts.append(f"{self.pareto} Pareto-optimal")
        return ", ".join(parts)

    def time_text(self) -> str:
        return (
            f"{format_duration(self.wall_seconds)} wall clock, {format_duration(self.compute_seconds)} in trials "
            f"({format_duration(self.train_seconds)} proxy training)"
        )


def run_facts(frame: pd.DataFrame, pareto_count: int) -> RunFacts:
    """Counts and time spent of the trials table (``trials_frame``)."""
    complete = frame["state"] == "COMPLETE"
    feasible = complete & (frame["feasible"] == True)  # noqa: E712 - object column
    starts = pd.to_datetime(frame["started"].dropna()) if "started" in frame else pd.Series(dtype="datetime64[ns]")
    ends = pd.to_datetime(frame["completed"].dropna()) if "completed" in frame else pd.Series(dtype="datetime64[ns]")
    wall = (ends.max() - starts.min()).total_seconds() if len(starts) and len(ends) else 0.0
    return RunFacts(
        total=len(frame),
        complete=int(complete.sum()),
        feasible=int(feasible.sum()),
        infeasible=int((complete & (frame["feasible"] == False)).sum()),  # noqa: E712
        trained=int(eligible_mask(frame).sum()),
        repeats=int((complete & frame["duplicate_of"].notna()).sum()),
        failed=int((frame["state"] == "FAIL").sum()),
        running=int((frame["state"] == "RUNNING").sum()),
        pareto=pareto_count,
        compute_seconds=float(pd.to_numeric(frame.get("duration_s"), errors="coerce").fillna(0).sum()) if "duration_s" in frame else 0.0,
        train_seconds=float(pd.to_numeric(frame["train_seconds"], errors="coerce").fillna(0)[eligible_mask(frame)].sum()),
        wall_seconds=max(0.0, float(wall)),
        first_start=starts.min().isoformat() if len(starts) else None,
        last_end=ends.max().isoformat() if len(ends) else None,
    )


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 04 min``.

    Example:
        >>> format_duration(185), format_duration(7440)
        ('3 min 5 s', '2 h 04 min')
    """
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def generated_now() -> str:
    """The local time a report is written, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")

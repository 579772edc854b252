"""The quality of a study's front: hypervolume reference point, hypervolume history, picks.

Hypervolume is only comparable between runs when its reference point is fixed by the
problem, not by the points found, so the reference point comes from the run's limits:

* accuracy: chance level (1 / classes): a design no better than guessing adds nothing;
* SI-SNRi: 0 dB, no improvement over the noisy input;
* memory: the ``--budget`` (flash + RAM); RAM: the RAM budget or the device SRAM;
  flash: the device flash; latency: the ``--latency-budget`` or the real-time deadline;
* any objective without such a limit (MACs, params, memory without a budget): 1.1 x the
  largest value observed over all trials, so that every measured design still adds a
  sliver of volume.

The reported hypervolume is normalised by the box between the reference point and an
ideal point (accuracy 1, SI-SNRi the best observed, every cost 0), so it lies in [0, 1]
whatever the units.

Example:
    >>> frame = pd.DataFrame({"number": [0, 1, 2], "accuracy": [0.5, 0.75, 0.6], "memory_bytes": [50, 100, 30],
    ...                       "feasible": True, "trained": True, "state": "COMPLETE", "duplicate_of": None})
    >>> objectives = {"accuracy": "maximize", "memory_bytes": "minimize"}
    >>> ref = reference_point(frame, objectives, limits={"accuracy": 0.0, "memory_bytes": 100}, ideals={"accuracy": 1.0})
    >>> hypervolume_history(frame, objectives, ref)["normalized"].round(3).tolist()
    [0.25, 0.25, 0.42]
    >>> int(pick_index(frame, objectives, "memory"))
    2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import pandas as pd

from reports._frames import eligible_mask
from reports._pareto import hypervolume, knee_index, pareto_mask

# Headroom over the largest observed value where an objective has no limit of its own.
UNBOUNDED_MARGIN = 1.1
PICKS = ("accuracy", "memory", "latency", "knee")


@dataclass(frozen=True)
class ReferencePoint:
    """Worst (``values``) and best (``ideal``) corner of the hypervolume box, per column.

    ``sources`` says in words where each reference value came from.
    """

    values: dict[str, float]
    ideal: dict[str, float]
    sources: dict[str, str]

    def box_volume(self) -> float:
        return float(np.prod([abs(self.values[column] - self.ideal[column]) for column in self.values]))


def objective_bounds(
    metric_name: str,
    classes: Optional[int] = None,
    memory_budget: Optional[float] = None,
    latency_limit_ms: Optional[float] = None,
    ram_limit: Optional[float] = None,
    flash_limit: Optional[float] = None,
) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """The limits and ideals of a run's objectives (see the module text), with their sources.

    Returns ``(limits, ideals, sources)`` keyed by column of the trials table.
    """
    limits: dict[str, float] = {}
    sources: dict[str, str] = {}
    ideals: dict[str, float] = {}
    if metric_name == "accuracy":
        limits["accuracy"] = 1.0 / classes if classes else 0.0
        sources["accuracy"] = f"chance level 1/{classes}" if classes else "0"
        ideals["accuracy"] = 1.0
    else:
        limits[metric_name] = 0.0
        sources[metric_name] = "0 dB (no improvement)"
    for column, value, source in (
        ("memory_bytes", memory_budget, "the memory budget"),
        ("latency_ms", latency_limit_ms, "the latency limit"),
        ("ram_bytes", ram_limit, "the RAM limit"),
        ("flash_bytes", flash_limit, "the device flash"),
    ):
        if value is not None:
            limits[column] = float(value)
            sources[column] = source
    return limits, ideals, sources


def reference_point(
    frame: pd.DataFrame,
    objectives: Mapping[str, str],
    limits: Optional[Mapping[str, float]] = None,
    ideals: Optional[Mapping[str, float]] = None,
    sources: Optional[Mapping[str, str]] = None,
) -> ReferencePoint:
    """The hypervolume box of ``objectives`` (column -> direction) for the trials in ``frame``.

    ``limits`` gives the reference value of a column where the problem defines one;
    other columns get 1.1 x the largest value observed (minimised) or 0 / the smallest
    observed (maximised). ``ideals`` overrides the ideal corner (default: 0 for a
    minimised column, the best observed for a maximised one).
    """
    limits, ideals, sources = dict(limits or {}), dict(ideals or {}), dict(sources or {})
    values: dict[str, float] = {}
    ideal: dict[str, float] = {}
    described: dict[str, str] = {}
    for column, direction in objectives.items():
        observed = pd.to_numeric(frame[column], errors="coerce").dropna() if column in frame else pd.Series(dtype=float)
        if limits.get(column) is not None:
            values[column] = float(limits[column])
            described[column] = sources.get(column, "limit")
        elif direction == "minimize":
            values[column] = UNBOUNDED_MARGIN * float(observed.max()) if len(observed) else 1.0
            described[column] = f"{UNBOUNDED_MARGIN:g} x the largest observed"
        else:
            values[column] = min(0.0, float(observed.min())) if len(observed) else 0.0
            described[column] = "0 or the smallest observed"
        if column in ideals:
            ideal[column] = float(ideals[column])
        elif direction == "minimize":
            ideal[column] = 0.0
        else:
            best = float(observed.max()) if len(observed) else values[column] + 1.0
            # A degenerate box (best == reference) would divide by zero.
            ideal[column] = best if best > values[column] else values[column] + 1.0
    return ReferencePoint(values=values, ideal=ideal, sources=described)


def hypervolume_history(frame: pd.DataFrame, objectives: Mapping[str, str], reference: ReferencePoint) -> pd.DataFrame:
    """Hypervolume of the eligible trials up to each trial, in trial-number order.

    Columns: ``number``, ``hypervolume`` (in the objectives' own units) and
    ``normalized`` (divided by the reference box, in [0, 1]). Only complete, feasible,
    trained, first-of-their-design trials count, as on the front.
    """
    ordered = frame.sort_values("number")
    columns = list(objectives)
    directions = list(objectives.values())
    ref = [reference.values[column] for column in columns]
    box = reference.box_volume() or 1.0
    eligible = eligible_mask(ordered)
    front = np.empty((0, len(columns)))
    volume = 0.0
    rows = []
    for (_, row), counts in zip(ordered.iterrows(), eligible):
        point = pd.to_numeric(row[columns], errors="coerce").to_numpy(dtype=float)
        if counts and np.all(np.isfinite(point)):
            candidates = np.vstack([front, point])
            # Keeping only the current front makes each step cheap; the volume is the same.
            front = candidates[pareto_mask(candidates, directions)]
            volume = hypervolume(front, directions, ref)
        rows.append({"number": int(row["number"]), "hypervolume": volume, "normalized": volume / box})
    return pd.DataFrame(rows, columns=["number", "hypervolume", "normalized"])


def pick_index(front: pd.DataFrame, objectives: Mapping[str, str], pick: str) -> object:
    """The index label of the design of ``front`` a user asked for.

    ``accuracy``: the best task metric (ties: less memory); ``memory`` / ``latency``:
    the smallest (ties: better metric); ``knee``: the knee of the front over all
    ``objectives`` (closest to the utopia point after scaling each objective to [0, 1]).
    The metric column is the first maximised objective.
    """
    if front.empty:
        raise ValueError("the front is empty")
    metric = next(column for column, direction in objectives.items() if direction == "maximize")
    if pick == "accuracy":
        order = front.sort_values([metric, "memory_bytes", "number"], ascending=[False, True, True])
    elif pick in ("memory", "latency"):
        column = "memory_bytes" if pick == "memory" else "latency_ms"
        order = front.sort_values([column, metric, "number"], ascending=[True, False, True])
    elif pick == "knee":
        values = front[list(objectives)].to_numpy(dtype=float)
        return front.index[knee_index(values, list(objectives.values()))]
    else:
        raise ValueError(f"unknown pick {pick!r}; valid: {', '.join(PICKS)}")
    return order.index[0]

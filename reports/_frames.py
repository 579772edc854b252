"""Trials of a study as a pandas table, and its Pareto-optimal feasible designs.

The search stores everything a report needs as trial user attributes (``config``,
``cost``, ``metric``, ...); this module turns them into one row per trial with costs
in explicit units (``memory_bytes``, ``latency_ms``) and the design's parameters.

Example:
    >>> frame = pd.DataFrame({"metric": [0.9, 0.8, 0.7], "memory_bytes": [90, 50, 80],
    ...                       "feasible": True, "trained": True, "state": "COMPLETE", "duplicate_of": None})
    >>> pareto_frame(frame, {"metric": "maximize", "memory_bytes": "minimize"}).index.tolist()
    [0, 1]
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from reports._pareto import pareto_mask

DESIGN_COLUMNS = ["task", "cell", "layers", "hidden", "ghost_ratio", "cheap_op", "groups", "activation", "features"]
COST_COLUMNS = ["params", "macs", "flash_bytes", "ram_bytes", "memory_bytes", "latency_ms"]
FRONT_END_COLUMNS = ["flash_bytes", "ram_bytes", "latency_ms"]  # per hop; prefixed front_end_
# Objective names of the search -> column of the trials table.
OBJECTIVE_COLUMNS = {
    "metric": "metric",
    "memory": "memory_bytes",
    "latency": "latency_ms",
    "macs": "macs",
    "flash": "flash_bytes",
    "ram": "ram_bytes",
    "params": "params",
}


def trial_row(number: int, state: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the trials table from a trial's number, state and user attributes."""
    config = attrs.get("config", {})
    cost = attrs.get("cost", {})
    row: dict[str, Any] = {"number": number, "state": state, "design": attrs.get("design", "")}
    row.update({key: config.get(key) for key in DESIGN_COLUMNS})
    row["intrinsic_size"] = attrs.get("intrinsic_size")
    row["baseline"] = attrs.get("baseline")
    row["feasible"] = attrs.get("feasible")
    row["trained"] = attrs.get("trained", False)
    row["metric_name"] = attrs.get("metric_name")
    row["metric"] = attrs.get("metric")
    # The metric at both precisions and the float-to-int8 drop (stored under the task's
    # metric name, e.g. accuracy_int8); ``metric`` is whichever the search scored.
    for suffix in ("float", "int8", "drop"):
        row[f"metric_{suffix}"] = attrs.get(f"{attrs.get('metric_name')}_{suffix}")
    row.update({key: cost.get(key) for key in COST_COLUMNS})
    # The feature front end's share of those costs (None in studies costed before it was counted).
    front = cost.get("front_end") or {}
    row.update({f"front_end_{key}": front.get(key) for key in FRONT_END_COLUMNS})
    row["counted_macs"] = attrs.get("counted_macs")
    row["violations"] = "; ".join(attrs.get("violations", []))
    row["train_status"] = attrs.get("train_status")
    row["train_seconds"] = attrs.get("train_seconds")
    row["samples_seen"] = attrs.get("samples_seen", 0)
    row["duplicate_of"] = attrs.get("duplicate_of")
    row["realtime_ms"] = cost.get("realtime_ms")
    row["weights"] = attrs.get("weights")
    return row


def trials_frame(trials: Iterable[Any]) -> pd.DataFrame:
    """One row per Optuna trial (``FrozenTrial`` objects), in trial-number order.

    Besides the user attributes it keeps when each trial ran (``started``,
    ``completed``, ``duration_s``), which the report sums into the time spent.
    """
    rows = []
    for trial in trials:
        row = trial_row(trial.number, trial.state.name, trial.user_attrs)
        start, complete = trial.datetime_start, trial.datetime_complete
        row["started"] = start.isoformat(timespec="seconds") if start else None
        row["completed"] = complete.isoformat(timespec="seconds") if complete else None
        row["duration_s"] = (complete - start).total_seconds() if start and complete else None
        rows.append(row)
    columns = list(trial_row(0, "", {}).keys()) + ["started", "completed", "duration_s"]
    return pd.DataFrame(rows, columns=columns).sort_values("number").reset_index(drop=True)


def eligible_mask(frame: pd.DataFrame) -> pd.Series:
    """True for the trials that may sit on a front: complete, feasible, trained, not a repeat."""
    return (
        (frame["state"] == "COMPLETE")
        & (frame["feasible"] == True)  # noqa: E712 - a column of Python objects, may hold None
        & (frame["trained"] == True)  # noqa: E712
        & frame["duplicate_of"].isna()
    )


def pareto_frame(frame: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    """The non-dominated rows among complete, feasible, trained, first-of-their-design trials.

    ``objectives`` maps a column of ``frame`` to "maximize" or "minimize".
    """
    eligible = frame[eligible_mask(frame)]
    eligible = eligible.dropna(subset=list(objectives))
    if eligible.empty:
        return eligible
    mask = pareto_mask(eligible[list(objectives)].to_numpy(dtype=float), list(objectives.values()))
    front = eligible[mask]
    first, direction = next(iter(objectives.items()))
    return front.sort_values(first, ascending=direction == "minimize")

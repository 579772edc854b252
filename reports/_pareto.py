"""Pareto analysis: non-dominated points, hypervolume and the knee of a front.

Objectives are given with a direction each ("maximize" or "minimize"); internally
everything is turned into minimisation.

Example:
    >>> import numpy as np
    >>> points = np.array([[0.9, 100.0], [0.8, 50.0], [0.7, 80.0]])
    >>> pareto_mask(points, ["maximize", "minimize"]).tolist()
    [True, True, False]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _as_minimisation(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(directions):
        raise ValueError(f"expected an (n, {len(directions)}) array of objective values, got shape {values.shape}")
    signs = np.array([-1.0 if direction == "maximize" else 1.0 for direction in directions])
    return values * signs


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """True for each row that no other row dominates (ties are all kept)."""
    points = _as_minimisation(values, directions)
    keep = np.ones(len(points), dtype=bool)
    for index, point in enumerate(points):
        no_worse = np.all(points <= point, axis=1)
        better = np.any(points < point, axis=1)
        if np.any(no_worse & better):
            keep[index] = False
    return keep


def hypervolume(values: np.ndarray, directions: Sequence[str], reference: Sequence[float]) -> float:
    """Volume dominated by the points and bounded by ``reference`` (in the objectives' own units).

    The reference point must be worse than every point of interest in every objective
    (e.g. accuracy 0, the memory budget, the latency limit); points not strictly better
    than it contribute nothing. Exact, by recursive slicing over the first objective:
    fine for the 2-4 objectives and hundreds of points of a search.
    """
    points = _as_minimisation(values, directions)
    ref = _as_minimisation(np.asarray(reference, dtype=float)[None, :], directions)[0]
    points = points[np.all(points < ref, axis=1)]
    if len(points) == 0:
        return 0.0
    points = points[pareto_mask(points, ["minimize"] * points.shape[1])]
    return float(_hypervolume_min(points, ref))


def _hypervolume_min(points: np.ndarray, ref: np.ndarray) -> float:
    if points.shape[1] == 1:
        return float(ref[0] - points[:, 0].min())
    order = np.argsort(points[:, 0])
    points = points[order]
    volume = 0.0
    for index in range(len(points)):
        upper = points[index + 1, 0] if index + 1 < len(points) else ref[0]
        width = upper - points[index, 0]
        if width <= 0:
            continue
        slice_points = points[: index + 1, 1:]
        slice_points = slice_points[pareto_mask(slice_points, ["minimize"] * slice_points.shape[1])]
        volume += width * _hypervolume_min(slice_points, ref[1:])
    return volume


def knee_index(values: np.ndarray, directions: Sequence[str]) -> int:
    """The front point closest to the utopia point after scaling each objective to [0, 1]."""
    points = _as_minimisation(values, directions)
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (points - low) / span
    return int(np.argmin(np.linalg.norm(scaled, axis=1)))

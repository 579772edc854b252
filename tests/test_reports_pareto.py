"""Pareto analysis against brute force on random points: the front, hypervolume, its history, picks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from reports import hypervolume, hypervolume_history, objective_bounds, pareto_frame, pareto_mask, pick_index, reference_point


def brute_force_front(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """Non-dominated rows by the definition: no other row at least as good everywhere and better somewhere."""
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    points = values * signs
    keep = []
    for i, p in enumerate(points):
        dominated = any(np.all(q <= p) and np.any(q < p) for j, q in enumerate(points) if j != i)
        keep.append(not dominated)
    return np.array(keep)


def brute_force_hypervolume(values: np.ndarray, directions: list[str], reference: list[float]) -> float:
    """Exact volume by cutting space into the grid of all coordinates and summing dominated cells."""
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    points = values * signs
    ref = np.asarray(reference, dtype=float) * signs
    points = points[np.all(points < ref, axis=1)]
    if len(points) == 0:
        return 0.0
    axes = [np.unique(np.append(points[:, k], ref[k])) for k in range(points.shape[1])]
    volume = 0.0
    for cell in itertools.product(*[range(len(axis) - 1) for axis in axes]):
        low = np.array([axes[k][i] for k, i in enumerate(cell)])
        high = np.array([axes[k][i + 1] for k, i in enumerate(cell)])
        # A cell is dominated when some point is <= its lower corner in every objective.
        if np.any(np.all(points <= low, axis=1)):
            volume += float(np.prod(high - low))
    return volume


DIRECTION_SETS = [
    ["maximize", "minimize"],
    ["maximize", "minimize", "minimize"],
    ["minimize", "minimize", "minimize", "minimize"],
    ["maximize", "maximize", "minimize"],
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("directions", DIRECTION_SETS, ids=lambda d: "".join(x[:3] for x in d))
def test_pareto_mask_and_hypervolume_match_brute_force(seed: int, directions: list[str]) -> None:
    rng = np.random.default_rng(seed)
    count = 12 if len(directions) < 4 else 8
    # Rounded values make ties and duplicates, the cases a clever implementation gets wrong.
    values = np.round(rng.uniform(0, 1, size=(count, len(directions))), 1)
    assert pareto_mask(values, directions).tolist() == brute_force_front(values, directions).tolist()
    reference = [0.0 if d == "maximize" else 1.0 for d in directions]
    assert hypervolume(values, directions, reference) == pytest.approx(brute_force_hypervolume(values, directions, reference), rel=1e-12, abs=1e-12)


def test_points_outside_the_reference_box_add_nothing() -> None:
    values = np.array([[0.9, 50.0], [0.95, 150.0], [-0.1, 10.0]])
    assert hypervolume(values, ["maximize", "minimize"], [0.0, 100.0]) == pytest.approx(0.9 * 50)


def _frame(values: np.ndarray, eligible: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "number": np.arange(len(values)),
            "accuracy": values[:, 0],
            "memory_bytes": values[:, 1],
            "latency_ms": values[:, 2],
            "state": np.where(eligible, "COMPLETE", "FAIL"),
            "feasible": True,
            "trained": True,
            "duplicate_of": None,
        }
    )


@pytest.mark.parametrize("seed", range(3))
def test_hypervolume_history_is_the_brute_force_volume_of_each_prefix(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.column_stack([rng.uniform(0.1, 0.9, 15), rng.uniform(1e3, 9e4, 15), rng.uniform(1, 40, 15)]).round(2)
    eligible = rng.uniform(size=15) > 0.25
    frame = _frame(values, eligible)
    objectives = {"accuracy": "maximize", "memory_bytes": "minimize", "latency_ms": "minimize"}
    limits, ideals, sources = objective_bounds("accuracy", classes=12, memory_budget=1e5, latency_limit_ms=50.0)
    reference = reference_point(frame, objectives, limits, ideals, sources)
    assert reference.values == {"accuracy": 1 / 12, "memory_bytes": 1e5, "latency_ms": 50.0}
    history = hypervolume_history(frame, objectives, reference)
    directions = list(objectives.values())
    ref = [1 / 12, 1e5, 50.0]
    box = (1 - 1 / 12) * 1e5 * 50.0
    for index in range(15):
        prefix = values[: index + 1][eligible[: index + 1]]
        expected = brute_force_hypervolume(prefix, directions, ref) if len(prefix) else 0.0
        assert history.loc[index, "hypervolume"] == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert history.loc[index, "normalized"] == pytest.approx(expected / box, rel=1e-9, abs=1e-12)
    assert history["normalized"].is_monotonic_increasing
    assert 0 <= history["normalized"].iloc[-1] <= 1


def test_reference_point_without_limits_uses_the_observed_range() -> None:
    frame = _frame(np.array([[0.5, 100.0, 2.0], [0.7, 300.0, 4.0]]), np.array([True, True]))
    reference = reference_point(frame, {"accuracy": "maximize", "memory_bytes": "minimize"})
    assert reference.values == {"accuracy": 0.0, "memory_bytes": pytest.approx(330.0)}
    assert reference.ideal == {"accuracy": 0.7, "memory_bytes": 0.0}


def test_picks_choose_from_the_front() -> None:
    rng = np.random.default_rng(7)
    values = np.column_stack([rng.uniform(0.1, 0.9, 30), rng.uniform(1e3, 9e4, 30), rng.uniform(1, 40, 30)]).round(3)
    frame = _frame(values, np.ones(30, dtype=bool))
    objectives = {"accuracy": "maximize", "memory_bytes": "minimize", "latency_ms": "minimize"}
    front = pareto_frame(frame, objectives)
    assert set(front.index) == set(np.flatnonzero(brute_force_front(values, list(objectives.values()))))
    assert front.loc[pick_index(front, objectives, "accuracy"), "accuracy"] == values[:, 0].max()
    assert front.loc[pick_index(front, objectives, "memory"), "memory_bytes"] == values[:, 1].min()
    assert front.loc[pick_index(front, objectives, "latency"), "latency_ms"] == values[:, 2].min()
    knee = front.loc[pick_index(front, objectives, "knee")]
    # The knee is the front point nearest the utopia corner after scaling to [0, 1].
    scaled = front[list(objectives)].to_numpy() * np.array([-1, 1, 1])
    scaled = (scaled - scaled.min(axis=0)) / (scaled.max(axis=0) - scaled.min(axis=0))
    assert knee["number"] == front.iloc[int(np.argmin(np.linalg.norm(scaled, axis=1)))]["number"]
    with pytest.raises(ValueError, match="unknown pick"):
        pick_index(front, objectives, "speed")

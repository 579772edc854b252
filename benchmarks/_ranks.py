"""Rank agreement between two scorings of the same designs: Kendall tau-b, Spearman rho, top-k overlap.

Written out here (a few lines each) so the benchmarks need no SciPy. Ties are handled
as SciPy does: tau-b corrects for tied pairs, Spearman ranks ties by their mean rank.

Example:
    >>> kendall_tau([1, 2, 3, 4], [1, 3, 2, 4])
    0.6666666666666666
    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> top_k_overlap([0.9, 0.8, 0.1, 0.2], [0.7, 0.9, 0.3, 0.1], k=2)
    2
"""

from __future__ import annotations

import math
from typing import Sequence


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b; NaN when either side is constant."""
    if len(x) != len(y):
        raise ValueError("both scorings must rate the same designs")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue  # tied in both: counts for neither denominator term
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else float("nan")


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda index: values[index])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson correlation of the average ranks; NaN when either side is constant."""
    rx, ry = average_ranks(x), average_ranks(y)
    n = len(rx)
    mean_x, mean_y = sum(rx) / n, sum(ry) / n
    covariance = sum((a - mean_x) * (b - mean_y) for a, b in zip(rx, ry))
    spread = math.sqrt(sum((a - mean_x) ** 2 for a in rx) * sum((b - mean_y) ** 2 for b in ry))
    return covariance / spread if spread else float("nan")


def top_k_overlap(x: Sequence[float], y: Sequence[float], k: int = 5) -> int:
    """How many of the k highest under ``x`` are also among the k highest under ``y``."""
    best_x = set(sorted(range(len(x)), key=lambda index: -x[index])[:k])
    best_y = set(sorted(range(len(y)), key=lambda index: -y[index])[:k])
    return len(best_x & best_y)

"""What a run found, in a few sentences written from its numbers.

The report opens with them and ``search show`` prints them: how the GhostRNN front
compares with the plain GRU/LSTM front at equal memory, the knee of the front, the
seed noise the differences have to beat, and how many designs broke a limit.

Example:
    >>> frame = pd.DataFrame({"number": [0, 1, 2, 3], "design": ["gru 1x32 (plain)", "gru 1x64 r2 linear/tanh", "gru 1x16 (plain)", "gru 1x128 r2 linear/tanh"],
    ...     "accuracy": [0.60, 0.55, 0.40, None], "memory_bytes": [5000, 5200, 2000, 40000], "latency_ms": [1.0, 1.2, 0.5, 9.0],
    ...     "feasible": [True, True, True, False], "trained": [True, True, True, False], "state": "COMPLETE",
    ...     "duplicate_of": None, "baseline": [True, False, True, False], "violations": [[], [], [], ["memory 40 KB > budget 6 KB"]]})
    >>> front = frame.iloc[[0, 2]]
    >>> for line in run_findings(frame, front, "accuracy", knee_number=0, units="si"):
    ...     print(line)
    At equal memory the plain GRU/LSTM front is above the GhostRNN front at 1 of 1 memory levels where both have a design (by up to 5.0 accuracy points).
    The knee of the front (search export --pick knee) is trial 0, gru 1x32 (plain): 60.0 % accuracy at 5 KB, 1.00 ms.
    Each design was trained once, with one seed: the proxy's seed-to-seed spread on the default corpus is 0.3-2.9 accuracy points (benchmarks/README.md), so differences under 1 point are within seed noise.
    1 of 4 designs (25 %) broke a limit and were never trained (1 over the memory budget).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from cost_models import format_size

from reports._frames import eligible_mask
from reports._summary import metric_display

# The proxy's seed noise (3 epochs, default corpus) from benchmarks/paper_repro.py: the
# spread of one design's metric over seeds, and the band within which two designs are
# not told apart (the promotion's epsilon, search.study._promote.EPSILON).
SEED_SPREAD = {"accuracy": "0.3-2.9 accuracy points", "si_snri_db": "0.09-0.33 dB"}
NOISE_BAND = {"accuracy": 1.0, "si_snri_db": 0.25}  # in display units: points, dB
UNIT = {"accuracy": "accuracy points", "si_snri_db": "dB"}


def _step_best(points: pd.DataFrame, metric: str, levels: np.ndarray) -> list[Optional[float]]:
    """The best metric among ``points`` with memory at most each level (None: none fits)."""
    best = []
    for level in levels:
        within = points.loc[points["memory_bytes"] <= level, metric]
        best.append(float(within.max()) if len(within) else None)
    return best


def ghost_vs_plain(frame: pd.DataFrame, metric: str, band: float, units: str = "iec") -> Optional[str]:
    """How the GhostRNN front compares with the plain front at each memory level of either.

    At each memory level the best metric of each family within that memory is taken;
    a difference within ``band`` (display units) counts as a tie.
    """
    trained = frame[eligible_mask(frame)].dropna(subset=[metric, "memory_bytes"])
    if trained.empty:
        return None
    is_plain = trained["baseline"].fillna(False).astype(bool) if "baseline" in trained else pd.Series(False, index=trained.index)
    if is_plain.all() or not is_plain.any():
        missing = "plain GRU/LSTM" if not is_plain.any() else "GhostRNN"
        return f"No {missing} design was trained in this run, so the two families cannot be compared at equal memory."
    shown = trained.assign(**{metric: [metric_display(metric, float(value)) for value in trained[metric]]})
    ghosts, plains = shown[~is_plain], shown[is_plain]
    levels = np.unique(shown["memory_bytes"].to_numpy(dtype=float))
    ghost_best, plain_best = _step_best(ghosts, metric, levels), _step_best(plains, metric, levels)
    differences = [g - p for g, p in zip(ghost_best, plain_best) if g is not None and p is not None]
    both = len(differences)
    unit = UNIT[metric]
    if not both:
        sentence = "The GhostRNN and plain GRU/LSTM designs of this run never share a memory level."
    else:
        ghost_ahead = [d for d in differences if d > band]
        plain_ahead = [-d for d in differences if d < -band]
        tied = both - len(ghost_ahead) - len(plain_ahead)
        of_levels = f" of {both} memory levels where both have a design"
        parts = []
        if plain_ahead:
            parts.append(f"the plain GRU/LSTM front is above the GhostRNN front at {len(plain_ahead)}{of_levels} (by up to {max(plain_ahead):.1f} {unit})")
        if ghost_ahead:
            subject = "the GhostRNN front is above" + ("" if plain_ahead else " the plain GRU/LSTM front")
            parts.append(f"{subject} at {len(ghost_ahead)}{'' if plain_ahead else of_levels} (by up to {max(ghost_ahead):.1f} {unit})")
        if tied:
            band_unit = unit[:-1] if band == 1 and unit.endswith("s") else unit
            parts.append(f"the two are within the noise band ({band:g} {band_unit}) at {tied}{'' if parts else of_levels}")
        sentence = "At equal memory " + "; ".join(parts) + "."
    only_ghost = any(g is not None and p is None for g, p in zip(ghost_best, plain_best))
    if only_ghost:
        sentence += f" Below {format_size(int(plains['memory_bytes'].min()), units)} only GhostRNN designs fit."
    return sentence


def run_findings(
    frame: pd.DataFrame,
    pareto: pd.DataFrame,
    metric: str,
    knee_number: Optional[int] = None,
    units: str = "iec",
    latency_model: str = "analytic",
) -> list[str]:
    """The sentences of "what this run found", from the trials table and its front."""
    band = NOISE_BAND[metric]
    lines = []
    comparison = ghost_vs_plain(frame, metric, band, units)
    if comparison:
        lines.append(comparison)
    knee = pareto[pareto["number"] == knee_number] if knee_number is not None and len(pareto) else pareto.iloc[0:0]
    if len(knee):
        row = knee.iloc[0]
        value = metric_display(metric, float(row[metric]))
        shown = f"{value:.1f} % accuracy" if metric == "accuracy" else f"{value:.2f} dB SI-SNRi"
        latency = f"{float(row['latency_ms']):.2f} ms" + (" (measured)" if latency_model == "measured" else "")
        lines.append(f"The knee of the front (search export --pick knee) is trial {int(row['number'])}, {row['design']}: {shown} at {format_size(int(row['memory_bytes']), units)}, {latency}.")
    lines.append(_noise_sentence(pareto, metric, band))
    infeasible = _infeasible_sentence(frame)
    if infeasible:
        lines.append(infeasible)
    return lines


def _noise_sentence(pareto: pd.DataFrame, metric: str, band: float) -> str:
    unit = UNIT[metric]
    if "promoted_seeds" in pareto and len(pareto) and (pd.to_numeric(pareto["promoted_seeds"], errors="coerce").fillna(0) > 1).any():
        stds = pd.to_numeric(pareto["promoted_metric_std"], errors="coerce").dropna()
        spread = [metric_display(metric, float(value)) for value in stds]
        if spread:
            return (
                f"The front was re-trained with {int(pareto['promoted_seeds'].max())} seeds per design: the seed-to-seed standard deviation "
                f"is {np.median(spread):.2f} {unit} (median; up to {max(spread):.2f}), the noise band differences have to beat."
            )
    return (
        f"Each design was trained once, with one seed: the proxy's seed-to-seed spread on the default corpus is {SEED_SPREAD[metric]} "
        f"(benchmarks/README.md), so differences under {band:g} {'point' if metric == 'accuracy' else unit} are within seed noise."
    )


def _infeasible_sentence(frame: pd.DataFrame) -> Optional[str]:
    complete = frame[frame["state"] == "COMPLETE"]
    if complete.empty:
        return None
    infeasible = complete[complete["feasible"] == False]  # noqa: E712 - object column
    if infeasible.empty:
        return f"All {len(complete)} designs met every limit."
    reasons: Counter[str] = Counter()
    for violations in infeasible.get("violations", pd.Series(dtype=object)):
        for violation in _as_list(violations):
            reasons[_reason(violation)] += 1
    share = 100 * len(infeasible) / len(complete)
    why = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    return f"{len(infeasible)} of {len(complete)} designs ({share:.0f} %) broke a limit and were never trained" + (f" ({why})." if why else ".")


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(part) for part in value]
    return []


REASONS: Mapping[str, str] = {
    "> budget": "over the memory budget",
    "> RAM budget": "over the RAM budget",
    "flash": "over the device's flash",
    "SRAM": "over the device's SRAM",
    "latency budget": "over the latency budget",
    "real time": "slower than real time",
}


def _reason(violation: str) -> str:
    for marker, reason in REASONS.items():
        if marker in violation:
            return reason
    return violation

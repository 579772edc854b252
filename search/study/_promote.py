"""Two-stage promotion: re-train the proxy front at a higher fidelity, with several seeds.

Optuna prunes single-objective studies only, so a multi-objective search gets its
second fidelity here, after the proxy stage: the feasible designs on the proxy's
Pareto front, and those within ``epsilon`` of it in the metric (seed noise could have
put them there), are trained again for ``epochs`` epochs on the full training split,
once per seed. The final front is then computed from the promoted designs alone,
with the mean promoted metric: proxy and promoted numbers come from different amounts
of training and are not compared with each other.

Results are kept in the study itself, as study user attributes (a finished trial's
attributes cannot change), one record per design and promotion epochs, rewritten after
every seed: an interrupted promotion resumes at the next seed with the same command,
and every storage (SQLite, journal, PostgreSQL) carries them.

Example:
    >>> import search
    >>> result = search.run(device="cortex-m7", budget="100KB", trials=20, promote=4, promote_epochs=15)  # doctest: +SKIP
    >>> result.pareto[["design", "proxy_metric", "promoted_metric", "promoted_metric_std"]]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any, Optional

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from reports import pareto_mask
from spaces import ArchConfig

from search._settings import RunSettings
from search.study._defaults import DEFAULT_PROMOTE_EPOCHS, DEFAULT_PROMOTE_SEEDS
from search.study._study import file_sha256, precision_metric, save_weights
from search.training import Fidelity, train_proxy, with_deployed_score

PROMOTION_ATTR = "promotion"  # the settings of the latest promotion of the study
RECORD_PREFIX = "promoted:"
# A design this close to the proxy front (in the metric) may be on it but for seed noise.
EPSILON = {"kws": 0.01, "se": 0.25}


@dataclasses.dataclass(frozen=True)
class PromotionPlan:
    """How many designs to promote (``limit``), for how long, with how many seeds."""

    limit: int
    epochs: int = DEFAULT_PROMOTE_EPOCHS
    seeds: int = DEFAULT_PROMOTE_SEEDS
    epsilon: Optional[float] = None  # None: the task's EPSILON

    def __post_init__(self) -> None:
        if self.limit < 0 or self.epochs < 1 or self.seeds < 1:
            raise ValueError(f"promotion needs limit >= 0, epochs >= 1 and seeds >= 1, got {self.limit}, {self.epochs}, {self.seeds}")


def record_key(design_key: str, epochs: int) -> str:
    return f"{RECORD_PREFIX}{design_key}:{epochs}e"


def promotion_fidelity(base: Fidelity, epochs: int, seed: int) -> Fidelity:
    """The proxy's fidelity with more epochs, all the data and a proportional time limit (if any)."""
    limit = None if base.max_seconds is None else base.max_seconds * epochs / base.epochs
    return dataclasses.replace(base, epochs=epochs, data_fraction=1.0, max_seconds=limit, seed=seed)


def _eligible(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Complete, feasible, trained, first-of-their-design trials: those a front may hold."""
    return [
        trial
        for trial in trials
        if trial.state == TrialState.COMPLETE
        and trial.user_attrs.get("feasible")
        and trial.user_attrs.get("trained")
        and trial.user_attrs.get("duplicate_of") is None
        and trial.values is not None
    ]


def select_candidates(trials: list[FrozenTrial], settings: RunSettings, limit: int, epsilon: float) -> list[FrozenTrial]:
    """The proxy front, then the designs within ``epsilon`` of it, at most ``limit``.

    A design is within epsilon when it would not be dominated were its metric
    ``epsilon`` better. When the front alone has more than ``limit`` designs, they are
    taken evenly along the first cost objective so the promoted front still spans
    the budget.
    """
    eligible = _eligible(trials)
    if not eligible or limit <= 0:
        return []
    values = np.array([trial.values for trial in eligible], dtype=float)
    directions = settings.directions
    metric = settings.objectives.index("metric")
    on_front = pareto_mask(values, directions)
    near = []
    for index in np.flatnonzero(~on_front):
        shifted = values[index].copy()
        shifted[metric] += epsilon if directions[metric] == "maximize" else -epsilon
        others = np.delete(values, index, axis=0)
        if pareto_mask(np.vstack([others, shifted]), directions)[-1]:
            near.append(int(index))
    cost = next(column for column, name in enumerate(settings.objectives) if name != "metric")
    front = sorted(np.flatnonzero(on_front), key=lambda index: values[index, cost])
    if len(front) > limit:
        picks = sorted({int(round(position)) for position in np.linspace(0, len(front) - 1, limit)})
        front = [front[position] for position in picks]
    sign = 1 if directions[metric] == "maximize" else -1
    near.sort(key=lambda index: -sign * values[index, metric])
    chosen = [int(index) for index in front] + near
    return [eligible[index] for index in chosen[:limit]]


def promote(
    study: optuna.Study,
    settings: RunSettings,
    plan: PromotionPlan,
    data: Any,
    progress: bool = True,
    weights_dir: Optional[Path] = None,
) -> list[dict[str, Any]]:
    """Train the selected designs at the promotion fidelity; the study's records, one per design.

    Seeds already in a design's record are not trained again.
    """
    epsilon = plan.epsilon if plan.epsilon is not None else EPSILON[settings.task]
    chosen = select_candidates(study.get_trials(deepcopy=False), settings, plan.limit, epsilon)
    study.set_user_attr(
        PROMOTION_ATTR,
        {"epochs": plan.epochs, "seeds": plan.seeds, "limit": plan.limit, "epsilon": epsilon, "trials": [trial.number for trial in chosen]},
    )
    base = Fidelity.from_dict(settings.fidelity)
    seeds = [base.seed + offset for offset in range(plan.seeds)]
    if progress and chosen:
        print(f"promoting {len(chosen)} designs: {plan.epochs} epochs x {plan.seeds} seeds each")
    records = []
    for trial in chosen:
        key = record_key(trial.user_attrs["design_key"], plan.epochs)
        record = dict(study.user_attrs.get(key) or {"trial": trial.number, "design": trial.user_attrs.get("design"), "epochs": plan.epochs, "runs": []})
        config = ArchConfig.from_dict(trial.user_attrs["config"])
        for seed in seeds:
            if any(run["seed"] == seed for run in record["runs"]):
                continue
            outcome = with_deployed_score(train_proxy(config, data, promotion_fidelity(base, plan.epochs, seed)), config, data)
            run = {
                "seed": seed,
                "metric": precision_metric(settings, outcome),
                "metric_float": outcome.metric,
                "metric_int8": outcome.metric_int8,
                "status": outcome.status,
                "seconds": outcome.wall_seconds,
            }
            if weights_dir is not None and outcome.state_dict is not None:
                path = save_weights(weights_dir, f"{trial.user_attrs['design_key']}-e{plan.epochs}-s{seed}", outcome.state_dict)
                run["weights"], run["weights_sha256"] = str(path), file_sha256(path)
            record["runs"] = record["runs"] + [run]
            metrics = [item["metric"] for item in record["runs"]]
            record["metric"] = statistics.fmean(metrics)
            record["metric_std"] = statistics.stdev(metrics) if len(metrics) > 1 else 0.0
            for precision in ("float", "int8"):
                values = [item.get(f"metric_{precision}") for item in record["runs"]]
                record[f"metric_{precision}"] = statistics.fmean(values) if None not in values else None
            study.set_user_attr(key, record)
            if progress:
                print(f"  #{trial.number:<4d} {record['design']:34s} seed {seed}: {_shown(outcome.metric, settings.task)} in {outcome.wall_seconds:.1f} s "
                      f"(proxy {_shown(trial.user_attrs['metric'], settings.task)})", flush=True)
        records.append(record)
    return records


def _shown(metric: float, task: str) -> str:
    return f"{100 * metric:.1f} %" if task == "kws" else f"{metric:.2f} dB"


def with_promotions(frame: pd.DataFrame, trials: list[FrozenTrial], study_attrs: dict[str, Any]) -> tuple[pd.DataFrame, pd.Series]:
    """``frame`` (a trials table) with promoted results, and which rows were promoted.

    Adds ``proxy_metric`` (what the proxy measured), ``promoted_metric`` (mean over
    seeds), ``promoted_metric_std``, ``promoted_seeds`` and ``metric_source``; the
    ``metric`` column (and ``metric_float``/``metric_int8``/``metric_drop``) becomes the
    promoted mean where there is one. Only the latest promotion's epochs count.
    """
    frame = frame.copy()
    frame["proxy_metric"] = frame["metric"]
    frame["promoted_metric"] = None
    frame["promoted_metric_std"] = None
    frame["promoted_seeds"] = 0
    frame["metric_source"] = "proxy"
    promoted = pd.Series(False, index=frame.index)
    plan = study_attrs.get(PROMOTION_ATTR)
    if not plan:
        return frame, promoted
    keys = {trial.number: trial.user_attrs.get("design_key") for trial in trials}
    for index, row in frame.iterrows():
        design_key = keys.get(int(row["number"]))
        record = study_attrs.get(record_key(design_key, plan["epochs"])) if design_key else None
        if not record or record.get("trial") != int(row["number"]) or not record.get("runs"):
            continue
        frame.at[index, "metric"] = record["metric"]
        if "metric_float" in frame.columns:
            floats, ints = record.get("metric_float"), record.get("metric_int8")
            frame.at[index, "metric_float"] = floats
            frame.at[index, "metric_int8"] = ints
            frame.at[index, "metric_drop"] = floats - ints if floats is not None and ints is not None else None
        frame.at[index, "promoted_metric"] = record["metric"]
        frame.at[index, "promoted_metric_std"] = record["metric_std"]
        frame.at[index, "promoted_seeds"] = len(record["runs"])
        frame.at[index, "metric_source"] = f"promoted ({plan['epochs']} epochs)"
        promoted[index] = True
    return frame, promoted

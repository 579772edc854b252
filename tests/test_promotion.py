"""Two-stage promotion: which designs are promoted, where results go, resuming."""

from __future__ import annotations

import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

import search
from search.study import PROMOTION_ATTR, record_key, select_candidates
from search._settings import RunSettings
from search.training import Fidelity

SETTINGS = RunSettings(task="kws", space={}, space_fingerprint="", device={"name": "d"}, objectives=["metric", "memory"])


def finished(number_hint: int, metric: float, memory: float, feasible: bool = True, duplicate_of=None):
    trial = create_trial(
        state=TrialState.COMPLETE,
        values=[metric, memory],
        params={"hidden": number_hint},
        distributions={"hidden": CategoricalDistribution(list(range(20)))},
        user_attrs={"feasible": feasible, "trained": feasible, "duplicate_of": duplicate_of, "design_key": f"k{number_hint}", "metric": metric},
    )
    trial.number = number_hint
    return trial


def test_front_and_near_front_designs_are_chosen_front_first():
    trials = [
        finished(0, 0.90, 100),  # front
        finished(1, 0.80, 50),  # front
        finished(2, 0.895, 101),  # 0.5 points below the front: near
        finished(3, 0.60, 120),  # far behind
        finished(4, 0.99, 10, feasible=False),  # never trained: not a candidate
        finished(5, 0.80, 50, duplicate_of=1),  # a repeat of #1
    ]
    chosen = [trial.number for trial in select_candidates(trials, SETTINGS, limit=10, epsilon=0.01)]
    assert chosen == [1, 0, 2]
    assert [trial.number for trial in select_candidates(trials, SETTINGS, limit=2, epsilon=0.01)] == [1, 0]


def test_a_large_front_is_thinned_evenly_along_the_cost():
    trials = [finished(index, 0.5 + 0.04 * index, 10 + 10 * index) for index in range(10)]
    chosen = [trial.number for trial in select_candidates(trials, SETTINGS, limit=3, epsilon=0.0)]
    assert chosen == [0, 4, 9] or chosen == [0, 5, 9]


def test_run_promotes_the_front_and_resumes_without_retraining(tmp_path, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    options = dict(
        device="cortex-m7", budget="50KB", space="kws-small", trials=6, utterances_per_class=20,
        fidelity=Fidelity(epochs=1), out=tmp_path / "runs", progress=False, promote=2, promote_epochs=2, promote_seeds=2,
    )
    result = search.run(**options)
    attrs = result.study.user_attrs
    plan = attrs[PROMOTION_ATTR]
    assert plan["epochs"] == 2 and 1 <= len(plan["trials"]) <= 2
    pareto = pd.read_csv(result.run_dir / "pareto.csv")
    trials = pd.read_csv(result.run_dir / "trials.csv")
    for column in ("accuracy", "proxy_accuracy", "promoted_metric", "promoted_metric_std", "promoted_seeds", "metric_source"):
        assert column in trials.columns and column in pareto.columns
    # The final front holds promoted designs only, scored by their promoted mean.
    assert set(pareto["number"]) <= set(plan["trials"])
    assert (pareto["promoted_seeds"] == 2).all()
    assert (pareto["accuracy"] == pareto["promoted_metric"]).all()
    records = {number: attrs[record_key(result.study.trials[number].user_attrs["design_key"], 2)] for number in plan["trials"]}
    assert all(len(record["runs"]) == 2 for record in records.values())

    again = search.run(**options)
    for number, record in records.items():
        assert again.study.user_attrs[record_key(again.study.trials[number].user_attrs["design_key"], 2)] == record


def test_bad_promotion_options_are_refused_before_any_training(tmp_path):
    with pytest.raises(search.UsageError, match="promote"):
        search.run(device="cortex-m7", budget="50KB", space="kws-small", trials=1, out=tmp_path, progress=False, promote=2, promote_seeds=0)

"""Trial proposals that repeat: trial n's design depends on the seed and n, not on which
worker asks, when, or how busy the machine is (search.study._proposal)."""

from __future__ import annotations

import math
import os
import random
import socket
import subprocess
import sys
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from search._errors import StudyError
from search.study._proposal import PROPOSAL_ATTR, FixedHistorySampler, proposal_lag
from search.study._target import CLAIMED_BY_ATTR, run_to_target, trial_claim
from spaces import load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = load_space("kws-default")
DIRECTIONS = ["maximize", "minimize"]
BASELINES = [
    {**{name: values[0] for name, values in SPACE.choices.items()}, "cell": "gru", "hidden": 128, "ghost_ratio": 1.0},
    {**{name: values[0] for name, values in SPACE.choices.items()}, "cell": "gru", "hidden": 64, "ghost_ratio": 1.0},
]


def scores(params: dict) -> list[float]:
    """A smooth stand-in for accuracy and memory, so that TPE has something to model."""
    width = params["hidden"] * params["layers"] / params["ghost_ratio"]
    accuracy = math.log(width) + (0.3 if params["cell"] == "gru" else 0.0) + (0.2 if params["cheap_op"] == "linear" else 0.0)
    return [accuracy, width * (4 if params["cell"] == "lstm" else 3)]


def search(tmp_path, name: str, workers: int, sampler: str = "tpe", trials: int = 24, jitter_seed: int = 0) -> list[dict]:
    """``workers`` threads, each with its own study object and sampler, sharing one storage
    and the study's file claim, as worker processes do; each trial takes a random time,
    from ``jitter_seed``, so the workers finish in a different order from run to run."""
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name=name, storage=storage, directions=DIRECTIONS)
    for params in BASELINES:
        study.enqueue_trial(params)
    errors = []

    def worker(index: int) -> None:
        try:
            mine = optuna.load_study(study_name=name, storage=storage)
            mine.sampler = FixedHistorySampler(sampler, 7, SPACE, trials, proposal_lag(workers))
            pace = random.Random(jitter_seed * 100 + index)

            def objective(trial):
                params = {key: trial.suggest_categorical(key, values) for key, values in SPACE.choices.items()}
                time.sleep(pace.uniform(0, 0.02))
                return scores(params)

            claim = trial_claim(f"journal:{tmp_path / name}", storage, name)
            run_to_target(mine, objective, trials, claim)
        except Exception as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    finished = study.get_trials(deepcopy=False)
    assert [t.state for t in finished] == [TrialState.COMPLETE] * trials
    return [t.params for t in sorted(finished, key=lambda t: t.number)]


def test_two_workers_propose_what_one_worker_proposes_whatever_the_order(tmp_path):
    one = search(tmp_path, "one", workers=1)
    two = search(tmp_path, "two", workers=2, jitter_seed=1)
    again = search(tmp_path, "again", workers=2, jitter_seed=2)
    assert two == one and again == one
    assert one[:2] == BASELINES
    # TPE took over after its 10 start-up trials and prefers the stand-in's better designs.
    assert len({tuple(sorted(p.items())) for p in one}) > 12
    late = [scores(p)[0] for p in one[14:]]
    early = [scores(p)[0] for p in one[2:12]]
    assert sum(late) / len(late) > sum(early) / len(early)


@pytest.mark.parametrize("sampler", ["nsga2", "grid", "random"])
def test_every_sampler_repeats_with_two_workers(tmp_path, sampler):
    assert search(tmp_path, "a", workers=2, sampler=sampler, trials=16, jitter_seed=3) == search(tmp_path, "b", workers=1, sampler=sampler, trials=16)


def test_lag_is_the_workers_and_at_least_two():
    # Two workers never wait (the trials two places back are final), and one worker
    # proposes the same trials as two.
    assert [proposal_lag(workers) for workers in (1, 2, 3, 8)] == [2, 2, 3, 8]


def make_study(states: list[TrialState], owner: str = "") -> optuna.Study:
    """A study whose trials have the given states, each with a whole design."""
    study = optuna.create_study(directions=DIRECTIONS)
    for number, state in enumerate(states):
        params = {**BASELINES[0], "hidden": SPACE.choices["hidden"][number % len(SPACE.choices["hidden"])]}
        distributions = {key: optuna.distributions.CategoricalDistribution(values) for key, values in SPACE.choices.items()}
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                params=params,
                distributions=distributions,
                values=scores(params) if state == TrialState.COMPLETE else None,
                user_attrs={CLAIMED_BY_ATTR: owner} if owner and state == TrialState.RUNNING else {},
                system_attrs={PROPOSAL_ATTR: {"params": params, "attrs": {}}},
                intermediate_values={1: 0.3} if state == TrialState.PRUNED else None,
            )
        )
    return study


def test_the_next_proposal_waits_only_for_trials_lag_places_back():
    sampler = FixedHistorySampler("tpe", 0, SPACE, 40, lag=1)
    alive = f"{socket.gethostname()}:{os.getpid()}"
    # Trial 12 comes next; 11 may still run, 10 must be finished.
    assert not sampler.next_trial_blocked(make_study([TrialState.COMPLETE] * 11 + [TrialState.RUNNING], alive), claim_held=True)
    assert sampler.next_trial_blocked(make_study([TrialState.COMPLETE] * 10 + [TrialState.RUNNING] * 2, alive), claim_held=True)
    # A queued trial is taken first and needs no proposal.
    queued = make_study([TrialState.COMPLETE] * 10 + [TrialState.RUNNING] * 2, alive)
    queued.enqueue_trial(BASELINES[0])
    assert not sampler.next_trial_blocked(queued, claim_held=True)
    # The random sampler reads no history.
    assert not FixedHistorySampler("random", 0, SPACE, 40, lag=1).next_trial_blocked(make_study([TrialState.RUNNING] * 5, alive), claim_held=True)


def test_a_trial_of_a_dead_process_stops_the_wait_with_one_line():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead = f"{socket.gethostname()}:{finished.stdout.strip()}"
    study = make_study([TrialState.COMPLETE] * 10 + [TrialState.RUNNING] * 2, dead)
    with pytest.raises(StudyError, match=r"trial #10 was left running by a process that is gone .*run the same command again"):
        FixedHistorySampler("tpe", 0, SPACE, 40, lag=1).next_trial_blocked(study, claim_held=False)


def test_the_view_of_trial_n_is_fixed():
    """Trials lag places back or more in their final state; the later ones as running, with
    their design and nothing that depends on whether they have finished since."""
    sampler = FixedHistorySampler("tpe", 0, SPACE, 40, lag=2)
    study = make_study([TrialState.COMPLETE] * 10 + [TrialState.PRUNED] + [TrialState.COMPLETE] * 2)
    view = sampler.view_of(study, 13)
    assert [t.state for t in view] == [TrialState.COMPLETE] * 10 + [TrialState.PRUNED] + [TrialState.RUNNING] * 2
    assert all(t.values is None for t in view[11:]) and view[11].params == study.trials[11].params
    # The same trials still running give the same view.
    running = make_study([TrialState.COMPLETE] * 10 + [TrialState.PRUNED] + [TrialState.RUNNING] * 2)
    assert [(t.state, t.params, t.values) for t in sampler.view_of(running, 13)] == [(t.state, t.params, t.values) for t in view]
    # Past TPE's 10 start-up trials, a trial cut short (PRUNED, with a learning curve) does
    # not stop it (Optuna's own TPE asks a multi-objective study for a single direction
    # when it ranks one), and the proposal is the same either way.
    assert sampler.propose(study, 13)["params"] == sampler.propose(running, 13)["params"]


# ---------------------------------------------------------------- end to end

# What must repeat: the trial list, each trial's design, state and scores, and the front.
REPEATED = ["number", "state", "design", "hidden", "ghost_ratio", "cheap_op", "feasible", "accuracy", "accuracy_float", "samples_seen", "duplicate_of", "memory_bytes", "latency_ms"]


def run_search(out, cache_dir, workers: int) -> tuple:
    import pandas as pd

    # 14 trials: the 2 baselines, 9 start-up trials, then TPE's own proposals (trial 12 on).
    args = ["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "14", "--study", "s", "--space", "kws-small", "--seed", "3"]
    args += ["--utterances-per-class", "20", "--epochs", "1", "--no-progress", "--workers", str(workers), "--out", str(out)]
    result = subprocess.run([sys.executable, "-m", "search", *args], capture_output=True, text=True, timeout=900, env=dict(os.environ, GHOSTRNN_CACHE=str(cache_dir)))
    assert result.returncode == 0, result.stdout + result.stderr
    trials = pd.read_csv(out / "s" / "trials.csv")
    pareto = pd.read_csv(out / "s" / "pareto.csv")
    return trials[REPEATED], pareto[["number", "design", "accuracy", "memory_bytes", "latency_ms"]]


@pytest.mark.slow
def test_two_workers_repeat_their_trials_and_front_idle_and_under_a_cpu_hog_and_match_one_worker(tmp_path):
    cache = tmp_path / "cache"
    first = run_search(tmp_path / "first", cache, workers=2)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        loaded = run_search(tmp_path / "loaded", cache, workers=2)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    one = run_search(tmp_path / "one", cache, workers=1)
    trials, front = first
    assert len(trials) == 14 and (trials["state"] == "COMPLETE").all() and not front.empty
    for other_trials, other_front in (loaded, one):
        assert other_trials.equals(trials)
        assert other_front.equals(front)


@pytest.mark.slow
def test_parallel_is_fixed_when_the_study_is_created(tmp_path, monkeypatch):
    import search
    from search._errors import UsageError
    from search.study._proposal import PROPOSAL_LAG_ATTR
    from search.training import Fidelity

    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    options = dict(device="cortex-m7", budget="100KB", space="kws-small", utterances_per_class=20, fidelity=Fidelity(epochs=1), out=tmp_path, study="p", progress=False, workers=1)
    assert search.run(trials=1, parallel=4, **options).study.user_attrs[PROPOSAL_LAG_ATTR] == 4
    assert search.run(trials=1, **options).study.user_attrs[PROPOSAL_LAG_ATTR] == 4  # resumed: kept
    with pytest.raises(UsageError, match=r"from the trials 4 or more places before it .* --parallel 2 would change its trial list"):
        search.run(trials=1, parallel=2, **options)

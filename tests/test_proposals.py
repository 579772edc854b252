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
from search._settings import SETTINGS_ATTR
from search.study._proposal import LAG_COUNTS_ALL, LAG_COUNTS_TRAINED, PROPOSAL_ATTR, PROPOSAL_LAG_COUNTS_ATTR, FixedHistorySampler, fixed_history_sampler, proposal_lag
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


# A stand-in memory budget: the designs over it are infeasible, finish at once and are
# never trained, as in a search (about a third of kws-default's designs, and what TPE
# drifts to, since the stand-in's accuracy grows with the width).
BUDGET = 384


def feasible(params: dict) -> bool:
    return scores(params)[1] <= BUDGET


def search(tmp_path, name: str, workers: int, sampler: str = "tpe", trials: int = 24, jitter_seed: int = 0, lag_counts: str = LAG_COUNTS_ALL, budget: bool = False) -> list[dict]:
    """``workers`` threads, each with its own study object and sampler, sharing one storage
    and the study's file claim, as worker processes do; each trial takes a random time,
    from ``jitter_seed``, so the workers finish in a different order from run to run.
    With ``budget``, the designs over :data:`BUDGET` are infeasible and end at once."""
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name=name, storage=storage, directions=DIRECTIONS)
    for params in BASELINES:
        study.enqueue_trial(params)
    errors = []

    def worker(index: int) -> None:
        try:
            mine = optuna.load_study(study_name=name, storage=storage)
            mine.sampler = FixedHistorySampler(sampler, 7, SPACE, trials, proposal_lag(workers), lag_counts)
            pace = random.Random(jitter_seed * 100 + index)

            def objective(trial):
                params = {key: trial.suggest_categorical(key, values) for key, values in SPACE.choices.items()}
                if budget:
                    # Stored right after the design, as the search's objective does.
                    trial.set_user_attr("feasible", feasible(params))
                    if not feasible(params):
                        return [0.0, scores(params)[1]]
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
    # Likewise with a lag of trained trials and infeasible designs among them.
    options = dict(sampler=sampler, trials=16, lag_counts=LAG_COUNTS_TRAINED, budget=True)
    assert search(tmp_path, "c", workers=2, jitter_seed=4, **options) == search(tmp_path, "d", workers=1, **options)


def test_with_a_lag_of_trained_trials_two_workers_propose_what_one_worker_proposes(tmp_path):
    """Infeasible designs end at once while others take a random time; whether a trial
    counts towards the lag follows from its design, so the trial list still repeats."""
    one = search(tmp_path, "one", workers=1, lag_counts=LAG_COUNTS_TRAINED, budget=True)
    two = search(tmp_path, "two", workers=2, jitter_seed=1, lag_counts=LAG_COUNTS_TRAINED, budget=True)
    again = search(tmp_path, "again", workers=2, jitter_seed=2, lag_counts=LAG_COUNTS_TRAINED, budget=True)
    assert two == one and again == one
    infeasible = sum(not feasible(params) for params in one)
    assert 4 <= infeasible <= 20, infeasible
    # The lag changes which trials a proposal sees, so the trial list is another one.
    assert one != search(tmp_path, "old", workers=1, budget=True)


def replay(workers: int, lag_counts: str, trials: int = 30) -> tuple[list[dict], float]:
    """The search on a simulated clock: trials over :data:`BUDGET` take no time, the
    others 1 to 1.9 s; a free worker whose next trial is blocked
    (``next_trial_blocked``, as the search's workers ask it) idles until a trial ends.
    Returns the trial list and the seconds workers idled while trials were left to start."""
    study = optuna.create_study(directions=DIRECTIONS)
    for params in BASELINES:
        study.enqueue_trial(params)
    study.sampler = FixedHistorySampler("tpe", 7, SPACE, trials, proposal_lag(workers), lag_counts)
    durations = random.Random(5)
    clock, idle, started = 0.0, 0.0, 0
    free_since = {worker: 0.0 for worker in range(workers)}
    busy: dict[int, tuple] = {}
    while started < trials or busy:
        for worker in sorted(free_since):
            if started == trials or study.sampler.next_trial_blocked(study, claim_held=False):
                break
            idle += clock - free_since.pop(worker)
            trial = study.ask()
            params = {key: trial.suggest_categorical(key, values) for key, values in SPACE.choices.items()}
            trial.set_user_attr("feasible", feasible(params))
            values = scores(params) if feasible(params) else [0.0, scores(params)[1]]
            busy[worker] = (clock + (durations.uniform(1.0, 1.9) if feasible(params) else 0.0), trial, values)
            started += 1
        worker, (clock, trial, values) = min(busy.items(), key=lambda item: (item[1][0], item[0]))
        study.tell(trial, values)
        del busy[worker]
        free_since[worker] = clock
    return [t.params for t in study.get_trials(deepcopy=False)], idle


def test_a_lag_of_trained_trials_does_not_wait_where_a_lag_of_numbers_does():
    """With two workers and trials that train for 1 to 1.9 s, one worker cannot finish two
    trained trials while the other trains one: counting trained trials, nobody waits;
    counting numbers, a worker that ran through infeasible trials waits for the other."""
    trained, trained_idle = replay(2, LAG_COUNTS_TRAINED)
    numbers, numbers_idle = replay(2, LAG_COUNTS_ALL)
    assert trained_idle == 0.0
    assert numbers_idle > 1.0, numbers_idle
    # Each rule's trial list is the one a single worker makes (it never waits).
    assert trained == replay(1, LAG_COUNTS_TRAINED)[0]
    assert numbers == replay(1, LAG_COUNTS_ALL)[0]


def test_lag_is_the_workers_and_at_least_two():
    # Two workers never wait (the trials two places back are final), and one worker
    # proposes the same trials as two.
    assert [proposal_lag(workers) for workers in (1, 2, 3, 8)] == [2, 2, 3, 8]


def make_study(states: list[TrialState], owner: str = "", fits: list = ()) -> optuna.Study:
    """A study whose trials have the given states, each with a whole design; ``fits``
    gives the first trials' ``feasible`` attribute (None: not stored yet)."""
    study = optuna.create_study(directions=DIRECTIONS)
    for number, state in enumerate(states):
        params = {**BASELINES[0], "hidden": SPACE.choices["hidden"][number % len(SPACE.choices["hidden"])]}
        distributions = {key: optuna.distributions.CategoricalDistribution(values) for key, values in SPACE.choices.items()}
        user_attrs = {CLAIMED_BY_ATTR: owner} if owner and state == TrialState.RUNNING else {}
        if number < len(fits) and fits[number] is not None:
            user_attrs["feasible"] = fits[number]
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                params=params,
                distributions=distributions,
                values=scores(params) if state == TrialState.COMPLETE else None,
                user_attrs=user_attrs,
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


def test_infeasible_trials_do_not_count_towards_the_lag():
    """Trial 13 comes next with lag 2: trials 12 and 9 train, 10 and 11 were infeasible.
    Counting trained trials, 9 may still run (shown running), and 10 and 11 are shown
    final; counting numbers, 9 and 10 must be final."""
    states = [TrialState.COMPLETE] * 9 + [TrialState.RUNNING] + [TrialState.COMPLETE] * 2 + [TrialState.RUNNING]
    fits = [True] * 10 + [False, False, True]
    study = make_study(states, f"{socket.gethostname()}:{os.getpid()}", fits)
    trained = FixedHistorySampler("tpe", 0, SPACE, 40, lag=2, lag_counts=LAG_COUNTS_TRAINED)
    numbers = FixedHistorySampler("tpe", 0, SPACE, 40, lag=2)
    assert not trained.next_trial_blocked(study, claim_held=True)
    assert numbers.blocking_trial(study, 13).number == 9
    view = trained.view_of(study, 13)
    assert [t.state for t in view] == [TrialState.COMPLETE] * 9 + [TrialState.RUNNING] + [TrialState.COMPLETE] * 2 + [TrialState.RUNNING]
    assert view[10].values == study.trials[10].values and view[9].values is None
    # The lag counts the two trials that train, however many infeasible ones lie between.
    assert trained.shown_running(study.trials, 13) == {9, 12}
    assert numbers.shown_running(study.trials, 13) == {11, 12}


def test_a_trial_in_the_window_is_waited_for_until_it_is_known_to_train_and_an_infeasible_one_until_final():
    alive = f"{socket.gethostname()}:{os.getpid()}"
    trained = FixedHistorySampler("tpe", 0, SPACE, 40, lag=2, lag_counts=LAG_COUNTS_TRAINED)
    running, complete = TrialState.RUNNING, TrialState.COMPLETE
    # Trial 11's feasibility is not stored yet: whether 10 is in the window depends on it.
    unknown = make_study([complete] * 10 + [running] * 2, alive, [True] * 11 + [None])
    def blocker(study: optuna.Study):
        trial = trained.blocking_trial(study, 12)
        return None if trial is None else trial.number

    assert blocker(unknown) == 10
    # Known to train: trials 10 and 11 are the window, nothing is waited for.
    assert blocker(make_study([complete] * 10 + [running] * 2, alive, [True] * 12)) is None
    # Infeasible and still running (its milliseconds): in the window, it is waited for.
    assert blocker(make_study([complete] * 10 + [running] * 2, alive, [True] * 11 + [False])) == 11
    # Enqueued designs count as training whatever their cost.
    queued = make_study([complete] * 10, alive, [True] * 10)
    queued.enqueue_trial(BASELINES[0])
    queued.enqueue_trial(BASELINES[1])
    for _ in range(2):
        trial = queued.ask()
        trial.set_user_attr("feasible", False)
    assert trained.shown_running(queued.trials, 12) == {10, 11}


def test_a_study_keeps_the_lag_rule_it_was_created_with(tmp_path):
    """A new study stores that its lag counts trained trials; one created before that
    was stored keeps counting every trial on resume, so its trial list is kept."""
    from search.storage import open_storage
    from search.study import build_settings
    from search.study._study import open_study

    settings, space, _ = build_settings(device="cortex-m7", budget="100KB", space="kws-small")
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    created = open_study(settings, "new", storage, trials=10, create=True)
    assert created.user_attrs[PROPOSAL_LAG_COUNTS_ATTR] == LAG_COUNTS_TRAINED
    assert fixed_history_sampler(created, "tpe", 0, space, 10).lag_counts == LAG_COUNTS_TRAINED
    # A study made before: as open_study made it then, without the attribute.
    optuna.create_study(study_name="old", storage=storage, directions=settings.directions).set_user_attr(SETTINGS_ATTR, settings.to_json())
    old = open_study(settings, "old", storage, trials=10, create=True)
    assert PROPOSAL_LAG_COUNTS_ATTR not in old.user_attrs
    sampler = fixed_history_sampler(old, "tpe", 0, space, 10)
    assert sampler.lag_counts == LAG_COUNTS_ALL
    states = [TrialState.COMPLETE] * 9 + [TrialState.RUNNING] + [TrialState.COMPLETE] * 2 + [TrialState.RUNNING]
    study = make_study(states, f"{socket.gethostname()}:{os.getpid()}", [True] * 10 + [False, False, True])
    assert sampler.shown_running(study.trials, 13) == {11, 12} and sampler.next_trial_blocked(study, claim_held=True)
    old.set_user_attr(PROPOSAL_LAG_COUNTS_ATTR, "every other trial")
    with pytest.raises(StudyError, match=r"counts its proposal lag in 'every other trial', which this version does not know"):
        fixed_history_sampler(old, "tpe", 0, space, 10)


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
    with pytest.raises(UsageError, match=r"with the results of all but the last 4 trained trials .* --parallel 2 would change its trial list"):
        search.run(trials=1, parallel=2, **options)

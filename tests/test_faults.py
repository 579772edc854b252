"""Signals, killed parents, racing commands and a busy machine: one line, exact trial
counts, the exact stored design retried, the same metrics whatever the load."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import weakref
from pathlib import Path

import optuna
import pytest

import search
from search._settings import SETTINGS_ATTR
from search.study import build_settings, forget_stop_request, request_stop
from search.study._processes import deferred_interrupts, stop_if_requested
from search.study._study import Objective, recover_interrupted
from search.training import Fidelity

FAST = ["--space", "kws-small", "--utterances-per-class", "20", "--epochs", "1"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def start(args: list[str], cache_dir: Path, **options) -> subprocess.Popen:
    env = dict(os.environ, GHOSTRNN_CACHE=str(cache_dir))
    return subprocess.Popen([sys.executable, "-m", "search", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **options)


def sqlite_count(database: Path, state: str) -> int:
    try:
        with sqlite3.connect(database) as connection:
            return connection.execute("select count(*) from trials where state = ?", (state,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def load_trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    name = optuna.get_all_study_summaries(storage)[0].study_name
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


# ---------------------------------------------------------------- signals


@pytest.fixture
def sigint_raises():
    """Python's own Ctrl-C handler for the test: a suite started in the background by a
    non-interactive shell inherits SIGINT ignored, and then no signal would arrive."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_deferred_interrupts_hold_the_signal_until_the_block_ends(sigint_raises):
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            reached.append("end of block")
    assert reached == ["end of block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class InterruptingSampler(optuna.samplers.RandomSampler):
    """A real sampler that receives Ctrl-C between the first and second parameter."""

    def sample_independent(self, study, trial, name, distribution):
        if len(trial.params) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return super().sample_independent(study, trial, name, distribution)


def test_interrupt_while_sampling_stores_a_whole_design_and_its_retry_is_the_same(sigint_raises):
    settings, space, _ = build_settings(device="cortex-m7", budget="100KB", space="kws-small")

    def trainer(config):
        raise AssertionError("an interrupted trial must not reach training")

    study = optuna.create_study(directions=settings.directions, sampler=InterruptingSampler(seed=1))
    with pytest.raises(KeyboardInterrupt):
        study.optimize(Objective(settings, trainer), n_trials=1)
    (failed,) = study.get_trials(deepcopy=False)
    assert failed.state.name == "FAIL"
    assert set(failed.params) == set(space.choices) and "worker" in failed.user_attrs
    recover_interrupted(study)
    (retry,) = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    assert retry.system_attrs["fixed_params"] == failed.params


def test_half_stored_design_is_not_retried_as_another_design():
    """A trial killed between two parameters (no deferral can stop SIGKILL) is not retried."""
    settings, space, _ = build_settings(device="cortex-m7", budget="100KB", space="kws-small")
    study = optuna.create_study(directions=settings.directions)
    study.set_user_attr(SETTINGS_ATTR, settings.to_json())
    trial = study.ask()
    trial.set_user_attr("worker", "host:1")
    first = space.dimensions[0]
    trial.suggest_categorical(first, space.choices[first])
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    recover_interrupted(study)
    assert not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))


KILL_WHILE_CHOOSING = Path(__file__).with_name("kill_while_choosing.py")


def kill_while_choosing(url: str, study_name: str, when: str) -> subprocess.CompletedProcess:
    """Run a worker that SIGKILLs itself while its trial chooses its design (see the script)."""
    result = subprocess.run([sys.executable, str(KILL_WHILE_CHOOSING), url, study_name, when], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    return result


@pytest.mark.parametrize("kind, when", [("sqlite", "mid"), ("journal", "mid"), ("journal", "whole")])
def test_a_worker_killed_while_choosing_its_design_leaves_no_half_design_to_retry(tmp_path, kind, when):
    from search.storage import design_is_stored, open_storage
    from search.study._study import open_study

    url = f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'study.journal'}"
    settings, space, _ = build_settings(device="cortex-m7", budget="100KB", space="kws-small")
    study = open_study(settings, "killed", open_storage(url), trials=10, create=True)
    kill_while_choosing(url, "killed", when)

    (killed,) = study.get_trials(deepcopy=False)
    assert killed.state.name == "RUNNING"
    if when == "mid":
        assert len(killed.params) == 1 and not design_is_stored(killed)
    else:
        assert set(killed.params) == set(space.choices) and design_is_stored(killed)
    # What `search run` does on its next start, holding the study's claim.
    assert recover_interrupted(study, claim_held=True) == [killed.number]
    trials = study.get_trials(deepcopy=False)
    assert trials[0].state.name == "FAIL"
    waiting = [t for t in trials if t.state.name == "WAITING"]
    if when == "mid":
        assert waiting == []  # the next trial is a fresh proposal; half a design is never trained
    else:
        (retry,) = waiting
        assert retry.system_attrs["fixed_params"] == killed.params and retry.system_attrs["retry_of"] == killed.number


@pytest.mark.slow
def test_sigterm_mid_trial_gives_one_line_and_resumes(tmp_path, cache_dir):
    out = tmp_path / "runs"
    args = ["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "6", "--out", str(out), "--study", "t", "--no-progress", "--workers", "1", *FAST]
    process = start(args, cache_dir)
    database = out / "t" / "study.db"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and sqlite_count(database, "COMPLETE") < 1:
        time.sleep(0.2)
    while time.time() < deadline and process.poll() is None and sqlite_count(database, "RUNNING") < 1:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert stderr == "", stderr  # no traceback, no Optuna warning
    done = sqlite_count(database, "COMPLETE")
    assert stdout.strip().splitlines()[-1] == f"search: interrupted after {done} of 6 trials; run the same command to resume"
    resumed = subprocess.run([sys.executable, "-m", "search", *args], capture_output=True, text=True, env=dict(os.environ, GHOSTRNN_CACHE=str(cache_dir)), timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert sqlite_count(database, "COMPLETE") == 6


# ---------------------------------------------------------------- exact trial counts


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found += [int(part) for part in text.split()]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_child_started_with_die_with_parent_dies_when_its_parent_is_killed():
    code = (
        "import subprocess, time\n"
        "from search.study._processes import die_with_parent\n"
        "child = subprocess.Popen(['sleep', '60'], preexec_fn=die_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and alive(child):
        time.sleep(0.05)
    assert not alive(child)


@pytest.mark.slow
def test_workers_die_with_a_killed_parent_and_the_rerun_stops_at_the_target(tmp_path, cache_dir):
    out = tmp_path / "runs"
    args = ["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "8", "--workers", "2", "--out", str(out), "--study", "orphans", "--no-progress", *FAST]
    parent = start(args, cache_dir)
    journal = out / "orphans" / "study.journal"
    deadline = time.time() + 300
    workers: list[int] = []
    while time.time() < deadline and parent.poll() is None and not (journal.exists() and b'"state":1' in journal.read_bytes() and len(workers) == 2):
        workers = children_of(parent.pid)
        time.sleep(0.2)
    assert parent.poll() is None and len(workers) == 2, parent.communicate()
    parent.kill()
    parent.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers), "a worker outlived its killed parent"
    rerun = subprocess.run([sys.executable, "-m", "search", *args], capture_output=True, text=True, env=dict(os.environ, GHOSTRNN_CACHE=str(cache_dir)), timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="orphans", storage=storage).get_trials(deepcopy=False)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 8


@pytest.mark.slow
def test_two_runs_started_together_on_one_sqlite_study_stay_exact(tmp_path, cache_dir):
    out = tmp_path / "runs"
    args = ["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "6", "--out", str(out), "--study", "race", "--no-progress", "--workers", "1", *FAST]
    # Both reach the study (created, baselines queued) before loading any data, at the same moment.
    first, second = start(args, cache_dir), start(args, cache_dir)
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    trials = load_trials(f"sqlite:///{out / 'race' / 'study.db'}")
    assert sum(t.state.name == "COMPLETE" for t in trials) == 6
    queued = [t for t in trials if "fixed_params" in t.system_attrs and "retry_of" not in t.system_attrs]
    assert len(queued) == len({tuple(sorted(t.system_attrs["fixed_params"].items())) for t in queued}) == 2  # the two baselines, once


# ---------------------------------------------------------------- fidelity


def test_a_trial_cut_short_by_the_time_limit_is_never_scored(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(cache_dir))
    result = search.run(
        device="cortex-m7", budget="100KB", trials=3, space="kws-small", utterances_per_class=20,
        fidelity=Fidelity(epochs=50, max_seconds=0.01), out=tmp_path, study="cut", progress=False,
    )
    trials = result.study.get_trials(deepcopy=False)
    trained = [t for t in trials if t.user_attrs.get("feasible")]
    assert len(trials) == 3 and trained
    for trial in trained:
        assert trial.state.name == "PRUNED" and trial.user_attrs["train_status"] == "cut short"
        assert "raise --max-trial-seconds" in trial.user_attrs["train_reason"] and "metric" not in trial.user_attrs
        assert 0 < trial.user_attrs["samples_seen"] < 50 * 20 * 12
    assert result.pareto.empty


def test_no_wall_clock_limit_by_default_so_the_load_cannot_decide_which_trials_are_scored():
    from search.cli._main import build_parser

    assert Fidelity().max_seconds is None
    args = build_parser().parse_args(["run", "--device", "cortex-m7"])
    assert args.max_trial_seconds is None
    assert build_parser().parse_args(["run", "--device", "cortex-m7", "--max-trial-seconds", "90"]).max_trial_seconds == 90.0
    for bad in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(ValueError, match="max_seconds"):
            Fidelity(max_seconds=bad)


def test_a_resumed_study_takes_the_new_time_limit_but_refuses_other_fidelity_changes():
    from search._errors import StudyError
    from search.study._study import open_study, stored_settings

    storage = optuna.storages.InMemoryStorage()
    limited, _, _ = build_settings(device="cortex-m7", budget="100KB", space="kws-small", fidelity=Fidelity(max_seconds=120.0))
    open_study(limited, "s", storage, trials=4, create=True)
    unlimited, _, _ = build_settings(device="cortex-m7", budget="100KB", space="kws-small", fidelity=Fidelity())
    open_study(unlimited, "s", storage, trials=4, create=True)
    assert stored_settings("s", storage).fidelity["max_seconds"] is None  # what the workers now read
    longer, _, _ = build_settings(device="cortex-m7", budget="100KB", space="kws-small", fidelity=Fidelity(epochs=4))
    with pytest.raises(StudyError, match="fidelity: study has"):
        open_study(longer, "s", storage, trials=4, create=True)


def cpu_hog(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


@pytest.mark.slow
def test_the_same_search_idle_and_under_a_cpu_hog_gives_identical_metrics(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(cache_dir))
    options = dict(device="cortex-m7", budget="100KB", trials=6, space="kws-small", utterances_per_class=20, fidelity=Fidelity(epochs=2), out=tmp_path, seed=5, progress=False)
    idle = search.run(study="idle", **options).trials
    hogs = cpu_hog(2 * (os.cpu_count() or 1))
    try:
        loaded = search.run(study="loaded", **options).trials
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    columns = ["design", "state", "accuracy", "samples_seen", "train_status"]
    assert idle[columns].equals(loaded[columns])
    assert (idle["train_status"].dropna() != "cut short").all()


def test_an_interrupt_python_swallows_still_stops_at_the_next_safe_point(monkeypatch):
    """A SIGINT that lands in a garbage-collection callback is printed as "Exception
    ignored" and lost to the code that runs; the command's handler remembers it, so the
    next epoch or trial stops the run (seen once: a run carried on to its last trial)."""
    swallowed = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: swallowed.append(info.exc_type))
    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        forget_stop_request()

        class Connection:
            pass

        def collected(_):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs here, inside the callback
                pass

        connection = Connection()
        reference = weakref.ref(connection, collected)
        del connection
        assert swallowed == [KeyboardInterrupt] and reference() is None
        with pytest.raises(KeyboardInterrupt):
            stop_if_requested()
        forget_stop_request()
        stop_if_requested()  # a new command starts without the old request
    finally:
        signal.signal(signal.SIGINT, previous)
        forget_stop_request()

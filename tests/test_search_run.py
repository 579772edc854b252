"""`search run` end to end: real Optuna studies, real training on a small synthetic corpus."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

import search
from cost_models import load_device, parse_size, realtime_ms
from reports import format_duration
from search.training import Fidelity
from spaces import ArchConfig

# Small corpus and one epoch: the search machinery is under test here, not accuracy.
# One worker process (the default is one per core): most tests read that process's study.db.
FAST = ["--space", "kws-small", "--utterances-per-class", "20", "--epochs", "1", "--workers", "1"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def run_cli(args, cache_dir, timeout=600, check=True):
    env = dict(os.environ, GHOSTRNN_CACHE=str(cache_dir))
    result = subprocess.run([sys.executable, "-m", "search", *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def load_trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{run_dir / 'study.db'}"
    name = optuna.get_all_study_summaries(storage)[0].study_name
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def test_run_writes_a_front_that_respects_budget_and_device(tmp_path, cache_dir):
    out = tmp_path / "runs"
    result = run_cli(["run", "--device", "cortex-m7", "--budget", "50KB", "--trials", "8", "--out", str(out), *FAST], cache_dir)
    run_dir = out / "kws-cortex-m7-50KB"
    assert (run_dir / "study.db").is_file()
    trials = pd.read_csv(run_dir / "trials.csv")
    pareto = pd.read_csv(run_dir / "pareto.csv")
    assert len(trials) == 8 and set(trials["state"]) == {"COMPLETE"}
    for column in ("memory_bytes", "flash_bytes", "ram_bytes", "macs", "latency_ms", "accuracy", "hidden", "ghost_ratio", "cheap_op"):
        assert column in trials.columns
    # The budget counts the feature front end (tables, code, audio buffers): its share is in every memory.
    assert (trials["front_end_flash_bytes"] > 15_000).all() and (trials["front_end_ram_bytes"] > 5_000).all()
    assert (trials["flash_bytes"] + trials["ram_bytes"] == trials["memory_bytes"]).all()
    assert (trials["front_end_flash_bytes"] + trials["front_end_ram_bytes"] < trials["memory_bytes"]).all()
    device = load_device("cortex-m7")
    assert not pareto.empty
    assert (pareto["memory_bytes"] <= parse_size("50KB")).all()
    assert (pareto["flash_bytes"] <= device.flash_bytes).all() and (pareto["ram_bytes"] <= device.sram_bytes).all()
    assert (pareto["latency_ms"] <= realtime_ms(ArchConfig())).all()
    assert pareto["feasible"].all() and pareto["trained"].all()
    # The plain-GRU baselines come first: ratio 1, the widest sizes that fit.
    assert trials.loc[:1, "ghost_ratio"].tolist() == [1.0, 1.0]
    assert "Pareto-optimal feasible designs" in result.stdout
    assert f"search export {run_dir}" in result.stdout
    # Infeasible designs are recorded with costs but never trained.
    infeasible = trials[trials["feasible"] == False]  # noqa: E712
    assert (infeasible["memory_bytes"] > parse_size("50KB")).all()
    assert (infeasible["samples_seen"] == 0).all() and not infeasible["trained"].any()
    trained = trials[trials["trained"] & trials["duplicate_of"].isna()]
    assert (trained["samples_seen"] > 0).all()


def test_infeasible_designs_are_never_trained(tmp_path, cache_dir):
    """A budget only the smallest designs meet: most trials must be skipped untrained."""
    out = tmp_path / "runs"
    run_cli(["run", "--device", "cortex-m4", "--budget", "31KB", "--trials", "10", "--sampler", "random", "--out", str(out), *FAST], cache_dir)
    trials = load_trials(out / "kws-cortex-m4-31KB")
    infeasible = [t for t in trials if not t.user_attrs["feasible"]]
    assert infeasible, "the random sampler should meet designs over a 31 KB budget"
    for trial in infeasible:
        assert trial.user_attrs["trained"] is False and trial.user_attrs["samples_seen"] == 0
        assert "counted_macs" not in trial.user_attrs and "curve" not in trial.user_attrs
        assert any(value > 0 for value in trial.constraints.values())
        assert trial.user_attrs["cost"]["memory_bytes"] > 31000


def _trials_in_training(database: Path) -> tuple[int, int]:
    """(complete trials, trials being trained right now) of a run's study.db."""
    try:
        with sqlite3.connect(database) as connection:
            complete = connection.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
            training = connection.execute(
                "select count(*) from trials t join trial_user_attributes a on a.trial_id = t.trial_id "
                "join trial_user_attributes f on f.trial_id = t.trial_id "
                "where t.state = 'RUNNING' and a.key = 'trained' and a.value_json = 'false' and f.key = 'feasible' and f.value_json = 'true'"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0, 0  # tables not created yet
    return complete, training


def test_interrupted_run_resumes(tmp_path, cache_dir):
    out = tmp_path / "runs"
    # 20 epochs make each training last a second or more, so the interrupt lands in a
    # trial being trained (not after the last one, whatever the machine's load).
    args = ["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "8", "--out", str(out), "--study", "resume", *FAST, "--epochs", "20"]
    env = dict(os.environ, GHOSTRNN_CACHE=str(cache_dir))
    process = subprocess.Popen([sys.executable, "-m", "search", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    database = out / "resume" / "study.db"
    deadline = time.time() + 300
    complete = training = 0
    # Wait for two finished trials and one being trained, with trials still to come.
    while time.time() < deadline and process.poll() is None and not (complete >= 2 and training):
        time.sleep(0.05)
        if database.exists():
            complete, training = _trials_in_training(database)
    assert process.poll() is None and complete <= 6, f"no trial in training to interrupt (complete {complete}): {process.communicate()[1]}"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert "run the same command to resume" in stdout
    before = {t.number: t for t in load_trials(out / "resume")}
    finished_before = {n for n, t in before.items() if t.state.name == "COMPLETE"}
    assert 2 <= len(finished_before) < 8
    assert any(t.state.name == "FAIL" for t in before.values()), "the trial in training is marked failed"

    run_cli(args, cache_dir)
    after = load_trials(out / "resume")
    complete_after = [t for t in after if t.state.name == "COMPLETE"]
    assert len(complete_after) == 8
    # Finished trials were kept, not re-run: same numbers, same start times.
    for number in finished_before:
        assert after[number].datetime_start == before[number].datetime_start
    # A design trained before the interruption was not trained again.
    trained_keys = [t.user_attrs["design_key"] for t in complete_after if t.user_attrs["trained"] and t.user_attrs.get("duplicate_of") is None]
    assert len(trained_keys) == len(set(trained_keys))


def test_killed_run_recovers_its_running_trial(tmp_path, cache_dir):
    """SIGKILL leaves a RUNNING trial; the next run fails it and retries its design once."""
    out = tmp_path / "runs"
    args = ["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "4", "--out", str(out), "--study", "killed", *FAST]
    env = dict(os.environ, GHOSTRNN_CACHE=str(cache_dir))
    process = subprocess.Popen([sys.executable, "-m", "search", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    database = out / "killed" / "study.db"
    deadline = time.time() + 300
    running = 0
    while time.time() < deadline and not running and process.poll() is None:
        time.sleep(0.1)
        if database.exists():
            try:
                with sqlite3.connect(database) as connection:
                    running = connection.execute(
                        "select count(*) from trials t join trial_user_attributes a on a.trial_id = t.trial_id "
                        "where t.state = 'RUNNING' and a.key = 'trained' and a.value_json = 'false'"
                    ).fetchone()[0]
            except sqlite3.OperationalError:
                pass
    assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()[1]}"
    process.kill()
    process.wait()
    stuck = [t for t in load_trials(out / "killed") if t.state.name == "RUNNING"]
    assert len(stuck) == 1
    result = run_cli(args, cache_dir)
    assert f"trials [{stuck[0].number}] were interrupted" in result.stdout
    after = load_trials(out / "killed")
    assert after[stuck[0].number].state.name == "FAIL"
    retried = [t for t in after if t.system_attrs.get("retry_of") == stuck[0].number]
    assert len(retried) == 1 and retried[0].params == stuck[0].params and retried[0].state.name == "COMPLETE"
    assert sum(t.state.name == "COMPLETE" for t in after) == 4


def test_two_workers_complete_the_trial_count(tmp_path, cache_dir):
    out = tmp_path / "runs"
    run_cli(["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "6", "--out", str(out), "--study", "pair", *FAST, "--workers", "2"], cache_dir)
    run_dir = out / "pair"
    assert (run_dir / "study.journal").is_file() and not (run_dir / "study.db").exists()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(run_dir / "study.journal")))
    trials = optuna.load_study(study_name="pair", storage=storage).get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    assert sorted(t.number for t in trials) == list(range(6))
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    trained = [t.user_attrs["design_key"] for t in trials if t.user_attrs["trained"] and t.user_attrs.get("duplicate_of") is None]
    assert len(trained) == len(set(trained))
    assert len(pd.read_csv(run_dir / "trials.csv")) == 6


def test_workers_auto_gives_the_results_of_one_worker(tmp_path, cache_dir):
    """The default --workers auto (a process per core, one torch thread each) trains the
    same trial list (the space's four enqueued GRU/LSTM baselines) to the same numbers."""
    common = ["run", "--device", "cortex-m7", "--budget", "48KB", "--trials", "4", "--study", "s", "--space", "kws-default"]
    common += ["--utterances-per-class", "20", "--epochs", "1", "--no-progress"]
    run_cli([*common, "--workers", "1", "--out", str(tmp_path / "one")], cache_dir)
    run_cli([*common, "--out", str(tmp_path / "auto")], cache_dir)
    one = {t.user_attrs["design_key"]: t for t in load_trials(tmp_path / "one" / "s")}
    cores = len(os.sched_getaffinity(0))
    if cores > 1:  # several workers share a journal file
        journal = optuna.storages.journal.JournalFileBackend(str(tmp_path / "auto" / "s" / "study.journal"))
        auto_trials = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(journal)).get_trials(deepcopy=False)
    else:
        auto_trials = load_trials(tmp_path / "auto" / "s")
    auto = {t.user_attrs["design_key"]: t for t in auto_trials}
    assert len(one) == 4 and set(auto) == set(one)
    assert {t.params["cell"] for t in one.values()} == {"gru", "lstm"}
    assert {key: t.values for key, t in auto.items()} == {key: t.values for key, t in one.items()}
    assert {key: t.user_attrs["curve"][-1]["train_loss"] for key, t in auto.items()} == {
        key: t.user_attrs["curve"][-1]["train_loss"] for key, t in one.items()
    }
    assert len({t.user_attrs["worker"] for t in auto.values()}) == min(4, cores)


def test_same_seed_same_designs(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(cache_dir))
    options = dict(device="cortex-m7", budget="100KB", trials=10, space="kws-small", utterances_per_class=20, fidelity=Fidelity(epochs=1), out=tmp_path, progress=False)
    first = search.run(study="a", seed=3, **options).trials
    second = search.run(study="b", seed=3, **options).trials
    columns = ["hidden", "ghost_ratio", "cheap_op"]
    assert first[columns].equals(second[columns])
    assert first["accuracy"].tolist() == second["accuracy"].tolist()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--space", "nonexistent"], "unknown space 'nonexistent'; valid:"),
        (["--budget", "12 parsecs"], "invalid size '12 parsecs'"),
        (["--budget", "100B"], "no design of space 'kws-small' fits: the smallest, gru 1x16"),
        (["--objectives", "accuracy,beauty"], "unknown objective 'beauty'"),
        (["--task", "se"], "space 'kws-small' is for task 'kws'"),
        (["--data-dir", "/nonexistent"], "--data-dir /nonexistent is not a directory"),
        (["--workers", "zero"], "--workers: expected 'auto' or a whole number of at least 1, got 'zero'"),
    ],
)
def test_bad_run_options_give_one_line(tmp_path, cache_dir, args, message):
    base = ["run", "--device", "cortex-m7", "--budget", "100KB", "--out", str(tmp_path), "--space", "kws-small"]
    result = run_cli(base + args, cache_dir, check=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unwritable_out_corrupt_study_and_incompatible_resume(tmp_path, cache_dir):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli(["run", "--device", "cortex-m7", "--out", str(blocker), *FAST], cache_dir, check=False)
    assert result.returncode == 2 and "cannot write to output directory" in result.stderr

    corrupt = tmp_path / "runs" / "broken"
    corrupt.mkdir(parents=True)
    (corrupt / "study.db").write_bytes(b"this is not sqlite" * 100)
    result = run_cli(["run", "--device", "cortex-m7", "--out", str(tmp_path / "runs"), "--study", "broken", *FAST], cache_dir, check=False)
    assert result.returncode == 2 and "is not a readable study database" in result.stderr, result.stderr

    out = str(tmp_path / "runs")
    run_cli(["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "1", "--out", out, "--study", "s", *FAST], cache_dir)
    result = run_cli(["run", "--device", "cortex-m4", "--budget", "100KB", "--trials", "2", "--out", out, "--study", "s", *FAST], cache_dir, check=False)
    assert result.returncode == 2 and "was started with other settings (device: study has 'cortex-m7'" in result.stderr
    for line in (result.stderr,):
        assert "Traceback" not in line


def test_measured_latency_model(tmp_path, cache_dir):
    from cost_models import measurement_available

    reason = measurement_available()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "runs"
    measured_run = run_cli(["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "3", "--latency-model", "measured", "--out", str(out), *FAST], cache_dir)
    assert "latencies are measured" in measured_run.stdout and "ms measured" in measured_run.stdout
    trials = load_trials(out / "kws-cortex-m7-100KB")
    for trial in trials:
        measured = trial.user_attrs["measured"]
        assert measured["instructions"] > trial.user_attrs["cost"]["macs"]  # at least one instruction per MAC
        # The model's code as emulated, plus the analytic front end once per frame (49 hops).
        front = trial.user_attrs["cost"]["front_end"]
        assert trial.user_attrs["cost"]["latency_ms"] == pytest.approx(measured["measured_latency_ms"] + 49 * front["latency_ms"])
    result = run_cli(["run", "--device", "host", "--latency-model", "measured", "--out", str(out), *FAST], cache_dir, check=False)
    assert result.returncode == 2 and "needs a device with an instruction set" in result.stderr


def test_budget_spelling_names_one_study_and_sizes_read_as_typed(tmp_path, cache_dir):
    out = tmp_path / "runs"
    first = run_cli(["run", "--device", "cortex-m7", "--budget", "50KB", "--trials", "2", "--out", str(out), *FAST], cache_dir)
    assert "within 50 KB" in first.stdout and "KiB" not in first.stdout.split("Pareto-optimal")[1]
    again = run_cli(["run", "--device", "cortex-m7", "--budget", "50kb", "--trials", "3", "--out", str(out), *FAST], cache_dir)
    assert "study 'kws-cortex-m7-50KB'" in again.stdout and "2 of 3 trials done, 1 to run" in again.stdout
    assert [path.name for path in out.iterdir()] == ["kws-cortex-m7-50KB"]
    # The next step offered is the balanced design, not the largest.
    assert "--trial best --pick knee --to exported/" in again.stdout
    show = run_cli(["show", str(out / "kws-cortex-m7-50KB")], cache_dir)
    assert "budget 50 KB" in show.stdout and "What this run found:" in show.stdout
    kib = run_cli(["run", "--device", "cortex-m7", "--budget", "50KiB", "--trials", "1", "--out", str(out), *FAST], cache_dir)
    assert "study 'kws-cortex-m7-50KiB'" in kib.stdout and "within 50.0 KiB" in kib.stdout


def test_negative_budget_is_refused_in_one_line(tmp_path, cache_dir):
    result = run_cli(["run", "--device", "cortex-m7", "--budget", "-5KB", "--out", str(tmp_path)], cache_dir, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "argument --budget: invalid size '-5KB': a size must be positive" in result.stderr


def test_yaml_errors_keep_line_and_column(tmp_path, cache_dir):
    space = tmp_path / "broken-space.yaml"
    space.write_text("name: broken\ntask: kws\nhidden: [16, 32\ncell: gru\n")
    result = run_cli(["run", "--device", "cortex-m7", "--space", str(space), "--out", str(tmp_path)], cache_dir, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "not valid YAML" in result.stderr and "line 4, column 5" in result.stderr and "starts at line 3, column 9" in result.stderr
    device = tmp_path / "board.yaml"
    device.write_text("name: board\nclock_mhz: 48\nsram: 64KiB\n  flash: 256KiB\n")
    result = run_cli(["cost", "--device", str(device)], cache_dir, check=False)
    assert result.returncode == 2 and "line 4, column 8" in result.stderr, result.stderr


def test_help_shows_defaults_without_loading_the_heavy_libraries(cache_dir):
    """`--help` must be instant: nothing it prints needs torch, Optuna, pandas or plotly."""
    probe = (
        "import contextlib, io, sys\n"
        "from search.cli import main\n"
        "for command in ([], ['run'], ['cost'], ['export'], ['show'], ['train'], ['worker'], ['calibrate'], ['report']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(command + ['--help'])\n"
        "        except SystemExit:\n"
        "            pass\n"
        "print(sorted(name for name in ('torch', 'optuna', 'pandas', 'plotly', 'numpy') if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    help_text = run_cli(["run", "--help"], cache_dir).stdout
    for option, default in (("--epochs", "3"), ("--data-fraction", "1"), ("--seed", "0"), ("--task", "kws"), ("--trials", "40")):
        block = help_text[help_text.index(f"  {option}") :].split("\n  -")[0]
        assert f"(default {default})" in " ".join(block.split()), (option, block)
    # No time limit unless asked for: a busy machine must not decide which trials are scored.
    block = help_text[help_text.index("  --max-trial-seconds") :].split("\n  -")[0]
    assert "(default: none," in " ".join(block.split()), block


def test_a_baseline_interrupted_twice_is_reported(tmp_path, cache_dir, monkeypatch):
    from search.study import design_key
    from spaces import load_space

    monkeypatch.setenv("GHOSTRNN_CACHE", str(cache_dir))
    out = tmp_path / "runs"
    result = search.run(device="cortex-m7", budget="100KB", trials=2, space="kws-small", utterances_per_class=20, fidelity=Fidelity(epochs=1), out=out, progress=False, study="twice")
    study = result.study
    # What two interrupts of the plain 1x16 GRU leave: the trial and its one retry, failed.
    params = {"hidden": 16, "ghost_ratio": 1.0, "cheap_op": "linear"}
    distributions = study.get_trials(deepcopy=False)[0].distributions
    attrs = {"design": "gru 1x16 (plain)", "baseline": True, "design_key": design_key(load_space("kws-small").config(params))}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params=params, distributions=distributions, user_attrs=attrs))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params=params, distributions=distributions, user_attrs=attrs, system_attrs={"retry_of": 2}))
    again = run_cli(["run", "--device", "cortex-m7", "--budget", "100KB", "--trials", "2", "--out", str(out), "--study", "twice", *FAST], cache_dir)
    assert "note: plain baseline gru 1x16 (plain) was interrupted twice (trials 2 and 3) and is not retried" in again.stdout
    assert "the fronts lack this non-ghost comparison" in again.stdout


def test_progress_bar_shows_the_epoch_and_time_left_of_a_trial():
    import io

    from tqdm import tqdm

    from cost_models import analytic_cost, load_device
    from search.study._run import TrialProgress

    stream = io.StringIO()
    bar = tqdm(total=4, file=stream, disable=False, ncols=200)
    progress = TrialProgress(bar, epochs=4)
    small, large = ArchConfig(hidden=16), ArchConfig(hidden=128)
    device = load_device("cortex-m7")
    progress(0, small, analytic_cost(small, device), None)
    assert bar.postfix == "#0 gru 1x16 r2 linear/tanh: epoch 0/4"  # nothing to estimate from yet
    progress._started -= 2.0  # two seconds into training
    progress(0, small, analytic_cost(small, device), {"epoch": 1.0})
    assert bar.postfix.startswith("#0 gru 1x16 r2 linear/tanh: epoch 1/4, ~") and "left" in bar.postfix
    # The next design is 8x wider: its estimate before any epoch scales with its MACs.
    progress(1, large, analytic_cost(large, device), None)
    expected = progress.seconds_per_mmac_epoch * analytic_cost(large, device).macs / 1e6 * 4
    assert f"~{format_duration(expected)} left" in bar.postfix and expected > 8.0 * 4
    bar.close()


def test_progress_bar_of_several_workers_shows_their_trials_in_training():
    """With worker processes the parent reads the epochs the workers store in the study."""
    import io

    import optuna
    from tqdm import tqdm

    from search.study._run import TrialProgress

    study = optuna.create_study(directions=["maximize", "minimize"])
    training = study.ask()
    training.set_user_attr("design", "gru 1x64 (plain)")
    training.storage.set_trial_intermediate_value(training._trial_id, 1, 0.4)
    choosing = study.ask()  # no design stored yet: not shown
    assert choosing.number == 1
    bar = tqdm(total=4, file=io.StringIO(), disable=False, ncols=200)
    text = TrialProgress(bar, epochs=3).running_text(study)
    assert text.startswith("#0 gru 1x64 (plain): epoch 1/3, ~") and text.endswith("left"), text
    assert "#1" not in text
    bar.close()


def test_the_search_script_entry_point_resolves():
    """pyproject's console script must name a real function (`pip install .` makes `search` from it)."""
    import importlib
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    module, _, function = project["project"]["scripts"]["search"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))

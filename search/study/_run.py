"""``search run`` as a function: the study driver behind the command and the Python API.

Example (a tiny run; the first call generates and caches the synthetic corpus):

    >>> import search
    >>> result = search.run(device="cortex-m7", budget="100KB", trials=4, space="kws-small", epochs=1)  # doctest: +SKIP
    >>> result.pareto[["design", "accuracy", "memory_bytes", "latency_ms"]]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from cost_models import DeviceProfile, analytic_cost, canonical_size, format_size, load_device, measurement_available, parse_size, size_units
from reports import format_duration, format_table, precision_columns
from spaces import DesignSpace, load_space

from search._errors import RunInterrupted, UsageError
from search._settings import MAX_SEED, RunSettings, parse_objectives
from search.data import check_task_data_fits, parse_keywords
from search.study._defaults import DEFAULT_SAMPLER, DEFAULT_TRIALS, SAMPLERS
from search.study._join import join_conflicts
from search.study._processes import die_with_parent, quiet_trial_failures
from search.study._proposal import PROPOSAL_LAG_ATTR, fixed_history_sampler, proposal_lag
from search.study._promote import DEFAULT_PROMOTE_EPOCHS, DEFAULT_PROMOTE_SEEDS, PromotionPlan, promote as promote_front
from search.storage import lost_error
from search.storage import PASSWORD_ENV, StudyError, local_storage_url, mask_url, open_storage, split_password
from search.study._study import (
    Objective,
    baseline_designs,
    finished_count,
    limits_of,
    open_study,
    parse_space_dict,
    given_up_designs,
    given_up_text,
    recover_interrupted,
    stored_settings,
)
from search.study._target import TrialClaim, run_to_target, trial_claim
from search.training import DEFAULT_PRECISION, PRECISIONS, Fidelity

# Each finished trial gets its own line from this module; Optuna's INFO lines would repeat it.
optuna.logging.set_verbosity(optuna.logging.WARNING)
quiet_trial_failures()

TARGET_TRIALS_ATTR = "target_trials"
LATENCY_MODELS = ("analytic", "measured")
# More local worker processes than this is a typing slip (each holds a copy of the data).
MAX_WORKERS = 256


@dataclass
class RunResult:
    """What a finished (or interrupted) run leaves behind."""

    study: optuna.Study
    run_dir: Optional[Path]
    trials: pd.DataFrame
    pareto: pd.DataFrame
    metric_name: str  # the trials/pareto column of the task metric: accuracy or si_snri_db
    files: list[Path] = field(default_factory=list)
    settings: Optional[RunSettings] = None


def default_study_name(task: str, device: DeviceProfile, budget: Optional[str]) -> str:
    """``kws-cortex-m7-100KB``: the budget in its canonical spelling, so ``100kb``,
    ``100 KB`` and ``0.1MB`` name (and resume) the same study."""
    budget_part = canonical_size(budget) if budget else "nobudget"
    return f"{task}-{device.name}-{budget_part}"


def build_settings(
    *,
    device: str,
    budget: Optional[Union[str, int]] = None,
    ram_budget: Optional[Union[str, int]] = None,
    latency_budget: Optional[float] = None,
    task: str = "kws",
    space: Optional[str] = None,
    objectives: str = "accuracy,memory,latency",
    sampler: str = DEFAULT_SAMPLER,
    seed: int = 0,
    fidelity: Optional[Fidelity] = None,
    data_dir: Optional[str] = None,
    keywords: Optional[Union[str, Sequence[str]]] = None,
    clip_seconds: float = 1.0,
    utterances_per_class: Optional[int] = None,
    latency_model: str = "analytic",
    precision: str = DEFAULT_PRECISION,
    command: str = "",
) -> tuple[RunSettings, DesignSpace, DeviceProfile]:
    """Validate every user input and fold it into :class:`RunSettings`."""
    if task not in ("kws", "se"):
        raise UsageError(f"unknown task {task!r}; valid: kws, se")
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    profile = load_device(device)
    design_space = load_space(space or f"{task}-default")
    if design_space.task != task:
        raise UsageError(f"space {design_space.name!r} is for task {design_space.task!r}, not {task!r}; pass --task {design_space.task} or another --space")
    try:
        objective_names = parse_objectives(objectives)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise UsageError(f"--data-dir {data_dir} is not a directory; point it at a folder of class folders of audio clips")
    if task == "se" and keywords is not None:
        raise UsageError("--keywords is for kws; an SE --data-dir holds clean/ and noise/ recordings")
    word_list = parse_keywords(keywords) if isinstance(keywords, str) else (list(keywords) if keywords is not None else None)
    if (word_list is not None or clip_seconds != 1.0) and data_dir is None:
        raise UsageError("--keywords and --clip-seconds need --data-dir; the synthetic corpus has the 10 Speech Commands keywords in 1 s clips")
    if not clip_seconds > 0:
        raise UsageError(f"--clip-seconds must be positive, got {clip_seconds}")
    if latency_model not in LATENCY_MODELS:
        raise UsageError(f"unknown latency model {latency_model!r}; valid: {', '.join(LATENCY_MODELS)}")
    if latency_model == "measured":
        problem = measurement_available()
        if problem is not None:
            raise UsageError(f"--latency-model measured: {problem}")
        if not profile.isa or profile.cycles_per_instruction is None:
            raise UsageError(f"--latency-model measured needs a device with an instruction set to emulate (isa, cycles_per_instruction); {profile.name} has none")
    if latency_budget is not None and not (math.isfinite(latency_budget) and latency_budget > 0):
        raise UsageError(f"--latency-budget must be a finite positive number, got {latency_budget}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed!r}")
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    fidelity = fidelity or Fidelity()
    settings = RunSettings(
        task=task,
        space=design_space.to_dict(),
        space_fingerprint=design_space.fingerprint(),
        device=profile.to_dict(),
        budget_bytes=parse_size(budget) if budget is not None else None,
        ram_budget_bytes=parse_size(ram_budget) if ram_budget is not None else None,
        latency_budget_ms=latency_budget,
        objectives=objective_names,
        sampler=sampler,
        seed=seed,
        fidelity=fidelity.to_dict(),
        data_dir=str(Path(data_dir).expanduser().resolve()) if data_dir else None,
        keywords=word_list,
        clip_seconds=float(clip_seconds),
        utterances_per_class=utterances_per_class,
        latency_model=latency_model,
        precision=precision,
        command=command,
        size_units=size_units(budget) if budget is not None else "iec",
    )
    return settings, design_space, profile


def check_space_fits(space: DesignSpace, settings: RunSettings, device: DeviceProfile) -> tuple[int, int]:
    """Feasible and distinct designs of the space; an error naming the smallest design when none fits."""
    limits = limits_of(settings)
    smallest = None
    feasible = distinct = 0
    for config in space.enumerate():
        distinct += 1
        cost = analytic_cost(config, device, limits)
        if cost.fits:
            feasible += 1
        elif smallest is None or cost.memory_bytes < smallest.memory_bytes:
            smallest = cost
    if feasible == 0:
        assert smallest is not None
        raise UsageError(
            f"no design of space {space.name!r} fits: the smallest, {smallest.config.describe()}, needs "
            f"{format_size(smallest.memory_bytes, settings.size_units)} ({'; '.join(smallest.violations)}); raise the budget or use a smaller space"
        )
    return feasible, distinct


def _check_space_fits_corpus(settings: RunSettings, space: DesignSpace) -> None:
    """The synthetic KWS corpus has the 12 Speech Commands classes: a space that fixes
    another count would fail only when its first design trains."""
    from search.data import CLASS_NAMES

    classes = space.fixed.get("classes")
    if settings.task == "kws" and classes is not None and classes != len(CLASS_NAMES):
        raise UsageError(
            f"space {space.name!r} fixes classes: {classes}, but the synthetic corpus has {len(CLASS_NAMES)} "
            f"({', '.join(CLASS_NAMES)}); remove 'classes' from the space, or pass --data-dir with your own class folders"
        )


def fit_space_to_data(settings: RunSettings, space: DesignSpace, progress: bool) -> tuple[RunSettings, DesignSpace]:
    """Read and check a ``--data-dir`` before any study exists; its class and frame counts fix the space's.

    Every data problem is raised here, so a refused run leaves no study behind. The
    features are cached, so the trainer loads them again in seconds.
    """
    if settings.data_dir is None:
        _check_space_fits_corpus(settings, space)
        return settings, space
    from search.data import load_task_data

    data = load_task_data(settings, progress)
    if settings.task != "kws":
        return settings, space
    if progress:
        print("\n".join(data.notes))
    fixed = dict(space.fixed, classes=data.num_classes, frames=int(data.train.features.shape[1]))
    if fixed == space.fixed:
        return settings, space
    space = dataclasses.replace(space, fixed=fixed)
    return dataclasses.replace(settings, space=space.to_dict(), space_fingerprint=space.fingerprint()), space


def _prepare_run_dir(out: Union[str, Path], study_name: str) -> Path:
    run_dir = Path(out) / study_name
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"cannot write to output directory {run_dir} ({error.strerror}); pass a writable --out") from None
    return run_dir


def trial_line(trial: FrozenTrial, metric_name: str, units: str = "iec", latency_model: str = "analytic") -> str:
    """One line per finished trial: design, costs, metric, feasible or why not.

    Sizes in ``units`` (the run's, as its budget was typed); a measured latency says so.
    """
    attrs = trial.user_attrs
    cost = attrs.get("cost", {})
    design = attrs.get("design", "?")
    latency = f"{cost.get('latency_ms', 0):.2f} ms" + (" measured" if latency_model == "measured" else "")
    costs = f"mem {format_size(cost.get('memory_bytes', 0), units)}, {latency}, {cost.get('macs', 0) / 1e6:.2f} MMAC"
    if trial.state == TrialState.PRUNED and attrs.get("train_status") == "cut short":
        return f"#{trial.number:<4d} {design:34s} {costs}  cut short, not scored: {attrs.get('train_reason', '')}"
    if trial.state != TrialState.COMPLETE:
        return f"#{trial.number:<4d} {design:34s} {costs}  {trial.state.name.lower()}"
    if not attrs.get("feasible"):
        return f"#{trial.number:<4d} {design:34s} {costs}  infeasible, not trained: {'; '.join(attrs.get('violations', []))}"
    metric = attrs.get("metric")
    shown = f"{100 * metric:.1f} % acc" if metric_name == "accuracy" else f"{metric:.2f} dB SI-SNRi"
    shown += _precision_note(attrs, metric_name)
    if attrs.get("duplicate_of") is not None:
        return f"#{trial.number:<4d} {design:34s} {costs}  {shown} (same design as #{attrs['duplicate_of']})"
    status = attrs.get("train_status", "")
    extra = "" if status == "ok" else f" [{status}: {attrs.get('train_reason', '')}]"
    return f"#{trial.number:<4d} {design:34s} {costs}  {shown} in {attrs.get('train_seconds', 0):.1f} s{extra}"


class TrialProgress:
    """Where the trial being trained is, for the progress bar: its epoch and time left.

    Before a design's first epoch ends, its time is estimated from its size: seconds
    per million MACs and epoch of the designs this process trained before (training
    time grows with the MACs of a design); after it, from its own epochs.
    """

    def __init__(self, bar: Any, epochs: int, prefix: str = ""):
        self.bar = bar
        self.epochs = epochs
        self.prefix = prefix
        self.seconds_per_mmac_epoch: Optional[float] = None
        self._started = 0.0
        self._macs = 0

    def __call__(self, number: int, config: Any, cost: Any, record: Optional[dict[str, float]]) -> None:
        now = time.monotonic()
        if record is None:
            self._started, self._macs = now, max(1, int(cost.macs))
            done = 0.0
        else:
            done = float(record["epoch"])
        elapsed = now - self._started
        if done > 0:
            rate = elapsed / done
            self.seconds_per_mmac_epoch = rate / (self._macs / 1e6)
            left: Optional[float] = rate * max(0.0, self.epochs - done)
        elif self.seconds_per_mmac_epoch is not None:
            left = self.seconds_per_mmac_epoch * self._macs / 1e6 * self.epochs
        else:
            left = None
        self.bar.set_postfix_str(self.text(number, config.describe(), done, left), refresh=True)

    def running_text(self, study: optuna.Study) -> str:
        """The trials other processes are training, from what the study stores: each one's
        last finished epoch, and the time left at the pace of its epochs so far."""
        now = datetime.datetime.now()
        parts = []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if "design" not in trial.user_attrs:
                continue
            done = float(max(trial.intermediate_values, default=0))
            elapsed = (now - trial.datetime_start).total_seconds() if trial.datetime_start else 0.0
            left = elapsed / done * max(0.0, self.epochs - done) if done > 0 else None
            parts.append(self.text(trial.number, trial.user_attrs["design"], done, left))
        return "; ".join(parts)

    def text(self, number: int, design: str, done: float, left: Optional[float]) -> str:
        eta = "" if left is None else f", ~{format_duration(left)} left"
        return f"#{number} {design}: epoch {done:g}/{self.epochs}{eta}"


def _precision_note(attrs: dict[str, Any], metric_name: str) -> str:
    """`` (int8; float 67.2)``: which precision the metric is, and the other one."""
    precision = attrs.get("precision")
    if precision is None:
        return ""
    if attrs.get("int8_error"):
        return f" ({precision}; no int8 form: {attrs['int8_error']})"
    other = "float" if precision == "int8" else "int8"
    value = attrs.get(f"{metric_name}_{other}")
    if value is None:
        return f" ({precision})"
    return f" ({precision}; {other} {100 * value:.1f})" if metric_name == "accuracy" else f" ({precision}; {other} {value:.2f})"


def run_worker(
    study: optuna.Study,
    settings: RunSettings,
    max_trials: Optional[int],
    timeout: Optional[float] = None,
    progress: bool = True,
    prefix: str = "",
    weights_dir: Optional[Path] = None,
    claim: Optional[TrialClaim] = None,
) -> None:
    """Run up to ``max_trials`` trials of ``study`` in this process, never past its target.

    ``max_trials`` None: run until the study has its target number of finished
    trials, together with whatever other workers share it (see :mod:`search.study._target`).
    """
    from search.training import make_trainer

    target = int(study.user_attrs.get(TARGET_TRIALS_ATTR, DEFAULT_TRIALS))
    total = max_trials if max_trials is not None else max(0, target - finished_count(study))
    if total <= 0:
        return
    trainer = make_trainer(settings, progress=progress)
    bar = tqdm(total=total, desc=f"{prefix}trials", unit="trial", disable=not progress, dynamic_ncols=True)
    epochs = int(settings.fidelity.get("epochs") or Fidelity().epochs)
    objective = Objective(settings, trainer, weights_dir, on_progress=TrialProgress(bar, epochs) if progress else None)

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        tqdm.write(prefix + trial_line(trial, settings.metric_name, settings.size_units, settings.latency_model))
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            bar.set_postfix_str("", refresh=False)
            bar.update(1)

    try:
        # Whatever the quota, the study never goes past its target: other processes
        # (a second `search run`, a worker of a killed run) count too.
        run_to_target(study, objective, target, claim or TrialClaim(), [report], timeout, prefix, max_runs=max_trials)
    except Exception:
        # A database that stayed away: report that, not what it broke on the way out.
        lost = lost_error(study._storage)
        if lost is not None:
            raise lost from None
        raise
    finally:
        bar.close()


def resolve_workers(workers: Union[int, str]) -> int:
    """``"auto"``: one worker per core this process may use; otherwise a count >= 1.

    Each worker trains with one torch thread (``Fidelity.threads``), so a trial's result
    is the same whichever worker, and however many workers, ran it.
    """
    if workers == "auto":
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        return max(1, len(cores))
    if isinstance(workers, str) or workers < 1:
        raise UsageError(f"--workers must be 'auto' or at least 1, got {workers}")
    if workers > MAX_WORKERS:
        raise UsageError(f"--workers {workers} is more than {MAX_WORKERS}; use about one per CPU core (this machine has {os.cpu_count()})")
    return workers


def _spawn_workers(
    storage_url: str,
    study_name: str,
    remaining: int,
    workers: int,
    timeout: Optional[float],
    progress: bool,
    study: optuna.Study,
    weights_dir: Path,
    until_target: bool = False,
    epochs: Optional[int] = None,
) -> None:
    """``workers`` processes of ``search worker`` sharing ``remaining`` trials exactly.

    The progress bar counts finished trials and shows where the trials in training are
    (their epochs, stored by the workers as intermediate values, and the time left).

    ``until_target``: no quotas; each worker runs until the study reaches its target,
    which also counts the trials of workers on other machines.
    """
    quotas: list[Optional[int]]
    if until_target:
        quotas = [None] * min(workers, remaining)
    else:
        quotas = [remaining // workers + (1 if index < remaining % workers else 0) for index in range(workers)]
    # A password travels in the environment: a command line is readable by every user.
    public_url, password = split_password(storage_url)
    environment = dict(os.environ, **({PASSWORD_ENV: password} if password else {}))
    # One thread per worker outside training too (training sets it itself): the workers
    # already fill the cores.
    environment.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    processes = []
    for index, quota in enumerate(quotas):
        if quota == 0:
            continue
        command = [sys.executable, "-m", "search", "worker", "--storage", public_url, "--study", study_name]
        command += ["--max-trials", str(quota)] if quota is not None else []
        command += ["--weights-dir", str(weights_dir), "--no-progress", "--prefix", f"[w{index + 1}] "]
        if timeout is not None:
            command += ["--timeout", str(timeout)]
        # A worker stops when this process dies, even by SIGKILL: an orphan would go on
        # running trials that a re-run of the command also runs.
        processes.append(subprocess.Popen(command, env=environment, preexec_fn=die_with_parent))
    start = finished_count(study)
    bar = tqdm(total=remaining, desc="trials", unit="trial", disable=not progress, dynamic_ncols=True)
    where = TrialProgress(bar, epochs or Fidelity().epochs)
    try:
        while any(process.poll() is None for process in processes):
            time.sleep(1.0)
            bar.n = min(remaining, finished_count(study) - start)
            if progress:
                bar.set_postfix_str(where.running_text(study), refresh=False)
            bar.refresh()
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
        raise
    finally:
        bar.close()
    failed = [process.returncode for process in processes if process.returncode != 0]
    if failed:
        raise StudyError(f"{len(failed)} worker process(es) failed (exit codes {failed}); re-run the same command to finish the study")


def write_outputs(study: optuna.Study, settings: RunSettings, run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[Path]]:
    """trials.csv, pareto.csv and report.html of a run; the same tables ``search show`` reads."""
    from search.results import study_tables, write_study_report  # plotly is imported only when a run ends

    frame, pareto = study_tables(study, settings)
    files = []
    for name, table in (("trials.csv", frame), ("pareto.csv", pareto)):
        path = run_dir / name
        table.to_csv(path, index=False)
        files.append(path)
    files.append(write_study_report(study, settings, run_dir, frame, pareto))
    return frame, pareto, files


def pareto_table_text(pareto: pd.DataFrame, metric_name: str, units: str = "iec", latency_model: str = "analytic") -> str:
    rows = []
    for _, row in pareto.iterrows():
        metric = row[metric_name]
        rows.append(
            {
                "trial": int(row["number"]),
                "design": row["design"],
                "accuracy %" if metric_name == "accuracy" else "SI-SNRi dB": 100 * metric if metric_name == "accuracy" else metric,
                **precision_columns(row, metric_name),
                "memory": format_size(row["memory_bytes"], units),
                "flash": format_size(row["flash_bytes"], units),
                "RAM": format_size(row["ram_bytes"], units),
                ("measured latency ms" if latency_model == "measured" else "latency ms"): float(row["latency_ms"]),
                "MMAC": float(row["macs"]) / 1e6,
                "params": int(row["params"]),
            }
        )
        if row.get("promoted_seeds", 0):  # a promoted front: its spread over seeds and the proxy's number
            scale = 100 if metric_name == "accuracy" else 1
            rows[-1]["+- std"] = scale * float(row["promoted_metric_std"])
            rows[-1]["proxy"] = scale * float(row[f"proxy_{metric_name}"])
    if not rows:
        return "(no feasible trained design yet)"
    return format_table(rows, list(rows[0]))


def run(
    *,
    device: str = "cortex-m7",
    budget: Optional[Union[str, int]] = None,
    ram_budget: Optional[Union[str, int]] = None,
    latency_budget: Optional[float] = None,
    task: str = "kws",
    space: Optional[str] = None,
    trials: int = DEFAULT_TRIALS,
    timeout: Optional[float] = None,
    sampler: str = DEFAULT_SAMPLER,
    objectives: str = "accuracy,memory,latency",
    fidelity: Optional[Fidelity] = None,
    data_dir: Optional[str] = None,
    keywords: Optional[Union[str, Sequence[str]]] = None,
    clip_seconds: float = 1.0,
    utterances_per_class: Optional[int] = None,
    latency_model: str = "analytic",
    precision: str = DEFAULT_PRECISION,
    out: Union[str, Path] = "runs",
    study: Optional[str] = None,
    storage: Optional[str] = None,
    workers: Union[int, str] = 1,
    parallel: Optional[int] = None,
    seed: int = 0,
    progress: bool = True,
    command: str = "",
    promote: int = 0,
    promote_epochs: int = DEFAULT_PROMOTE_EPOCHS,
    promote_seeds: int = DEFAULT_PROMOTE_SEEDS,
) -> RunResult:
    """Search the GhostRNN design space for ``device`` under ``budget``; see ``search run --help``.

    ``promote`` > 0 re-trains up to that many designs of the proxy front (and near it)
    for ``promote_epochs`` epochs with ``promote_seeds`` seeds once the trials are done,
    and the front is then made of those (see :mod:`search.study._promote`).

    ``precision`` is what the metric objective scores: ``"int8"`` (default) the design as
    deployed (the bit-exact integer simulation of its C code on the validation split),
    ``"float"`` the float32 model as trained; both numbers are kept per trial.

    ``parallel``: how many trials all workers (on every machine sharing ``storage``) train
    at once; trial n is proposed from the results of trials up to n - ``parallel``
    (:mod:`search.study._proposal`), fixed when the study is created. Default: ``workers``.

    Re-running with the same ``study`` continues it: ``trials`` is the study's total.
    Returns the study, the trials table and the Pareto-optimal feasible designs.
    """
    if trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")
    workers = resolve_workers(workers)
    if parallel is not None and (isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1):
        raise UsageError(f"--parallel must be a whole number of at least 1, got {parallel!r}")
    try:
        plan = PromotionPlan(limit=promote, epochs=promote_epochs, seeds=promote_seeds)
    except ValueError as error:
        raise UsageError(f"--promote: {error}") from None
    settings, design_space, profile = build_settings(
        device=device,
        budget=budget,
        ram_budget=ram_budget,
        latency_budget=latency_budget,
        task=task,
        space=space,
        objectives=objectives,
        sampler=sampler,
        seed=seed,
        fidelity=fidelity,
        data_dir=data_dir,
        keywords=keywords,
        clip_seconds=clip_seconds,
        utterances_per_class=utterances_per_class,
        latency_model=latency_model,
        precision=precision,
        command=command or _python_call_text(device, budget),
    )
    # Before any study exists: a size the machine cannot hold is refused, not stored.
    check_task_data_fits(settings)
    settings, design_space = fit_space_to_data(settings, design_space, progress)
    feasible, distinct = check_space_fits(design_space, settings, profile)
    study_name = study or default_study_name(task, profile, None if budget is None else str(budget))
    run_dir = _prepare_run_dir(out, study_name)
    storage_url = storage or local_storage_url(run_dir, workers)
    storage_obj = open_storage(storage_url)
    # Two commands started together on one study must not both queue the baselines.
    claim = trial_claim(storage_url, storage_obj, study_name)
    claim.acquire()
    try:
        study_obj = open_study(settings, study_name, storage_obj, trials, create=True)
        study_obj.set_user_attr(TARGET_TRIALS_ATTR, trials)
        lag = proposal_lag(parallel or workers)
        stored_lag = study_obj.user_attrs.get(PROPOSAL_LAG_ATTR)
        if stored_lag is None:
            # Fixed for the study's life: its trial list is a function of the seed and this.
            study_obj.set_user_attr(PROPOSAL_LAG_ATTR, lag)
        elif parallel is not None and stored_lag != lag:
            raise UsageError(
                f"study {study_name!r} proposes each trial with the results of all but the last {stored_lag} trained trials "
                f"(fixed when it was created); --parallel {parallel} would change its trial list: drop --parallel, or start a new --study"
            )
        study_obj.sampler = fixed_history_sampler(study_obj, settings.sampler, settings.seed, design_space, trials)
        recovered = recover_interrupted(study_obj, claim_held=claim.exclusive)
        if not study_obj.get_trials(deepcopy=False):
            for params in baseline_designs(design_space, profile, limits_of(settings)):
                study_obj.enqueue_trial(params)
    finally:
        claim.release()
    done = finished_count(study_obj)
    remaining = max(0, trials - done)
    if progress:
        print(
            f"study {study_name!r} in {mask_url(storage_url)}: {done} of {trials} trials done, {remaining} to run; "
            f"{feasible} of {distinct} distinct designs of space {design_space.name!r} fit {profile.name}"
            + (f" within {format_size(settings.budget_bytes, settings.size_units)}" if settings.budget_bytes else "")
        )
        if settings.latency_model == "measured":
            print(f"latencies are measured: each design's int8 C code runs in the {profile.isa} emulator ({profile.name}'s cycles per instruction), plus the analytic front end per frame")
        if recovered:
            print(f"trials {recovered} were interrupted; their designs are queued again")
        for trial in given_up_designs(study_obj):
            print(f"note: {given_up_text(trial)}")
    # On a storage other machines may share, this run's quota is the study's target,
    # not "remaining at start": the other workers' trials count too.
    shared = storage is not None
    interrupted = False
    try:
        if remaining and workers == 1:
            run_worker(study_obj, settings, None if shared else remaining, timeout, progress, weights_dir=run_dir / "weights", claim=claim)
        elif remaining:
            from search.data import check_workers_fit, load_task_data

            # Generate (or check) the cached data once here, not in every worker at once.
            check_workers_fit(workers, load_task_data(settings, progress).cache_path)
            epochs = int(settings.fidelity.get("epochs") or Fidelity().epochs)
            _spawn_workers(storage_url, study_name, remaining, workers, timeout, progress, study_obj, run_dir / "weights", until_target=shared, epochs=epochs)
    except KeyboardInterrupt:
        interrupted = True
    if plan.limit and not interrupted:
        from search.data import load_task_data

        try:
            promote_front(study_obj, settings, plan, load_task_data(settings, progress), progress, run_dir / "weights")
        except KeyboardInterrupt:
            interrupted = True
    frame, pareto, files = write_outputs(study_obj, settings, run_dir)
    result = RunResult(study=study_obj, run_dir=run_dir, trials=frame, pareto=pareto, metric_name=settings.metric_name, files=files, settings=settings)
    if interrupted:
        raise RunInterrupted(f"interrupted after {finished_count(study_obj)} of {trials} trials; run the same command to resume")
    return result


def _python_call_text(device: str, budget: Any) -> str:
    return f"search.run(device={device!r}, budget={budget!r})"


def join_study(
    *,
    storage: str,
    study: str,
    max_trials: Optional[int] = None,
    timeout: Optional[float] = None,
    progress: bool = True,
    prefix: str = "",
    weights_dir: Optional[Path] = None,
    expect: Optional[dict[str, Any]] = None,
) -> None:
    """``search worker``: run trials of an existing study with the settings stored in it.

    ``expect`` holds settings the user stated (``device``, ``budget``, ``space``, ...;
    see :func:`search.study._join.join_conflicts`); any that differs from the study's stops
    the worker. Without ``max_trials`` it runs until the study reaches its target.
    """
    storage_obj = open_storage(storage)
    settings = stored_settings(study, storage_obj)
    conflicts = join_conflicts(settings, **(expect or {}))
    if conflicts:
        raise StudyError(f"study {study!r} was started with other settings ({'; '.join(conflicts)}); drop those options or fix them")
    study_obj = open_study(settings, study, storage_obj, trials=max_trials or DEFAULT_TRIALS, create=False)
    # Every process proposes trial n alike (search.study._proposal): the study's seed, not one per worker.
    target = int(study_obj.user_attrs.get(TARGET_TRIALS_ATTR, max_trials or DEFAULT_TRIALS))
    study_obj.sampler = fixed_history_sampler(study_obj, settings.sampler, settings.seed, parse_space_dict(settings.space), target)
    claim = trial_claim(storage, storage_obj, study)
    run_worker(study_obj, settings, max_trials, timeout, progress, prefix, weights_dir, claim=claim)


def command_text(argv: list[str]) -> str:
    """The command as typed, with any password in a URL masked (it is stored and shown)."""
    return "search " + " ".join(shlex.quote(mask_url(part)) for part in argv)


def summarize(result: RunResult) -> str:
    """The end-of-run text: the Pareto table, the files and the next command."""
    settings = result.settings
    units = settings.size_units if settings is not None else "iec"
    latency_model = settings.latency_model if settings is not None else "analytic"
    lines = ["", "Pareto-optimal feasible designs:", pareto_table_text(result.pareto, result.metric_name, units, latency_model), ""]
    lines += [f"note: {given_up_text(trial)}" for trial in given_up_designs(result.study)]
    lines += [f"wrote {path}" for path in result.files]
    if not result.pareto.empty and result.run_dir is not None:
        # The knee is the balanced design; --pick accuracy would take the largest one.
        lines.append(f"\nnext: search export {shlex.quote(str(result.run_dir))} --trial best --pick knee --to exported/")
    return "\n".join(lines)


"""``search run`` as a function: the study driver behind the command and the Python API.

Example (a tiny run; the first call generates and caches the synthetic corpus):

    >>> import search
    >>> result = search.run(device="cortex-m7", budget="100KB", trials=4, space="kws-small", epochs=1)  # doctest: +SKIP
    >>> result.pareto[["design", "accuracy", "memory_bytes", "latency_ms"]]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from cost_models import DeviceProfile, analytic_cost, format_size, load_device, measurement_available, parse_size
from reports import format_table, precision_columns
from spaces import DesignSpace, load_space

from search._errors import UsageError
from search._settings import RunSettings, parse_objectives
from search.study._join import join_conflicts
from search.study._promote import DEFAULT_PROMOTE_EPOCHS, DEFAULT_PROMOTE_SEEDS, PromotionPlan, promote as promote_front
from search.storage import lost_error
from search.storage import PASSWORD_ENV, StudyError, local_storage_url, mask_url, open_storage, split_password
from search.study._study import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    Objective,
    baseline_designs,
    create_sampler,
    finished_count,
    limits_of,
    open_study,
    parse_space_dict,
    recover_interrupted,
    stored_settings,
    worker_seed,
)
from search.study._target import TrialClaim, run_to_target, trial_claim
from search.training import DEFAULT_PRECISION, PRECISIONS, Fidelity

# Each finished trial gets its own line from this module; Optuna's INFO lines would repeat it.
optuna.logging.set_verbosity(optuna.logging.WARNING)

TARGET_TRIALS_ATTR = "target_trials"
DEFAULT_TRIALS = 40
LATENCY_MODELS = ("analytic", "measured")


@dataclass
class RunResult:
    """What a finished (or interrupted) run leaves behind."""

    study: optuna.Study
    run_dir: Optional[Path]
    trials: pd.DataFrame
    pareto: pd.DataFrame
    metric_name: str  # the trials/pareto column of the task metric: accuracy or si_snri_db
    files: list[Path] = field(default_factory=list)


def default_study_name(task: str, device: DeviceProfile, budget: Optional[str]) -> str:
    budget_part = "".join(str(budget).split()) if budget else "nobudget"
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
    if data_dir is not None and not Path(data_dir).is_dir():
        raise UsageError(f"--data-dir {data_dir} is not a directory; point it at an extracted Speech Commands copy")
    if latency_model not in LATENCY_MODELS:
        raise UsageError(f"unknown latency model {latency_model!r}; valid: {', '.join(LATENCY_MODELS)}")
    if latency_model == "measured":
        problem = measurement_available()
        if problem is not None:
            raise UsageError(f"--latency-model measured: {problem}")
        if not profile.isa or profile.cycles_per_instruction is None:
            raise UsageError(f"--latency-model measured needs a device with an instruction set to emulate (isa, cycles_per_instruction); {profile.name} has none")
    if latency_budget is not None and latency_budget <= 0:
        raise UsageError(f"--latency-budget must be positive, got {latency_budget}")
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
        data_dir=str(Path(data_dir).resolve()) if data_dir else None,
        utterances_per_class=utterances_per_class,
        latency_model=latency_model,
        precision=precision,
        command=command,
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
            f"{format_size(smallest.memory_bytes)} ({'; '.join(smallest.violations)}); raise the budget or use a smaller space"
        )
    return feasible, distinct


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


def trial_line(trial: FrozenTrial, metric_name: str) -> str:
    """One line per finished trial: design, costs, metric, feasible or why not."""
    attrs = trial.user_attrs
    cost = attrs.get("cost", {})
    design = attrs.get("design", "?")
    costs = f"mem {format_size(cost.get('memory_bytes', 0))}, {cost.get('latency_ms', 0):.2f} ms, {cost.get('macs', 0) / 1e6:.2f} MMAC"
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
    """Run up to ``max_trials`` trials of ``study`` in this process.

    ``max_trials`` None: run until the study has its target number of finished
    trials, together with whatever other workers share it (see :mod:`search.study._target`).
    """
    from search.training import make_trainer

    target = int(study.user_attrs.get(TARGET_TRIALS_ATTR, DEFAULT_TRIALS))
    total = max_trials if max_trials is not None else max(0, target - finished_count(study))
    if total <= 0:
        return
    trainer = make_trainer(settings, progress=progress)
    objective = Objective(settings, trainer, weights_dir)
    bar = tqdm(total=total, desc=f"{prefix}trials", unit="trial", disable=not progress, dynamic_ncols=True)

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        tqdm.write(prefix + trial_line(trial, settings.metric_name))
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            bar.update(1)

    try:
        if max_trials is None:
            run_to_target(study, objective, target, claim or TrialClaim(), [report], timeout, prefix)
        else:
            study.optimize(objective, n_trials=max_trials, timeout=timeout, callbacks=[report])
    except Exception:
        # A database that stayed away: report that, not what it broke on the way out.
        lost = lost_error(study._storage)
        if lost is not None:
            raise lost from None
        raise
    finally:
        bar.close()


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
) -> None:
    """``workers`` processes of ``search worker`` sharing ``remaining`` trials exactly.

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
    processes = []
    for index, quota in enumerate(quotas):
        if quota == 0:
            continue
        command = [sys.executable, "-m", "search", "worker", "--storage", public_url, "--study", study_name]
        command += ["--max-trials", str(quota)] if quota is not None else []
        command += ["--weights-dir", str(weights_dir), "--no-progress", "--prefix", f"[w{index + 1}] "]
        if timeout is not None:
            command += ["--timeout", str(timeout)]
        processes.append(subprocess.Popen(command, env=environment))
    start = finished_count(study)
    bar = tqdm(total=remaining, desc="trials", unit="trial", disable=not progress, dynamic_ncols=True)
    try:
        while any(process.poll() is None for process in processes):
            time.sleep(1.0)
            bar.n = min(remaining, finished_count(study) - start)
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


def pareto_table_text(pareto: pd.DataFrame, metric_name: str) -> str:
    rows = []
    for _, row in pareto.iterrows():
        metric = row[metric_name]
        rows.append(
            {
                "trial": int(row["number"]),
                "design": row["design"],
                "accuracy %" if metric_name == "accuracy" else "SI-SNRi dB": 100 * metric if metric_name == "accuracy" else metric,
                **precision_columns(row, metric_name),
                "memory": format_size(row["memory_bytes"]),
                "flash": format_size(row["flash_bytes"]),
                "RAM": format_size(row["ram_bytes"]),
                "latency ms": float(row["latency_ms"]),
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
    utterances_per_class: Optional[int] = None,
    latency_model: str = "analytic",
    precision: str = DEFAULT_PRECISION,
    out: Union[str, Path] = "runs",
    study: Optional[str] = None,
    storage: Optional[str] = None,
    workers: int = 1,
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

    Re-running with the same ``study`` continues it: ``trials`` is the study's total.
    Returns the study, the trials table and the Pareto-optimal feasible designs.
    """
    if trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
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
        utterances_per_class=utterances_per_class,
        latency_model=latency_model,
        precision=precision,
        command=command or _python_call_text(device, budget),
    )
    feasible, distinct = check_space_fits(design_space, settings, profile)
    study_name = study or default_study_name(task, profile, None if budget is None else str(budget))
    run_dir = _prepare_run_dir(out, study_name)
    storage_url = storage or local_storage_url(run_dir, workers)
    storage_obj = open_storage(storage_url)
    study_obj = open_study(settings, study_name, storage_obj, trials, create=True)
    study_obj.set_user_attr(TARGET_TRIALS_ATTR, trials)

    recovered = recover_interrupted(study_obj)
    if not study_obj.get_trials(deepcopy=False):
        for params in baseline_designs(design_space, profile, limits_of(settings)):
            study_obj.enqueue_trial(params)
    done = finished_count(study_obj)
    remaining = max(0, trials - done)
    if progress:
        print(
            f"study {study_name!r} in {mask_url(storage_url)}: {done} of {trials} trials done, {remaining} to run; "
            f"{feasible} of {distinct} distinct designs of space {design_space.name!r} fit {profile.name}"
            + (f" within {format_size(settings.budget_bytes)}" if settings.budget_bytes else "")
        )
        if recovered:
            print(f"trials {recovered} were interrupted; their designs are queued again")
    # On a storage other machines may share, this run's quota is the study's target,
    # not "remaining at start": the other workers' trials count too.
    shared = storage is not None
    interrupted = False
    try:
        if remaining and workers == 1:
            if shared:
                claim = trial_claim(storage_url, storage_obj, study_name)
                run_worker(study_obj, settings, None, timeout, progress, weights_dir=run_dir / "weights", claim=claim)
            else:
                run_worker(study_obj, settings, remaining, timeout, progress, weights_dir=run_dir / "weights")
        elif remaining:
            _spawn_workers(storage_url, study_name, remaining, workers, timeout, progress, study_obj, run_dir / "weights", until_target=shared)
    except KeyboardInterrupt:
        interrupted = True
    if plan.limit and not interrupted:
        from search.data import load_task_data

        try:
            promote_front(study_obj, settings, plan, load_task_data(settings, progress), progress, run_dir / "weights")
        except KeyboardInterrupt:
            interrupted = True
    frame, pareto, files = write_outputs(study_obj, settings, run_dir)
    result = RunResult(study=study_obj, run_dir=run_dir, trials=frame, pareto=pareto, metric_name=settings.metric_name, files=files)
    if interrupted:
        if progress:
            print(f"\ninterrupted after {finished_count(study_obj)} of {trials} trials; run the same command to resume")
        raise KeyboardInterrupt
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
    study_obj.sampler = create_sampler(settings.sampler, worker_seed(settings.seed), parse_space_dict(settings.space), max_trials or DEFAULT_TRIALS)
    claim = trial_claim(storage, storage_obj, study)
    run_worker(study_obj, settings, max_trials, timeout, progress, prefix, weights_dir, claim=claim)


def command_text(argv: list[str]) -> str:
    """The command as typed, with any password in a URL masked (it is stored and shown)."""
    return "search " + " ".join(shlex.quote(mask_url(part)) for part in argv)


def summarize(result: RunResult) -> str:
    """The end-of-run text: the Pareto table, the files and the next command."""
    lines = ["", "Pareto-optimal feasible designs:", pareto_table_text(result.pareto, result.metric_name), ""]
    lines += [f"wrote {path}" for path in result.files]
    if not result.pareto.empty and result.run_dir is not None:
        lines.append(f"\nnext: search export {shlex.quote(str(result.run_dir))} --trial best --to exported/")
    return "\n".join(lines)


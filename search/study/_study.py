"""The Optuna study of a search: creation, resume checks, baselines and the objective.

The objective is cost first: every design is costed analytically, its hard limits
are set as Optuna constraints (``trial.set_constraint``; a value > 0 is a violation),
and only a design that breaks none is trained. A design already trained in this study
(the same canonical :class:`ArchConfig`) reuses that result instead of training again.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import platform
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, Trial, TrialState

import dataclasses

from cost_models import CostReport, DeviceProfile, Limits, analytic_cost, check_limits, counted_macs, device_from_dict, measure_cost
from reports import OBJECTIVE_COLUMNS
from spaces import ArchConfig, DesignSpace, parse_space

from search._settings import SETTINGS_ATTR, RunSettings, limits_of
from search.storage import StudyError, design_is_stored, mark_design_stored
from search.study._processes import deferred_interrupts, stop_if_requested, worker_id
from search.study._proposal import LAG_COUNTS_TRAINED, PROPOSAL_LAG_COUNTS_ATTR
from search.study._target import CLAIMED_BY_ATTR, fail_stale_trials
from search.training import ProxyResult, Trainer, summary_attrs

# The system attribute optuna-dashboard (0.21) reads a trial's constraints from: one list,
# the format before Optuna 5's one ``constraints:NAME`` attribute per constraint.
DASHBOARD_CONSTRAINTS_ATTR = "constraints"
# Called while a design trains: (trial number, design, cost, curve record); the record is
# None when training starts.
ProgressHook = Callable[[int, ArchConfig, CostReport, Optional[dict[str, float]]], None]

# Objective value given to a design that is never trained (infeasible): worse than
# any trained design, so it cannot sit on a front even where constraints are ignored.
UNTRAINED_METRIC = {"kws": 0.0, "se": -100.0}



def design_key(config: ArchConfig) -> str:
    return hashlib.sha256(config.canonical().to_yaml().encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    import torch
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "fvcore": version("fvcore"),
        "ghostrnn-search": version("ghostrnn-search"),
    }


def create_sampler(name: str, seed: int, space: DesignSpace, trials: int) -> optuna.samplers.BaseSampler:
    if name == "nsga2":
        # Optuna's default population (50) leaves a 100-trial search with two generations.
        population = max(8, min(24, trials // 4))
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler({key: list(values) for key, values in space.choices.items()}, seed=seed)
    raise ValueError(f"unknown sampler {name!r}; valid: nsga2, tpe, random, grid")




def metric_names(settings: RunSettings) -> list[str]:
    """The objectives as the trials table names them (``accuracy``, ``memory_bytes``, ...)."""
    return [settings.metric_name if name == "metric" else OBJECTIVE_COLUMNS[name] for name in settings.objectives]


def name_objectives(study: optuna.Study, settings: RunSettings) -> None:
    """Store the objectives' names in the study, where optuna-dashboard and Optuna's plots read them."""
    names = metric_names(settings)
    if study.metric_names == names:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)


def open_study(settings: RunSettings, study_name: str, storage: optuna.storages.BaseStorage, trials: int, create: bool) -> optuna.Study:
    """Create the study, or load it and refuse settings that differ from the stored ones."""
    space = parse_space_dict(settings.space)
    sampler = create_sampler(settings.sampler, settings.seed, space, trials)
    try:
        existing = [summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    except Exception as error:
        raise StudyError(f"cannot read the studies in this storage ({str(error).splitlines()[0]})") from None
    if study_name in existing:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
        stored_text = study.user_attrs.get(SETTINGS_ATTR)
        if stored_text is None:
            raise StudyError(f"study {study_name!r} was not made by 'search run'; choose another --study")
        stored = RunSettings.from_json(stored_text)
        conflicts = settings.conflicts_with(stored)
        if conflicts:
            raise StudyError(
                f"study {study_name!r} was started with other settings ({'; '.join(conflicts)}); "
                "use the same options to resume, or a new --study"
            )
        adopt_time_limit(study, stored, settings)
        name_objectives(study, settings)
        return study
    if not create:
        raise StudyError(f"no study {study_name!r} in this storage; start it with 'search run --study {study_name}'")
    study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, directions=settings.directions, load_if_exists=True)
    study.set_user_attr(SETTINGS_ATTR, settings.to_json())
    # Only here, at creation: a study made before this lacks it and keeps its trial list.
    study.set_user_attr(PROPOSAL_LAG_COUNTS_ATTR, LAG_COUNTS_TRAINED)
    name_objectives(study, settings)
    return study


def adopt_time_limit(study: optuna.Study, stored: RunSettings, settings: RunSettings) -> None:
    """Store the resuming command's per-trial time limit, which the workers read.

    A limit only decides whether a trial is cut short (never scored), so it may change
    between runs of a study; the study's other fidelity settings may not.
    """
    limit = settings.fidelity.get("max_seconds")
    if stored.fidelity.get("max_seconds") == limit:
        return
    updated = dataclasses.replace(stored, fidelity={**stored.fidelity, "max_seconds": limit})
    study.set_user_attr(SETTINGS_ATTR, updated.to_json())


def stored_settings(study_name: str, storage: optuna.storages.BaseStorage) -> RunSettings:
    """The settings a study was started with (for workers that join it)."""
    try:
        summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    except Exception as error:
        raise StudyError(f"cannot read the studies in this storage ({str(error).splitlines()[0]})") from None
    for summary in summaries:
        if summary.study_name == study_name:
            text = summary.user_attrs.get(SETTINGS_ATTR)
            if text is None:
                raise StudyError(f"study {study_name!r} was not made by 'search run'")
            return RunSettings.from_json(text)
    names = ", ".join(s.study_name for s in summaries) or "none"
    raise StudyError(f"no study {study_name!r} in this storage (studies there: {names})")


def parse_space_dict(data: dict[str, Any]) -> DesignSpace:
    import yaml

    return parse_space(yaml.safe_dump(data, sort_keys=False), origin=f"space {data.get('name', '')}")


def baseline_designs(space: DesignSpace, device: DeviceProfile, limits: Limits, per_cell: int = 2) -> list[dict[str, Any]]:
    """Plain GRU/LSTM designs (ratio 1) of the widest feasible sizes, per cell type.

    They are trained first so that every front can be compared with the non-ghost
    model at the same budget. Returned as parameter dicts for ``enqueue_trial``.
    """
    if "ghost_ratio" in space.choices and 1.0 not in space.choices["ghost_ratio"]:
        return []
    if "ghost_ratio" not in space.choices and space.fixed.get("ghost_ratio", 2.0) != 1.0:
        return []
    chosen: list[dict[str, Any]] = []
    keys = space.dimensions
    for cell in space.choices.get("cell", [space.fixed.get("cell", "gru")]):
        feasible = []
        for layers in space.choices.get("layers", [space.fixed.get("layers", 1)]):
            for hidden in space.choices.get("hidden", [space.fixed.get("hidden", 64)]):
                values = {"cell": cell, "layers": layers, "hidden": hidden, "ghost_ratio": 1.0}
                params = {key: values.get(key, space.choices[key][0]) for key in keys}
                config = space.config(params)
                cost = analytic_cost(config, device, limits)
                if cost.fits:
                    feasible.append((layers, -hidden, params))
        # Fewest layers first, then the widest that fits.
        for _, _, params in sorted(feasible, key=lambda item: (item[0], item[1]))[:per_cell]:
            chosen.append(params)
    return chosen


def constraint_values(cost: Any, device: DeviceProfile, limits: Limits) -> dict[str, float]:
    """Relative excess per hard limit: <= 0 is satisfied, 0.25 means 25 % over."""
    values = {
        "device_flash": cost.flash_bytes / device.flash_bytes - 1,
        "device_sram": cost.ram_bytes / device.sram_bytes - 1,
        "latency": cost.latency_ms / (limits.latency_ms if limits.latency_ms is not None else cost.realtime_ms) - 1,
    }
    if limits.memory_bytes is not None:
        values["budget"] = cost.memory_bytes / limits.memory_bytes - 1
    if limits.ram_bytes is not None:
        values["ram_budget"] = cost.ram_bytes / limits.ram_bytes - 1
    return values


def precision_metric(settings: RunSettings, outcome: ProxyResult) -> float:
    """The metric a trial is scored with: the int8 (deployed) one by default, or the float one.

    A design with no integer form (its int8 score is missing) gets the untrained score:
    it cannot be deployed, so it must not sit on an int8 front.
    """
    if settings.precision == "float":
        return outcome.metric
    return outcome.metric_int8 if outcome.metric_int8 is not None else UNTRAINED_METRIC[settings.task]


# What a repeat of a design copies from the trial that trained it.
RESULT_ATTRS = ("metric", "curve", "train_status", "train_reason", "train_seconds", "counted_macs", "trained", "fidelity", "weights", "weights_sha256", "int8_input_scale", "int8_seconds", "int8_error")


def objective_values(settings: RunSettings, metric: float, cost: Any) -> list[float]:
    columns = {
        "metric": metric,
        "memory": cost.memory_bytes,
        "latency": cost.latency_ms,
        "macs": cost.macs,
        "flash": cost.flash_bytes,
        "ram": cost.ram_bytes,
        "params": cost.params,
    }
    return [float(columns[name]) for name in settings.objectives]


class Objective:
    """The function Optuna calls per trial."""

    def __init__(
        self,
        settings: RunSettings,
        trainer: Trainer,
        weights_dir: Optional[Path] = None,
        wait_seconds: float = 2.0,
        on_progress: Optional[ProgressHook] = None,
    ):
        self.settings = settings
        self.on_progress = on_progress
        self.weights_dir = weights_dir
        self.space = parse_space_dict(settings.space)
        self.device = device_from_dict(settings.device, origin=f"device {settings.device.get('name')}")
        self.limits = limits_of(settings)
        self.trainer = trainer
        self.wait_seconds = wait_seconds
        self.versions = library_versions()

    def cost_of(self, config: ArchConfig) -> tuple[CostReport, Optional[dict[str, Any]]]:
        """The design's costs; with the measured latency model, latency from emulated instructions."""
        cost = analytic_cost(config, self.device, self.limits)
        if self.settings.latency_model != "measured":
            return cost, None
        measured = measure_cost(config, self.device)
        # The emulated code is the model's; the front end's analytic latency is added to it.
        cost = dataclasses.replace(cost, latency_ms=measured.measured_latency_ms + (cost.latency_ms - cost.model_latency_ms))
        cost = dataclasses.replace(cost, violations=check_limits(cost, self.device, self.limits))
        summary = {name: getattr(measured, name) for name in ("instructions", "measured_latency_ms", "measured_flash_bytes", "measured_ram_bytes", "cycles_per_instruction", "isa")}
        return cost, summary

    def __call__(self, trial: Trial) -> list[float]:
        # The design is stored one parameter at a time: an interrupt in between would leave
        # half a design, and its retry would become another design.
        with deferred_interrupts():
            params = {key: trial.suggest_categorical(key, values) for key, values in self.space.choices.items()}
            # A kill (which no deferral stops) between two parameters leaves half a design;
            # this one write says the design is whole, so only a whole one is retried.
            mark_design_stored(trial)
            # Right after the design is known: which process owns this trial, so that a later
            # run can tell a trial whose process was killed from one still in progress (and
            # retry its design: the params are already stored).
            trial.set_user_attr("worker", worker_id())
        config = self.space.config(params)
        cost, measured = self.cost_of(config)
        key = design_key(config)
        cost_dict = cost.to_dict()
        cost_summary = {k: v for k, v in cost_dict.items() if k not in ("config", "layers")}
        cost_summary["layers"] = [
            {name: layer[name] for name in ("name", "params", "macs", "flash_bytes", "state_bytes", "latency_ms")}
            for layer in cost_dict["layers"]
        ]
        attrs: dict[str, Any] = {
            "config": config.to_dict(),
            "design": config.describe(),
            "design_key": key,
            "intrinsic_size": config.intrinsic_size,
            "baseline": config.is_baseline,
            "cost": cost_summary,
            "feasible": cost.fits,
            "violations": cost.violations,
            "metric_name": self.settings.metric_name,
            "precision": self.settings.precision,
            "versions": self.versions,
            "trained": False,
            "samples_seen": 0,
        }
        if measured is not None:
            attrs["measured"] = measured
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        constraints = constraint_values(cost, self.device, self.limits)
        for name, value in constraints.items():
            trial.set_constraint(name, value)
        trial.storage.set_trial_system_attr(trial._trial_id, DASHBOARD_CONSTRAINTS_ATTR, list(constraints.values()))
        if not cost.fits:
            trial.set_user_attr("train_status", "skipped: infeasible")
            return objective_values(self.settings, UNTRAINED_METRIC[self.settings.task], cost)

        earlier = self._earlier_result(trial, key)
        if earlier is not None:
            metric_name = self.settings.metric_name
            for name in RESULT_ATTRS + tuple(f"{metric_name}_{suffix}" for suffix in ("float", "int8", "drop")):
                if name in earlier.user_attrs:
                    trial.set_user_attr(name, earlier.user_attrs[name])
            trial.set_user_attr("duplicate_of", earlier.number)
            trial.set_user_attr("samples_seen", 0)  # nothing was trained for this trial
            for step, value in earlier.intermediate_values.items():
                trial.storage.set_trial_intermediate_value(trial._trial_id, step, value)
            return objective_values(self.settings, earlier.user_attrs["metric"], cost)

        counted = counted_macs(config)
        trial.set_user_attr("counted_macs", {"fvcore": counted.fvcore, "flop_counter": counted.flop_counter})
        if self.on_progress is not None:
            self.on_progress(trial.number, config, cost, None)
        outcome = self.trainer(config, on_epoch=lambda record: self._epoch_done(trial, config, cost, record))
        if outcome.status == "timeout":
            raise self._cut_short(trial, outcome)
        trial.set_user_attr("trained", True)
        metric = precision_metric(self.settings, outcome)
        trial.set_user_attr("metric", metric)
        for name, value in summary_attrs(self.settings.metric_name, outcome.metric, outcome.deployed).items():
            trial.set_user_attr(name, value)
        trial.set_user_attr("curve", outcome.curve)
        trial.set_user_attr("train_status", outcome.status)
        trial.set_user_attr("train_reason", outcome.reason)
        trial.set_user_attr("train_seconds", outcome.wall_seconds)
        trial.set_user_attr("samples_seen", outcome.samples_seen)
        trial.set_user_attr("fidelity", outcome.fidelity.to_dict())
        if self.weights_dir is not None and outcome.state_dict is not None:
            path = save_weights(self.weights_dir, key, outcome.state_dict)
            # Export checks the file against this before it trusts the weights.
            trial.set_user_attr("weights_sha256", file_sha256(path))
            trial.set_user_attr("weights", str(path))
        return objective_values(self.settings, metric, cost)

    def _epoch_done(self, trial: Trial, config: ArchConfig, cost: CostReport, record: dict[str, float]) -> None:
        """Store the epoch's validation metric as the trial's intermediate value (a learning
        curve in optuna-dashboard), and tell whoever shows progress."""
        stop_if_requested()
        # Trial.report refuses multi-objective studies; the storage call is what it does.
        step = math.ceil(record["epoch"])
        trial.storage.set_trial_intermediate_value(trial._trial_id, step, float(record["metric"]))
        if self.on_progress is not None:
            self.on_progress(trial.number, config, cost, record)

    @staticmethod
    def _cut_short(trial: Trial, outcome: ProxyResult) -> optuna.TrialPruned:
        """A design the time limit stopped before its last epoch: recorded, never scored.

        Its score at a partial epoch would depend on how busy the machine was, so the
        trial ends PRUNED (it counts towards --trials, never sits on a front) with what
        it reached kept for the record.
        """
        trial.set_user_attr("train_status", "cut short")
        trial.set_user_attr("train_reason", f"{outcome.reason}; raise --max-trial-seconds to train it fully")
        trial.set_user_attr("partial_metric", outcome.metric)
        trial.set_user_attr("curve", outcome.curve)
        trial.set_user_attr("train_seconds", outcome.wall_seconds)
        trial.set_user_attr("samples_seen", outcome.samples_seen)
        trial.set_user_attr("fidelity", outcome.fidelity.to_dict())
        return optuna.TrialPruned(outcome.reason)

    def _earlier_result(self, trial: Trial, key: str) -> Optional[FrozenTrial]:
        """A finished trial of the same design, waiting for one still being trained.

        Only earlier-numbered running trials are waited for, so two workers can never
        wait on each other. An earlier trial that has not written its design yet is
        waited for too: it may be this design, and checking it later would let both
        workers train it.
        """
        study = trial.study
        heartbeat = is_heartbeat_enabled(study._storage)
        while True:
            running_earlier = False
            for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
                if other.number == trial.number:
                    continue
                if other.user_attrs.get("design_key") is None and other.number < trial.number and other.state == TrialState.RUNNING:
                    running_earlier = running_earlier or _may_still_write_design(other, heartbeat)
                    continue
                if other.user_attrs.get("design_key") != key:
                    continue
                if other.state == TrialState.COMPLETE and other.user_attrs.get("trained"):
                    return other
                if other.state == TrialState.RUNNING and other.number < trial.number and other.user_attrs.get("feasible"):
                    running_earlier = True
            if not running_earlier:
                return None
            time.sleep(self.wait_seconds)
            # The trial waited for may belong to a dead worker: fail it once stale.
            fail_stale_trials(study)


# A live worker writes a trial's design within a second of starting it; one silent
# for longer is dead (used where no heartbeat tells).
SETUP_SECONDS = 60.0


def _may_still_write_design(trial: FrozenTrial, heartbeat: bool) -> bool:
    if heartbeat:
        return True  # a dead worker's trial is failed by the heartbeat check
    if trial.datetime_start is None:
        return False
    return (datetime.datetime.now() - trial.datetime_start).total_seconds() < SETUP_SECONDS


def save_weights(weights_dir: Path, key: str, state_dict: dict[str, Any]) -> Path:
    """The proxy-trained weights of a design, for ``search export``; written atomically."""
    import torch

    weights_dir.mkdir(parents=True, exist_ok=True)
    path = weights_dir / f"{key}.pt"
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(state_dict, temporary)
    os.replace(temporary, path)
    return path


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def finished_count(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: complete ones (failed ones are retried)."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def recover_interrupted(study: optuna.Study, claim_held: bool = False) -> list[int]:
    """Fail this host's RUNNING trials whose process is gone and queue their designs again.

    A run stopped by Ctrl-C marks its trial failed itself; one killed outright leaves
    it RUNNING forever. Each such design is retried once. With Optuna's heartbeat
    (database servers) dead trials are found by their silence instead, and retried by
    its callback, which marks the copy with ``failed_trial``.
    """
    host = socket.gethostname()
    recovered = []
    dead_candidates = [] if is_heartbeat_enabled(study._storage) else study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in dead_candidates:
        worker = trial.user_attrs.get("worker") or trial.user_attrs.get(CLAIMED_BY_ATTR)
        if worker is None:
            # Trials are created, and their worker recorded, under the study's trial claim,
            # which the caller holds: one without a worker lost its process in between.
            if not claim_held:
                continue
        else:
            worker_host, _, pid_text = worker.rpartition(":")
            if worker_host != host or not pid_text.isdigit() or _process_alive(int(pid_text)):
                continue
        try:
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        recovered.append(trial.number)
    settings_text = study.user_attrs.get(SETTINGS_ATTR)
    dimensions = set(parse_space_dict(RunSettings.from_json(settings_text).space).choices) if settings_text else None
    everything = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("retry_of") for t in everything} | {t.system_attrs.get("failed_trial") for t in everything}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        is_retry = trial.system_attrs.get("retry_of") is not None or trial.system_attrs.get("failed_trial") is not None
        # A process killed while sampling leaves half a design: not a design to retry.
        # (Trials of studies made before the mark are judged by their parameters.)
        whole = design_is_stored(trial) or dimensions is None or dimensions <= set(trial.params)
        if trial.number in retried or is_retry or not trial.params or not whole:
            continue
        study.enqueue_trial(trial.params, skip_if_exists=False)
        # Mark the queued copy so the design is retried only once.
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[-1]
        study._storage.set_trial_system_attr(waiting._trial_id, "retry_of", trial.number)
    return recovered


def given_up_designs(study: optuna.Study) -> list[FrozenTrial]:
    """Failed retries whose design never completed: interrupted twice, not tried again.

    A plain baseline among them leaves the front without its non-ghost comparison, so
    the run says so instead of dropping it silently.
    """
    trials = study.get_trials(deepcopy=False)
    completed = {t.user_attrs.get("design_key") for t in trials if t.state == TrialState.COMPLETE}
    pending = {tuple(sorted(t.params.items())) for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)}
    given_up = []
    for trial in trials:
        is_retry = trial.system_attrs.get("retry_of") is not None or trial.system_attrs.get("failed_trial") is not None
        if trial.state != TrialState.FAIL or not is_retry:
            continue
        if trial.user_attrs.get("design_key") in completed or tuple(sorted(trial.params.items())) in pending:
            continue
        given_up.append(trial)
    return given_up


def given_up_text(trial: FrozenTrial) -> str:
    """One line about a design interrupted twice."""
    first = trial.system_attrs.get("retry_of", trial.system_attrs.get("failed_trial"))
    design = trial.user_attrs.get("design") or ", ".join(f"{key} {value}" for key, value in trial.params.items())
    kind = "plain baseline " if trial.user_attrs.get("baseline") or trial.params.get("ghost_ratio") == 1.0 else "design "
    return (
        f"{kind}{design} was interrupted twice (trials {first} and {trial.number}) and is not retried"
        + ("; the fronts lack this non-ghost comparison" if kind.startswith("plain") else "")
    )


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Trial proposals that do not depend on timing: trial n is proposed from a fixed history.

Optuna's samplers propose a trial from whatever the study holds when it is asked; with
several workers that is whichever trials happened to finish first, so two runs with the
same seed propose different designs. Here the design of trial number ``n`` is a function
of the seed, ``n`` and a *fixed view* of the study alone. Walking back from ``n - 1``
until ``lag`` trials that train have been passed gives a window:

* the trials before the window, in their final states (a worker that would propose
  trial ``n`` waits until they are final: bounded staleness);
* in the window, the trials that train as running, each with the design proposed for it
  (so TPE's constant liar steers away from them; that design is stored when the trial is
  created, under the study's trial claim, before the next trial can exist), and the
  infeasible ones (over a limit, never trained, final within milliseconds) final;

proposed by a fresh sampler (the run's ``--sampler``) whose random state is seeded from
``(seed, n)``, inside a throwaway in-memory copy of that view. Whether a trial trains
follows from its design (the ``feasible`` attribute its cost gives, stored right after
the design, and waited for until then); repeats of a design and enqueued designs count
as training. Neither which process asks nor when changes the view or the seed, so the
trial list and the front are the same whatever the worker count, the order in which
workers finish, and the load.

``lag`` is fixed when a study is created, stored with it and kept on resume: the trials
trained at once (``--parallel``, by default ``--workers``), at least 2, so ``--workers 1``
and ``--workers 2`` make the same trial list. A worker still waits when the other
workers went through ``lag`` training trials while a trial it needs was training (with 2
workers: the other one finished two while it trained one), and for the milliseconds of
an infeasible trial in the window. A study created before the lag counted trained trials
(no :data:`PROPOSAL_LAG_COUNTS_ATTR`) counts every trial on resume, so keeps its trial
list; there a worker also waits after running through infeasible trials.

Enqueued trials (the plain baselines, the retry of an interrupted trial) keep their
stored design and never wait. The ``random`` sampler reads no history and never waits.
"""

from __future__ import annotations

import hashlib
import socket
import time
from typing import Any, Optional

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from spaces import DesignSpace

from search._errors import StudyError
from search.study._target import CLAIMED_BY_ATTR, PROPOSAL_POLL_SECONDS

# The study user attribute holding the lag (fixed when the study is created).
PROPOSAL_LAG_ATTR = "proposal_lag"
# The study user attribute saying what the lag counts, fixed when the study is created;
# a study without it was created when the lag counted every trial.
PROPOSAL_LAG_COUNTS_ATTR = "proposal_lag_counts"
LAG_COUNTS_TRAINED = "trained trials"
LAG_COUNTS_ALL = "trials"
LAG_COUNTS = (LAG_COUNTS_TRAINED, LAG_COUNTS_ALL)
# The trial system attribute holding a sampled trial's design and the sampler's own
# attributes of it (NSGA-II's generation, the grid point), written when it is created.
PROPOSAL_ATTR = "proposal"
# Samplers whose proposals read no history: they never wait.
HISTORY_FREE_SAMPLERS = ("random",)


def proposal_lag(parallel: int) -> int:
    """The lag of a study whose workers train ``parallel`` trials at once: ``parallel``, at least 2."""
    return max(2, parallel)


def proposal_seed(seed: int, number: int) -> int:
    """The random seed of trial ``number``'s proposal (the same in every process)."""
    digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class FixedHistorySampler(optuna.samplers.BaseSampler):
    """Proposes trial ``n`` from the fixed view of the study described in this module.

    ``sampler_name`` is the run's ``--sampler`` (TPE, NSGA-II, grid, random), built
    afresh for each proposal; ``trials`` is the study's target (NSGA-II's population);
    ``lag_counts`` what the lag counts (:data:`LAG_COUNTS`; a study that does not say
    counts every trial).
    """

    def __init__(self, sampler_name: str, seed: int, space: DesignSpace, trials: int, lag: int, lag_counts: str = LAG_COUNTS_ALL):
        from search.study._study import create_sampler

        if lag < 1:
            raise ValueError(f"lag must be at least 1, got {lag}")
        if lag_counts not in LAG_COUNTS:
            raise ValueError(f"unknown lag count {lag_counts!r}; valid: {', '.join(LAG_COUNTS)}")
        self.sampler_name = sampler_name
        self.seed = seed
        self.lag = lag
        self.lag_counts = lag_counts
        self.reads_history = sampler_name not in HISTORY_FREE_SAMPLERS
        # By name: a space read back from a study's stored settings lists its dimensions
        # in another order than the YAML file, and the order of the draws must not change.
        self.choices = {name: list(space.choices[name]) for name in sorted(space.choices)}
        self._make = lambda trial_seed: create_sampler(sampler_name, trial_seed, space, trials)
        self._proposed: dict[int, dict[str, Any]] = {}

    # ------------------------------------------------------------ the window

    def _trains(self, trial: FrozenTrial) -> Optional[bool]:
        """Whether ``trial`` counts towards the lag; None while that is not known yet."""
        if self.lag_counts == LAG_COUNTS_ALL or "fixed_params" in trial.system_attrs:
            return True
        feasible = trial.user_attrs.get("feasible")
        if feasible is None:
            # Stored right after the design; a trial that ended without it counts, as it
            # did when every trial counted.
            return None if trial.state == TrialState.RUNNING else True
        return bool(feasible)

    def shown_running(self, trials: list[FrozenTrial], number: int) -> set[int]:
        """The numbers of the trials the proposal of trial ``number`` shows as running:
        those that train among the trials back to the ``lag``-th that trains. Every other
        earlier trial is shown final, so must be final. A running trial not yet known to
        train ends the walk: it and all before it are waited for until it is known."""
        running: set[int] = set()
        counted = 0
        for trial in sorted(trials, key=lambda t: t.number, reverse=True):
            if counted == self.lag:
                break
            if trial.number >= number:
                continue
            trains = self._trains(trial)
            if trains is None:
                break
            if trains:
                running.add(trial.number)
                counted += 1
        return running

    # ------------------------------------------------------------ waiting

    def blocking_trial(self, study: optuna.Study, number: int) -> Optional[FrozenTrial]:
        """The first unfinished trial that the proposal of trial ``number`` must see finished."""
        if not self.reads_history:
            return None
        trials = study.get_trials(deepcopy=False)
        running = self.shown_running(trials, number)
        for trial in trials:
            if trial.state == TrialState.RUNNING and trial.number < number and trial.number not in running:
                return trial
        return None

    def next_trial_blocked(self, study: optuna.Study, claim_held: bool) -> bool:
        """Whether the next trial this study would create cannot be proposed yet.

        A queued trial is taken first and needs no proposal. A trial waited for whose
        process is gone (on this machine) would be waited for forever: that stops the
        worker with a one-line error, and the next run retries its design.
        """
        trials = study.get_trials(deepcopy=False)
        if any(trial.state == TrialState.WAITING for trial in trials):
            return False
        blocker = self.blocking_trial(study, len(trials))
        if blocker is None:
            return False
        _check_owner_alive(blocker, claim_held)
        return True

    def _wait_for_history(self, study: optuna.Study, number: int) -> None:
        """For callers other than :func:`search.study._target.run_to_target`, which waits
        before it creates a trial: wait here, inside the trial's creation."""
        from search.study._target import fail_stale_trials

        while True:
            blocker = self.blocking_trial(study, number)
            if blocker is None:
                return
            _check_owner_alive(blocker, claim_held=False)
            time.sleep(PROPOSAL_POLL_SECONDS)
            fail_stale_trials(study)

    # ------------------------------------------------------------ the view

    def view_of(self, study: optuna.Study, number: int) -> list[FrozenTrial]:
        """The trials the proposal of trial ``number`` sees, as copies for a throwaway study."""
        if not self.reads_history:
            return []
        trials = study.get_trials(deepcopy=False)
        running = self.shown_running(trials, number)
        view = []
        for trial in trials:
            if trial.number >= number or trial.state == TrialState.WAITING:
                continue
            view.append(self._running_copy(trial) if trial.number in running else self._final_copy(trial))
        return view

    def _distributions(self, params: dict[str, Any]) -> dict[str, BaseDistribution]:
        return {name: CategoricalDistribution(self.choices[name]) for name in params if name in self.choices}

    def _final_copy(self, trial: FrozenTrial) -> FrozenTrial:
        proposal = trial.system_attrs.get(PROPOSAL_ATTR) or {}
        system_attrs = {key: value for key, value in trial.system_attrs.items() if key != PROPOSAL_ATTR}
        system_attrs.update(proposal.get("attrs", {}))
        # Intermediate values (a learning curve) are left out: TPE reads them only for
        # PRUNED trials, where it asks the study for a single direction, which a
        # multi-objective study does not have.
        return optuna.trial.create_trial(
            state=trial.state,
            values=trial.values if trial.state == TrialState.COMPLETE else None,
            params=dict(trial.params),
            distributions=dict(trial.distributions),
            system_attrs=system_attrs,
        )

    def _running_copy(self, trial: FrozenTrial) -> FrozenTrial:
        """What was known of a trial the moment it was created: its design, nothing else
        (whether it has finished since depends on timing)."""
        proposal = trial.system_attrs.get(PROPOSAL_ATTR)
        if proposal is not None:
            params, attrs = proposal["params"], proposal.get("attrs", {})
        else:
            params, attrs = trial.system_attrs.get("fixed_params", {}), {}
        params = {name: value for name, value in params.items() if name in self.choices}
        return optuna.trial.create_trial(state=TrialState.RUNNING, params=params, distributions=self._distributions(params), system_attrs=attrs)

    def propose(self, study: optuna.Study, number: int) -> dict[str, Any]:
        """``{"params": design, "attrs": the sampler's system attributes of it}`` for trial ``number``."""
        # The grid sampler shuffles its grid with its seed: one order for the whole study.
        sampler = self._make(self.seed if self.sampler_name == "grid" else proposal_seed(self.seed, number))
        view = optuna.create_study(storage=optuna.storages.InMemoryStorage(), directions=study.directions, sampler=sampler)
        view.add_trials(self.view_of(study, number))
        trial = view.ask()
        params = {name: trial.suggest_categorical(name, values) for name, values in self.choices.items()}
        return {"params": params, "attrs": dict(view._storage.get_trial(trial._trial_id).system_attrs)}

    # ------------------------------------------------------------ Optuna's sampler interface

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs:
            return  # an enqueued design (baseline, retry): nothing to propose
        self._wait_for_history(study, trial.number)
        proposal = self.propose(study, trial.number)
        study._storage.set_trial_system_attr(trial._trial_id, PROPOSAL_ATTR, proposal)
        self._proposed[trial._trial_id] = proposal["params"]

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {name: CategoricalDistribution(values) for name, values in self.choices.items()}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if trial._trial_id in self._proposed:
            return dict(self._proposed.pop(trial._trial_id))
        stored = study._storage.get_trial(trial._trial_id).system_attrs.get(PROPOSAL_ATTR)
        return dict(stored["params"]) if stored else {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        # Only a parameter no proposal covers (a queued design missing a dimension) gets
        # here; it is drawn from the trial's own seed, so it too repeats.
        fallback = optuna.samplers.RandomSampler(seed=proposal_seed(self.seed, trial.number))
        return fallback.sample_independent(study, trial, param_name, param_distribution)


def _check_owner_alive(trial: FrozenTrial, claim_held: bool) -> None:
    """Raise when ``trial``'s process is known to be gone: it will never finish."""
    from search.study._study import _process_alive

    owner = trial.user_attrs.get("worker") or trial.user_attrs.get(CLAIMED_BY_ATTR)
    if owner is None:
        # Trials are created, and their owner recorded, under the trial claim: with the
        # claim held, a trial without an owner lost its process in between.
        gone = claim_held
    else:
        host, _, pid = owner.rpartition(":")
        gone = host == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid))
    if gone:
        raise StudyError(
            f"trial #{trial.number} was left running by a process that is gone ({owner or 'unknown'}), and the next "
            "trials are proposed from its result; run the same command again to retry its design"
        )


def fixed_history_sampler(study: optuna.Study, sampler_name: str, seed: int, space: DesignSpace, trials: int) -> FixedHistorySampler:
    """The sampler of a process running trials of ``study``, with the lag stored in it
    (a study made before lags were stored gets the one of a single worker) and what it
    counts (a study made before that was stored counts every trial)."""
    lag = int(study.user_attrs.get(PROPOSAL_LAG_ATTR, proposal_lag(1)))
    lag_counts = study.user_attrs.get(PROPOSAL_LAG_COUNTS_ATTR, LAG_COUNTS_ALL)
    if lag_counts not in LAG_COUNTS:
        raise StudyError(f"study {study.study_name!r} counts its proposal lag in {lag_counts!r}, which this version does not know; run it with the version that created it")
    return FixedHistorySampler(sampler_name, seed, space, trials, lag, lag_counts)

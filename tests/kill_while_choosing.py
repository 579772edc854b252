"""A search worker that kills itself (SIGKILL) while its first trial chooses its design.

Run by the tests as ``python tests/kill_while_choosing.py STORAGE_URL STUDY WHEN``:

* ``WHEN=mid``: after the first parameter is stored and before the second (the real
  random sampler sends the signal when asked for the second parameter);
* ``WHEN=whole``: right after the whole design is stored, before it is costed.

No deferral can hold SIGKILL, so what the storage is left with is exactly what a worker
killed at that instant leaves. The study must hold no queued trial (a queued trial's
fixed parameters never reach the sampler).
"""

from __future__ import annotations

import os
import signal
import sys

import optuna


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingSampler(optuna.samplers.RandomSampler):
    def sample_independent(self, study, trial, name, distribution):
        if len(trial.params) == 1:
            _die()
        return super().sample_independent(study, trial, name, distribution)


def main(url: str, study_name: str, when: str) -> None:
    from search.storage import open_storage
    from search.study._study import Objective, open_study, stored_settings
    from search.study._target import run_to_target, trial_claim

    class KilledAfterDesign(Objective):
        def cost_of(self, config):
            _die()

    def trainer(config, on_epoch=None):
        raise AssertionError("a killed trial never trains")

    storage = open_storage(url)
    settings = stored_settings(study_name, storage)
    study = open_study(settings, study_name, storage, trials=10, create=False)
    if when == "whole":
        study.sampler, objective = optuna.samplers.RandomSampler(seed=11), KilledAfterDesign(settings, trainer)
    else:
        study.sampler, objective = KillingSampler(seed=11), Objective(settings, trainer)
    run_to_target(study, objective, 10, trial_claim(url, storage, study_name))
    raise SystemExit("the worker was not killed")


if __name__ == "__main__":
    main(*sys.argv[1:4])

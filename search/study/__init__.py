"""The study driver: build a run's settings, open or resume its Optuna study, run trials
to the target with any number of workers, join a running study, promote the front.

* :func:`run`: ``search run`` as a function (returns a :class:`RunResult`);
* :func:`join_study`: ``search worker``;
* the objective is cost first (analytic costs and Optuna constraints before any
  training), plain baselines are queued first, each distinct design is trained once.

Example (in a notebook; the first call generates and caches the synthetic corpus):

    >>> from search.study import run
    >>> result = run(device="cortex-m7", budget="100KB", trials=20)  # doctest: +SKIP
    >>> result.pareto[["design", "accuracy", "memory_bytes"]]  # doctest: +SKIP
"""

from search.study._promote import DEFAULT_PROMOTE_EPOCHS, DEFAULT_PROMOTE_SEEDS, EPSILON, PROMOTION_ATTR, record_key, select_candidates, with_promotions
from search.study._run import DEFAULT_TRIALS, TARGET_TRIALS_ATTR, RunResult, build_settings, command_text, join_study, resolve_workers, run, run_worker, summarize
from search.study._study import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    UNTRAINED_METRIC,
    baseline_designs,
    constraint_values,
    create_sampler,
    design_key,
    open_study,
)

__all__ = [
    "DEFAULT_PROMOTE_EPOCHS",
    "DEFAULT_PROMOTE_SEEDS",
    "DEFAULT_SAMPLER",
    "DEFAULT_TRIALS",
    "EPSILON",
    "PROMOTION_ATTR",
    "SAMPLERS",
    "TARGET_TRIALS_ATTR",
    "UNTRAINED_METRIC",
    "RunResult",
    "baseline_designs",
    "build_settings",
    "command_text",
    "constraint_values",
    "create_sampler",
    "design_key",
    "join_study",
    "open_study",
    "record_key",
    "resolve_workers",
    "run",
    "run_worker",
    "select_candidates",
    "summarize",
    "with_promotions",
]

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

from typing import TYPE_CHECKING

from spaces import lazy_exports

# Each name is imported from its module on first use, so that `search --help` does not
# wait for torch, plotly and Optuna; the imports below are what the names are.
if TYPE_CHECKING:
    from search.study._defaults import DEFAULT_PROMOTE_EPOCHS, DEFAULT_PROMOTE_SEEDS, DEFAULT_SAMPLER, DEFAULT_TRIALS, SAMPLERS
    from search.study._processes import forget_stop_request, request_stop
    from search.study._promote import EPSILON, PROMOTION_ATTR, record_key, select_candidates, with_promotions
    from search.study._run import TARGET_TRIALS_ATTR, RunResult, build_settings, command_text, join_study, resolve_workers, run, run_worker, summarize
    from search.study._study import (
        UNTRAINED_METRIC,
        baseline_designs,
        constraint_values,
        create_sampler,
        design_key,
        open_study,
    )

_EXPORTS = {
    "DEFAULT_PROMOTE_EPOCHS": "search.study._defaults",
    "DEFAULT_PROMOTE_SEEDS": "search.study._defaults",
    "EPSILON": "search.study._promote",
    "forget_stop_request": "search.study._processes",
    "request_stop": "search.study._processes",
    "PROMOTION_ATTR": "search.study._promote",
    "record_key": "search.study._promote",
    "select_candidates": "search.study._promote",
    "with_promotions": "search.study._promote",
    "DEFAULT_TRIALS": "search.study._defaults",
    "TARGET_TRIALS_ATTR": "search.study._run",
    "RunResult": "search.study._run",
    "build_settings": "search.study._run",
    "command_text": "search.study._run",
    "join_study": "search.study._run",
    "resolve_workers": "search.study._run",
    "run": "search.study._run",
    "run_worker": "search.study._run",
    "summarize": "search.study._run",
    "DEFAULT_SAMPLER": "search.study._defaults",
    "SAMPLERS": "search.study._defaults",
    "UNTRAINED_METRIC": "search.study._study",
    "baseline_designs": "search.study._study",
    "constraint_values": "search.study._study",
    "create_sampler": "search.study._study",
    "design_key": "search.study._study",
    "open_study": "search.study._study",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


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
    "forget_stop_request",
    "join_study",
    "open_study",
    "record_key",
    "request_stop",
    "resolve_workers",
    "run",
    "run_worker",
    "select_candidates",
    "summarize",
    "with_promotions",
]

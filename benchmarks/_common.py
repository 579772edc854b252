"""What the evidence benchmarks share: the machine record, parallel proxy training, output files.

Training jobs run in worker processes (``spawn``, so no torch thread pool is inherited
from the parent), one torch thread each: on a small machine two one-thread processes
train twice as many designs per minute as one two-thread process (see
``search.training._trainer.Fidelity``). Every job is seeded, so the results do not depend on
which process ran it or in which order.
"""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import platform
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

REPOSITORY = Path(__file__).resolve().parents[1]
BENCHMARKS = REPOSITORY / "benchmarks"
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

# The corpus sizes a smoke run uses: enough clips for every class, seconds to generate.
SMOKE_KWS = {"utterances_per_class": 20}
SMOKE_SE = {"train_clips": 16, "eval_clips": 8}


@dataclass(frozen=True)
class DataSpec:
    """Which cached data set a job trains on (``options`` go to the loader)."""

    task: str
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, task: str, **options: Any) -> "DataSpec":
        return cls(task, tuple(sorted(options.items())))


@dataclass(frozen=True)
class Job:
    """One proxy training run: a design, a fidelity and the data."""

    config: dict[str, Any]
    fidelity: dict[str, Any]
    data: DataSpec
    tag: dict[str, Any] = field(default_factory=dict)
    deployed: bool = False  # also score the trained weights in int8 (the deployed model)


_LOADED: dict[DataSpec, Any] = {}


def load_data(spec: DataSpec) -> Any:
    """The data of ``spec``, loaded once per process (generated and cached on first use)."""
    from search.data import load_kws_data, load_se_data

    if spec not in _LOADED:
        options = dict(spec.options)
        loader = load_kws_data if spec.task == "kws" else load_se_data
        _LOADED[spec] = loader(progress=False, **options)
    return _LOADED[spec]


def run_job(job: Job) -> dict[str, Any]:
    """Train one design; a JSON-ready record (no weights)."""
    from search.training import Fidelity, train_proxy, with_deployed_score
    from spaces import ArchConfig

    config, data = ArchConfig.from_dict(job.config), load_data(job.data)
    result = train_proxy(config, data, Fidelity.from_dict(job.fidelity))
    record = {
        **job.tag,
        "metric": result.metric,
        "status": result.status,
        "curve": result.curve,
        "wall_seconds": result.wall_seconds,
        "params": result.params,
    }
    if job.deployed:
        deployed = with_deployed_score(result, config, data).deployed
        record.update(metric_int8=deployed.metric, int8_seconds=deployed.seconds, int8_input_scale=deployed.input_scale, int8_error=deployed.error)
    return record


def run_jobs(jobs: list[Job], workers: int, on_result: Optional[Callable[[int, dict[str, Any]], None]] = None) -> list[dict[str, Any]]:
    """Every job's record, in job order; ``on_result(index, record)`` as each one finishes."""
    results: list[Optional[dict[str, Any]]] = [None] * len(jobs)
    # The data are generated here first so that worker processes only read the cache.
    for spec in {job.data for job in jobs}:
        load_data(spec)
    if workers <= 1:
        for index, job in enumerate(jobs):
            results[index] = run_job(job)
            if on_result:
                on_result(index, results[index])
        return [record for record in results if record is not None]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_job, job): index for index, job in enumerate(jobs)}
        for future in as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            if on_result:
                on_result(index, results[index])
    return [record for record in results if record is not None]


def machine() -> dict[str, Any]:
    """Where and when the numbers were taken (call it when the work starts)."""
    import optuna
    import torch

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def write_plot(path: Path, figure: Any) -> None:
    """A plotly figure as a standalone HTML file.

    The plotly script is referenced, not embedded, to keep each file a few kB; a PNG
    would need kaleido and a browser, which a 2-core build machine does not have.
    """
    figure.write_html(str(path), include_plotlyjs="cdn", full_html=True)
    print(f"wrote {path}")


def markdown_table(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub-flavoured table of ``rows`` (floats to 3 significant decimals)."""

    def shown(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(shown(row.get(column, "")) for column in columns) + " |" for row in rows]
    return "\n".join(lines)

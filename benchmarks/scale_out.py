"""Scale-out: trials per hour with 1, 2 and 4 workers on one study, and the storage
overhead per trial, for a journal file (one machine) and PostgreSQL (here on loopback).

    python benchmarks/scale_out.py --postgres-url postgresql://USER@127.0.0.1:5432/DB \
        [--trials 24] [--workers 1,2,4] [--space kws-default]

The PostgreSQL URL may also come from ``GHOSTRNN_TEST_POSTGRES_URL`` (the password from
``PGPASSWORD`` or ``~/.pgpass``); each run uses a new study in that database.

Throughput: a study is created (``search run --timeout``, one trial), then N ``search
worker`` processes run it to its target. "wall" counts from starting the workers to
the last one's exit (process start, torch import and data loading included);
"steady" counts from the first of their trials starting to the last finishing.

Storage overhead: one in-process worker runs the same trials with Optuna's in-memory
storage, the journal file and PostgreSQL; every call on the study's storage is timed
(the heartbeat thread's calls run beside the trial and are counted apart).

The proxy is the quick one of the tests (20 utterances per class, one epoch), so a
trial takes about a second and the storage's share is at its largest; with real
proxy training (minutes per trial) the same overhead is proportionally smaller.
Prints a table and writes ``benchmarks/scale_out.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from _common import BENCHMARKS, machine, markdown_table, write_json

import optuna
from optuna.trial import TrialState

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Methods a trial's critical path calls; record_heartbeat runs in its own thread.
BACKGROUND = ("record_heartbeat",)


def _search_args(args: argparse.Namespace) -> list[str]:
    return ["--space", args.space, "--utterances-per-class", "20", "--epochs", "1", "--sampler", "random"]


def _create(url: str, study: str, args: argparse.Namespace, out: Path) -> None:
    command = [sys.executable, "-m", "search", "run", "--device", "cortex-m7", "--budget", "100KB", "--trials", str(args.trials)]
    command += _search_args(args) + ["--timeout", "0.1", "--storage", url, "--study", study, "--out", str(out), "--no-progress", "--workers", "1"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def throughput(url: str, workers: int, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    from search.storage import open_storage

    study_name = f"scale-{uuid.uuid4().hex[:8]}"
    _create(url, study_name, args, scratch / "created")
    study = optuna.load_study(study_name=study_name, storage=open_storage(url))
    before = {t.number for t in study.get_trials(deepcopy=False, states=FINISHED)}
    command = [sys.executable, "-m", "search", "worker", "--storage", url, "--study", study_name, "--no-progress"]
    start = time.perf_counter()
    processes = [subprocess.Popen(command + ["--weights-dir", str(scratch / f"w{index}")], stdout=subprocess.DEVNULL) for index in range(workers)]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit(f"a worker failed (exit {process.returncode}) on {url.split('://')[0]}")
    wall = time.perf_counter() - start
    new = [t for t in study.get_trials(deepcopy=False, states=FINISHED) if t.number not in before]
    steady = (max(t.datetime_complete for t in new) - min(t.datetime_start for t in new)).total_seconds()
    trained = sum(1 for t in new if t.user_attrs.get("trained") and t.user_attrs.get("duplicate_of") is None)
    return {
        "workers": workers,
        "trials": len(new),
        "trained": trained,
        "wall_s": round(wall, 2),
        "trials_per_hour_wall": round(3600 * len(new) / wall),
        "steady_s": round(steady, 2),
        "trials_per_hour_steady": round(3600 * len(new) / steady) if steady > 0 else None,
    }


class _CallTimer:
    """Totals of time spent in a storage object's methods, by foreground/background."""

    def __init__(self, storage: Any):
        self.seconds = {"foreground": 0.0, "background": 0.0}
        self.calls = {"foreground": 0, "background": 0}
        for name in dir(type(storage)):
            if name.startswith("__") or not callable(getattr(storage, name, None)):
                continue
            setattr(storage, name, self._timed(getattr(storage, name), "background" if name in BACKGROUND else "foreground"))

    def _timed(self, method: Callable[..., Any], kind: str) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[kind] += time.perf_counter() - start
                self.calls[kind] += 1

        return timed


def overhead(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    from search.study import TARGET_TRIALS_ATTR, build_settings, run_worker
    from search.storage import open_storage
    from search.study import open_study
    from search.training import Fidelity

    settings, _, _ = build_settings(device="cortex-m7", budget="100KB", space=args.space, sampler="random", fidelity=Fidelity(epochs=1), utterances_per_class=20)
    storage = optuna.storages.InMemoryStorage() if url == "memory" else open_storage(url)
    study = open_study(settings, f"overhead-{uuid.uuid4().hex[:8]}", storage, args.trials, create=True)
    study.set_user_attr(TARGET_TRIALS_ATTR, args.trials)
    timer = _CallTimer(study._storage)
    start = time.perf_counter()
    run_worker(study, settings, args.trials, progress=False)
    wall = time.perf_counter() - start
    return {
        "storage": name,
        "trials": args.trials,
        "wall_s_per_trial": round(wall / args.trials, 4),
        "storage_ms_per_trial": round(1000 * timer.seconds["foreground"] / args.trials, 1),
        "storage_calls_per_trial": round(timer.calls["foreground"] / args.trials, 1),
        "heartbeat_calls": timer.calls["background"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default=os.environ.get("GHOSTRNN_TEST_POSTGRES_URL"))
    parser.add_argument("--trials", type=int, default=24, help="trials per study")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--space", default="kws-default")
    parser.add_argument("--out", default=str(BENCHMARKS / "scale_out.json"))
    args = parser.parse_args()
    if not args.postgres_url:
        raise SystemExit("give --postgres-url (or set GHOSTRNN_TEST_POSTGRES_URL); see README 'Running on many machines'")
    from search.storage import mask_url

    counts = [int(part) for part in args.workers.split(",")]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch_text:
        scratch = Path(scratch_text)
        # Generates the corpus once, so no measured run pays for it.
        _create(f"journal:{scratch / 'warm.journal'}", "warm-up", args, scratch / "warm")
        for backend in ("journal", "postgresql"):
            for workers in counts:
                url = f"journal:{scratch / f'{uuid.uuid4().hex[:8]}.journal'}" if backend == "journal" else args.postgres_url
                row = {"storage": backend} | throughput(url, workers, args, scratch / f"{backend}-{workers}")
                print(row, flush=True)
                rows.append(row)
        costs = [overhead(name, url, args) for name, url in (("memory", "memory"), ("journal", f"journal:{scratch / 'overhead.journal'}"), ("postgresql", args.postgres_url))]

    print("\nthroughput (trials per hour)\n")
    print(markdown_table(rows, list(rows[0])))
    print("\nstorage overhead per trial (one in-process worker)\n")
    print(markdown_table(costs, list(costs[0])))
    report = {
        "machine": machine(),
        "setup": {
            "space": args.space,
            "trials_per_study": args.trials,
            "proxy": "20 utterances per class, 1 epoch, random sampler, cortex-m7, 100KB",
            "postgres": mask_url(args.postgres_url),
        },
        "throughput": rows,
        "storage_overhead": costs,
    }
    write_json(Path(args.out), report)


if __name__ == "__main__":
    main()

"""Wall time and yield of the default search: `search run --device cortex-m7 --budget 100KB`.

    python benchmarks/search_run.py [--trials 40] [--device cortex-m7] [--budget 100KB] [--workers auto]

Runs a fresh study in a temporary directory with the command's defaults (``--workers
auto``: one worker per core; the corpus cache is reused if present, its one-off
generation time is reported separately), then prints and writes to
``benchmarks/search_run.json``: wall time, trials per hour, the share of trials skipped
as infeasible and the training time that saved (skipped trials x the median training
time of trained ones), the Pareto front's size and make-up, the load average, and the
front's hypervolume next to that of the front in the JSON file it replaces (reference:
accuracy 0, the memory budget, the device's real-time latency).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import search
from search.data import load_task_data
from cost_models import realtime_ms
from reports import hypervolume
from search.study import build_settings, resolve_workers
from spaces import ArchConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cortex-m7")
    parser.add_argument("--budget", default="100KB")
    parser.add_argument("--trials", type=int, default=search.run.__kwdefaults__["trials"])
    parser.add_argument("--workers", default="auto", help="worker processes (default auto, as search run)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("search_run.json")))
    args = parser.parse_args()
    workers = args.workers if args.workers == "auto" else int(args.workers)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else None
    load_at_start = os.getloadavg()[0]

    settings, _, _ = build_settings(device=args.device, budget=args.budget)
    start = time.perf_counter()
    load_task_data(settings, progress=True)  # generates the corpus once if it is not cached
    data_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = search.run(device=args.device, budget=args.budget, trials=args.trials, out=out, progress=True, workers=workers)
        wall = time.perf_counter() - start
    trials = result.trials
    infeasible = trials[trials["feasible"] == False]  # noqa: E712
    trained = trials[(trials["trained"] == True) & trials["duplicate_of"].isna()]  # noqa: E712
    median_train = statistics.median(trained["train_seconds"]) if len(trained) else 0.0
    pareto = result.pareto
    reference = [0.0, float(settings.budget_bytes), realtime_ms(ArchConfig(task=settings.task))]

    def front_hypervolume(records: list[dict]) -> float:
        values = np.array([[r["accuracy"], r["memory_bytes"], r["latency_ms"]] for r in records], dtype=float)
        return hypervolume(values, ["maximize", "minimize", "minimize"], reference) if len(values) else 0.0

    records = pareto[["number", "design", "accuracy", "memory_bytes", "latency_ms", "macs"]].to_dict("records")
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
        "workers": resolve_workers(workers),
        "load_average": [load_at_start, os.getloadavg()[0]],
        "command": f"search run --device {args.device} --budget {args.budget} --trials {args.trials} --workers {args.workers}",
        "data_seconds_before_run": round(data_seconds, 1),
        "wall_seconds": round(wall, 1),
        "trials": len(trials),
        "trials_per_hour": round(3600 * len(trials) / wall, 1),
        "trained": len(trained),
        "duplicates": int(trials["duplicate_of"].notna().sum()),
        "infeasible": len(infeasible),
        "infeasible_share": round(len(infeasible) / len(trials), 3),
        "median_train_seconds": round(median_train, 2),
        "training_seconds_saved": round(len(infeasible) * median_train, 1),
        "pareto_size": len(pareto),
        "pareto_ghost_designs": int((pareto["ghost_ratio"] > 1).sum()),
        "hypervolume_reference": reference,
        "hypervolume": front_hypervolume(records),
        "previous_hypervolume": front_hypervolume(previous["pareto"]) if previous else None,
        "previous_date": previous.get("date") if previous else None,
        "pareto": records,
    }
    for key, value in figures.items():
        if key != "pareto":
            print(f"{key:26s} {value}")
    Path(args.out).write_text(json.dumps(figures, indent=2, default=float) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

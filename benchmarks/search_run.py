"""Wall time and yield of the default search: `search run --device cortex-m7 --budget 100KB`.

    python benchmarks/search_run.py [--trials 40] [--device cortex-m7] [--budget 100KB] [--workers auto]
    python benchmarks/search_run.py --compare-before [--trials 40] [--seed 0]

Runs a fresh study in a temporary directory with the command's defaults (``--workers
auto``: one worker per core; the corpus cache is reused if present, its one-off
generation time is reported separately; ``GHOSTRNN_CACHE=$(mktemp -d)`` measures a cold
cache), then prints and writes to ``benchmarks/search_run.json``: wall time, trials per
hour, the share of trials skipped as infeasible and the training time that saved
(skipped trials x the median training time of trained ones), the Pareto front's size and
make-up, the load average, and the front's hypervolume next to that of the front in the
JSON file it replaces (reference: accuracy 0, the memory budget, the device's real-time
latency).

``--compare-before``: the same search (same seed, trials and trial proposals) twice, side
by side in two processes, one worker each and a time limit per trial that load cannot
reach, once with the layers as they are and once with the layers before the speed work
(``_layers_before.py``, put in place of the package's in that process); prints both
fronts' hypervolumes and their ratio
and writes ``benchmarks/search_run_before_after.json``. The two searches differ only in
the layers' arithmetic (the same equations, summed in another order).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _layers_before as before  # noqa: E402
import search  # noqa: E402
from cost_models import realtime_ms  # noqa: E402
from reports import hypervolume  # noqa: E402
from search.data import load_task_data  # noqa: E402
from search.study import build_settings, resolve_workers  # noqa: E402
from search.training import Fidelity  # noqa: E402
from spaces import RNN_CELLS, ArchConfig  # noqa: E402

# Long enough that no trial of the default search is cut short, however loaded the machine.
GENEROUS_TRIAL_SECONDS = 3600.0


def front_hypervolume(records: list[dict[str, Any]], reference: list[float]) -> float:
    values = np.array([[r["accuracy"], r["memory_bytes"], r["latency_ms"]] for r in records], dtype=float)
    return hypervolume(values, ["maximize", "minimize", "minimize"], reference) if len(values) else 0.0


def searched(args: argparse.Namespace, workers: Any, fidelity: Fidelity | None = None, layers: str = "now", progress: bool = True) -> tuple[Any, float]:
    """(the run's result, its wall seconds), with the current layers or those before the speed work."""
    saved = dict(RNN_CELLS)
    if layers == "before":
        RNN_CELLS.update(gru=before.GhostGRU, lstm=before.GhostLSTM)
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = search.run(
                device=args.device, budget=args.budget, trials=args.trials, out=out, progress=progress, workers=workers, seed=args.seed,
                fidelity=fidelity, utterances_per_class=args.utterances_per_class,
            )
            return result, time.perf_counter() - start
    finally:
        RNN_CELLS.clear()
        RNN_CELLS.update(saved)


def one_side(args: argparse.Namespace, layers: str, reference: list[float]) -> dict[str, Any]:
    """One side of ``--compare-before``: the search with the current layers or those before."""
    fidelity = Fidelity(epochs=args.epochs or Fidelity().epochs, max_seconds=GENEROUS_TRIAL_SECONDS)
    result, wall = searched(args, 1, fidelity, layers, progress=False)
    trials = result.trials
    records = result.pareto[["number", "design", "accuracy", "memory_bytes", "latency_ms"]].to_dict("records")
    return {
        "wall_seconds": round(wall, 1),
        "cut_short": int((trials["train_status"] == "cut short").sum()),
        "designs": trials["design"].tolist(),
        "accuracy": trials["accuracy"].tolist(),
        "hypervolume": front_hypervolume(records, reference),
        "pareto": records,
    }


def compare_before(args: argparse.Namespace, reference: list[float]) -> None:
    load_at_start = os.getloadavg()[0]
    # The two searches run side by side, one process each (one worker, one thread): their
    # results do not depend on load, only their wall times do.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = {layers: pool.submit(one_side, args, layers, reference) for layers in ("now", "before")}
        runs = {layers: future.result() for layers, future in futures.items()}
    now, old = runs["now"], runs["before"]
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": f"python benchmarks/search_run.py --compare-before --trials {args.trials} --seed {args.seed}",
        "load_average": [load_at_start, os.getloadavg()[0]],
        "hypervolume_reference": reference,
        "hypervolume_now": now["hypervolume"],
        "hypervolume_before": old["hypervolume"],
        "ratio_now_to_before": now["hypervolume"] / old["hypervolume"] if old["hypervolume"] else None,
        "same_designs_proposed": sum(a == b for a, b in zip(now["designs"], old["designs"])),
        "trials": args.trials,
        "runs": runs,
    }
    for key in ("load_average", "hypervolume_now", "hypervolume_before", "ratio_now_to_before", "same_designs_proposed"):
        print(f"{key:26s} {figures[key]}")
    for layers, run in runs.items():
        print(f"{layers:7s} front ({len(run['pareto'])} designs, {run['cut_short']} trials cut short, {run['wall_seconds']:.0f} s): "
              + ", ".join(f"{r['design']} {100 * r['accuracy']:.1f} %" for r in run["pareto"]))
    out = Path(args.out).with_name("search_run_before_after.json")
    out.write_text(json.dumps(figures, indent=2, default=float) + "\n")
    print(f"written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cortex-m7")
    parser.add_argument("--budget", default="100KB")
    parser.add_argument("--trials", type=int, default=search.run.__kwdefaults__["trials"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", default="auto", help="worker processes (default auto, as search run)")
    parser.add_argument("--compare-before", action="store_true", help="hypervolume of the current layers against the layers before the speed work, one worker each")
    # For a quick check of the script; the figures are taken with the defaults.
    parser.add_argument("--epochs", type=int, default=None, help="proxy epochs (default: the search's)")
    parser.add_argument("--utterances-per-class", type=int, default=None, help="synthetic corpus size (default: the search's)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("search_run.json")))
    args = parser.parse_args()
    workers = args.workers if args.workers == "auto" else int(args.workers)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else None
    load_at_start = os.getloadavg()[0]

    settings, _, _ = build_settings(device=args.device, budget=args.budget, utterances_per_class=args.utterances_per_class)
    reference = [0.0, float(settings.budget_bytes), realtime_ms(ArchConfig(task=settings.task))]
    start = time.perf_counter()
    load_task_data(settings, progress=True)  # generates the corpus once if it is not cached
    data_seconds = time.perf_counter() - start
    if args.compare_before:
        compare_before(args, reference)
        return

    result, wall = searched(args, workers, Fidelity(epochs=args.epochs) if args.epochs else None)
    trials = result.trials
    infeasible = trials[trials["feasible"] == False]  # noqa: E712
    trained = trials[(trials["trained"] == True) & trials["duplicate_of"].isna()]  # noqa: E712
    median_train = statistics.median(trained["train_seconds"]) if len(trained) else 0.0
    pareto = result.pareto
    records = pareto[["number", "design", "accuracy", "memory_bytes", "latency_ms", "macs"]].to_dict("records")
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
        "workers": resolve_workers(workers),
        "load_average": [load_at_start, os.getloadavg()[0]],
        "command": f"search run --device {args.device} --budget {args.budget} --trials {args.trials} --workers {args.workers} --seed {args.seed}",
        "data_seconds_before_run": round(data_seconds, 1),
        "wall_seconds": round(wall, 1),
        "total_seconds": round(data_seconds + wall, 1),
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
        "hypervolume": front_hypervolume(records, reference),
        "previous_hypervolume": front_hypervolume(previous["pareto"], reference) if previous else None,
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

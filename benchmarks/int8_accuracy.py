"""Deployed accuracy: float32 vs int8 validation accuracy of the proxy-fidelity designs.

The designs are those of ``benchmarks/proxy_fidelity.py`` (24 of ``kws-default`` drawn
one per log-spaced memory bin between 4 kB and 120 kB on cortex-m7, 20 within a
100 KB budget); ``--subset N`` keeps N of them evenly spaced along that list (a
reduced set for a busy machine). Each is trained once at the default proxy fidelity
(3 epochs) and scored on the validation split in float32 and in int8 (the bit-exact
integer simulation of its C code, input scale from the training split), exactly as
``search run`` does.

Reported: each design's float and int8 accuracy and the drop (points), mean and max
drop, and whether the accuracy/memory Pareto front of the feasible designs changes
when it is computed on int8 accuracy instead of float.

Run from the repository root:

    python benchmarks/int8_accuracy.py                 # 24 designs, one proxy training each
    python benchmarks/int8_accuracy.py --subset 12     # every other design
    python benchmarks/int8_accuracy.py --smoke         # seconds: 4 tiny designs, tiny corpus

Writes ``benchmarks/int8_accuracy.json`` (``int8_accuracy_smoke.json`` with ``--smoke``),
after every design, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from _common import BENCHMARKS, SMOKE_KWS, DataSpec, Job, machine, markdown_table, run_jobs, write_json
from proxy_fidelity import front_members, pick_designs

from cost_models import parse_size
from search.training import Fidelity
from spaces import ArchConfig


def evenly(items: list[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over ``items`` (all of them when count >= len)."""
    if count >= len(items):
        return list(items)
    step = (len(items) - 1) / max(1, count - 1)
    return [items[round(index * step)] for index in range(count)]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and max drop (points), and the accuracy/memory front on float vs on int8."""
    scored = [row for row in rows if row.get("int8") is not None]
    drops = [row["drop_points"] for row in scored]
    feasible = [row for row in scored if row["feasible"]]
    memory = [float(row["memory_bytes"]) for row in feasible]
    float_front = front_members([row["float"] for row in feasible], memory)
    int8_front = front_members([row["int8"] for row in feasible], memory)
    return {
        "designs": len(scored),
        "mean_drop_points": statistics.fmean(drops) if drops else None,
        "max_drop_points": max(drops) if drops else None,
        "min_drop_points": min(drops) if drops else None,
        "over_2_points": [row["design"] for row in scored if row["drop_points"] > 2],
        "front": {
            "float": sorted(feasible[index]["design"] for index in float_front),
            "int8": sorted(feasible[index]["design"] for index in int8_front),
            "same": float_front == int8_front,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests: 4 small designs, 20 utterances per class, 1 epoch")
    parser.add_argument("--designs", type=int, default=24, help="the proxy-fidelity draw (keep 24 to score its designs)")
    parser.add_argument("--subset", type=int, help="score only this many of the drawn designs, evenly spaced")
    parser.add_argument("--over-budget", type=int, default=4)
    parser.add_argument("--budget", default="100KB")
    parser.add_argument("--band", default="4KB,120KB")
    parser.add_argument("--device", default="cortex-m7")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="which designs are drawn (as proxy_fidelity.py)")
    parser.add_argument("--out-dir", default=str(BENCHMARKS))
    args = parser.parse_args()

    record: dict[str, Any] = {"machine": machine(), "smoke": args.smoke}
    budget = parse_size(args.budget)
    low, high = (parse_size(part) for part in args.band.split(","))
    if args.smoke:
        designs = pick_designs(4, 1, budget, low, 20_000, args.device, args.seed)
        spec, fidelity = DataSpec.of("kws", **SMOKE_KWS), Fidelity(epochs=1)
    else:
        designs = pick_designs(args.designs, args.over_budget, budget, low, high, args.device, args.seed)
        # The default proxy without its time limit: on a busy machine the limit would cut
        # training short and the numbers would depend on the load.
        spec, fidelity = DataSpec.of("kws"), Fidelity(max_seconds=24 * 3600.0)
    designs = evenly(designs, args.subset) if args.subset else designs
    record.update(fidelity=fidelity.to_dict(), budget_bytes=budget, subset=args.subset, drawn=args.designs)
    jobs = [Job(config.to_dict(), fidelity.to_dict(), spec, {"index": index}, deployed=True) for index, (config, _) in enumerate(designs)]
    rows: list[dict[str, Any]] = [{} for _ in designs]
    name = "int8_accuracy_smoke.json" if args.smoke else "int8_accuracy.json"
    out = Path(args.out_dir) / name
    started = time.perf_counter()

    def on_result(index: int, result: dict[str, Any]) -> None:
        config, cost = designs[index]
        int8 = result.get("metric_int8")
        rows[index] = {
            "design": config.describe(),
            "config": config.to_dict(),
            "memory_bytes": cost.memory_bytes,
            "feasible": cost.fits,
            "params": result["params"],
            "float": result["metric"],
            "int8": int8,
            "drop_points": None if int8 is None else 100 * (result["metric"] - int8),
            "int8_error": result.get("int8_error", ""),
            "train_seconds": result["wall_seconds"],
            "int8_seconds": result["int8_seconds"],
            "status": result["status"],
        }
        shown = "no int8 form" if int8 is None else f"{100 * int8:5.1f} %  drop {rows[index]['drop_points']:+.2f}"
        print(f"  {config.describe():36s} {cost.memory_bytes / 1000:7.1f} kB  float {100 * result['metric']:5.1f} %  int8 {shown}  "
              f"({result['wall_seconds']:.1f} s train, {result['int8_seconds']:.2f} s int8)", flush=True)
        done = [row for row in rows if row]
        write_json(out, {**record, "rows": done, "summary": summarize(done), "seconds": round(time.perf_counter() - started, 1)})

    print(f"{len(jobs)} designs, {fidelity.epochs} epochs each, float and int8 validation accuracy", flush=True)
    run_jobs(jobs, args.workers, on_result)
    summary = summarize(rows)
    print()
    print(markdown_table(sorted(rows, key=lambda row: row["memory_bytes"]), ["design", "memory_bytes", "float", "int8", "drop_points"]))
    print(f"\nmean drop {summary['mean_drop_points']:.2f} points, max {summary['max_drop_points']:.2f} (min {summary['min_drop_points']:.2f}); "
          f"over 2 points: {summary['over_2_points'] or 'none'}")
    print(f"accuracy/memory front of the feasible designs: {'the same' if summary['front']['same'] else 'changes'} on int8 "
          f"(float: {len(summary['front']['float'])} designs, int8: {len(summary['front']['int8'])})")


if __name__ == "__main__":
    main()

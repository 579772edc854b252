"""Proxy fidelity: does the default 3-epoch proxy rank designs as 5x longer training does?

Designs are drawn from the default KWS space (``kws-default``) in a memory band around
a 100 KB budget on cortex-m7: most inside the budget (the feasible band the search
ranks), some just above it. Each design is trained once for 5x the proxy's epochs
(15); the proxy metric is that run's validation metric after epoch 3. That is exactly
the default proxy's result: training is deterministic for a seed, the optimiser has
no schedule, and the epoch order comes from the same seeded generator, so the first
three epochs of the long run *are* the proxy run. The script checks this on the first
``--verify`` designs by running the proxy on its own as well.

Reported: Kendall tau-b and Spearman rho between proxy and long-training metrics, over
all designs and inside the feasible band; top-5 overlap; whether the two agree on the
accuracy/memory Pareto front; and the same statistics for ranking by parameter count
alone (more parameters = better), the baseline a proxy must beat.

Run from the repository root (default: 24 designs; 35 minutes measured on a 2-core machine shared with other jobs):

    python benchmarks/proxy_fidelity.py
    python benchmarks/proxy_fidelity.py --smoke      # seconds: 6 tiny designs, tiny corpus

Writes ``benchmarks/proxy_fidelity.json`` and ``benchmarks/proxy_fidelity.html``.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from _common import BENCHMARKS, SMOKE_KWS, DataSpec, Job, machine, markdown_table, run_jobs, write_json, write_plot
from _ranks import kendall_tau, spearman, top_k_overlap

from cost_models import Limits, analytic_cost, load_device, parse_size
from reports import pareto_mask
from search.training import Fidelity
from spaces import ArchConfig, load_space


def pick_designs(count: int, over_budget: int, budget: int, low: int, high: int, device: str, seed: int) -> list[tuple[ArchConfig, Any]]:
    """``count`` distinct designs of kws-default with memory in [low, high], spread over memory.

    Within the budget and above it separately, the memory range is cut into bins of
    equal width in log(memory); one design is drawn at random from each bin, so the
    sample spans the band evenly on a log scale (a budget is a ratio, and small models
    train fastest) while cell, depth, ratio and cheap op vary at random.
    """
    profile = load_device(device)
    limits = Limits(memory_bytes=budget)
    rng = random.Random(seed)
    inside, above = [], []
    for config in load_space("kws-default").enumerate():
        cost = analytic_cost(config, profile, limits)
        if low <= cost.memory_bytes <= high and not (cost.violations and cost.memory_bytes <= budget):
            (inside if cost.fits else above).append((config, cost))
    wanted_inside = count - over_budget
    chosen = []
    for pool, wanted, (start, stop) in ((inside, wanted_inside, (low, budget)), (above, count - wanted_inside, (budget, high))):
        pool.sort(key=lambda item: (item[1].memory_bytes, item[0].describe()))
        edges = [start * (stop / start) ** (index / max(1, wanted)) for index in range(wanted + 1)]
        for left, right in zip(edges, edges[1:]):
            members = [item for item in pool if left <= item[1].memory_bytes <= right and item not in chosen]
            if members:
                chosen.append(rng.choice(members))
    return chosen


def front_members(metric: list[float], memory: list[float]) -> set[int]:
    """Indices on the accuracy/memory Pareto front."""
    import numpy as np

    mask = pareto_mask(np.column_stack([metric, memory]), ["maximize", "minimize"])
    return {index for index, keep in enumerate(mask) if keep}


def agreement(reference: list[float], ranking: list[float]) -> dict[str, float]:
    return {
        "kendall_tau": kendall_tau(ranking, reference),
        "spearman": spearman(ranking, reference),
        "top5_overlap": top_k_overlap(ranking, reference, 5),
    }


def analyse(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Proxy and parameter-count agreement with long training, overall and in the feasible band."""
    summary: dict[str, Any] = {}
    # Per cell type too: a proxy that misjudges how fast one cell type learns shows up here.
    subsets = [("all", rows), ("feasible", [row for row in rows if row["feasible"]])]
    for cell in sorted({row["config"]["cell"] for row in rows}):
        members = [row for row in rows if row["config"]["cell"] == cell]
        if len(members) >= 3:
            subsets.append((cell, members))
    for name, subset in subsets:
        long_metric = [row["long_metric"] for row in subset]
        summary[name] = {
            "designs": len(subset),
            "proxy": agreement(long_metric, [row["proxy_metric"] for row in subset]),
            "params": agreement(long_metric, [float(row["params"]) for row in subset]),
        }
        memory = [float(row["memory_bytes"]) for row in subset]
        proxy_front = front_members([row["proxy_metric"] for row in subset], memory)
        long_front = front_members(long_metric, memory)
        summary[name]["front"] = {
            "proxy_front_size": len(proxy_front),
            "long_front_size": len(long_front),
            "shared": len(proxy_front & long_front),
            "jaccard": len(proxy_front & long_front) / max(1, len(proxy_front | long_front)),
        }
    return summary


def promotion_effect(rows: list[dict[str, Any]], limit: int = 8) -> dict[str, Any]:
    """What ``search run --promote`` would make of these designs, with the search's own selection.

    Stage 1 is the proxy; the designs :func:`search.study._promote.select_candidates` picks
    from the feasible ones (accuracy/memory objectives) are "promoted" to their
    long-training metric (one seed), and the final front is computed among them. Both
    fronts are compared with the front of long training over all feasible designs.
    """
    import numpy as np
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    from search.study import EPSILON, select_candidates
    from search._settings import RunSettings

    feasible = [row for row in rows if row["feasible"]]
    trials = []
    for number, row in enumerate(feasible):
        trial = create_trial(
            state=TrialState.COMPLETE,
            values=[row["proxy_metric"], float(row["memory_bytes"])],
            params={"design": number},
            distributions={"design": CategoricalDistribution(list(range(len(feasible))))},
            user_attrs={"feasible": True, "trained": True, "duplicate_of": None},
        )
        trial.number = number
        trials.append(trial)
    settings = RunSettings(task="kws", space={}, space_fingerprint="", device={}, objectives=["metric", "memory"])
    chosen = [trial.number for trial in select_candidates(trials, settings, limit, EPSILON["kws"])]
    memory = [float(row["memory_bytes"]) for row in feasible]
    true_front = front_members([row["long_metric"] for row in feasible], memory)
    proxy_front = front_members([row["proxy_metric"] for row in feasible], memory)
    mask = pareto_mask(np.column_stack([[feasible[i]["long_metric"] for i in chosen], [memory[i] for i in chosen]]), ["maximize", "minimize"])
    promoted_front = {chosen[position] for position, keep in enumerate(mask) if keep}
    return {
        "limit": limit,
        "promoted": len(chosen),
        "true_front_size": len(true_front),
        "proxy_front": {"size": len(proxy_front), "on_true_front": len(proxy_front & true_front)},
        "promoted_front": {"size": len(promoted_front), "on_true_front": len(promoted_front & true_front)},
        "promoted_designs": [feasible[i]["design"] for i in chosen],
        "missed_true_front": [feasible[i]["design"] for i in sorted(true_front - promoted_front)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests: 6 small designs, 20 utterances per class, 1 vs 5 epochs")
    parser.add_argument("--designs", type=int, default=24)
    parser.add_argument("--over-budget", type=int, default=4, help="how many of the designs lie above the budget (the rest within it)")
    parser.add_argument("--budget", default="100KB")
    parser.add_argument("--band", default="4KB,120KB", help="memory band the designs are drawn from")
    parser.add_argument("--device", default="cortex-m7")
    parser.add_argument("--factor", type=int, default=5, help="long training = factor x the proxy's epochs")
    parser.add_argument("--verify", type=int, default=1, help="designs whose proxy is also run on its own, to check it equals epoch 3 of the long run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="which designs are drawn")
    parser.add_argument("--out-dir", default=str(BENCHMARKS))
    parser.add_argument("--no-time-limit", action="store_true", help="no training time limit (on a busy machine the limit, not the design, would end long runs)")
    args = parser.parse_args()

    proxy = Fidelity()
    data_options: dict[str, Any] = {}
    if args.smoke:
        args.designs, args.over_budget, args.band, args.budget, args.verify, args.workers = 6, 2, "1KB,12KB", "8KB", 1, 1
        proxy = Fidelity(epochs=1)
        data_options = dict(SMOKE_KWS)
    low, high = (parse_size(part) for part in args.band.split(","))
    budget = parse_size(args.budget)
    # The long run may take factor x the proxy's time limit: same limit per epoch.
    if args.no_time_limit:
        proxy = Fidelity(epochs=proxy.epochs, max_seconds=1e9, seed=proxy.seed)
    long = Fidelity(epochs=proxy.epochs * args.factor, max_seconds=proxy.max_seconds * args.factor, seed=proxy.seed)
    designs = pick_designs(args.designs, args.over_budget, budget, low, high, args.device, args.seed)
    spec = DataSpec.of("kws", **data_options)
    jobs = [Job(config.to_dict(), long.to_dict(), spec, {"index": index}) for index, (config, _) in enumerate(designs)]
    jobs += [Job(designs[index][0].to_dict(), proxy.to_dict(), spec, {"index": index, "verify": True}) for index in range(min(args.verify, len(designs)))]
    print(f"{len(designs)} designs ({sum(cost.fits for _, cost in designs)} within {args.budget}); {long.epochs}-epoch runs on {args.workers} workers")
    host = machine()  # before the work: the load average it records is the one the work met
    started = time.perf_counter()

    def report(index: int, record: dict[str, Any]) -> None:
        config, cost = designs[record["index"]]
        kind = "proxy check" if record.get("verify") else f"{long.epochs} epochs"
        print(f"  {config.describe():34s} {cost.memory_bytes / 1000:6.1f} kB  {kind}: {100 * record['metric']:.1f} %  ({record['wall_seconds']:.0f} s)", flush=True)

    records = run_jobs(jobs, args.workers, report)
    rows, checks = [], []
    for record in records:
        config, cost = designs[record["index"]]
        if record.get("verify"):
            long_record = records[record["index"]]
            checks.append({"design": config.describe(), "proxy_alone": record["metric"], "long_run_at_proxy_epochs": long_record["curve"][proxy.epochs - 1]["metric"]})
            continue
        proxy_point = record["curve"][proxy.epochs - 1]
        rows.append(
            {
                "design": config.describe(),
                "config": config.to_dict(),
                "params": cost.params,
                "memory_bytes": cost.memory_bytes,
                "feasible": cost.fits,
                "proxy_metric": proxy_point["metric"],
                # A proxy run that would have hit its own time limit is not what the search saw.
                "proxy_within_time_limit": proxy_point["seconds"] <= proxy.max_seconds,
                "long_metric": record["metric"],
                "long_status": record["status"],
                "long_seconds": record["wall_seconds"],
                "curve": [point["metric"] for point in record["curve"]],
            }
        )
    summary = analyse(rows)
    summary["promotion"] = promotion_effect(rows)
    result = {
        "benchmark": "proxy_fidelity",
        "smoke": args.smoke,
        "machine": host,
        "settings": {
            "space": "kws-default",
            "device": args.device,
            "budget": args.budget,
            "band": args.band,
            "designs": args.designs,
            "proxy_fidelity": proxy.to_dict(),
            "long_fidelity": long.to_dict(),
            "data": data_options or {"utterances_per_class": 1000},
            "workers": args.workers,
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
        "proxy_checks": checks,
        "summary": summary,
        "designs": rows,
    }
    print()
    print(markdown_table(sorted(rows, key=lambda row: row["memory_bytes"]), ["design", "params", "memory_bytes", "feasible", "proxy_metric", "long_metric"]))
    print()
    table = []
    for band, stats in summary.items():
        if band == "promotion":
            continue
        for ranking in ("proxy", "params"):
            table.append({"designs": f"{band} ({stats['designs']})", "ranked by": ranking, **stats[ranking]})
    print(markdown_table(table, ["designs", "ranked by", "kendall_tau", "spearman", "top5_overlap"]))
    for band, stats in summary.items():
        if band == "promotion":
            continue
        front = stats["front"]
        print(f"{band}: accuracy/memory front, proxy {front['proxy_front_size']} designs, long {front['long_front_size']}, shared {front['shared']}")
    effect = summary["promotion"]
    print(f"promotion of up to {effect['limit']} designs ({effect['promoted']} chosen): the final front has "
          f"{effect['promoted_front']['on_true_front']} of {effect['promoted_front']['size']} designs on the {effect['true_front_size']}-design "
          f"{long.epochs}-epoch front; the proxy front alone {effect['proxy_front']['on_true_front']} of {effect['proxy_front']['size']}")
    for check in checks:
        same = abs(check["proxy_alone"] - check["long_run_at_proxy_epochs"]) < 1e-9
        print(f"proxy check {check['design']}: alone {check['proxy_alone']:.4f}, long run at epoch {proxy.epochs} {check['long_run_at_proxy_epochs']:.4f} ({'identical' if same else 'DIFFERENT'})")
    print(f"wall time {result['wall_seconds']:.0f} s")
    out_dir = Path(args.out_dir)
    name = "proxy_fidelity_smoke" if args.smoke else "proxy_fidelity"
    write_json(out_dir / f"{name}.json", result)
    write_plot(out_dir / f"{name}.html", figure(rows, proxy.epochs, long.epochs, summary))


def figure(rows: list[dict[str, Any]], proxy_epochs: int, long_epochs: int, summary: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for feasible in (True, False):
        subset = [row for row in rows if row["feasible"] == feasible]
        fig.add_trace(
            go.Scatter(
                x=[100 * row["proxy_metric"] for row in subset],
                y=[100 * row["long_metric"] for row in subset],
                mode="markers",
                name="within budget" if feasible else "over budget",
                text=[f"{row['design']}<br>{row['memory_bytes'] / 1000:.1f} kB" for row in subset],
                hovertemplate="%{text}<br>proxy %{x:.1f} %<br>long %{y:.1f} %<extra></extra>",
            )
        )
    tau = summary["all"]["proxy"]["kendall_tau"]
    fig.update_layout(
        title=f"Proxy ({proxy_epochs} epochs) vs {long_epochs}-epoch accuracy, Kendall tau {tau:.2f}",
        xaxis_title=f"proxy accuracy after {proxy_epochs} epochs (%)",
        yaxis_title=f"accuracy after {long_epochs} epochs (%)",
    )
    return fig


if __name__ == "__main__":
    main()

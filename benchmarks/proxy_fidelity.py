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

Cheaper proxies: every epoch count up to the proxy's is read from the same long runs'
curves (the first e epochs of a run are the e-epoch run), and each ``--fractions`` share
of the training split gets its own proxy-length run per design (a smaller subset changes
every epoch, so it cannot be read from the full-data curve). The "cheaper settings"
table gives tau (all, and within the budget) for each epochs x fraction setting with its
cost as training samples seen relative to the default proxy, and the cheapest setting
whose tau stays within ``--tolerance`` of the default's on both.

Run from the repository root (default: 24 designs; 35 minutes measured on a 2-core machine shared with other jobs):

    python benchmarks/proxy_fidelity.py
    python benchmarks/proxy_fidelity.py --smoke      # seconds: 6 tiny designs, tiny corpus
    python benchmarks/proxy_fidelity.py --workers 1 --fractions 0.5,0.25   # and two data fractions

Writes ``benchmarks/proxy_fidelity.json`` and ``benchmarks/proxy_fidelity.html``; each
training run's record is appended to ``proxy_fidelity.records.jsonl`` as it finishes, and
a re-run with the same options trains only what is missing (delete the file to start over).
"""

from __future__ import annotations

import argparse
import json
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


def job_key(config: dict[str, Any], fidelity: dict[str, Any], tag: dict[str, Any]) -> str:
    """A training run's identity in the records file: design, fidelity and kind (not its
    position). The time limit is left out: a run that finished within it is the same run
    under any limit."""
    fidelity = {key: value for key, value in fidelity.items() if key != "max_seconds"}
    return json.dumps([config, fidelity, {key: value for key, value in tag.items() if key != "index"}], sort_keys=True)


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


def cheaper_settings(rows: list[dict[str, Any]], proxy: Fidelity, fractions: list[float], tolerance: float) -> dict[str, Any]:
    """Kendall tau against long training of every (epochs, data fraction) proxy up to the default's.

    Cost is the training samples a setting sees, relative to the default proxy (epochs x
    fraction / the default's); validation passes are per epoch and make a short epoch a
    little dearer than that. The choice is the cheapest setting whose tau, over all
    designs and within the budget, is at most ``tolerance`` below the default's.
    """
    subsets = {"all": rows, "feasible": [row for row in rows if row["feasible"]]}
    table = []
    for fraction in [1.0, *fractions]:
        key = "curve" if fraction == 1.0 else f"curve_fraction_{fraction:g}"
        for epochs in range(1, proxy.epochs + 1):
            entry: dict[str, Any] = {"epochs": epochs, "data_fraction": fraction, "relative_cost": round(epochs * fraction / proxy.epochs, 3)}
            for name, subset in subsets.items():
                long_metric = [row["long_metric"] for row in subset]
                entry[f"tau_{name}"] = kendall_tau([row[key][epochs - 1] for row in subset], long_metric)
            # Measured seconds (load-dependent): the median over designs of the setting's training time.
            seconds = sorted(row[f"{key}_seconds"][epochs - 1] for row in rows)
            entry["median_seconds"] = seconds[len(seconds) // 2]
            table.append(entry)
    default = next(entry for entry in table if entry["epochs"] == proxy.epochs and entry["data_fraction"] == 1.0)
    good = [
        entry for entry in table
        if entry["tau_all"] >= default["tau_all"] - tolerance and entry["tau_feasible"] >= default["tau_feasible"] - tolerance
    ]
    cheapest = min(good, key=lambda entry: (entry["relative_cost"], -entry["tau_feasible"]))
    return {"tolerance": tolerance, "settings": table, "default": default, "cheapest_within_tolerance": cheapest}


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
    parser.add_argument("--fractions", default="0.5", help="data fractions (comma-separated, < 1) whose proxy runs are compared too; '' for none")
    parser.add_argument("--done-only", action="store_true", help="train nothing: analyse the designs whose runs are all in the records file")
    parser.add_argument("--tolerance", type=float, default=0.02, help="how far below the default proxy's tau a cheaper setting may be")
    parser.add_argument("--out-dir", default=str(BENCHMARKS))
    parser.add_argument("--no-time-limit", action="store_true", help="kept for older commands: no run has a training time limit any more (on a busy machine the limit, not the design, would end long runs)")
    args = parser.parse_args()

    proxy = Fidelity()
    data_options: dict[str, Any] = {}
    if args.smoke:
        # The smallest designs (memory includes the ~23 KB feature front end).
        args.designs, args.over_budget, args.band, args.budget, args.verify, args.workers = 6, 2, "26KB,38KB", "34KB", 1, 1
        proxy = Fidelity(epochs=1)
        data_options = dict(SMOKE_KWS)
    fractions = [float(part) for part in args.fractions.split(",") if part.strip()]
    if any(not 0 < fraction < 1 for fraction in fractions):
        parser.error("--fractions: each share must lie between 0 and 1")
    low, high = (parse_size(part) for part in args.band.split(","))
    budget = parse_size(args.budget)
    # No run may be cut short by a loaded machine: its metric would then depend on the load.
    untimed = 24 * 3600.0
    long = Fidelity(epochs=proxy.epochs * args.factor, max_seconds=untimed, seed=proxy.seed)
    designs = pick_designs(args.designs, args.over_budget, budget, low, high, args.device, args.seed)
    spec = DataSpec.of("kws", **data_options)

    def make_jobs(designs: list[tuple[ArchConfig, Any]]) -> list[Job]:
        jobs = [Job(config.to_dict(), long.to_dict(), spec, {"index": index}) for index, (config, _) in enumerate(designs)]
        jobs += [Job(designs[index][0].to_dict(), proxy.to_dict(), spec, {"index": index, "verify": True}) for index in range(min(args.verify, len(designs)))]
        for fraction in fractions:
            partial = Fidelity(epochs=proxy.epochs, data_fraction=fraction, max_seconds=untimed, seed=proxy.seed)
            jobs += [Job(config.to_dict(), partial.to_dict(), spec, {"index": index, "fraction": fraction}) for index, (config, _) in enumerate(designs)]
        return jobs

    # Each finished job is appended here, so a run that is stopped resumes where it was.
    out_dir = Path(args.out_dir)
    name = "proxy_fidelity_smoke" if args.smoke else "proxy_fidelity"
    done_path = out_dir / f"{name}.records.jsonl"
    done = {}
    if done_path.is_file():
        for line in done_path.read_text().splitlines():
            entry = json.loads(line)
            config, fidelity, tag = json.loads(entry["job"])
            if entry["record"]["status"] != "timeout":  # cut short by load: run it again
                done[job_key(config, fidelity, tag)] = entry["record"]
    jobs = make_jobs(designs)
    if args.done_only:
        # Only the designs whose runs are all recorded; nothing is trained.
        whole = [index for index in range(len(designs)) if all(job_key(job.config, job.fidelity, job.tag) in done for job in jobs if job.tag["index"] == index and not job.tag.get("verify"))]
        designs = [designs[index] for index in whole]
        jobs = [job for job in make_jobs(designs) if not job.tag.get("verify") or job_key(job.config, job.fidelity, job.tag) in done]
    keys = [job_key(job.config, job.fidelity, job.tag) for job in jobs]
    print(f"{len(designs)} designs ({sum(cost.fits for _, cost in designs)} within {args.budget}); {long.epochs}-epoch runs on {args.workers} workers")
    host = machine()  # before the work: the load average it records is the one the work met
    started = time.perf_counter()
    # Design by design in a seeded random order (each design's long and short runs
    # together), so that the designs done at any moment are a fair sample of the band.
    rank = {index: position for position, index in enumerate(random.Random(args.seed).sample(range(len(designs)), len(designs)))}
    pending = sorted((index for index, key in enumerate(keys) if key not in done), key=lambda index: (bool(jobs[index].tag.get("verify")), rank[jobs[index].tag["index"]], index))
    if len(pending) < len(jobs):
        print(f"{len(jobs) - len(pending)} of {len(jobs)} jobs already done ({done_path}); running the other {len(pending)}")

    def report(position: int, record: dict[str, Any]) -> None:
        config, cost = designs[record["index"]]
        kind = "proxy check" if record.get("verify") else (f"{proxy.epochs} epochs on {record['fraction']:g} of the data" if record.get("fraction") else f"{long.epochs} epochs")
        print(f"  {config.describe():34s} {cost.memory_bytes / 1000:6.1f} kB  {kind}: {100 * record['metric']:.1f} %  ({record['wall_seconds']:.0f} s)", flush=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(done_path, "a") as stream:
            stream.write(json.dumps({"job": keys[pending[position]], "record": {**record, "index": None}}) + "\n")

    finished = run_jobs([jobs[index] for index in pending], args.workers, report)
    done.update({keys[index]: record for index, record in zip(pending, finished)})
    records = [{**done[key], **jobs[position].tag} for position, key in enumerate(keys)]
    rows, checks = [], []
    for record in records:
        config, cost = designs[record["index"]]
        if record.get("fraction"):
            continue
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
                "proxy_within_time_limit": proxy.max_seconds is None or proxy_point["seconds"] <= proxy.max_seconds,
                "long_metric": record["metric"],
                "long_status": record["status"],
                "long_seconds": record["wall_seconds"],
                "curve": [point["metric"] for point in record["curve"]],
                "curve_seconds": [point["seconds"] for point in record["curve"]],
            }
        )
    for record in records:
        if record.get("fraction"):
            row = rows[record["index"]]
            key = f"curve_fraction_{record['fraction']:g}"
            row[key] = [point["metric"] for point in record["curve"]]
            row[f"{key}_seconds"] = [point["seconds"] for point in record["curve"]]
    summary = analyse(rows)
    summary["cheaper_settings"] = cheaper_settings(rows, proxy, fractions, args.tolerance)
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
            "fractions": fractions,
            # With --done-only, the designs analysed are those whose runs were all recorded.
            "done_only": args.done_only,
            "designs_analysed": len(designs),
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
        if band in ("promotion", "cheaper_settings"):
            continue
        for ranking in ("proxy", "params"):
            table.append({"designs": f"{band} ({stats['designs']})", "ranked by": ranking, **stats[ranking]})
    print(markdown_table(table, ["designs", "ranked by", "kendall_tau", "spearman", "top5_overlap"]))
    for band, stats in summary.items():
        if band in ("promotion", "cheaper_settings"):
            continue
        front = stats["front"]
        print(f"{band}: accuracy/memory front, proxy {front['proxy_front_size']} designs, long {front['long_front_size']}, shared {front['shared']}")
    effect = summary["promotion"]
    print(f"promotion of up to {effect['limit']} designs ({effect['promoted']} chosen): the final front has "
          f"{effect['promoted_front']['on_true_front']} of {effect['promoted_front']['size']} designs on the {effect['true_front_size']}-design "
          f"{long.epochs}-epoch front; the proxy front alone {effect['proxy_front']['on_true_front']} of {effect['proxy_front']['size']}")
    cheaper = summary["cheaper_settings"]
    print()
    print(markdown_table(cheaper["settings"], ["epochs", "data_fraction", "relative_cost", "tau_all", "tau_feasible", "median_seconds"]))
    pick = cheaper["cheapest_within_tolerance"]
    print(f"cheapest setting within {cheaper['tolerance']} of the default's tau (all and within the budget): "
          f"{pick['epochs']} epochs on {pick['data_fraction']:g} of the data ({pick['relative_cost']:g}x the default's training samples)")
    for check in checks:
        same = abs(check["proxy_alone"] - check["long_run_at_proxy_epochs"]) < 1e-9
        print(f"proxy check {check['design']}: alone {check['proxy_alone']:.4f}, long run at epoch {proxy.epochs} {check['long_run_at_proxy_epochs']:.4f} ({'identical' if same else 'DIFFERENT'})")
    print(f"wall time {result['wall_seconds']:.0f} s")
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

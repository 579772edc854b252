"""Sample efficiency: hypervolume vs trial count for the nsga2, tpe and random samplers.

The space is small enough to train every feasible design with the proxy once, so the
true Pareto front (accuracy, memory, latency on cortex-m7 under a 42 KB budget) and
its hypervolume are known. Each sampler then runs the search's own loop (the
sampler settings of ``search run``, plain-GRU baselines enqueued first, cost first: a
design over a hard limit is scored by the analytic model and not trained, hard limits
as Optuna constraints), but a feasible design's metric is read from the table of
proxy results instead of being trained again. That replay is exact, not an
approximation: proxy training is deterministic for a seed (same weights, same batch
order, one thread), so training the design again inside the search would return the
very number in the table.

Reported per sampler and seed: hypervolume after every trial (as a share of the true
hypervolume; reference point: accuracy 0, the budget, the real-time latency limit),
and the trials needed to reach 90 % and 95 % of it. The target is that the default
sampler (nsga2) needs at most half the trials random needs.

Run from the repository root (default: 160-design space; 8 minutes measured on a
2-core machine shared with other jobs, nearly all of it the exhaustive proxy training;
the replays take seconds):

    python benchmarks/search_efficiency.py
    python benchmarks/search_efficiency.py --smoke      # seconds: 4 designs, tiny data

Writes ``benchmarks/search_efficiency.json``, ``benchmarks/search_efficiency.html``
and the proxy table ``benchmarks/search_efficiency_table.json`` (reused by a re-run
with the same space, budget and fidelity, so only the replays run again).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Optional

from _common import BENCHMARKS, SMOKE_KWS, DataSpec, Job, machine, markdown_table, run_jobs, write_json, write_plot

import numpy as np
import optuna

from cost_models import Limits, analytic_cost, load_device, parse_size, realtime_ms
from reports import hypervolume, pareto_mask
from search.study import UNTRAINED_METRIC, baseline_designs, constraint_values, create_sampler, design_key
from search.training import Fidelity
from spaces import DesignSpace, parse_space

SPACE = """\
name: efficiency
description: 1-2 layer GRU/LSTM, 4 widths, ratios 1-4, 3 cheap ops (160 distinct designs)
task: kws
features: mfcc10
cell: [gru, lstm]
layers: [1, 2]
hidden: [16, 32, 64, 128]
ghost_ratio: [1, 2, 3, 4]
cheap_op: [linear, channelwise, identity]
activation: tanh
"""
SMOKE_SPACE = """\
name: efficiency-smoke
task: kws
features: mfcc10
cell: gru
layers: 1
hidden: [8, 16]
ghost_ratio: [1, 2]
cheap_op: linear
activation: tanh
"""
SAMPLER_NAMES = ("nsga2", "tpe", "random")
DIRECTIONS = ["maximize", "minimize", "minimize"]  # accuracy, memory, latency: the search's default
# Shares of the true hypervolume whose trial counts are reported; 90 % is reached by
# the baselines plus a few random trials on a small space, 99 % tells samplers apart.
LEVELS = ("90", "95", "99")


def proxy_table(space: DesignSpace, device: Any, limits: Limits, fidelity: Fidelity, data: DataSpec, workers: int, path: Path) -> tuple[dict[str, dict[str, Any]], Optional[float]]:
    """The proxy result of every feasible design of ``space``, keyed as the search keys designs,
    and the wall seconds its training took (when it was made)."""
    identity = {"space": space.fingerprint(), "limits": [limits.memory_bytes, limits.ram_bytes, limits.latency_ms], "fidelity": fidelity.to_dict(), "data": dict(data.options)}
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("identity") == identity:
            print(f"reusing the proxy table {path}")
            return stored["designs"], stored.get("training_seconds")
    feasible = [config for config in space.enumerate() if analytic_cost(config, device, limits).fits]
    print(f"training all {len(feasible)} feasible designs of {space.size()} combinations once ({workers} workers)")
    jobs = [Job(config.to_dict(), fidelity.to_dict(), data, {"key": design_key(config)}) for config in feasible]

    def report(index: int, record: dict[str, Any]) -> None:
        print(f"  {feasible[index].describe():34s} {100 * record['metric']:5.1f} % ({record['wall_seconds']:.0f} s)", flush=True)

    started = time.perf_counter()
    records = run_jobs(jobs, workers, report)
    seconds = round(time.perf_counter() - started, 1)
    table = {record["key"]: {"design": config.describe(), "metric": record["metric"], "seconds": record["wall_seconds"]} for config, record in zip(feasible, records)}
    write_json(path, {"identity": identity, "training_seconds": seconds, "designs": table})
    return table, seconds


class Replay:
    """The search's objective with the training replaced by the proxy table (see the module text)."""

    def __init__(self, space: DesignSpace, device: Any, limits: Limits, table: dict[str, dict[str, Any]]):
        self.space, self.device, self.limits, self.table = space, device, limits, table
        self.points: list[list[float]] = []  # feasible, distinct designs seen, in trial order
        self.seen: set[str] = set()

    def __call__(self, trial: optuna.Trial) -> list[float]:
        params = {key: trial.suggest_categorical(key, values) for key, values in self.space.choices.items()}
        config = self.space.config(params)
        cost = analytic_cost(config, self.device, self.limits)
        for name, value in constraint_values(cost, self.device, self.limits).items():
            trial.set_constraint(name, value)
        if not cost.fits:
            return [UNTRAINED_METRIC["kws"], float(cost.memory_bytes), float(cost.latency_ms)]
        key = design_key(config)
        metric = self.table[key]["metric"]
        if key not in self.seen:
            self.seen.add(key)
            self.points.append([metric, float(cost.memory_bytes), float(cost.latency_ms)])
        return [metric, float(cost.memory_bytes), float(cost.latency_ms)]


def replay(sampler: str, seed: int, trials: int, space: DesignSpace, device: Any, limits: Limits, table: dict[str, dict[str, Any]], reference: list[float], true_volume: float, front_keys: set[str]) -> dict[str, Any]:
    """One search of ``trials`` trials; the hypervolume share after each and the true-front designs it found."""
    study = optuna.create_study(directions=DIRECTIONS, sampler=create_sampler(sampler, seed, space, trials))
    for params in baseline_designs(space, device, limits):
        study.enqueue_trial(params)
    objective = Replay(space, device, limits, table)
    shares: list[float] = []
    counted = 0
    volume = 0.0

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal counted, volume
        if len(objective.points) != counted:  # only a new design can change the volume
            counted = len(objective.points)
            volume = hypervolume(np.array(objective.points), DIRECTIONS, reference)
        shares.append(volume / true_volume)

    study.optimize(objective, n_trials=trials, callbacks=[after_trial])
    record: dict[str, Any] = {"sampler": sampler, "seed": seed, "hypervolume_share": shares, "designs_trained": len(objective.points), "front_found": len(objective.seen & front_keys)}
    for level in LEVELS:
        record[f"trials_to_{level}"] = first_reaching(shares, int(level) / 100)
    return record


def first_reaching(shares: list[float], level: float) -> Optional[int]:
    """1-based trial count at which the share first reaches ``level``; None if never."""
    for index, share in enumerate(shares):
        if share >= level - 1e-12:
            return index + 1
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests: 4 designs, 20 utterances per class, 1 epoch, 6 trials, 1 seed")
    parser.add_argument("--device", default="cortex-m7")
    # 42 KB since memory counts the feature front end (~23 KB of tables, code and buffers):
    # 100 of the 104 designs the figures in benchmarks/README.md were measured with (16 KB then).
    parser.add_argument("--budget", default="42KB")
    parser.add_argument("--trials", type=int, default=100, help="trials per search")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samplers", default=",".join(SAMPLER_NAMES))
    parser.add_argument("--workers", type=int, default=2, help="processes for the exhaustive proxy training")
    parser.add_argument("--out-dir", default=str(BENCHMARKS))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space_text, fidelity, data = SPACE, Fidelity(), DataSpec.of("kws")
    if args.smoke:
        space_text, fidelity, data = SMOKE_SPACE, Fidelity(epochs=1), DataSpec.of("kws", **SMOKE_KWS)
        args.trials, args.seeds, args.workers, args.budget = 6, 1, 1, "64KB"
    space = parse_space(space_text, origin="search_efficiency")
    device = load_device(args.device)
    limits = Limits(memory_bytes=parse_size(args.budget))
    out_dir = Path(args.out_dir)
    name = "search_efficiency_smoke" if args.smoke else "search_efficiency"
    host = machine()  # before the work: the load average it records is the one the work met
    table, training_seconds = proxy_table(space, device, limits, fidelity, data, args.workers, out_dir / f"{name}_table.json")

    # The reference point is the worst the constraints allow; every feasible design beats it.
    reference = [0.0, float(limits.memory_bytes), float(realtime_ms(space.config({key: values[0] for key, values in space.choices.items()})))]
    everything, keys = [], []
    for config in space.enumerate():
        cost = analytic_cost(config, device, limits)
        if cost.fits:
            keys.append(design_key(config))
            everything.append([table[keys[-1]]["metric"], float(cost.memory_bytes), float(cost.latency_ms)])
    true_volume = hypervolume(np.array(everything), DIRECTIONS, reference)
    on_front = pareto_mask(np.array(everything), DIRECTIONS)
    front_keys = {key for key, keep in zip(keys, on_front) if keep}
    front_size = len(front_keys)
    print(f"true front: {front_size} of {len(everything)} feasible designs; hypervolume {true_volume:.4g}")

    runs = []
    for sampler in args.samplers.split(","):
        for seed in range(args.seeds):
            record = replay(sampler, seed, args.trials, space, device, limits, table, reference, true_volume, front_keys)
            runs.append(record)
            reached = ", ".join(f"{level} % at {record[f'trials_to_{level}']}" for level in LEVELS)
            print(f"  {sampler:6s} seed {seed}: {record['hypervolume_share'][-1]:.3f} of the true hypervolume and "
                  f"{record['front_found']} of {front_size} front designs after {args.trials} trials; {reached}", flush=True)
    summary = []
    for sampler in args.samplers.split(","):
        mine = [run for run in runs if run["sampler"] == sampler]
        row: dict[str, Any] = {"sampler": sampler}
        for level in LEVELS:
            reached = [run[f"trials_to_{level}"] for run in mine]
            # A seed that never reached the level counts as the whole budget (a lower bound).
            row[f"trials_to_{level}_mean"] = statistics.fmean(value if value is not None else args.trials for value in reached)
            row[f"trials_to_{level}"] = reached
            row[f"reached_{level}"] = f"{sum(value is not None for value in reached)}/{len(reached)}"
        row["final_share_mean"] = statistics.fmean(run["hypervolume_share"][-1] for run in mine)
        row["front_found_mean"] = statistics.fmean(run["front_found"] for run in mine)
        summary.append(row)
    by_name = {row["sampler"]: row for row in summary}
    verdict = {}
    if "nsga2" in by_name and "random" in by_name:
        for level in LEVELS:
            ratio = by_name["nsga2"][f"trials_to_{level}_mean"] / by_name["random"][f"trials_to_{level}_mean"]
            verdict[f"nsga2_over_random_{level}"] = ratio
            verdict[f"target_met_{level}"] = ratio <= 0.5
    result = {
        "benchmark": "search_efficiency",
        "smoke": args.smoke,
        "machine": host,
        "settings": {"space": space.to_dict(), "device": args.device, "budget": args.budget, "trials": args.trials, "seeds": args.seeds, "fidelity": fidelity.to_dict(), "data": dict(data.options) or {"utterances_per_class": 1000}, "reference_point": reference},
        "exhaustive": {"distinct_designs": len(list(space.enumerate())), "feasible": len(everything), "front_size": front_size, "baselines_enqueued": len(baseline_designs(space, device, limits)), "true_hypervolume": true_volume, "training_seconds": training_seconds},
        "summary": summary,
        "verdict": verdict,
        "runs": runs,
    }
    print()
    columns = ["sampler"] + [f"{kind}_{level}" for level in LEVELS for kind in ("trials_to", "reached")]
    print(markdown_table([{**row, **{f"trials_to_{level}": row[f"trials_to_{level}_mean"] for level in LEVELS}} for row in summary], columns + ["final_share_mean", "front_found_mean"]))
    for key, value in verdict.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    write_json(out_dir / f"{name}.json", result)
    write_plot(out_dir / f"{name}.html", figure(runs, args.trials))


def figure(runs: list[dict[str, Any]], trials: int) -> Any:
    """Mean hypervolume share per sampler vs trials, with each seed faint behind it."""
    import plotly.graph_objects as go

    colours = {"nsga2": "#1f77b4", "tpe": "#ff7f0e", "random": "#7f7f7f"}
    fig = go.Figure()
    x = list(range(1, trials + 1))
    for sampler in sorted({run["sampler"] for run in runs}):
        mine = [run["hypervolume_share"] for run in runs if run["sampler"] == sampler]
        for shares in mine:
            fig.add_trace(go.Scatter(x=x, y=shares, mode="lines", line={"color": colours.get(sampler), "width": 1}, opacity=0.3, showlegend=False, hoverinfo="skip"))
        mean = np.mean(np.array(mine), axis=0)
        fig.add_trace(go.Scatter(x=x, y=mean, mode="lines", name=f"{sampler} (mean of {len(mine)})", line={"color": colours.get(sampler), "width": 3}))
    for level in (0.9, 0.95):
        fig.add_hline(y=level, line_dash="dot", annotation_text=f"{level:.0%}")
    fig.update_layout(title="Hypervolume share vs trials (true front known by exhaustive proxy training)", xaxis_title="trials", yaxis_title="share of the true hypervolume")
    return fig


if __name__ == "__main__":
    main()

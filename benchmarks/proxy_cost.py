"""What data and proxy training cost: corpus generation, cache size, seconds per trial.

Measures, on this machine:
- generation time and cache size of the default synthetic KWS corpus (and of the SE
  mixtures), in a fresh cache directory so nothing is reused, then the cached load time;
- seconds per proxy trial at the default fidelity for KWS GhostGRU designs
  (H = 64 and 128, ghost ratio 1 and 2) and for SE, with the metric each reached;
- what the int8 evaluation adds to each trial (quantization and the bit-exact integer
  simulation on the validation split, as ``search run`` does after training), with the
  int8 metric beside the float one.

Prints a table and writes ``benchmarks/proxy_cost.json``. Run from the repository root:

    python benchmarks/proxy_cost.py            # about 2-3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import torch  # noqa: E402

from search.data import load_kws_data, load_se_data  # noqa: E402
from search.training import Fidelity, train_proxy, with_deployed_score  # noqa: E402
from spaces import ArchConfig  # noqa: E402

KWS_DESIGNS = [(64, 1.0), (64, 2.0), (128, 1.0), (128, 2.0)]
SE_DESIGNS = [(64, 2.0), (128, 2.0)]


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def measure(utterances_per_class: int, cache_dir: Path, fidelity: Fidelity) -> dict:
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    kws, kws_seconds = _timed(load_kws_data, "mfcc10", cache_dir=cache_dir, utterances_per_class=utterances_per_class, progress=False)
    _, kws_cached_seconds = _timed(load_kws_data, "mfcc10", cache_dir=cache_dir, utterances_per_class=utterances_per_class, progress=False)
    se, se_seconds = _timed(load_se_data, cache_dir=cache_dir, progress=False)
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_at_start": load_before,
        },
        "fidelity": fidelity.to_dict(),
        "kws_corpus": {
            "utterances_per_class": utterances_per_class,
            "clips": {split: len(kws.split(split)) for split in ("train", "validation", "test")},
            "generation_seconds": round(kws_seconds, 2),
            "cached_load_seconds": round(kws_cached_seconds, 3),
            "cache_bytes": kws.cache_path.stat().st_size if kws.cache_path else None,
        },
        "se_data": {
            "clips": {split: len(se.split(split)) for split in ("train", "validation", "test")},
            "generation_seconds": round(se_seconds, 2),
            "cache_bytes": se.cache_path.stat().st_size if se.cache_path else None,
        },
        "trials": [],
    }
    for task, designs, data, features in (("kws", KWS_DESIGNS, kws, "mfcc10"), ("se", SE_DESIGNS, se, "stft129")):
        for hidden, ratio in designs:
            config = ArchConfig(task=task, features=features, hidden=hidden, ghost_ratio=ratio)
            result = with_deployed_score(train_proxy(config, data, fidelity), config, data)
            int8_seconds = result.deployed.seconds
            report["trials"].append(
                {
                    "task": task,
                    "design": config.describe(),
                    "hidden": hidden,
                    "ghost_ratio": ratio,
                    "params": result.params,
                    "seconds": result.wall_seconds,
                    "metric_name": result.metric_name,
                    "metric": round(result.metric, 4),
                    "metric_int8": None if result.metric_int8 is None else round(result.metric_int8, 4),
                    "int8_seconds": int8_seconds,
                    "int8_share": round(int8_seconds / result.wall_seconds, 4),
                    "status": result.status,
                    "samples_seen": result.samples_seen,
                }
            )
            print(
                f"  {task} {config.describe():28s} {result.wall_seconds:6.1f} s + int8 {int8_seconds:5.2f} s ({100 * int8_seconds / result.wall_seconds:4.1f} %)"
                f"  {result.metric_name} {result.metric:.3f} float, {result.metric_int8:.3f} int8",
                flush=True,
            )
    return report


def print_report(report: dict) -> None:
    corpus, se = report["kws_corpus"], report["se_data"]
    print(f"\nKWS corpus ({corpus['utterances_per_class']} utterances/class, {sum(corpus['clips'].values())} clips): "
          f"generated in {corpus['generation_seconds']:.1f} s, cache {corpus['cache_bytes'] / 1e6:.1f} MB, "
          f"cached load {corpus['cached_load_seconds']:.2f} s")
    print(f"SE mixtures ({sum(se['clips'].values())} clips): generated in {se['generation_seconds']:.1f} s, "
          f"cache {se['cache_bytes'] / 1e6:.1f} MB")
    print("\n| task | design | params | seconds per trial | + int8 evaluation | validation metric float / int8 |")
    print("|---|---|---:|---:|---:|---:|")
    for trial in report["trials"]:
        if trial["metric_name"] == "accuracy":
            shown = f"{100 * trial['metric']:.1f} / {100 * trial['metric_int8']:.1f} % accuracy"
        else:
            shown = f"{trial['metric']:.2f} / {trial['metric_int8']:.2f} dB SI-SNRi"
        added = f"{trial['int8_seconds']:.2f} s ({100 * trial['int8_share']:.1f} %)"
        print(f"| {trial['task']} | {trial['design']} | {trial['params']} | {trial['seconds']:.1f} | {added} | {shown} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances-per-class", type=int, default=1000)
    parser.add_argument("--cache-dir", help="reuse this cache (default: a fresh temporary one, so generation is timed)")
    parser.add_argument("--out", default=str(REPOSITORY / "benchmarks" / "proxy_cost.json"))
    args = parser.parse_args()
    fidelity = Fidelity()
    if args.cache_dir:
        report = measure(args.utterances_per_class, Path(args.cache_dir), fidelity)
    else:
        with tempfile.TemporaryDirectory(prefix="ghostrnn-bench-") as cache:
            report = measure(args.utterances_per_class, Path(cache), fidelity)
    print_report(report)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

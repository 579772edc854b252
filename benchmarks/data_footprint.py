"""Peak memory of making and loading the training data, beside the estimate that the
loaders check before they start (``search/data/_footprint.py``).

    python benchmarks/data_footprint.py [--kws 20,100,300] [--se 50,250] [--out benchmarks/data_footprint.json]

Each size runs in a fresh process with an empty cache directory: once to generate (and
cache) the data, once to load it from the cache. The figure is the process's peak
resident memory (``ru_maxrss``) minus what it held after importing the loaders, so it is
what the data itself cost. Sizes are ``--utterances-per-class`` (SE: training clips).

A large synthetic corpus is mixed in helper processes (``search.data._mixing``), and
voices are synthesised in others; ``ru_maxrss`` sees none of them. So the process tree is
also sampled every 20 ms while data is made: the peak of the summed resident memory of
the probe and all its descendants, minus the probe's own after its imports, is the
"tree" figure, to set beside the estimate with the helpers (``corpus_generation_bytes``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

from _common import machine  # noqa: E402

PROBE = """
import json, os, resource, sys
import torch
torch.set_num_threads(1)
from search.data import load_kws_data, load_se_data
task, size, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)
if task == "kws":
    data = load_kws_data(utterances_per_class=size, cache_dir=cache, progress=False)
else:
    data = load_se_data(train_clips=size, cache_dir=cache, progress=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
clips = len(data.train) + len(data.validation) + len(data.test)
print(json.dumps({"peak_bytes": (after - before) * 1024, "clips": clips, "file_bytes": os.path.getsize(data.cache_path)}))
"""


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as stream:
            return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0  # the process has just ended


def _tree_resident_bytes(root: int) -> int:
    """Summed resident memory of ``root`` and every process descended from it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                # The parent id is the second field after the parenthesised command name.
                parent = int(stream.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(parent, []).append(int(entry))
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += _resident_bytes(pid)
        pending.extend(parents.get(pid, []))
    return total


def measure(task: str, size: int, cache: str) -> dict:
    probe = subprocess.Popen([sys.executable, "-c", PROBE, task, str(size), cache], stdout=subprocess.PIPE, text=True, cwd=REPOSITORY)
    assert probe.stdout is not None
    baseline = json.loads(probe.stdout.readline())["baseline_rss_bytes"]
    tree_peak = 0
    while probe.poll() is None:
        tree_peak = max(tree_peak, _tree_resident_bytes(probe.pid))
        time.sleep(0.02)
    output = probe.stdout.read()
    if probe.returncode != 0:
        raise SystemExit(f"the {task} probe of size {size} failed (exit {probe.returncode})")
    return {**json.loads(output.strip().splitlines()[-1]), "tree_peak_bytes": max(0, tree_peak - baseline)}


def estimate(task: str, size: int) -> int:
    from search.data import CorpusConfig, SeConfig
    from search.data._corpus import corpus_generation_bytes
    from search.data._footprint import se_generation_bytes

    if task == "kws":
        # With the mixing helpers, when the corpus is large enough to use them.
        return corpus_generation_bytes(CorpusConfig(utterances_per_class=size), 4 * 10 * 49)
    config = SeConfig(train_clips=size)
    return se_generation_bytes(config.train_clips + 2 * config.eval_clips, config.clip_samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kws", default="20,100,300")
    parser.add_argument("--se", default="50,250")
    parser.add_argument("--out", default=str(REPOSITORY / "benchmarks" / "data_footprint.json"))
    args = parser.parse_args()
    from search.data._footprint import CACHED_LOAD_FACTOR

    host = machine()
    rows = []
    for task, sizes in (("kws", args.kws), ("se", args.se)):
        for size in (int(part) for part in sizes.split(",") if part):
            with tempfile.TemporaryDirectory(prefix="footprint-") as cache:
                made, loaded = measure(task, size, cache), measure(task, size, cache)
            row = {
                "task": task,
                "size": size,
                "clips": made["clips"],
                "generate_peak_bytes": made["peak_bytes"],
                "generate_tree_peak_bytes": made["tree_peak_bytes"],
                "generate_estimate_bytes": estimate(task, size),
                "file_bytes": made["file_bytes"],
                "load_peak_bytes": loaded["peak_bytes"],
                "load_estimate_bytes": CACHED_LOAD_FACTOR * made["file_bytes"],
            }
            rows.append(row)
            print(
                f"{task} {size:>5d} ({row['clips']:>5d} clips): generate {row['generate_peak_bytes'] / 1e6:6.0f} MB, tree {row['generate_tree_peak_bytes'] / 1e6:6.0f} MB "
                f"(estimate {row['generate_estimate_bytes'] / 1e6:6.0f} MB, x{row['generate_estimate_bytes'] / max(row['generate_peak_bytes'], row['generate_tree_peak_bytes']):.2f} the larger); "
                f"load {row['load_peak_bytes'] / 1e6:5.0f} MB (estimate {row['load_estimate_bytes'] / 1e6:5.0f} MB); file {row['file_bytes'] / 1e6:.1f} MB",
                flush=True,
            )
    Path(args.out).write_text(json.dumps({"machine": host, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Peak memory of making and loading the training data, beside the estimate that the
loaders check before they start (``search/data/_footprint.py``).

    python benchmarks/data_footprint.py [--kws 20,100,300] [--se 50,250] [--out benchmarks/data_footprint.json]

Each size runs in a fresh process with an empty cache directory: once to generate (and
cache) the data, once to load it from the cache. The figure is the process's peak
resident memory (``ru_maxrss``) minus what it held after importing the loaders, so it is
what the data itself cost. Sizes are ``--utterances-per-class`` (SE: training clips).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
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
if task == "kws":
    data = load_kws_data(utterances_per_class=size, cache_dir=cache, progress=False)
else:
    data = load_se_data(train_clips=size, cache_dir=cache, progress=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
clips = len(data.train) + len(data.validation) + len(data.test)
print(json.dumps({"peak_bytes": (after - before) * 1024, "clips": clips, "file_bytes": os.path.getsize(data.cache_path)}))
"""


def measure(task: str, size: int, cache: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, task, str(size), cache], capture_output=True, text=True, check=True, cwd=REPOSITORY)
    return json.loads(result.stdout.strip().splitlines()[-1])


def estimate(task: str, size: int) -> int:
    from search.data import CorpusConfig, SeConfig
    from search.data._corpus import MIX_BATCH, corpus_clips
    from search.data._footprint import kws_generation_bytes, se_generation_bytes

    if task == "kws":
        return kws_generation_bytes(corpus_clips(CorpusConfig(utterances_per_class=size)), 16000, 4 * 10 * 49, MIX_BATCH, words=True)
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
                "generate_estimate_bytes": estimate(task, size),
                "file_bytes": made["file_bytes"],
                "load_peak_bytes": loaded["peak_bytes"],
                "load_estimate_bytes": CACHED_LOAD_FACTOR * made["file_bytes"],
            }
            rows.append(row)
            print(
                f"{task} {size:>5d} ({row['clips']:>5d} clips): generate {row['generate_peak_bytes'] / 1e6:6.0f} MB "
                f"(estimate {row['generate_estimate_bytes'] / 1e6:6.0f} MB, x{row['generate_estimate_bytes'] / row['generate_peak_bytes']:.2f}); "
                f"load {row['load_peak_bytes'] / 1e6:5.0f} MB (estimate {row['load_estimate_bytes'] / 1e6:5.0f} MB); file {row['file_bytes'] / 1e6:.1f} MB",
                flush=True,
            )
    Path(args.out).write_text(json.dumps({"machine": host, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

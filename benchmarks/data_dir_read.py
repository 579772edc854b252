"""How fast ``--data-dir`` reads a class-folder dataset, and how fast its cache loads.

Writes a folder of tone clips in three formats (16 kHz mono 16-bit, 44.1 kHz stereo
24-bit, 8 kHz mono 8-bit; a third each), or takes ``--data-dir`` for a real folder, and
measures in a fresh cache directory: the folder scan, the first load (read, resample,
features; clips per second), and the cached load. One torch thread.

Prints the figures and writes ``benchmarks/data_dir_read.json``. From the repository root:

    python benchmarks/data_dir_read.py --clips 6000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import torch  # noqa: E402

from search.data import load_kws_data, scan_folders  # noqa: E402

FORMATS = ((16000, 1, "PCM_16"), (44100, 2, "PCM_24"), (8000, 1, "PCM_U8"))
WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "cat")


def write_folder(root: Path, clips: int) -> None:
    rng = np.random.default_rng(0)
    for number in range(clips):
        word = WORDS[number % len(WORDS)]
        rate, channels, subtype = FORMATS[number % len(FORMATS)]
        t = np.arange(rate) / rate
        wave = 0.3 * np.sin(2 * np.pi * (200 + 30 * (number % len(WORDS))) * t) + 0.01 * rng.standard_normal(rate)
        samples = np.stack([wave] * channels, axis=1) if channels > 1 else wave
        path = root / word / f"spk{number // len(WORDS):05d}_nohash_0.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, samples, rate, subtype=subtype)


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6000, help="clips to write (ignored with --data-dir)")
    parser.add_argument("--data-dir", help="measure this folder instead of a written one")
    parser.add_argument("--out", default=str(REPOSITORY / "benchmarks" / "data_dir_read.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.data_dir) if args.data_dir else Path(scratch) / "clips"
        if not args.data_dir:
            write_folder(root, args.clips)
        cache = Path(scratch) / "cache"
        load_before = os.getloadavg()[0]
        layout, scan_seconds = timed(scan_folders, root)
        data, first_seconds = timed(load_kws_data, "mfcc10", data_dir=root, cache_dir=cache, progress=False)
        _, cached_seconds = timed(load_kws_data, "mfcc10", data_dir=root, cache_dir=cache, progress=False)
        clips_read = sum(len(files) for files in layout.files.values())
        report = {
            "folder": "written" if not args.data_dir else "given",
            "formats": [f"{rate} Hz, {channels} ch, {subtype}" for rate, channels, subtype in FORMATS] if not args.data_dir else None,
            "clips_in_folder": clips_read,
            "examples_built": len(data.train) + len(data.validation) + len(data.test),
            "scan_seconds": round(scan_seconds, 3),
            "first_load_seconds": round(first_seconds, 2),
            "clips_per_second": round(clips_read / first_seconds, 1),
            "cached_load_seconds": round(cached_seconds, 3),
            "cache_mb": round(data.cache_path.stat().st_size / 1e6, 2),
            "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            "cpus": os.cpu_count(),
            "torch_threads": 1,
        }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

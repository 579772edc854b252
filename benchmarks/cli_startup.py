"""How long `search ... --help` takes, and which heavy libraries it loads.

Each command runs in a fresh interpreter (as a user's shell would start it), 7 times;
the median wall time is reported. The parser imports only light modules (torch, Optuna,
pandas and plotly are imported by the commands that use them), so the figure is Python's
own start-up plus argparse.

    python benchmarks/cli_startup.py        # writes benchmarks/cli_startup.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from _common import BENCHMARKS, REPOSITORY

COMMANDS = ["", "run", "cost", "show", "report", "export", "train", "worker", "calibrate", "runs"]
REPEATS = 7
HEAVY = ("torch", "optuna", "pandas", "plotly")


def main() -> None:
    load = os.getloadavg()[0]
    results = {}
    for command in COMMANDS:
        argv = [sys.executable, "-m", "search", *command.split(), "--help"]
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            subprocess.run(argv, cwd=REPOSITORY, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        results[command or "(none)"] = round(statistics.median(times), 3)
        print(f"search {command} --help: median {results[command or '(none)']:.3f} s over {REPEATS} runs")
    probe = "import sys; from search.cli import build_parser; build_parser(); print([m for m in %r if m in sys.modules])" % (HEAVY,)
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPOSITORY, check=True, capture_output=True, text=True).stdout.strip()
    print(f"heavy libraries loaded by the parser: {loaded}; load average at start {load:.2f}")
    out = BENCHMARKS / "cli_startup.json"
    out.write_text(json.dumps({"median_seconds": results, "repeats": REPEATS, "heavy_loaded": loaded, "load_average": load}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""How well the analytic cost model agrees with the counted and measured ones.

Prints a summary and writes ``benchmarks/cost_model_accuracy.json`` with:

* analytic vs counted MACs (fvcore and FlopCounterMode) over a grid of designs;
* analytic vs measured flash and RAM (ELF of the generated int8 C) per Cortex-M device;
* analytic vs measured latency per device (instruction-derived: emulated instructions
  x cycles per instruction / clock): error distribution over the calibration grid and
  over its held-out designs;
* the cost of one measurement (seconds per design, uncached);
* the Hello Edge GRU (1 layer, H = 154, 25 x 10 MFCC, 12 classes) and its ratio-2
  ghost version on the Cortex-M7: analytic (calibrated) and measured latency, against
  the physical floor MACs / (2 x clock) (two int8 MACs per cycle).

Needs the ``isa`` extra (``pip install ghostrnn-search[isa]``). Run from the repository
root: ``python benchmarks/cost_model_accuracy.py`` (about two minutes with a cold
measurement cache, seconds with a warm one).
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from cost_models import analytic_cost, counted_macs, load_device, measure_cost, measurement_available
from cost_models._calibrate import CALIBRATION_GRIDS, HELD_OUT_EVERY
from cost_models.deploy import GENERATOR_VERSION
from spaces import ArchConfig

DEVICES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
OUTPUT = Path(__file__).with_suffix(".json")


def _distribution(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    magnitude = np.abs(array)
    return {
        "n": int(array.size),
        "median_abs": float(np.median(magnitude)),
        "p90_abs": float(np.percentile(magnitude, 90)),
        "max_abs": float(magnitude.max()),
        "mean": float(array.mean()),
    }


def mac_agreement() -> dict:
    grid = CALIBRATION_GRIDS["small"] + [config.replace(frames=12) for config in CALIBRATION_GRIDS["default"][::6]]
    equal = 0
    for config in grid:
        counted = counted_macs(config)
        analytic = analytic_cost(config, load_device("cortex-m7")).macs
        equal += analytic == counted.fvcore == counted.flop_counter
    return {"designs": len(grid), "analytic_equals_counted": equal}


def device_agreement(name: str) -> dict:
    device = load_device(name)
    grid = CALIBRATION_GRIDS["default"]
    flash_rel, flash_abs, ram_rel, ram_abs, latency, held_out, flash_large = [], [], [], [], [], [], []
    for index, config in enumerate(grid):
        measured = measure_cost(config, device)
        # The emulated code is the model alone: compare it with the model's share (no front end).
        analytic = analytic_cost(config, device)
        flash_rel.append(measured.measured_flash_bytes / analytic.model_flash_bytes - 1)
        flash_abs.append(measured.measured_flash_bytes - analytic.model_flash_bytes)
        if analytic.model_flash_bytes >= 32 * 1024:  # weights dominate: code and tables are a few KiB
            flash_large.append(flash_rel[-1])
        ram_rel.append(measured.measured_ram_bytes / analytic.model_ram_bytes - 1)
        ram_abs.append(measured.measured_ram_bytes - analytic.model_ram_bytes)
        error = analytic.model_latency_ms / measured.measured_latency_ms - 1
        latency.append(error)
        if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1:
            held_out.append(error)
    return {
        "designs": len(grid),
        "cycles_per_instruction": device.cycles_per_instruction,
        "cycles": device.cycles.__dict__,
        "flash_relative_error": _distribution(flash_rel),
        "flash_relative_error_designs_over_32KiB": _distribution(flash_large),
        "flash_excess_bytes": {"min": int(min(flash_abs)), "median": float(statistics.median(flash_abs)), "max": int(max(flash_abs))},
        "ram_relative_error": _distribution(ram_rel),
        "ram_excess_bytes": {"min": int(min(ram_abs)), "median": float(statistics.median(ram_abs)), "max": int(max(ram_abs))},
        "latency_relative_error_all": _distribution(latency),
        "latency_relative_error_held_out": _distribution(held_out),
    }


def measurement_seconds() -> dict:
    device = load_device("cortex-m7")
    designs = [
        ArchConfig(hidden=32, ghost_ratio=2),
        ArchConfig(hidden=64, ghost_ratio=1),
        ArchConfig(hidden=128, ghost_ratio=2, cheap_op="grouped"),
        ArchConfig(cell="lstm", hidden=128, ghost_ratio=1),
        ArchConfig(hidden=192, ghost_ratio=3, layers=2, cheap_op="channelwise"),
        ArchConfig(task="se", features="stft129", hidden=128, ghost_ratio=2),
    ]
    rows = []
    for config in designs:
        start = time.perf_counter()
        measured = measure_cost(config, device, use_cache=False)
        rows.append({"design": f"{config.task} {config.describe()}", "instructions": measured.instructions, "seconds": time.perf_counter() - start})
    seconds = [row["seconds"] for row in rows]
    return {"designs": rows, "median_seconds": statistics.median(seconds), "max_seconds": max(seconds)}


def hello_edge() -> dict:
    device = load_device("cortex-m7")
    plain = ArchConfig(hidden=154, ghost_ratio=1, frames=25, features="mfcc10", classes=12)
    results = {}
    for label, config in (("gru_h154", plain), ("ghost_gru_h154_r2_linear", plain.replace(ghost_ratio=2, cheap_op="linear"))):
        analytic = analytic_cost(config, device)
        measured = measure_cost(config, device)
        results[label] = {
            "design": config.describe(),
            "params": analytic.params,
            "macs": analytic.macs,
            "analytic_latency_ms": analytic.model_latency_ms,
            "measured_latency_ms": measured.measured_latency_ms,
            "instructions": measured.instructions,
            "instructions_per_mac": measured.instructions / analytic.macs,
            "floor_latency_ms": 1000 * analytic.macs / (2 * device.clock_hz),
            "analytic_flash_bytes": analytic.model_flash_bytes,
            "measured_flash_bytes": measured.measured_flash_bytes,
            "analytic_ram_bytes": analytic.model_ram_bytes,
            "measured_ram_bytes": measured.measured_ram_bytes,
        }
    return results


def main() -> int:
    missing = measurement_available()
    if missing:
        print(f"cannot measure: {missing}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    report = {
        "generator_version": GENERATOR_VERSION,
        "python": platform.python_version(),
        "macs": mac_agreement(),
        "devices": {name: device_agreement(name) for name in DEVICES},
        "measurement_cost": measurement_seconds(),
        "hello_edge_cortex_m7": hello_edge(),
    }
    report["benchmark_seconds"] = time.perf_counter() - start
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    macs = report["macs"]
    print(f"MACs: analytic == fvcore == FlopCounterMode for {macs['analytic_equals_counted']}/{macs['designs']} designs")
    print(f"\n{'device':<11} {'flash err med/max':>18} {'flash excess B':>16} {'RAM err med/max':>16} {'latency err med/max (all)':>26} {'held out med/max':>17}")
    for name, data in report["devices"].items():
        flash, ram = data["flash_relative_error"], data["ram_relative_error"]
        lat, held = data["latency_relative_error_all"], data["latency_relative_error_held_out"]
        excess = data["flash_excess_bytes"]
        print(
            f"{name:<11} {100 * flash['median_abs']:>8.1f}/{100 * flash['max_abs']:<5.1f} % {excess['min']:>6}..{excess['max']:<6} "
            f"{100 * ram['median_abs']:>7.1f}/{100 * ram['max_abs']:<5.1f} % {100 * lat['median_abs']:>15.1f}/{100 * lat['max_abs']:<5.1f} % "
            f"{100 * held['median_abs']:>8.1f}/{100 * held['max_abs']:<5.1f} %"
        )
    cost = report["measurement_cost"]
    for name, data in report["devices"].items():
        large = data["flash_relative_error_designs_over_32KiB"]
        print(f"{name}: flash error for the {large['n']} designs over 32 KiB: median {100 * large['median_abs']:.1f} %, max {100 * large['max_abs']:.1f} %")
    print(f"\nmeasurement cost (uncached, Cortex-M7): median {cost['median_seconds']:.2f} s, max {cost['max_seconds']:.2f} s per design")
    print("\nHello Edge GRU on the Cortex-M7 (216 MHz), per 25-frame inference:")
    for label, data in report["hello_edge_cortex_m7"].items():
        print(
            f"  {data['design']:<26} MACs {data['macs']:>9,}  analytic {data['analytic_latency_ms']:6.2f} ms  measured {data['measured_latency_ms']:6.2f} ms "
            f"({data['instructions']:,} instructions, {data['instructions_per_mac']:.2f}/MAC)  floor {data['floor_latency_ms']:.2f} ms"
        )
    print(f"\nwrote {OUTPUT} ({report['benchmark_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command-line parts of the measured cost model: ``search cost --measure`` and ``search calibrate``.

``--measure`` adds, beside the analytic figures, what the design's generated int8 C
code does on the device's instruction set in an emulator: ``instructions``,
``measured_flash_bytes``, ``measured_ram_bytes`` and ``measured_latency_ms``.
``search calibrate --device D`` fits the device profile's per-op cycle figures: for
``host`` against wall-clock timings of PyTorch and ONNX Runtime, for a Cortex-M
against emulated instruction counts.

Both need the optional tools (``pip install ghostrnn-search[isa]``); without them the
command fails with one line that says so.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Optional

from typing import TYPE_CHECKING

from cost_models import list_devices, load_device

from search._errors import UsageError
from search.cli._choices import LazyChoices

if TYPE_CHECKING:
    from cost_models import DeviceProfile, MeasuredCost
    from spaces import ArchConfig

MEASURED_KEYS = ("instructions", "measured_flash_bytes", "measured_ram_bytes", "measured_latency_ms")


def add_measure_option(parser: argparse.ArgumentParser) -> None:
    """The ``--measure`` flag of ``search cost``."""
    parser.add_argument(
        "--measure",
        action="store_true",
        help="also build the design's int8 C code for the device and count its instructions in an emulator (needs the isa extra)",
    )
    parser.add_argument("--no-cache", action="store_true", help="with --measure: measure again even if a cached result exists")


def measure_for_cost(args: argparse.Namespace, config: ArchConfig, device: DeviceProfile) -> Optional[MeasuredCost]:
    """The measured cost when ``--measure`` was given (None otherwise); one-line errors."""
    if not getattr(args, "measure", False):
        return None
    from cost_models import ToolchainError, measure_cost

    try:
        return measure_cost(config, device, use_cache=not getattr(args, "no_cache", False))
    except ToolchainError as error:
        raise UsageError(f"--measure: {error}") from None


def measured_fields(measured: MeasuredCost) -> dict[str, Any]:
    """The keys ``--measure`` adds to the ``--json`` object of ``search cost``."""
    data = measured.to_dict()
    data.pop("config")
    data.pop("device")
    return {key: data.pop(key) for key in MEASURED_KEYS} | {"measured": data}


def print_measured(measured: MeasuredCost, analytic_flash: int, analytic_ram: int, analytic_latency_ms: float) -> None:
    """Table lines that ``search cost --measure`` prints below the analytic table."""
    from reports import format_table

    rows = [
        {"figure": "flash B", "analytic": analytic_flash, "measured": measured.measured_flash_bytes, "measured / analytic": measured.measured_flash_bytes / analytic_flash},
        {"figure": "RAM B", "analytic": analytic_ram, "measured": measured.measured_ram_bytes, "measured / analytic": measured.measured_ram_bytes / analytic_ram},
        {"figure": "latency ms", "analytic": analytic_latency_ms, "measured": measured.measured_latency_ms, "measured / analytic": measured.measured_latency_ms / analytic_latency_ms},
    ]
    print(f"\nthe model alone (front end apart), measured on {measured.isa} ({measured.compiler_cpu}{', ' + measured.note if measured.note else ''}):")
    print(format_table(rows, list(rows[0])))
    source = "cached" if measured.cached else f"{measured.seconds:.2f} s"
    print(
        f"instructions {measured.instructions:,} x {measured.cycles_per_instruction} cycles/instruction = "
        f"{measured.measured_latency_ms:.3f} ms; flash = .text {measured.text_bytes} + .rodata {measured.rodata_bytes} + "
        f".data {measured.data_bytes}; RAM = .data + .bss {measured.bss_bytes} + stack {measured.stack_bytes} ({source})"
    )


# ---------------------------------------------------------------- calibrate


# Timed repeats per design: a median needs a few; more than this is a typing slip that
# would keep the host calibration running for days.
MAX_REPEATS = 1000


def add_calibrate(commands: Any) -> None:
    """Register ``search calibrate``."""
    parser = commands.add_parser("calibrate", help="fit a device profile's cycle figures to measurements")
    parser.add_argument("--device", required=True, help=f"host, or a Cortex-M profile ({', '.join(n for n in list_devices() if n.startswith('cortex-m'))}), or a YAML path")
    parser.add_argument("--grid", choices=LazyChoices(_grid_names), default="default", metavar="GRID", help="design grid to fit on (a held-out quarter reports the error)")
    parser.add_argument("--repeats", type=int, default=7, help="host: timed repeats per design (median), after warm-up")
    parser.add_argument("--write", action="store_true", help="store the fitted figures and their provenance in the profile YAML")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_calibrate)


def _grid_names() -> tuple[str, ...]:
    from cost_models import CALIBRATION_GRIDS

    return tuple(CALIBRATION_GRIDS)


def _calibrate(args: argparse.Namespace) -> int:
    from cost_models import ToolchainError, calibrate_device, write_calibration
    from reports import format_table

    device = load_device(args.device)
    if not 1 <= args.repeats <= MAX_REPEATS:
        raise UsageError(f"--repeats must be from 1 to {MAX_REPEATS}, got {args.repeats}")
    try:
        result = calibrate_device(device, grid=args.grid, repeats=args.repeats, progress=not args.json)
    except ToolchainError as error:
        raise UsageError(f"calibrate: {error}") from None
    if args.write:
        write_calibration(device, result)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(f"\ncalibrated {device.name} against {result.reference} over {result.fit_designs} designs (+{result.held_out_designs} held out)")
    rows = [{"term": name, "before": before, "fitted": after} for name, (before, after) in result.coefficient_changes().items()]
    print(format_table(rows, list(rows[0])))
    for line in result.summary_lines():
        print(line)
    if args.write:
        print(f"wrote the fitted figures to {device.path}")
    else:
        print("(not written: add --write to store them in the profile)")
    return 0

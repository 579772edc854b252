"""The ``search`` command: argument parsing and one function per subcommand.

Every error a user can cause (unknown device, bad size, bad option) is printed as one
line ``search: error: ...`` with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Optional, Sequence

from cost_models import (
    ACCEPTED_FORMS,
    DeviceError,
    Limits,
    SizeError,
    analytic_cost,
    format_size,
    list_devices,
    load_device,
    parse_size,
)
from reports._table import format_table
from spaces import ACTIVATIONS, CELLS, CHEAP_OPS, FEATURE_FRONT_ENDS, TASKS, ArchConfig, load_config

from search._errors import DataError, UsageError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, not usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except SizeError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


# ---------------------------------------------------------------- devices


def _add_devices(commands: Any) -> None:
    parser = commands.add_parser("devices", help="list the target device profiles")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_devices)


def _devices(args: argparse.Namespace) -> int:
    profiles = [load_device(name) for name in list_devices()]
    if args.json:
        print(json.dumps([profile.summary() for profile in profiles], indent=2))
        return 0
    rows = [
        {
            "device": profile.name,
            "clock MHz": profile.clock_hz / 1e6,
            "SRAM": format_size(profile.sram_bytes),
            "flash": format_size(profile.flash_bytes),
            "weights": profile.weight_dtype,
            "cycles/MAC": profile.cycles.mac,
            "description": profile.description,
        }
        for profile in profiles
    ]
    print(format_table(rows, list(rows[0])))
    print("\nAdd your own board with a YAML file like cost_models/devices/cortex-m7.yaml and pass its path to --device.")
    return 0


# ---------------------------------------------------------------- cost


def _add_architecture_options(parser: argparse.ArgumentParser) -> None:
    defaults = ArchConfig()
    group = parser.add_argument_group("design (ignored with --config)")
    group.add_argument("--task", choices=TASKS, default=defaults.task)
    group.add_argument("--cell", choices=CELLS, default=defaults.cell)
    group.add_argument("--layers", type=int, default=defaults.layers)
    group.add_argument("--hidden", type=int, default=defaults.hidden, help="width H the next layer sees")
    group.add_argument("--ratio", type=float, default=defaults.ghost_ratio, help="ghost ratio r >= 1 (1 = plain RNN)")
    group.add_argument("--cheap-op", choices=tuple(CHEAP_OPS), default=defaults.cheap_op)
    group.add_argument("--groups", type=int, default=defaults.groups, help="groups of the grouped cheap op")
    group.add_argument("--activation", choices=tuple(ACTIVATIONS), default=defaults.activation)
    group.add_argument("--features", choices=tuple(FEATURE_FRONT_ENDS), help="default: mfcc10 for kws, stft129 for se")
    group.add_argument("--frames", type=int, default=defaults.frames, help="frames per KWS inference")
    group.add_argument("--classes", type=int, default=defaults.classes)


def _config_from_args(args: argparse.Namespace) -> ArchConfig:
    if args.config:
        try:
            return load_config(args.config)
        except OSError as error:
            raise UsageError(f"cannot read --config {args.config}: {error.strerror}") from None
    features = args.features or ("mfcc10" if args.task == "kws" else "stft129")
    try:
        return ArchConfig(
            task=args.task,
            cell=args.cell,
            layers=args.layers,
            hidden=args.hidden,
            ghost_ratio=args.ratio,
            cheap_op=args.cheap_op,
            activation=args.activation,
            groups=args.groups,
            features=features,
            frames=args.frames,
            classes=args.classes,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None


def _add_cost(commands: Any) -> None:
    parser = commands.add_parser("cost", help="cost breakdown of one design on a device")
    parser.add_argument("--device", required=True, help=f"one of {', '.join(list_devices())}, or a profile YAML path")
    parser.add_argument("--config", help="a design YAML (e.g. an exported model.yaml) instead of the flags below")
    parser.add_argument("--budget", type=_size, help=f"memory budget (flash + RAM): {ACCEPTED_FORMS}")
    parser.add_argument("--ram-budget", type=_size, help="RAM budget, same forms as --budget")
    parser.add_argument("--latency-budget", type=_positive_float, help="ms per inference (KWS) or frame (SE); default: real time")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    _add_architecture_options(parser)
    parser.set_defaults(handler=_cost)


def _cost(args: argparse.Namespace) -> int:
    device = load_device(args.device)
    config = _config_from_args(args)
    limits = Limits(memory_bytes=args.budget, ram_bytes=args.ram_budget, latency_ms=args.latency_budget)
    report = analytic_cost(config, device, limits)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(f"{config.describe()}  on {device.name} ({device.description})")
    print(f"intrinsic m = {config.intrinsic_size}, ghost G = {config.ghost_size}; work per {report.per}\n")
    rows = [
        {
            "block": layer.name,
            "params": layer.params,
            "MACs": layer.macs,
            "activations": layer.activations,
            "elementwise": layer.elementwise,
            "flash B": layer.flash_bytes,
            "state B": layer.state_bytes,
            "latency ms": layer.latency_ms,
        }
        for layer in report.layers
    ]
    rows.append(
        {
            "block": "total",
            "params": report.params,
            "MACs": report.macs,
            "activations": report.activations,
            "elementwise": report.elementwise,
            "flash B": report.flash_bytes,
            "state B": sum(layer.state_bytes for layer in report.layers),
            "latency ms": report.latency_ms,
        }
    )
    print(format_table(rows, list(rows[0])))
    print(
        f"\nflash {format_size(report.flash_bytes)} + RAM {format_size(report.ram_bytes)} = memory "
        f"{format_size(report.memory_bytes)} ({report.memory_bytes:,} bytes); latency {report.latency_ms:.3f} ms "
        f"(real time: {report.realtime_ms:.1f} ms)"
    )
    if report.fits:
        print(f"fits {device.name}" + (f" and the budget {format_size(args.budget)}" if args.budget else ""))
    else:
        print("does NOT fit: " + "; ".join(report.violations))
    return 0


# ---------------------------------------------------------------- entry point

COMMANDS: list[Callable[[Any], None]] = [_add_devices, _add_cost]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="search", description="Hardware-aware architecture search for GhostRNN keyword spotting and speech enhancement.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (DeviceError, SizeError, DataError, UsageError) as error:
        print(f"search: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("search: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry_point() -> None:
    sys.exit(main())

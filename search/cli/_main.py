"""The ``search`` command: argument parsing and one function per subcommand.

Every error a user can cause (unknown device, bad size, bad option) is printed as one
line ``search: error: ...`` with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from pathlib import Path
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
from reports import format_table
from spaces import ACTIVATIONS, CELLS, CHEAP_OPS, FEATURE_FRONT_ENDS, TASKS, ArchConfig, SpaceError, list_spaces, load_config, load_space

from search.cli._measure import add_calibrate, add_measure_option, measure_for_cost, measured_fields, print_measured
from search.cli._reports import add_export, add_report, add_show, add_train
from search._errors import DataError, UsageError
from search.storage import StudyError
from search.study import DEFAULT_SAMPLER, SAMPLERS

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
        print(json.dumps([profile.to_dict() | {"path": profile.path} for profile in profiles], indent=2))
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
    add_measure_option(parser)
    _add_architecture_options(parser)
    parser.set_defaults(handler=_cost)


def _cost(args: argparse.Namespace) -> int:
    device = load_device(args.device)
    config = _config_from_args(args)
    limits = Limits(memory_bytes=args.budget, ram_bytes=args.ram_budget, latency_ms=args.latency_budget)
    report = analytic_cost(config, device, limits)
    measured = measure_for_cost(args, config, device)
    if args.json:
        print(json.dumps(report.to_dict() | (measured_fields(measured) if measured else {}), indent=2))
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
    if measured:
        print_measured(measured, report.flash_bytes, report.ram_bytes, report.latency_ms)
    return 0


# ---------------------------------------------------------------- spaces


def _add_spaces(commands: Any) -> None:
    parser = commands.add_parser("spaces", help="list the design spaces")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_spaces)


def _spaces(args: argparse.Namespace) -> int:
    spaces = [load_space(name) for name in list_spaces()]
    if args.json:
        print(json.dumps([space.to_dict() | {"designs": space.size(), "path": space.path} for space in spaces], indent=2))
        return 0
    rows = [
        {"space": space.name, "task": space.task, "designs": space.size(), "searches": ", ".join(space.dimensions), "description": space.description}
        for space in spaces
    ]
    print(format_table(rows, list(rows[0])))
    print("\nWrite your own space as a YAML file like spaces/kws-default.yaml and pass its path to --space.")
    return 0


# ---------------------------------------------------------------- run / worker


def _duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h`` or ``1h30m``."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d*)?)h)?\s*(?:(\d+(?:\.\d*)?)m)?\s*(?:(\d+(?:\.\d*)?)s?)?\s*", text.lower())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: expected seconds or a form like 90s, 15m, 2h, 1h30m")
    hours, minutes, seconds = (float(group) if group else 0.0 for group in match.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must be positive")
    return total


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _add_run(commands: Any) -> None:
    from search.study import DEFAULT_TRIALS
    from search.training import DEFAULT_PRECISION, PRECISIONS, Fidelity

    defaults = Fidelity()
    parser = commands.add_parser(
        "run",
        help="search the design space for a device and budget",
        description="Search GhostRNN designs for a device and a memory budget; re-running the same command resumes the study.",
    )
    parser.add_argument("--device", required=True, help=f"one of {', '.join(list_devices())}, or a profile YAML path")
    # Budgets stay text here (run() parses them) so the study name keeps "100KB" as typed.
    parser.add_argument("--budget", help=f"memory budget, flash + RAM: {ACCEPTED_FORMS}")
    parser.add_argument("--ram-budget", help="RAM budget, same forms as --budget")
    parser.add_argument("--latency-budget", type=_positive_float, metavar="MS", help="ms per inference (KWS) or frame (SE); default: real time")
    parser.add_argument("--task", choices=TASKS, default="kws")
    parser.add_argument("--space", help=f"design space name ({', '.join(list_spaces())}) or YAML path; default: <task>-default")
    parser.add_argument("--trials", type=_positive_int, default=DEFAULT_TRIALS, help=f"the study's total number of trials (default {DEFAULT_TRIALS})")
    parser.add_argument("--timeout", type=_duration, help="stop starting new trials after this long (e.g. 15m)")
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER, help=f"default {DEFAULT_SAMPLER}")
    parser.add_argument(
        "--latency-model",
        choices=("analytic", "measured"),
        default="analytic",
        help="measured: latency from the design's int8 C code run in a Cortex-M emulator (needs the isa extra; cached per design)",
    )
    parser.add_argument("--objectives", default="accuracy,memory,latency", help="comma-separated: accuracy (si-snri for se), memory, latency, macs, flash, ram, params")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULT_PRECISION,
        help="what the accuracy objective scores: int8 (default) the design as deployed, by a bit-exact simulation of its C code; "
        "float the float32 model as trained. Both numbers are kept per trial",
    )
    fidelity = parser.add_argument_group("proxy training")
    fidelity.add_argument("--epochs", type=_positive_int, default=defaults.epochs)
    fidelity.add_argument("--data-fraction", type=_fraction, default=defaults.data_fraction, help="share of the training split used")
    fidelity.add_argument("--max-trial-seconds", type=_positive_float, default=defaults.max_seconds, help="training time limit per trial")
    fidelity.add_argument("--utterances-per-class", type=_positive_int, help="size of the synthetic corpus")
    fidelity.add_argument("--data-dir", help="a local Speech Commands copy instead of the synthetic corpus")
    from search.study import DEFAULT_PROMOTE_EPOCHS, DEFAULT_PROMOTE_SEEDS

    promotion = parser.add_argument_group("promotion (second stage: the proxy front re-trained longer; off by default)")
    promotion.add_argument("--promote", type=_positive_int, metavar="K", help="re-train up to K designs of (and near) the proxy front after the trials")
    promotion.add_argument("--promote-epochs", type=_positive_int, default=DEFAULT_PROMOTE_EPOCHS, metavar="N", help=f"epochs per promoted run (default {DEFAULT_PROMOTE_EPOCHS})")
    promotion.add_argument("--promote-seeds", type=_positive_int, default=DEFAULT_PROMOTE_SEEDS, metavar="S", help=f"seeds per promoted design (default {DEFAULT_PROMOTE_SEEDS})")
    parser.add_argument("--out", default="runs", help="directory for run folders (default runs/)")
    parser.add_argument("--study", help="study name (default <task>-<device>-<budget>); the same name resumes")
    parser.add_argument("--storage", help="an Optuna storage URL shared by several machines (e.g. postgresql://user@host/db)")
    parser.add_argument("--workers", type=_positive_int, default=1, help="worker processes on this machine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or per-trial lines")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from search.study import command_text, run, summarize
    from search.training import Fidelity

    fidelity = Fidelity(epochs=args.epochs, data_fraction=args.data_fraction, max_seconds=args.max_trial_seconds, seed=args.seed)
    result = run(
        device=args.device,
        budget=args.budget,
        ram_budget=args.ram_budget,
        latency_budget=args.latency_budget,
        task=args.task,
        space=args.space,
        trials=args.trials,
        timeout=args.timeout,
        sampler=args.sampler,
        objectives=args.objectives,
        fidelity=fidelity,
        data_dir=args.data_dir,
        utterances_per_class=args.utterances_per_class,
        latency_model=args.latency_model,
        precision=args.precision,
        out=args.out,
        study=args.study,
        storage=args.storage,
        workers=args.workers,
        seed=args.seed,
        progress=not args.no_progress,
        command=command_text(args.argv),
        promote=args.promote or 0,
        promote_epochs=args.promote_epochs,
        promote_seeds=args.promote_seeds,
    )
    print(summarize(result))
    return 0


def _add_worker(commands: Any) -> None:
    parser = commands.add_parser("worker", help="join an existing study and run its trials")
    parser.add_argument("--storage", required=True, help="the study's storage URL (journal:PATH for a local journal file)")
    parser.add_argument("--study", required=True)
    parser.add_argument("--max-trials", type=_positive_int, help="trials for this worker (default: until the study's target)")
    parser.add_argument("--timeout", type=_duration)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--weights-dir", help="where to keep proxy-trained weights for export (default: runs/<study>/weights)")
    parser.add_argument("--prefix", default="", help=argparse.SUPPRESS)
    # The study carries its own settings; these only state what the user expects, and
    # the worker refuses to join when the study says otherwise.
    expect = parser.add_argument_group("checks (optional: the study's stored settings are used; a differing value is refused)")
    expect.add_argument("--device")
    expect.add_argument("--budget")
    expect.add_argument("--ram-budget")
    expect.add_argument("--latency-budget", type=_positive_float, metavar="MS")
    expect.add_argument("--task", choices=TASKS)
    expect.add_argument("--space")
    expect.add_argument("--objectives")
    expect.add_argument("--sampler", choices=SAMPLERS)
    expect.add_argument("--seed", type=int)
    expect.add_argument("--epochs", type=_positive_int)
    expect.add_argument("--data-fraction", type=_fraction)
    expect.add_argument("--utterances-per-class", type=_positive_int)
    expect.add_argument("--precision", choices=("int8", "float"))
    parser.set_defaults(handler=_worker)


WORKER_CHECKS = (
    "device",
    "budget",
    "ram_budget",
    "latency_budget",
    "task",
    "space",
    "objectives",
    "sampler",
    "seed",
    "epochs",
    "data_fraction",
    "utterances_per_class",
    "precision",
)


def _worker(args: argparse.Namespace) -> int:
    from search.study import join_study

    weights_dir = Path(args.weights_dir) if args.weights_dir else Path("runs") / args.study / "weights"
    join_study(
        storage=args.storage,
        study=args.study,
        max_trials=args.max_trials,
        timeout=args.timeout,
        progress=not args.no_progress,
        prefix=args.prefix,
        weights_dir=weights_dir,
        expect={name: getattr(args, name) for name in WORKER_CHECKS if getattr(args, name) is not None},
    )
    return 0


# ---------------------------------------------------------------- entry point

COMMANDS: list[Callable[[Any], None]] = [
    _add_devices,
    _add_spaces,
    _add_cost,
    _add_run,
    _add_worker,
    add_calibrate,
    add_report,
    add_show,
    add_export,
    add_train,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="search", description="Hardware-aware architecture search for GhostRNN keyword spotting and speech enhancement.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for add in COMMANDS:
        add(commands)
    return parser


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    # A terminated run stops like Ctrl-C: the trial in flight is marked failed, files are written.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return args.handler(args)
    except (DeviceError, SizeError, DataError, UsageError, SpaceError, StudyError) as error:
        print(f"search: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("search: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry_point() -> None:
    sys.exit(main())

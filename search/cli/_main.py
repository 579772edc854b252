"""The ``search`` command: argument parsing and one function per subcommand.

Every error a user can cause (unknown device, bad size, bad option) is printed as one
line ``search: error: ...`` with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

# Only light modules at the top: the parser (and every --help) must not load torch,
# plotly or Optuna; each command imports what it runs.
from cost_models import ACCEPTED_FORMS, DeviceError, SizeError, format_size, list_devices, load_device, parse_size, size_units
from spaces import CELLS, FEATURE_FRONT_ENDS, TASKS, ArchConfig, SchemaError, SpaceError, list_spaces, load_config, load_space

from search.cli._evaluate import add_evaluate
from search.cli._choices import LazyChoices
from search.cli._measure import add_calibrate, add_measure_option, measure_for_cost, measured_fields, print_measured
from search.cli._reports import add_export, add_report, add_runs, add_show, add_train
from search._errors import DEBUG_ENV, DataError, RunInterrupted, StudyError, UsageError, debugging
from search._settings import MAX_SEED
from search.study import DEFAULT_SAMPLER, SAMPLERS, forget_stop_request, request_stop

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# Counts (trials, epochs, workers, ...) above this are typing slips, not plans.
MAX_COUNT = 1_000_000


class _HelpFormatter(argparse.HelpFormatter):
    def _expand_help(self, action: argparse.Action) -> str:
        # argparse lists an option's choices while expanding its help even when the text
        # never shows them; a help without "%(...)s" is printed as it is, so the lazy
        # registries (LazyChoices) stay unloaded.
        if "%" not in (action.help or ""):
            return action.help or ""
        return super()._expand_help(action)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, not usage + error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        # A value that starts with a minus and a digit ("--budget -5KB") is a value, for
        # the option's own check to refuse in words, not an unknown option.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except SizeError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _size_text(text: str) -> str:
    """A size checked at parse time but kept as typed: its unit decides how sizes are shown."""
    _size(text)
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED} (2**32 - 1), got {text}")
    return value


# ---------------------------------------------------------------- devices


def _add_devices(commands: Any) -> None:
    parser = commands.add_parser("devices", help="list the target device profiles")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_devices)


def _devices(args: argparse.Namespace) -> int:
    from reports import format_table

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


def _cheap_ops() -> tuple[str, ...]:
    from spaces import CHEAP_OPS

    return tuple(CHEAP_OPS)


def _activations() -> tuple[str, ...]:
    from spaces import ACTIVATIONS

    return tuple(ACTIVATIONS)


def _add_architecture_options(parser: argparse.ArgumentParser) -> None:
    # The field defaults, not ArchConfig(): building one validates against the cheap-op
    # registry, which imports torch.
    defaults = argparse.Namespace(**{field.name: field.default for field in dataclasses.fields(ArchConfig)})
    group = parser.add_argument_group("design (ignored with --config)")
    group.add_argument("--task", choices=TASKS, default=defaults.task)
    group.add_argument("--cell", choices=CELLS, default=defaults.cell)
    group.add_argument("--layers", type=int, default=defaults.layers)
    group.add_argument("--hidden", type=int, default=defaults.hidden, help="width H the next layer sees")
    group.add_argument("--ratio", type=float, default=defaults.ghost_ratio, help="ghost ratio r >= 1 (1 = plain RNN)")
    group.add_argument("--cheap-op", choices=LazyChoices(_cheap_ops), default=defaults.cheap_op, metavar="OP", help="the cheap operation that makes the ghost states (spaces.CHEAP_OPS)")
    group.add_argument("--groups", type=int, default=defaults.groups, help="groups of the grouped cheap op")
    group.add_argument("--activation", choices=LazyChoices(_activations), default=defaults.activation, metavar="NAME", help="activation of the cheap operation (spaces.ACTIVATIONS)")
    group.add_argument("--features", choices=tuple(FEATURE_FRONT_ENDS), help="default: mfcc10 for kws, stft129 for se")
    group.add_argument("--frames", type=int, default=defaults.frames, help="frames per KWS inference")
    group.add_argument("--classes", type=int, default=defaults.classes)


def _config_from_args(args: argparse.Namespace) -> ArchConfig:
    if args.config:
        if not Path(args.config).exists():
            raise UsageError(f"cannot read --config {args.config}: no such file; pass a design YAML such as an exported model.yaml")
        return load_config(args.config)  # a SchemaError names the file, the key and the accepted values
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
    parser.add_argument("--budget", type=_size_text, help=f"memory budget (flash + RAM): {ACCEPTED_FORMS}; sizes are shown in the unit typed")
    parser.add_argument("--ram-budget", type=_size_text, help="RAM budget, same forms as --budget")
    parser.add_argument("--latency-budget", type=_positive_float, help="ms per inference (KWS) or frame (SE); default: real time")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_measure_option(parser)
    _add_architecture_options(parser)
    parser.set_defaults(handler=_cost)


def _cost(args: argparse.Namespace) -> int:
    from cost_models import Limits, analytic_cost
    from reports import format_table

    device = load_device(args.device)
    config = _config_from_args(args)
    units = size_units(args.budget) if args.budget else "iec"
    budget = parse_size(args.budget) if args.budget else None
    ram_budget = parse_size(args.ram_budget) if args.ram_budget else None
    limits = Limits(memory_bytes=budget, ram_bytes=ram_budget, latency_ms=args.latency_budget, units=units)
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
    print()
    front = report.front_end
    if front is not None:
        hop = f"{front.latency_ms:.3f} ms per {config.front_end.hop_ms:g} ms hop" if front.latency_ms else "latency not modelled on this device"
        print(
            f"front end {front.name}: flash {format_size(front.flash_bytes, units)} (tables {front.table_bytes:,} B + code {front.code_bytes:,} B), "
            f"RAM {format_size(front.ram_bytes, units)}, {hop}; in the totals"
        )
    print(
        f"flash {format_size(report.flash_bytes, units)} + RAM {format_size(report.ram_bytes, units)} = memory "
        f"{format_size(report.memory_bytes, units)} ({report.memory_bytes:,} bytes); latency {report.latency_ms:.3f} ms "
        f"(real time: {report.realtime_ms:.1f} ms)"
    )
    if report.fits:
        print(f"fits {device.name}" + (f" and the budget {format_size(budget, units)}" if budget else ""))
    else:
        print("does NOT fit: " + "; ".join(report.violations))
    if measured:
        # The emulated code is the model alone: compare it with the model's share.
        print_measured(measured, report.model_flash_bytes, report.model_ram_bytes, report.model_latency_ms)
    return 0


# ---------------------------------------------------------------- spaces


def _add_spaces(commands: Any) -> None:
    parser = commands.add_parser("spaces", help="list the design spaces")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_spaces)


def _spaces(args: argparse.Namespace) -> int:
    from reports import format_table

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
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COUNT:,}, got {text}")
    return value


def _workers(text: str) -> Union[int, str]:
    if text == "auto":
        return text
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number of at least 1, got {text!r}") from None
    return _positive_int(text)


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
    parser.add_argument("--budget", type=_size_text, help=f"memory budget, flash + RAM: {ACCEPTED_FORMS}; sizes are shown in the unit typed (KB or KiB)")
    parser.add_argument("--ram-budget", type=_size_text, help="RAM budget, same forms as --budget")
    parser.add_argument("--latency-budget", type=_positive_float, metavar="MS", help="ms per inference (KWS) or frame (SE); default: real time")
    parser.add_argument("--task", choices=TASKS, default="kws", help="keyword spotting or speech enhancement (default kws)")
    parser.add_argument("--space", help=f"design space name ({', '.join(list_spaces())}) or YAML path; default: <task>-default")
    parser.add_argument("--trials", type=_positive_int, default=DEFAULT_TRIALS, help=f"the study's total number of trials (default {DEFAULT_TRIALS})")
    parser.add_argument("--timeout", type=_duration, help="stop starting new trials after this long (e.g. 15m)")
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER, help=f"default {DEFAULT_SAMPLER}")
    parser.add_argument(
        "--latency-model",
        choices=("analytic", "measured"),
        default="analytic",
        help="measured: latency from the design's int8 C code run in a Cortex-M emulator (needs the isa extra; cached per design); default analytic",
    )
    parser.add_argument("--objectives", default="accuracy,memory,latency", help="comma-separated: accuracy (si-snri for se), memory, latency, macs, flash, ram, params (default accuracy,memory,latency)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULT_PRECISION,
        help="what the accuracy objective scores: int8 (default) the design as deployed, by a bit-exact simulation of its C code; "
        "float the float32 model as trained. Both numbers are kept per trial",
    )
    fidelity = parser.add_argument_group("proxy training")
    fidelity.add_argument("--epochs", type=_positive_int, default=defaults.epochs, help=f"proxy training epochs per design (default {defaults.epochs})")
    fidelity.add_argument("--data-fraction", type=_fraction, default=defaults.data_fraction, help=f"share of the training split used (default {defaults.data_fraction:g})")
    fidelity.add_argument(
        "--max-trial-seconds",
        type=_positive_float,
        help="optional training time limit per trial; a trial that hits it is recorded as cut short and never scored "
        "(default: none, so how busy the machine is cannot change which trials are scored)",
    )
    fidelity.add_argument("--utterances-per-class", type=_positive_int, help="size of the synthetic corpus (default: the corpus's own)")
    data = parser.add_argument_group("your own data (default: the synthetic corpus)")
    data.add_argument("--data-dir", metavar="DIR", help="a folder of class folders of audio clips (any WAV, FLAC, OGG), e.g. a Speech Commands copy")
    data.add_argument("--keywords", metavar="W1,W2,...", help="the target words (folder names); other folders become _unknown_; default: the 10 Speech Commands keywords when all are there, else every folder")
    data.add_argument("--clip-seconds", type=_positive_float, default=1.0, metavar="S", help="clips are cut or zero-padded to this length (default 1)")
    from search.study import DEFAULT_PROMOTE_EPOCHS, DEFAULT_PROMOTE_SEEDS

    promotion = parser.add_argument_group("promotion (second stage: the proxy front re-trained longer; off by default)")
    promotion.add_argument("--promote", type=_positive_int, metavar="K", help="re-train up to K designs of (and near) the proxy front after the trials")
    promotion.add_argument("--promote-epochs", type=_positive_int, default=DEFAULT_PROMOTE_EPOCHS, metavar="N", help=f"epochs per promoted run (default {DEFAULT_PROMOTE_EPOCHS})")
    promotion.add_argument("--promote-seeds", type=_positive_int, default=DEFAULT_PROMOTE_SEEDS, metavar="S", help=f"seeds per promoted design (default {DEFAULT_PROMOTE_SEEDS})")
    parser.add_argument("--out", default="runs", help="directory for run folders (default runs/)")
    parser.add_argument("--study", help="study name (default <task>-<device>-<budget>); the same name resumes")
    parser.add_argument("--storage", help="an Optuna storage URL shared by several machines (e.g. postgresql://user@host/db)")
    parser.add_argument(
        "--workers",
        type=_workers,
        default="auto",
        help="worker processes on this machine, one torch thread each (default auto: one per core); a trial's result does not depend on it",
    )
    parser.add_argument(
        "--parallel",
        type=_positive_int,
        metavar="N",
        help="trials trained at once by all workers on all machines (default: --workers); trial n is proposed from the results "
        "of trials up to n - N, so the same seed gives the same trials; fixed when the study is created",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the sampler and of proxy training, 0 to 2**32 - 1 (default 0)")
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
        keywords=args.keywords,
        clip_seconds=args.clip_seconds,
        utterances_per_class=args.utterances_per_class,
        latency_model=args.latency_model,
        precision=args.precision,
        out=args.out,
        study=args.study,
        storage=args.storage,
        workers=args.workers,
        parallel=args.parallel,
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
    parser.add_argument("--max-trials", type=_positive_int, help="at most this many trials for this worker (it always stops at the study's target)")
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
    expect.add_argument("--seed", type=_seed)
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
    try:
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
    except KeyboardInterrupt:
        if args.prefix:  # a worker started by `search run`, which reports the interrupt
            return EXIT_INTERRUPTED
        raise
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
    add_runs,
    add_export,
    add_train,
    add_evaluate,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="search", description="Hardware-aware architecture search for GhostRNN keyword spotting and speech enhancement.")
    # Read (and removed) by main() wherever it stands; declared here for --help.
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error (anywhere on the command line)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for add in COMMANDS:
        add(commands)
    for subparser in commands.choices.values():
        _show_defaults(subparser)
    return parser


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every option with a default says it in ``--help``, unless its help already does."""
    for action in parser._actions:
        default = action.default
        if not action.option_strings or default in (None, False, argparse.SUPPRESS) or action.help == argparse.SUPPRESS:
            continue
        if "default" in (action.help or "").lower():
            continue
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        action.help = f"{action.help} (default {shown})" if action.help else f"default {shown}"


def _unexpected(error: BaseException) -> str:
    """One line for an error no check foresaw: what failed and on which file."""
    if isinstance(error, MemoryError):
        return "out of memory; use a smaller --utterances-per-class, space or --workers"
    if isinstance(error, OSError) and error.strerror:
        target = f" {error.filename}" if error.filename else ""
        return f"{error.strerror.lower()}:{target} (check the path and its permissions)"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no message'}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is taken anywhere on the line (and reaches worker processes via the environment).
    debug = "--debug" in argv
    argv = [part for part in argv if part != "--debug"]
    if debug:
        os.environ[DEBUG_ENV] = "1"
    debug = debug or debugging()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    # A terminated run stops like Ctrl-C: the trial in flight is marked failed, files are written.
    # The handler remembers the request, so an interrupt Python swallows still stops the run.
    # The command's handlers last as long as the command (main() also runs inside other programs).
    forget_stop_request()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        return args.handler(args)
    except (DeviceError, SizeError, DataError, UsageError, SpaceError, StudyError, SchemaError) as error:
        if debug:
            traceback.print_exc()
        print(f"search: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except RunInterrupted as interrupt:
        print(f"search: {interrupt}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("search: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the last line of defence: one line, the traceback on --debug
        if debug:
            traceback.print_exc()
        print(f"search: error: {_unexpected(error)}" + ("" if debug else " (run with --debug for the traceback)"), file=sys.stderr)
        return EXIT_USAGE
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def entry_point() -> None:
    sys.exit(main())

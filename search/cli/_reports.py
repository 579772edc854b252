"""The ``report``, ``show``, ``export`` and ``train`` subcommands: a user's steps after a run.

Each ``add_*`` registers one subcommand on the ``search`` parser; errors are raised as
``UsageError``/``StudyError`` and printed by the CLI as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from cost_models import format_size

from search.cli._choices import LazyChoices


def _add_run_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a run folder written by 'search run' (e.g. runs/kws-cortex-m7-100KB)")
    parser.add_argument("--storage", help="an Optuna storage URL instead of a run folder (needs --study if it holds several)")
    parser.add_argument("--study", help="the study name inside --storage or the run folder")


def _open(args: argparse.Namespace):
    from search.results import open_run

    return open_run(args.run_dir, storage=args.storage, study=args.study)


# ---------------------------------------------------------------- report


def add_report(commands: Any) -> None:
    parser = commands.add_parser(
        "report",
        help="write the HTML report of a run (Pareto fronts, hypervolume, importances, table)",
        description="Write one self-contained HTML file (works offline) with the run's Pareto fronts and designs.",
    )
    _add_run_location(parser)
    parser.add_argument("--out", help="the HTML file (default: RUN_DIR/report.html)")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from search.results import write_run_report

    run = _open(args)
    path = write_run_report(run, args.out)
    print(f"wrote {path} ({len(run.frame)} trials, {len(run.pareto)} Pareto-optimal); open it in a browser")
    return 0


# ---------------------------------------------------------------- show


def add_show(commands: Any) -> None:
    parser = commands.add_parser("show", help="print the Pareto-optimal designs of a run")
    _add_run_location(parser)
    parser.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    from reports import PICKS, analyze, findings_of, format_table, pareto_rows, run_facts
    from search.results import report_inputs
    from search.storage import mask_url

    run = _open(args)
    inputs = report_inputs(run, importances=False)
    analysis = analyze(inputs)
    facts = run_facts(run.frame, len(analysis.pareto))
    settings = run.settings
    budget = f", budget {format_size(settings.budget_bytes, settings.size_units)}" if settings.budget_bytes else ""
    print(f"study {run.study.study_name!r}: {settings.task} on {settings.device.get('name')}{budget}, space {settings.space.get('name')}")
    print(f"{facts.counts_text()}; {facts.time_text()}")
    if settings.latency_model == "measured":
        print("latencies are measured: each design's int8 C code was run in the Cortex-M emulator")
    print()
    rows = pareto_rows(analysis.pareto, settings.metric_name, analysis.knee_number, settings.size_units)
    if not rows:
        print("(no feasible trained design yet)")
        return 0
    print(format_table(rows, list(rows[0])))
    print("\nWhat this run found:")
    for sentence in findings_of(inputs, analysis):
        print(textwrap.fill(sentence, width=100, initial_indent="  ", subsequent_indent="  "))
    location = args.run_dir or f"--storage {mask_url(args.storage)} --study {run.study.study_name}"
    print(f"\nexport one: search export {location} --trial N --to DIR   (or --trial best --pick {'|'.join(PICKS)})")
    return 0


# ---------------------------------------------------------------- runs


def add_runs(commands: Any) -> None:
    parser = commands.add_parser("runs", help="list the runs under a folder with their status and best design")
    parser.add_argument("out", nargs="?", default="runs", metavar="DIR", help="the --out folder of 'search run' (default runs)")
    parser.set_defaults(handler=_runs)


def _runs(args: argparse.Namespace) -> int:
    from search.results import list_runs, runs_text

    print(runs_text(list_runs(args.out), args.out))
    return 0


# ---------------------------------------------------------------- export


def add_export(commands: Any) -> None:
    parser = commands.add_parser(
        "export",
        help="write a design of a run as model.yaml + weights.pt + model.onnx and a C library",
        description="Export a trial's design, proxy-trained weights and ONNX graph for a training repository.",
    )
    _add_run_location(parser)
    parser.add_argument("--trial", default="best", help="'best' (chosen by --pick among the Pareto-optimal designs) or a trial number")
    parser.add_argument("--pick", choices=LazyChoices(_picks), default="accuracy", metavar="PICK", help="with --trial best: highest accuracy, least memory, least latency, or the knee of the front")
    parser.add_argument("--to", help="output folder (default exported/<study>-trial<N>)")
    parser.add_argument("--format", dest="formats", choices=("all", "onnx", "c"), default="all",
                        help="onnx: model.yaml + weights.pt + model.onnx; c: a C99 library with its feature front end (KWS or SE, streaming); all: both (C in DIR/c)")
    parser.add_argument("--no-onnx", action="store_true", help="skip model.onnx")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(handler=_export)


def _picks() -> tuple[str, ...]:
    from reports import PICKS

    return PICKS


def _export(args: argparse.Namespace) -> int:
    from search.results import export_run, export_summary

    run = _open(args)
    result = export_run(run, trial=args.trial, pick=args.pick, to=args.to, onnx=not args.no_onnx, progress=not args.no_progress, formats=args.formats)
    print(export_summary(result))
    return 0


# ---------------------------------------------------------------- train


def add_train(commands: Any) -> None:
    from search.training import DEFAULT_EPOCHS

    parser = commands.add_parser(
        "train",
        help="train an exported design at full fidelity and report its test metric",
        description="Train the design of an exported model.yaml on all training data of the search's data pipeline; score it on the test split.",
    )
    parser.add_argument("model_yaml", metavar="MODEL_YAML", help="a model.yaml written by 'search export'")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"default {DEFAULT_EPOCHS}")
    parser.add_argument("--max-seconds", type=float, help="stop training after this long (default: no limit)")
    parser.add_argument("--save", help="where to write the trained weights (default: beside the model.yaml, weights-trained.pt)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from search.training import train_exported, train_summary

    outcome = train_exported(args.model_yaml, epochs=args.epochs, max_seconds=args.max_seconds, save=args.save, progress=not args.no_progress)
    print(train_summary(outcome))
    return 0

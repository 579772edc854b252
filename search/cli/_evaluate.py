"""The ``evaluate`` subcommand: score an exported design on a folder of class folders."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_evaluate(commands: Any) -> None:
    from search._settings import DEFAULT_PRECISION, EVALUATION_SPLITS, PRECISIONS

    parser = commands.add_parser(
        "evaluate",
        help="score an exported design on your own clips (accuracy per class, confusion matrix)",
        description=(
            "Score the design of a model.yaml written by 'search export' on a folder of class folders "
            "(one folder per word, any WAV/FLAC/OGG format), e.g. your own recordings or a Speech Commands copy."
        ),
    )
    parser.add_argument("model_yaml", metavar="MODEL_YAML", help="a model.yaml written by 'search export'")
    parser.add_argument("--data-dir", required=True, metavar="DIR", help="a folder of class folders of audio clips")
    parser.add_argument("--split", choices=EVALUATION_SPLITS, help="test: the list files' test split (default with list files); all: every clip (default without)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION, help=f"int8: the design as deployed, bit-exact with its generated C; float: the PyTorch model (default {DEFAULT_PRECISION})")
    parser.add_argument("--weights", metavar="FILE", help="default: weights.pt beside the model.yaml (pass weights-trained.pt after 'search train')")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from search.training import evaluate_exported, evaluation_summary

    result = evaluate_exported(
        args.model_yaml, args.data_dir, split=args.split, precision=args.precision, weights=args.weights, progress=not (args.no_progress or args.json)
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else evaluation_summary(result))
    return 0

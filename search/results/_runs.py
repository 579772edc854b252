"""``search runs``: the runs under a folder, one line each, with their status and best design.

Example (after a few ``search run`` calls):

    >>> from search.results._runs import list_runs
    >>> [run.study for run in list_runs("runs")]  # doctest: +SKIP
    ['kws-cortex-m7-100KB', 'kws-cortex-m7-20KB']
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from optuna.trial import TrialState

from cost_models import format_size
from reports import analyze, metric_display

from search._errors import StudyError, UsageError
from search.results._report import open_run, report_inputs

STORAGE_FILES = ("study.db", "study.journal")


@dataclass(frozen=True)
class RunLine:
    """One run folder as ``search runs`` lists it."""

    folder: Path
    study: str
    status: str  # done, running, stopped (fewer trials than asked, nothing running), unreadable
    trials: str  # "finished/target"
    best: str  # the knee of the front, with its metric and memory
    updated: str  # when the last trial ended

    def row(self) -> dict[str, str]:
        return {"run": str(self.folder), "status": self.status, "trials": self.trials, "knee of the front": self.best, "last trial ended": self.updated}


def _alive_here(worker: str) -> bool:
    """Whether the process of a RUNNING trial's worker ("host:pid") is alive on this host."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return host != socket.gethostname() and bool(host)  # another machine's worker: assume alive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_run(folder: Path) -> RunLine:
    """The status line of one run folder (``unreadable`` with the reason when it cannot be opened)."""
    from search.study import DEFAULT_TRIALS, TARGET_TRIALS_ATTR

    try:
        run = open_run(folder)
    except (StudyError, UsageError) as error:
        return RunLine(folder, "?", "unreadable", "", str(error), "")
    trials = run.study.get_trials(deepcopy=False)
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    target = int(run.study.user_attrs.get(TARGET_TRIALS_ATTR, DEFAULT_TRIALS))
    running = any(t.state == TrialState.RUNNING and _alive_here(str(t.user_attrs.get("worker", ""))) for t in trials)
    status = "running" if running else ("done" if finished >= target else "stopped")
    analysis = analyze(report_inputs(run, importances=False))
    best = "no feasible trained design yet"
    if analysis.knee_number is not None:
        row = analysis.pareto[analysis.pareto["number"] == analysis.knee_number].iloc[0]
        metric = run.settings.metric_name
        value = metric_display(metric, float(row[metric]))
        shown = f"{value:.1f} %" if metric == "accuracy" else f"{value:.2f} dB"
        best = f"#{analysis.knee_number} {row['design']}: {shown}, {format_size(int(row['memory_bytes']), run.settings.size_units)}"
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    updated = max(ends).strftime("%Y-%m-%d %H:%M") if ends else ""
    return RunLine(folder, run.study.study_name, status, f"{finished}/{target}", best, updated)


def list_runs(out: Union[str, Path] = "runs") -> list[RunLine]:
    """Every run folder directly under ``out`` (a folder holding study.db or study.journal), by name."""
    root = Path(out)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory; pass the --out folder of 'search run' (default runs/)")
    folders = sorted(path for path in root.iterdir() if path.is_dir() and any((path / name).is_file() for name in STORAGE_FILES))
    return [describe_run(folder) for folder in folders]


def runs_text(lines: list[RunLine], out: Optional[Union[str, Path]] = None) -> str:
    """The table ``search runs`` prints."""
    from reports import format_table

    if not lines:
        return f"no runs under {out}; start one with 'search run --device DEVICE --budget SIZE --out {out}'"
    rows = [line.row() for line in lines]
    return format_table(rows, list(rows[0]))

"""A run's results: open a run directory or storage URL, its tables, the report, the export.

``reports`` knows nothing of Optuna; this room reads the study (its settings, trials and
promotions) and hands plain tables to ``reports``.

Example (after ``search run ... --out runs``):

    >>> from search.results import open_run, write_run_report
    >>> run = open_run("runs/kws-cortex-m7-100KB")  # doctest: +SKIP
    >>> write_run_report(run)  # doctest: +SKIP
    PosixPath('runs/kws-cortex-m7-100KB/report.html')
"""

from search.results._export import export_run, export_summary
from search.results._runs import RunLine, list_runs, runs_text
from search.results._report import OpenedRun, open_run, report_inputs, study_tables, write_run_report, write_study_report

__all__ = [
    "OpenedRun",
    "RunLine",
    "list_runs",
    "runs_text",
    "export_run",
    "export_summary",
    "open_run",
    "report_inputs",
    "study_tables",
    "write_run_report",
    "write_study_report",
]

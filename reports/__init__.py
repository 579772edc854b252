"""Pareto analysis of a finished search, tables, plots, the HTML report and model export.

Example:
    >>> import numpy as np
    >>> from reports import hypervolume
    >>> hypervolume(np.array([[1.0, 1.0]]), ["minimize", "minimize"], [2.0, 2.0])
    1.0
"""

from typing import TYPE_CHECKING

from spaces import lazy_exports

# Each name is imported from its module on first use, so that `search --help` does not
# wait for torch, plotly and Optuna; the imports below are what the names are.
if TYPE_CHECKING:
    from reports._export import MODEL_FORMAT, ExportedFiles, export_onnx, onnx_difference, read_model_yaml, write_export, write_model_yaml
    from reports._frames import COST_COLUMNS, DESIGN_COLUMNS, OBJECTIVE_COLUMNS, eligible_mask, pareto_frame, trial_row, trials_frame
    from reports._front import PICKS, ReferencePoint, hypervolume_history, objective_bounds, pick_index, reference_point
    from reports._findings import run_findings
    from reports._html import ReportAnalysis, ReportInputs, analyze, findings_of, render_report, write_report
    from reports._pareto import hypervolume, knee_index, pareto_mask
    from reports._plots import Limit, front_figure, hypervolume_figure, importance_figure, parallel_figure
    from reports._summary import RunFacts, format_duration, metric_display, metric_label, pareto_rows, precision_columns, run_facts
    from reports._table import format_table

_EXPORTS = {
    "MODEL_FORMAT": "reports._export",
    "ExportedFiles": "reports._export",
    "export_onnx": "reports._export",
    "onnx_difference": "reports._export",
    "read_model_yaml": "reports._export",
    "write_export": "reports._export",
    "write_model_yaml": "reports._export",
    "COST_COLUMNS": "reports._frames",
    "DESIGN_COLUMNS": "reports._frames",
    "OBJECTIVE_COLUMNS": "reports._frames",
    "eligible_mask": "reports._frames",
    "pareto_frame": "reports._frames",
    "trial_row": "reports._frames",
    "trials_frame": "reports._frames",
    "PICKS": "reports._front",
    "ReferencePoint": "reports._front",
    "hypervolume_history": "reports._front",
    "objective_bounds": "reports._front",
    "pick_index": "reports._front",
    "reference_point": "reports._front",
    "run_findings": "reports._findings",
    "ReportAnalysis": "reports._html",
    "ReportInputs": "reports._html",
    "analyze": "reports._html",
    "findings_of": "reports._html",
    "render_report": "reports._html",
    "write_report": "reports._html",
    "hypervolume": "reports._pareto",
    "knee_index": "reports._pareto",
    "pareto_mask": "reports._pareto",
    "Limit": "reports._plots",
    "front_figure": "reports._plots",
    "hypervolume_figure": "reports._plots",
    "importance_figure": "reports._plots",
    "parallel_figure": "reports._plots",
    "RunFacts": "reports._summary",
    "format_duration": "reports._summary",
    "metric_display": "reports._summary",
    "metric_label": "reports._summary",
    "pareto_rows": "reports._summary",
    "precision_columns": "reports._summary",
    "run_facts": "reports._summary",
    "format_table": "reports._table",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "COST_COLUMNS",
    "DESIGN_COLUMNS",
    "MODEL_FORMAT",
    "ExportedFiles",
    "export_onnx",
    "onnx_difference",
    "read_model_yaml",
    "write_export",
    "write_model_yaml",
    "OBJECTIVE_COLUMNS",
    "PICKS",
    "Limit",
    "ReferencePoint",
    "ReportAnalysis",
    "ReportInputs",
    "RunFacts",
    "analyze",
    "eligible_mask",
    "findings_of",
    "format_duration",
    "format_table",
    "front_figure",
    "hypervolume",
    "hypervolume_figure",
    "hypervolume_history",
    "importance_figure",
    "knee_index",
    "metric_display",
    "metric_label",
    "objective_bounds",
    "parallel_figure",
    "pareto_frame",
    "pareto_mask",
    "pareto_rows",
    "precision_columns",
    "pick_index",
    "reference_point",
    "render_report",
    "run_facts",
    "run_findings",
    "trial_row",
    "trials_frame",
    "write_report",
]

"""Pareto analysis of a finished search, tables, plots, the HTML report and model export.

Example:
    >>> import numpy as np
    >>> from reports import hypervolume
    >>> hypervolume(np.array([[1.0, 1.0]]), ["minimize", "minimize"], [2.0, 2.0])
    1.0
"""

from reports._export import MODEL_FORMAT, ExportedFiles, export_onnx, onnx_difference, read_model_yaml, write_export, write_model_yaml
from reports._frames import COST_COLUMNS, DESIGN_COLUMNS, OBJECTIVE_COLUMNS, eligible_mask, pareto_frame, trial_row, trials_frame
from reports._front import PICKS, ReferencePoint, hypervolume_history, objective_bounds, pick_index, reference_point
from reports._html import ReportAnalysis, ReportInputs, analyze, render_report, write_report
from reports._pareto import hypervolume, knee_index, pareto_mask
from reports._plots import Limit, front_figure, hypervolume_figure, importance_figure, parallel_figure
from reports._summary import RunFacts, format_duration, metric_label, pareto_rows, precision_columns, run_facts
from reports._table import format_table

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
    "format_duration",
    "format_table",
    "front_figure",
    "hypervolume",
    "hypervolume_figure",
    "hypervolume_history",
    "importance_figure",
    "knee_index",
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
    "trial_row",
    "trials_frame",
    "write_report",
]

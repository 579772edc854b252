"""Pareto analysis of a finished search, tables, plots and export.

Example:
    >>> import numpy as np
    >>> from reports import hypervolume
    >>> hypervolume(np.array([[1.0, 1.0]]), ["minimize", "minimize"], [2.0, 2.0])
    1.0
"""

from reports._frames import COST_COLUMNS, DESIGN_COLUMNS, OBJECTIVE_COLUMNS, pareto_frame, trial_row, trials_frame
from reports._pareto import hypervolume, knee_index, pareto_mask
from reports._table import format_table

__all__ = [
    "COST_COLUMNS",
    "DESIGN_COLUMNS",
    "OBJECTIVE_COLUMNS",
    "format_table",
    "hypervolume",
    "knee_index",
    "pareto_frame",
    "pareto_mask",
    "trial_row",
    "trials_frame",
]

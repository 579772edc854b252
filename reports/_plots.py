"""Plotly figures of a study: 2-D fronts, hypervolume history, importances, parallel coordinates.

Each function takes the trials table (``trials_frame`` with the metric column named
after the task metric) and returns a ``plotly.graph_objects.Figure``; the HTML report
places them on one page.

Example:
    >>> frame = pd.DataFrame({"number": [0, 1], "design": ["gru 1x16 (plain)", "gru 1x16 r2 linear/tanh"],
    ...     "accuracy": [0.4, 0.5], "memory_bytes": [2000, 1300], "feasible": True, "trained": True,
    ...     "state": "COMPLETE", "duplicate_of": None, "baseline": [True, False]})
    >>> figure = front_figure(frame, "accuracy", "memory_bytes", pareto_numbers={1})
    >>> [trace.name for trace in figure.data]
    ['plain GRU/LSTM (r = 1)', 'GhostRNN (r > 1)', 'GhostRNN front', 'plain GRU/LSTM front', 'Pareto-optimal']
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cost_models import format_size

from reports._frames import DESIGN_COLUMNS, eligible_mask
from reports._pareto import pareto_mask
from reports._summary import metric_display, metric_label

GHOST_COLOR = "#1f77b4"
BASELINE_COLOR = "#ff7f0e"
INFEASIBLE_COLOR = "#9a9a9a"
LIMIT_COLOR = "#d62728"
PARETO_COLOR = "#111111"
KNEE_COLOR = "#e6b800"
HEIGHT = 440
# Limits more than this factor beyond the largest design are named, not drawn.
LIMIT_SPAN = 5.0
MARGIN = dict(l=60, r=20, t=20, b=50)


@dataclass(frozen=True)
class Axis:
    """How a cost column is shown: its title and the factor from stored to shown units."""

    title: str
    scale: float


AXES = {
    "memory_bytes": Axis("memory = flash + RAM (KiB)", 1 / 1024),
    "flash_bytes": Axis("flash (KiB)", 1 / 1024),
    "ram_bytes": Axis("RAM (KiB)", 1 / 1024),
    "latency_ms": Axis("latency on the device (ms)", 1.0),
    "macs": Axis("MACs per inference (millions)", 1e-6),
    "params": Axis("parameters", 1.0),
}
SIZE_COLUMNS = ("memory_bytes", "flash_bytes", "ram_bytes")


def axis_for(column: str, units: str = "iec", latency_model: str = "analytic") -> Axis:
    """How ``column`` is shown: sizes in KB or KiB as the run's budget was typed."""
    axis = AXES.get(column, Axis(column, 1.0))
    if column in SIZE_COLUMNS and units == "si":
        return Axis(axis.title.replace("KiB", "KB"), 1 / 1000)
    if column == "latency_ms" and latency_model == "measured":
        return Axis("latency on the device, measured in the emulator (ms)", 1.0)
    return axis


@dataclass(frozen=True)
class Limit:
    """A vertical line on a front plot: a hard limit in the column's stored units."""

    value: float
    label: str


def hover_text(row: Mapping[str, Any], metric_name: str, units: str = "iec") -> str:
    """The full design and its costs, one fact per line, for a point's hover box."""
    lines = [f"<b>trial {int(row['number'])}: {html.escape(str(row.get('design', '')))}</b>"]
    design = ", ".join(f"{key} {row.get(key)}" for key in DESIGN_COLUMNS if key in row and row.get(key) is not None)
    lines.append(html.escape(design))
    if row.get("intrinsic_size") is not None and not pd.isna(row.get("intrinsic_size")):
        lines.append(f"intrinsic m {int(row['intrinsic_size'])}")
    metric = row.get(metric_name)
    if metric is not None and not pd.isna(metric) and row.get("trained"):
        lines.append(f"{metric_label(metric_name)}: {metric_display(metric_name, float(metric)):.2f}")
    costs = []
    for key, text in (("memory_bytes", "memory"), ("flash_bytes", "flash"), ("ram_bytes", "RAM")):
        if row.get(key) is not None and not pd.isna(row.get(key)):
            costs.append(f"{text} {format_size(int(row[key]), units)}")
    lines.append(", ".join(costs))
    extra = []
    if row.get("latency_ms") is not None and not pd.isna(row.get("latency_ms")):
        extra.append(f"latency {float(row['latency_ms']):.3f} ms")
    if row.get("macs") is not None and not pd.isna(row.get("macs")):
        extra.append(f"{int(row['macs']):,} MACs")
    if row.get("params") is not None and not pd.isna(row.get("params")):
        extra.append(f"{int(row['params']):,} params")
    lines.append(", ".join(extra))
    if row.get("feasible") is False or row.get("feasible") == False:  # noqa: E712 - numpy bools
        lines.append("infeasible: " + html.escape(str(row.get("violations", ""))))
    elif row.get("train_status") not in (None, "ok") and not pd.isna(row.get("train_status")):
        lines.append(f"training: {html.escape(str(row['train_status']))}")
    return "<br>".join(line for line in lines if line)


def _front_points(points: pd.DataFrame, metric: str, column: str, maximize: bool) -> pd.DataFrame:
    """The 2-D non-dominated points (metric vs one cost), sorted by the cost."""
    if points.empty:
        return points
    values = points[[metric, column]].to_numpy(dtype=float)
    mask = pareto_mask(values, ["maximize" if maximize else "minimize", "minimize"])
    return points[mask].sort_values([column, metric])


def _marker_trace(
    points: pd.DataFrame, metric: str, column: str, axis: Axis, name: str, marker: dict, y: Optional[Sequence[float]] = None, units: str = "iec", **options: Any
) -> go.Scatter:
    if y is None:
        y = [metric_display(metric, float(value)) for value in points[metric]]
    return go.Scatter(
        x=points[column].astype(float) * axis.scale,
        y=list(y),
        mode="markers",
        name=name,
        marker=marker,
        hovertext=[hover_text(row, metric, units) for _, row in points.iterrows()],
        hoverinfo="text",
        **options,
    )


def front_figure(
    frame: pd.DataFrame,
    metric: str,
    column: str,
    maximize: bool = True,
    pareto_numbers: Iterable[int] = (),
    knee_number: Optional[int] = None,
    limits: Sequence[Limit] = (),
    chance: Optional[float] = None,
    units: str = "iec",
    latency_model: str = "analytic",
) -> go.Figure:
    """The task metric against one cost, with the GhostRNN and plain-RNN fronts apart.

    Infeasible designs were never trained: they are drawn as grey crosses at the bottom
    of the plot, at their cost. ``pareto_numbers`` are the trials that are optimal over
    all of the run's objectives (ringed); ``limits`` become vertical dashed lines. Sizes
    are shown in ``units`` ("si": KB, "iec": KiB).
    """
    axis = axis_for(column, units, latency_model)
    trained = frame[eligible_mask(frame)].dropna(subset=[metric, column])
    infeasible = frame[(frame["state"] == "COMPLETE") & (frame["feasible"] == False)].dropna(subset=[column])  # noqa: E712
    is_baseline = trained["baseline"].fillna(False).astype(bool) if "baseline" in trained else pd.Series(False, index=trained.index)
    ghosts, baselines = trained[~is_baseline], trained[is_baseline]
    shown = [metric_display(metric, float(value)) for value in trained[metric]]
    floor = min([0.0] + shown) if metric == "accuracy" else (min(shown) - 1.0 if shown else -1.0)
    figure = go.Figure()
    figure.add_trace(_marker_trace(baselines, metric, column, axis, "plain GRU/LSTM (r = 1)", dict(color=BASELINE_COLOR, symbol="diamond", size=8, opacity=0.45), units=units))
    figure.add_trace(_marker_trace(ghosts, metric, column, axis, "GhostRNN (r > 1)", dict(color=GHOST_COLOR, size=7, opacity=0.45), units=units))
    for points, name, color, dash in ((ghosts, "GhostRNN front", GHOST_COLOR, "solid"), (baselines, "plain GRU/LSTM front", BASELINE_COLOR, "dash")):
        front = _front_points(points, metric, column, maximize)
        trace = _marker_trace(front, metric, column, axis, name, dict(color=color, size=9, symbol="diamond" if dash == "dash" else "circle"), units=units)
        trace.update(mode="lines+markers", line=dict(color=color, dash=dash, width=2, shape="hv"))
        figure.add_trace(trace)
    if len(infeasible):
        figure.add_trace(
            _marker_trace(infeasible, metric, column, axis, "infeasible (not trained)", dict(color=INFEASIBLE_COLOR, symbol="x", size=7), y=[floor] * len(infeasible), units=units)
        )
    pareto = trained[trained["number"].isin(set(pareto_numbers))]
    figure.add_trace(
        _marker_trace(pareto, metric, column, axis, "Pareto-optimal", dict(color="rgba(0,0,0,0)", size=15, line=dict(color=PARETO_COLOR, width=2)), units=units)
    )
    knee = trained[trained["number"] == knee_number] if knee_number is not None else trained.iloc[0:0]
    if len(knee):
        figure.add_trace(_marker_trace(knee, metric, column, axis, "knee", dict(color=KNEE_COLOR, symbol="star", size=16, line=dict(color=PARETO_COLOR, width=1)), units=units))
    observed = pd.concat([trained[column], infeasible[column]]).astype(float)
    largest = float(observed.max()) if len(observed) else 0.0
    for limit in limits:
        if largest and limit.value > LIMIT_SPAN * largest:
            # A limit far beyond every design would squeeze all points into a corner:
            # it is named in the legend instead of drawn.
            figure.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=LIMIT_COLOR, dash="dash", width=1.5), name=f"{limit.label} \u2192", hoverinfo="skip"))
            continue
        figure.add_vline(x=limit.value * axis.scale, line=dict(color=LIMIT_COLOR, dash="dash", width=1.5))
        figure.add_annotation(
            # Annotations on a log axis are placed in log10 units.
            x=float(np.log10(limit.value * axis.scale)), y=1.0, yref="paper", text=limit.label, showarrow=False, xanchor="right", yanchor="top", font=dict(color=LIMIT_COLOR, size=11), textangle=-90
        )
    if chance is not None and metric == "accuracy":
        figure.add_hline(y=100 * chance, line=dict(color=INFEASIBLE_COLOR, dash="dot", width=1))
        figure.add_annotation(x=1.0, xref="paper", y=100 * chance, text=f"chance {100 * chance:.1f} %", showarrow=False, xanchor="right", yanchor="top", font=dict(color="#666", size=10))
    figure.update_layout(
        xaxis=dict(title=axis.title, type="log"),
        yaxis=dict(title=metric_label(metric)),
        template="plotly_white",
        height=HEIGHT,
        margin=MARGIN,
        legend=dict(orientation="h", yanchor="top", y=-0.16, font=dict(size=11), entrywidth=0.5, entrywidthmode="fraction"),
        hoverlabel=dict(align="left"),
    )
    return figure


def hypervolume_figure(history: pd.DataFrame, reference_text: str = "") -> go.Figure:
    """Normalised hypervolume after each trial (steps up when the front improves)."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=history["number"],
            y=history["normalized"],
            mode="lines",
            line=dict(shape="hv", color=GHOST_COLOR, width=2),
            name="hypervolume",
            hovertemplate="after trial %{x}: %{y:.4f}<extra></extra>",
        )
    )
    improved = history[history["normalized"].diff().fillna(history["normalized"]) > 0]
    figure.add_trace(
        go.Scatter(x=improved["number"], y=improved["normalized"], mode="markers", marker=dict(color=GHOST_COLOR, size=7), name="front improved", hovertemplate="trial %{x} improved the front: %{y:.4f}<extra></extra>")
    )
    figure.update_layout(
        xaxis=dict(title="trial number"),
        yaxis=dict(title="hypervolume (share of the reference box)", rangemode="tozero"),
        template="plotly_white",
        height=HEIGHT,
        margin=MARGIN,
        showlegend=False,
    )
    if reference_text:
        figure.add_annotation(x=0, xref="paper", y=-0.22, yref="paper", text=html.escape(reference_text), showarrow=False, xanchor="left", font=dict(size=10, color="#555"))
    return figure


def importance_figure(importances: Mapping[str, Mapping[str, float]], note: str = "") -> go.Figure:
    """Horizontal bars: how much each searched parameter explains of each objective."""
    figure = go.Figure()
    parameters = sorted({name for values in importances.values() for name in values})
    palette = [GHOST_COLOR, BASELINE_COLOR, "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    for index, (objective, values) in enumerate(importances.items()):
        figure.add_trace(
            go.Bar(
                y=parameters,
                x=[values.get(name, 0.0) for name in parameters],
                orientation="h",
                name=objective,
                marker=dict(color=palette[index % len(palette)]),
                hovertemplate=f"{html.escape(objective)}: %{{y}} %{{x:.3f}}<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="group",
        xaxis=dict(title="importance (sums to 1 per objective)", range=[0, 1]),
        template="plotly_white",
        height=HEIGHT,
        margin=dict(MARGIN, l=100),
        legend=dict(orientation="h", yanchor="top", y=-0.15),
    )
    if not importances:
        figure.add_annotation(text=html.escape(note or "not enough trained designs to estimate importances"), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    return figure


# A searched number with at most this many values gets one tick per value (no "1.2 layers").
MAX_TICKED_VALUES = 12


def _dimension(values: pd.Series, label: str) -> dict[str, Any]:
    """A parcoords axis: text values become integer codes with their names as ticks; a
    searched number with few values gets a tick at each value it took, written as the
    number it is (``2`` layers, ratio ``1.5``), and no ticks in between."""
    if values.map(lambda value: isinstance(value, str)).any():
        names = sorted(values.astype(str).unique())
        codes = values.astype(str).map({name: code for code, name in enumerate(names)})
        return dict(label=label, values=codes.tolist(), tickvals=list(range(len(names))), ticktext=names, range=[-0.2, len(names) - 0.8] if len(names) > 1 else [-1, 1])
    numbers = values.astype(float)
    distinct = sorted(numbers.dropna().unique())
    dimension: dict[str, Any] = dict(label=label, values=numbers.tolist())
    if 0 < len(distinct) <= MAX_TICKED_VALUES:
        dimension.update(tickvals=distinct, ticktext=[f"{value:g}" for value in distinct])
        if len(distinct) == 1:
            dimension["range"] = [distinct[0] - 1, distinct[0] + 1]
    return dimension


def parallel_figure(frame: pd.DataFrame, metric: str, parameters: Sequence[str], units: str = "iec") -> go.Figure:
    """Parallel coordinates of the trained designs: searched parameters, costs, then the metric."""
    trained = frame[eligible_mask(frame)].dropna(subset=[metric])
    dimensions = [_dimension(trained[name], name) for name in parameters if name in trained]
    memory = axis_for("memory_bytes", units)
    for column, label, scale in (("memory_bytes", f"memory {'KB' if units == 'si' else 'KiB'}", memory.scale), ("latency_ms", "latency ms", 1.0), ("macs", "MMAC", 1e-6)):
        dimensions.append(dict(label=label, values=(trained[column].astype(float) * scale).tolist()))
    shown = [metric_display(metric, float(value)) for value in trained[metric]]
    dimensions.append(dict(label=metric_label(metric), values=shown))
    figure = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line=dict(color=shown, colorscale="Viridis", showscale=True, colorbar=dict(title=dict(text=metric_label(metric)))),
            labelangle=0,
        )
    )
    figure.update_layout(height=HEIGHT, margin=dict(l=60, r=60, t=60, b=30), template="plotly_white")
    return figure


def precision_figure(frame: pd.DataFrame, metric: str, pareto_numbers: Iterable[int] = ()) -> Optional[go.Figure]:
    """Each trained design's int8 (deployed) metric against its float32 one, the diagonal
    y = x beside; points below it lose at int8. Front designs are ringed and labelled
    with their drop. None when the trials hold no int8 scores (an older study)."""
    floats, ints = f"{metric}_float", f"{metric}_int8"
    if floats not in frame.columns or ints not in frame.columns:
        return None
    points = frame[eligible_mask(frame)].dropna(subset=[floats, ints])
    if points.empty:
        return None
    x = [metric_display(metric, float(value)) for value in points[floats]]
    y = [metric_display(metric, float(value)) for value in points[ints]]
    drops = [a - b for a, b in zip(x, y)]
    unit = "points" if metric == "accuracy" else "dB"
    hover = [f"{hover_text(row, metric)}<br>float {a:.2f}, int8 {b:.2f}: drop {d:+.2f} {unit}" for (_, row), a, b, d in zip(points.iterrows(), x, y, drops)]
    low, high = min(x + y), max(x + y)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", line=dict(color=INFEASIBLE_COLOR, dash="dot"), name="no change (int8 = float)", hoverinfo="skip"))
    figure.add_trace(go.Scatter(x=x, y=y, mode="markers", marker=dict(color=GHOST_COLOR, size=8, opacity=0.8), name="trained designs", hovertext=hover, hoverinfo="text"))
    on_front = points["number"].astype(int).isin(set(pareto_numbers)).to_numpy()
    if on_front.any():
        figure.add_trace(
            go.Scatter(
                x=[value for value, keep in zip(x, on_front) if keep],
                y=[value for value, keep in zip(y, on_front) if keep],
                mode="markers+text",
                marker=dict(color="rgba(0,0,0,0)", size=14, line=dict(color=PARETO_COLOR, width=2)),
                text=[f"{d:+.1f}" for d, keep in zip(drops, on_front) if keep],
                textposition="top center",
                name="Pareto-optimal (label: drop)",
                hoverinfo="skip",
            )
        )
    label = metric_label(metric)
    figure.update_layout(
        xaxis=dict(title=f"{label}, float32 as trained"),
        yaxis=dict(title=f"{label}, int8 as deployed"),
        template="plotly_white",
        height=HEIGHT,
        margin=MARGIN,
        legend=dict(orientation="h", y=-0.2),
    )
    return figure

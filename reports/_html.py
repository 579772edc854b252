"""The HTML report of a run: one self-contained file that works offline.

plotly.js is embedded once in the page (no CDN), every figure is a ``div.plot``, and
the table of Pareto-optimal designs sorts on a click on its header with a few lines of
plain JavaScript. The page needs nothing but a browser.

Example (``search report`` passes the trials table of a real study):
    >>> from reports import ReportInputs, render_report, trial_row
    >>> attrs = {"config": {"cell": "gru", "layers": 1, "hidden": 16, "ghost_ratio": 2.0}, "design": "gru 1x16 r2",
    ...          "feasible": True, "trained": True, "metric": 0.5, "cost": {"params": 892, "macs": 31160,
    ...          "flash_bytes": 1024, "ram_bytes": 228, "memory_bytes": 1252, "latency_ms": 0.92, "realtime_ms": 980.0}}
    >>> frame = pd.DataFrame([trial_row(0, "COMPLETE", attrs)]).rename(columns={"metric": "accuracy"})
    >>> page = render_report(ReportInputs(frame=frame, objectives={"accuracy": "maximize", "memory_bytes": "minimize"},
    ...                                   metric_name="accuracy", settings={"task": "kws"}, study_name="demo"))
    >>> page.count('<figure class="plot"'), 'data-trial="0"' in page
    (6, True)
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd
import plotly.graph_objects as go
import plotly.io
import plotly.offline

from cost_models import format_size

from reports._frames import DESIGN_COLUMNS, pareto_frame
from reports._findings import run_findings
from reports._front import hypervolume_history, objective_bounds, pick_index, reference_point
from reports._plots import Limit, front_figure, hypervolume_figure, importance_figure, parallel_figure, precision_figure
from reports._summary import RAW_COLUMNS, generated_now, metric_label, pareto_rows, run_facts

PLOT_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png", "scale": 2}}


@dataclass
class ReportInputs:
    """Everything a report shows, as plain data (no study object).

    ``frame``: the trials table (``trials_frame``) with the metric column renamed to
    ``metric_name``; ``objectives``: column -> "maximize"/"minimize" of the run;
    ``settings``: the run's stored settings as a dict (task, space, device, budgets,
    fidelity, command, ...); ``importances``: objective -> parameter -> importance.
    """

    frame: pd.DataFrame
    objectives: dict[str, str]
    metric_name: str
    settings: dict[str, Any]
    study_name: str
    importances: dict[str, dict[str, float]] = field(default_factory=dict)
    importance_note: str = ""
    importance_evaluator: str = "PED-ANOVA"
    pareto: Optional[pd.DataFrame] = None
    storage: str = ""
    run_dir: str = ""
    tool_version: str = ""
    generated_at: str = field(default_factory=generated_now)

    @property
    def units(self) -> str:
        """How sizes are shown: "si" (KB) or "iec" (KiB), as the run's budget was typed."""
        return str(self.settings.get("size_units") or "iec")

    @property
    def latency_model(self) -> str:
        return str(self.settings.get("latency_model") or "analytic")


@dataclass
class ReportAnalysis:
    """What the report computes from its inputs (also used by ``search show``)."""

    pareto: pd.DataFrame
    knee_number: Optional[int]
    history: pd.DataFrame
    reference_text: str
    limits: dict[str, list[Limit]]
    chance: Optional[float]


def latency_limit_ms(settings: dict[str, Any], frame: pd.DataFrame) -> Optional[float]:
    """The run's latency limit: its latency budget, or the real-time deadline of its designs."""
    if settings.get("latency_budget_ms") is not None:
        return float(settings["latency_budget_ms"])
    realtime = pd.to_numeric(frame.get("realtime_ms", pd.Series(dtype=float)), errors="coerce").dropna()
    return float(realtime.iloc[0]) if len(realtime) else None


def analyze(inputs: ReportInputs) -> ReportAnalysis:
    """Front, knee, hypervolume history and limit lines of a run."""
    frame, settings = inputs.frame, inputs.settings
    pareto = inputs.pareto if inputs.pareto is not None else pareto_frame(frame, inputs.objectives)
    knee = int(pareto.loc[pick_index(pareto, inputs.objectives, "knee"), "number"]) if len(pareto) else None
    device = settings.get("device", {})
    classes = settings.get("space", {}).get("classes", 12) if inputs.metric_name == "accuracy" else None
    latency = latency_limit_ms(settings, frame)
    ram = settings.get("ram_budget_bytes") or device.get("sram")
    bounds, ideals, sources = objective_bounds(
        inputs.metric_name, classes=classes, memory_budget=settings.get("budget_bytes"), latency_limit_ms=latency, ram_limit=ram, flash_limit=device.get("flash")
    )
    reference = reference_point(frame, inputs.objectives, bounds, ideals, sources)
    history = hypervolume_history(frame, inputs.objectives, reference)
    parts = [f"{column} {_short(reference.values[column])} ({reference.sources[column]})" for column in inputs.objectives]
    reference_text = "reference point: " + "; ".join(parts)
    limits: dict[str, list[Limit]] = {"memory_bytes": [], "latency_ms": [], "macs": []}
    units = inputs.units
    if settings.get("budget_bytes"):
        limits["memory_bytes"].append(Limit(settings["budget_bytes"], f"budget {format_size(settings['budget_bytes'], units)}"))
    if device.get("sram"):
        # Memory is flash + RAM, so no design can exceed what the device holds in total.
        total = device["sram"] + device.get("flash", 0)
        limits["memory_bytes"].append(Limit(total, f"device total {format_size(total, units)}"))
    if latency is not None:
        kind = "latency budget" if settings.get("latency_budget_ms") is not None else "real time"
        limits["latency_ms"].append(Limit(latency, f"{kind} {latency:g} ms"))
    return ReportAnalysis(pareto=pareto, knee_number=knee, history=history, reference_text=reference_text, limits=limits, chance=1.0 / classes if classes else None)


def _short(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def _plot_div(figure: go.Figure, name: str, caption: str) -> str:
    """A card with the figure's JSON; :data:`DRAW_SCRIPT` draws it once the page is parsed."""
    spec = json.loads(plotly.io.to_json(figure, validate=False)) | {"config": PLOT_CONFIG}
    spec_json = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
    height = figure.layout.height or 450
    return (
        f'<figure class="plot" data-plot="{name}"><figcaption>{html.escape(caption)}</figcaption>'
        f'<div id="plot-{name}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>'
        f'<script type="application/json" class="plot-spec">{spec_json}</script></figure>'
    )


def _searched_parameters(settings: dict[str, Any]) -> list[str]:
    space = settings.get("space", {})
    searched = [key for key in DESIGN_COLUMNS if isinstance(space.get(key), list) and len(space[key]) > 1]
    return searched or [key for key in ("layers", "hidden", "ghost_ratio", "cheap_op") if key in space]


def _header(inputs: ReportInputs, analysis: ReportAnalysis) -> str:
    settings = inputs.settings
    device = settings.get("device", {})
    facts = run_facts(inputs.frame, len(analysis.pareto))
    space = settings.get("space", {})
    budget = settings.get("budget_bytes")
    fidelity = settings.get("fidelity", {})
    device_text = (
        f"{device.get('name', '?')}: {device.get('description', '')} ({device.get('clock_mhz', 0):g} MHz, "
        f"SRAM {format_size(device.get('sram', 0), inputs.units)}, flash {format_size(device.get('flash', 0), inputs.units)}, weights {device.get('weight_dtype', '?')})"
    )
    budgets = [f"memory {format_size(budget, inputs.units)}" if budget else "no memory budget"]
    if settings.get("ram_budget_bytes"):
        budgets.append(f"RAM {format_size(settings['ram_budget_bytes'], inputs.units)}")
    latency = latency_limit_ms(settings, inputs.frame)
    if latency is not None:
        budgets.append(f"latency {latency:g} ms" + (" (real time)" if settings.get("latency_budget_ms") is None else ""))
    items = [
        ("command", f"<code>{html.escape(settings.get('command', '') or '?')}</code>"),
        ("device", html.escape(device_text)),
        ("budget", html.escape(", ".join(budgets))),
        ("latency model", html.escape("measured: each design's int8 C code run in the Cortex-M emulator" if inputs.latency_model == "measured" else "analytic (cycle costs of the device profile)")),
        ("space", html.escape(f"{space.get('name', '?')}: {space.get('description', '')}")),
        ("task / metric", html.escape(f"{settings.get('task', '?')} / {metric_label(inputs.metric_name)}")),
        ("objectives", html.escape(", ".join(f"{direction} {column}" for column, direction in inputs.objectives.items()))),
        ("trials", html.escape(facts.counts_text())),
        ("time spent", html.escape(facts.time_text())),
        ("proxy training", html.escape(", ".join(f"{key} {_fidelity_value(key, value)}" for key, value in fidelity.items()) + f"; sampler {settings.get('sampler', '?')}, seed {settings.get('seed', '?')}")),
        ("study", html.escape(f"{inputs.study_name}" + (f" in {inputs.storage}" if inputs.storage else ""))),
        ("generated", html.escape(f"{inputs.generated_at}" + (f" by ghostrnn-search {inputs.tool_version}" if inputs.tool_version else ""))),
    ]
    rows = "\n".join(f"<tr><th>{key}</th><td>{value}</td></tr>" for key, value in items)
    return f'<header><h1>GhostRNN search: {html.escape(inputs.study_name)}</h1>\n<table class="facts">{rows}</table></header>'


def findings_of(inputs: ReportInputs, analysis: ReportAnalysis) -> list[str]:
    """The "what this run found" sentences of a report (also printed by ``search show``)."""
    return run_findings(inputs.frame, analysis.pareto, inputs.metric_name, analysis.knee_number, inputs.units, inputs.latency_model)


def _findings(inputs: ReportInputs, analysis: ReportAnalysis) -> str:
    sentences = " ".join(html.escape(sentence) for sentence in findings_of(inputs, analysis))
    return f'<section id="findings"><h2>What this run found</h2>\n<p class="findings">{sentences}</p></section>'


def _pareto_table(inputs: ReportInputs, analysis: ReportAnalysis) -> str:
    rows = pareto_rows(analysis.pareto, inputs.metric_name, analysis.knee_number, inputs.units)
    if not rows:
        return '<p class="empty">No feasible design has been trained yet.</p><table id="pareto-table"><tbody></tbody></table>'
    columns = list(rows[0])
    numeric = {column for column in columns if all(isinstance(row[column], (int, float)) for row in rows)} | set(RAW_COLUMNS)
    head = "".join(
        f'<th data-type="{"number" if column in numeric else "text"}" tabindex="0" title="sort by {html.escape(column)}">{html.escape(column)}</th>' for column in columns
    )
    body = []
    for row, (_, raw) in zip(rows, analysis.pareto.iterrows()):
        cells = []
        for column in columns:
            value = raw[RAW_COLUMNS[column]] if column in RAW_COLUMNS else row[column]
            shown = f"{row[column]:,}" if isinstance(row[column], int) and column != "trial" else row[column]
            cells.append(f'<td data-value="{html.escape(str(value))}">{html.escape(str(shown))}</td>')
        knee = ' class="knee"' if row["knee"] else ""
        body.append(f'<tr data-trial="{row["trial"]}"{knee}>{"".join(cells)}</tr>')
    return f'<table id="pareto-table" class="sortable"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 20px 40px; color: #222; }
h1 { font-size: 1.5em; margin: 18px 0 8px; }
h2 { font-size: 1.15em; margin: 28px 0 4px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.note { color: #555; font-size: 0.9em; margin: 4px 0 8px; }
p.findings { max-width: 70em; line-height: 1.45; margin: 6px 0 4px; }
table.facts { border-collapse: collapse; font-size: 0.9em; }
table.facts th { text-align: left; padding: 2px 14px 2px 0; color: #555; font-weight: 600; vertical-align: top; white-space: nowrap; }
table.facts td { padding: 2px 0; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 12px; }
.plot { border: 1px solid #eee; border-radius: 4px; min-height: 440px; margin: 0; padding: 6px 4px 0; min-width: 0; overflow: hidden; }
.plot figcaption { font-weight: 600; font-size: 0.95em; padding: 2px 8px; }
table.sortable { border-collapse: collapse; font-size: 0.9em; margin-top: 8px; }
table.sortable th, table.sortable td { padding: 4px 10px; border-bottom: 1px solid #e5e5e5; }
table.sortable th[data-type="number"] { text-align: right; }
table.sortable th[data-type="text"] { text-align: left; }
table.sortable th { cursor: pointer; background: #f6f6f6; user-select: none; white-space: nowrap; position: sticky; top: 0; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
table.sortable td[data-value] { text-align: right; }
table.sortable td:nth-child(2), table.sortable td:nth-last-child(2), table.sortable td:last-child { text-align: left; }
table.sortable tr.knee { background: #fff7d6; }
table.sortable tbody tr:hover { background: #eef5ff; }
"""

# Sorts the Pareto table on a header click (numbers by data-value, text otherwise).
SORT_SCRIPT = """
(function () {
  var table = document.getElementById("pareto-table");
  if (!table || !table.tHead) { return; }
  var headers = table.tHead.rows[0].cells;
  function sortBy(index) {
    var header = headers[index];
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var numeric = header.getAttribute("data-type") === "number";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-value"), y = b.cells[index].getAttribute("data-value");
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(headers, function (header, index) {
    header.addEventListener("click", function () { sortBy(index); });
    header.addEventListener("keydown", function (event) { if (event.key === "Enter") { sortBy(index); } });
  });
})();
"""


# The plots are drawn by one script at the end of the page, once every card exists: a
# plot drawn while the page is still being parsed measures its card before the rest of
# its grid does (an auto-fit grid with one item gives it the full page width) and stays
# cropped by its card until the window is resized. Each plot is fitted to its card
# again whenever the card changes size (window resize, zoom, fewer grid columns).
DRAW_SCRIPT = """
(function () {
  var cards = Array.prototype.slice.call(document.querySelectorAll("figure.plot"));
  cards.forEach(function (card) {
    var spec = JSON.parse(card.querySelector("script.plot-spec").textContent);
    var graph = card.querySelector(".plotly-graph-div");
    spec.layout.autosize = true;
    Plotly.newPlot(graph, spec.data, spec.layout, spec.config);
  });
  if (window.ResizeObserver) {
    var observer = new ResizeObserver(function (entries) {
      entries.forEach(function (entry) {
        var graph = entry.target.querySelector(".js-plotly-plot");
        if (graph) { Plotly.Plots.resize(graph); }
      });
    });
    cards.forEach(function (card) { observer.observe(card); });
  }
})();
"""


def _plotly_script() -> str:
    # A literal "</script>" inside the library would end the script element early.
    return plotly.offline.get_plotlyjs().replace("</script", "<\\/script")


def render_report(inputs: ReportInputs) -> str:
    """The report as one HTML string (about 5 MB, most of it plotly.js)."""
    analysis = analyze(inputs)
    frame, metric = inputs.frame, inputs.metric_name
    maximize = inputs.objectives.get(metric, "maximize") == "maximize"
    pareto_numbers = set(analysis.pareto["number"].astype(int)) if len(analysis.pareto) else set()
    label = metric_label(metric).split(" ")[0]
    # Studies costed since the feature front end counts say so on the plots it moves.
    front_end = ", feature front end included" if frame.get("front_end_flash_bytes", pd.Series(dtype=float)).notna().any() else ""
    fronts = [
        _plot_div(
            front_figure(
                frame, metric, column, maximize, pareto_numbers, analysis.knee_number, analysis.limits.get(column, []), analysis.chance, inputs.units, inputs.latency_model
            ),
            f"front-{name}",
            f"{label} vs {caption}",
        )
        for column, name, caption in (("memory_bytes", "memory", f"memory (flash + RAM{front_end})"), ("latency_ms", "latency", f"latency on the device{front_end}"), ("macs", "macs", "MACs per inference"))
    ]
    history = _plot_div(hypervolume_figure(analysis.history, analysis.reference_text), "hypervolume", "Hypervolume over trials")
    importances = _plot_div(importance_figure(inputs.importances, inputs.importance_note), "importances", f"Parameter importances ({inputs.importance_evaluator})")
    parallel = _plot_div(
        parallel_figure(frame, metric, _searched_parameters(inputs.settings), inputs.units), "parallel", "Parallel coordinates of the trained designs (drag along an axis to filter)"
    )
    precision_plot = precision_figure(frame, metric, pareto_numbers)
    precision_section = (
        "<h2>Deployed (int8) vs float32</h2>\n"
        + _plot_div(precision_plot, "precision", f"{label}: int8 as deployed against float32 as trained, per trained design")
        if precision_plot is not None
        else ""
    )
    run_dir = inputs.run_dir or "RUN_DIR"
    export_hint = (
        f"Export a design to a training repository: <code>search export {html.escape(run_dir)} --trial N --to DIR</code> "
        f"(or <code>--pick knee</code>; the knee is highlighted)."
    )
    data = {"study": inputs.study_name, "metric": metric, "objectives": inputs.objectives, "pareto_trials": sorted(pareto_numbers), "knee": analysis.knee_number}
    data_json = json.dumps(data).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GhostRNN search report: {html.escape(inputs.study_name)}</title>
<style>{STYLE}</style>
<script>{_plotly_script()}</script>
</head>
<body>
{_header(inputs, analysis)}
{_findings(inputs, analysis)}
<h2>Pareto fronts</h2>
<p class="note">Each point is a design. Blue: GhostRNN (ghost ratio r &gt; 1), orange diamonds: the plain GRU/LSTM baseline (r = 1);
lines: the best {html.escape(metric_label(metric))} reached at each cost by each family. Ringed: Pareto-optimal over all objectives of the run;
star: the knee. Grey crosses: designs over a limit, costed but never trained. Red dashed lines: budget and device limits
(a limit far beyond every design is only named in the legend, with an arrow).
Hover over a point for its full design and costs.</p>
<div class="grid">
{fronts[0]}
{fronts[1]}
{fronts[2]}
</div>
{precision_section}
<h2>Search progress and what matters</h2>
<p class="note">Importances are computed over the trained designs that fit every limit (infeasible designs were never trained;
a repeated design counts once): a parameter's bar is how much its value decides whether a design is among the best quarter
of them for that objective. They describe this run's sample, not the whole space; with few trials they are rough.</p>
<div class="grid">
{history}
{importances}
</div>
<h2>Parallel coordinates</h2>
{parallel}
<h2>Pareto-optimal designs</h2>
<p class="note">Click a column header to sort. {export_hint}</p>
{_pareto_table(inputs, analysis)}
<script type="application/json" id="report-data">{data_json}</script>
<script>{SORT_SCRIPT}</script>
<script>{DRAW_SCRIPT}</script>
</body>
</html>
"""


def write_report(inputs: ReportInputs, path: Union[str, Path]) -> Path:
    """Write :func:`render_report` to ``path`` (parent folders created) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(inputs), encoding="utf-8")
    return path


def _fidelity_value(key: str, value: Any) -> str:
    """A fidelity setting as the report shows it; None is "no limit" for the time limit."""
    if value is None:
        return "none (no limit)" if key == "max_seconds" else "task default"
    return str(value)

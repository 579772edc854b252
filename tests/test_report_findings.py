"""What the report says in words and numbers: the findings paragraph, importances over
the designs that count, parallel-coordinate ticks, sizes in the unit the budget was typed in."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from cost_models import canonical_size, format_size, parse_size, size_units
from reports import ReportInputs, parallel_figure, render_report, run_findings, trial_row
from search._settings import RunSettings
from search.results._report import param_importances

CELL = optuna.distributions.CategoricalDistribution(["gru", "lstm"])
HIDDEN = optuna.distributions.CategoricalDistribution([16, 32, 64, 128])
RATIO = optuna.distributions.CategoricalDistribution([1.0, 2.0])


def _attrs(cell: str, hidden: int, ratio: float, metric: float, feasible: bool = True) -> dict:
    memory = hidden * hidden * (4 if cell == "lstm" else 3) // int(ratio)
    return {
        "config": {"task": "kws", "cell": cell, "layers": 1, "hidden": hidden, "ghost_ratio": ratio, "cheap_op": "linear"},
        "design": f"{cell} 1x{hidden}" + (" (plain)" if ratio == 1 else f" r{ratio:g} linear/tanh"),
        "feasible": feasible, "trained": feasible, "metric": metric if feasible else None, "baseline": ratio == 1,
        "violations": [] if feasible else [f"memory {memory} B > budget 20000 B"],
        "cost": {"params": memory, "macs": 49 * memory, "flash_bytes": memory, "ram_bytes": 200, "memory_bytes": memory + 200, "latency_ms": memory / 1e4, "realtime_ms": 980.0},
    }


def test_importances_see_a_cell_type_that_is_bad_everywhere() -> None:
    """LSTMs at ~40 % against GRUs at ~74 %: the cell must rank first for accuracy; the
    infeasible 1x128 designs (never trained) must not decide the memory importances."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    index = 0
    for cell in ("gru", "gru", "gru", "lstm"):
        for hidden in (16, 32, 64, 128):
            for ratio in (1.0, 2.0):
                index += 1
                accuracy = (0.74 if cell == "gru" else 0.40) + 0.002 * (index % 5)
                attrs = _attrs(cell, hidden, ratio, accuracy, feasible=hidden < 128)
                study.add_trial(optuna.trial.create_trial(
                    params={"cell": cell, "hidden": hidden, "ghost_ratio": ratio}, distributions={"cell": CELL, "hidden": HIDDEN, "ghost_ratio": RATIO},
                    values=[accuracy if attrs["feasible"] else 0.0, attrs["cost"]["memory_bytes"], attrs["cost"]["latency_ms"]], user_attrs=attrs,
                ))
    settings = RunSettings(task="kws", space={"name": "test"}, space_fingerprint="x", device={"name": "cortex-m7"})
    importances, note = param_importances(study, settings)
    assert note == ""
    accuracy = importances["accuracy"]
    assert max(accuracy, key=accuracy.get) == "cell", accuracy
    memory = importances["memory"]
    assert max(memory, key=memory.get) == "hidden", memory


def _frame(rows: list[tuple[int, str, int, float, float, bool]]) -> pd.DataFrame:
    records = []
    for number, cell, hidden, ratio, metric, feasible in rows:
        records.append(trial_row(number, "COMPLETE", _attrs(cell, hidden, ratio, metric, feasible)))
    return pd.DataFrame(records).rename(columns={"metric": "accuracy"})


FRAME_ROWS = [
    (0, "gru", 64, 1.0, 0.74, True),   # plain, 12.5 KB
    (1, "gru", 32, 1.0, 0.66, True),   # plain, 3.3 KB
    (2, "gru", 64, 2.0, 0.70, True),   # ghost, 6.3 KB: 4 points below the plain 64 ... above the plain 32
    (3, "gru", 32, 2.0, 0.60, True),   # ghost, 1.7 KB: below the smallest plain design
    (4, "gru", 128, 1.0, 0.0, False),  # over budget
    (5, "lstm", 128, 2.0, 0.0, False),  # over budget
]


def test_findings_compare_ghost_and_plain_at_equal_memory() -> None:
    frame = _frame(FRAME_ROWS)
    objectives = {"accuracy": "maximize", "memory_bytes": "minimize"}
    from reports import pareto_frame

    front = pareto_frame(frame, objectives)
    lines = run_findings(frame, front, "accuracy", knee_number=2, units="si")
    comparison, knee, noise, infeasible = lines
    # Levels 3.3 KB (ghost 60 vs plain 66), 6.3 KB (70 vs 66), 12.5 KB (70 vs 74).
    assert comparison.startswith("At equal memory the plain GRU/LSTM front is above the GhostRNN front at 2 of 3 memory levels")
    assert "by up to 6.0 accuracy points" in comparison and "the GhostRNN front is above at 1 (by up to 4.0 accuracy points)" in comparison
    assert comparison.endswith(f"Below {format_size(32 * 32 * 3 + 200, 'si')} only GhostRNN designs fit.")
    assert "trial 2, gru 1x64 r2 linear/tanh: 70.0 % accuracy at 6.3 KB" in knee
    assert "seed" in noise and "1 point" in noise
    assert infeasible == "2 of 6 designs (33 %) broke a limit and were never trained (2 over the memory budget)."


def test_report_opens_with_the_findings_in_the_budget_unit() -> None:
    frame = _frame(FRAME_ROWS)
    settings = {"task": "kws", "budget_bytes": 20_000, "size_units": "si", "device": {"name": "cortex-m7", "sram": 327_680, "flash": 1_048_576}}
    page = render_report(ReportInputs(frame=frame, objectives={"accuracy": "maximize", "memory_bytes": "minimize"}, metric_name="accuracy", settings=settings, study_name="t"))
    findings = page[page.index('<section id="findings">') : page.index("</section>")]
    assert "At equal memory the plain GRU/LSTM front is above" in findings and "KiB" not in findings
    assert page.index('<section id="findings">') < page.index('data-plot="front-memory"')
    assert "memory 20 KB" in page and "budget 20 KB" in page and "memory = flash + RAM (KB)" in page
    assert "19.5 KiB" not in page


def test_parallel_coordinates_tick_searched_numbers_at_their_values() -> None:
    frame = _frame(FRAME_ROWS)
    figure = parallel_figure(frame, "accuracy", ["cell", "layers", "hidden", "ghost_ratio"])
    dimensions = {dimension.label: dimension for dimension in figure.data[0].dimensions}
    assert list(dimensions["layers"].ticktext) == ["1"] and list(dimensions["layers"].tickvals) == [1.0]
    assert list(dimensions["hidden"].ticktext) == ["32", "64"]
    assert list(dimensions["ghost_ratio"].ticktext) == ["1", "2"]


@pytest.mark.parametrize(
    "typed, canonical, units, shown",
    [("100KB", "100KB", "si", "100 KB"), ("100kb", "100KB", "si", "100 KB"), ("100 KB", "100KB", "si", "100 KB"), ("0.1MB", "100KB", "si", "100 KB"),
     ("100KiB", "100KiB", "iec", "100.0 KiB"), ("100 kib", "100KiB", "iec", "100.0 KiB"), ("64000", "64KB", "si", "64 KB"), ("1.5MB", "1.5MB", "si", "1.5 MB")],
)
def test_sizes_read_back_as_typed(typed: str, canonical: str, units: str, shown: str) -> None:
    assert canonical_size(typed) == canonical
    assert size_units(typed) == units
    assert format_size(parse_size(typed), size_units(typed)) == shown


def test_an_inexact_si_size_keeps_its_decimal() -> None:
    assert format_size(1024**2, "si") == "1.0 MB" and format_size(97_656, "si") == "97.7 KB" and format_size(20_000, "si") == "20 KB"

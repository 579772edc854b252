"""After a run: the HTML report (in a real headless Chromium), `search show`, `search export`, `search train`.

One small real study (synthetic corpus, 20 clips per class, one epoch) is built once
for the module; every test reads it, none changes it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml

import search
from search.cli import main
from spaces import ArchConfig, build_model, load_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PLOTS = ["front-memory", "front-latency", "front-macs", "precision", "hypervolume", "importances", "parallel"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture()
def cached(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The module's corpus cache for commands that load the run's data (export, train)."""
    monkeypatch.setenv("GHOSTRNN_CACHE", str(cache_dir))
    return cache_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GHOSTRNN_CACHE", str(cache_dir))
        # 34 KB (the ~23 KB front end and code included) leaves the 1x64 GRUs of ratio 1
        # and 2 and every 1x128 design over budget, so the random sampler meets infeasible
        # designs as well as feasible ones; with seed 1 enough feasible designs give the
        # importance plot something to rank.
        result = search.run(
            device="cortex-m7", budget="34KB", space="kws-small", trials=8, sampler="random", utterances_per_class=20, seed=1,
            fidelity=search.Fidelity(epochs=1), out=out, progress=False, command="search run --device cortex-m7 --budget 34KB (test)",
        )
    assert result.run_dir is not None
    return result.run_dir


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def script_sources(text: str) -> list[str]:
    """The ``src`` of every <script> element (an HTML parser skips the scripts' own text)."""
    sources: list[str] = []

    class Scripts(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "script":
                sources.extend(value for name, value in attrs if name == "src")

    Scripts().feed(text)
    return sources


def trials_of(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{run_dir / 'study.db'}"
    return optuna.load_study(study_name=run_dir.name, storage=storage).get_trials(deepcopy=False)


def test_run_writes_a_self_contained_report(run_dir: Path) -> None:
    report = run_dir / "report.html"
    text = report.read_text(encoding="utf-8")
    assert report.stat().st_size > 3_000_000, "plotly.js must be embedded, not fetched"
    assert script_sources(text) == [], "every script must be inline"
    for name in PLOTS:
        assert f'data-plot="{name}"' in text
    assert 'id="pareto-table"' in text and "search run --device cortex-m7 --budget 34KB (test)" in text


def test_report_command_writes_where_asked(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["report", str(run_dir), "--out", str(tmp_path / "r.html")], capsys)
    assert code == 0 and (tmp_path / "r.html").is_file() and "r.html" in out
    code, out, _ = cli(["report", "--storage", f"sqlite:///{run_dir / 'study.db'}", "--out", str(tmp_path / "s.html")], capsys)
    assert code == 0 and (tmp_path / "s.html").is_file()


def test_show_prints_the_pareto_designs(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pareto = pd.read_csv(run_dir / "pareto.csv")
    code, out, _ = cli(["show", str(run_dir)], capsys)
    assert code == 0
    table = out.split("\n\n")[1].splitlines()
    assert table[0].split()[:3] == ["trial", "design", "accuracy"]
    assert [int(line.split()[0]) for line in table[1:]] == pareto["number"].tolist()
    assert "8 trials" in out and "infeasible" in out and "knee" in out


@pytest.fixture(scope="module")
def exported(run_dir: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    target = tmp_path_factory.mktemp("exported")
    pareto = pd.read_csv(run_dir / "pareto.csv")
    number = int(pareto["number"].iloc[0])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GHOSTRNN_CACHE", str(cache_dir))
        assert main(["export", str(run_dir), "--trial", str(number), "--to", str(target), "--no-progress"]) == 0
    return target, number


def test_export_rebuilds_the_trials_model(run_dir: Path, exported: tuple[Path, int]) -> None:
    target, number = exported
    trial = next(t for t in trials_of(run_dir) if t.number == number)
    original = build_model(ArchConfig.from_dict(trial.user_attrs["config"]))
    original.load_state_dict(torch.load(run_dir / "weights" / f"{trial.user_attrs['design_key']}.pt"))
    rebuilt = build_model(load_config(str(target / "model.yaml")))
    rebuilt.load_state_dict(torch.load(target / "weights.pt"))
    inputs = torch.randn(4, 49, 10)
    with torch.no_grad():
        assert torch.equal(original.eval()(inputs), rebuilt.eval()(inputs))
    document = yaml.safe_load((target / "model.yaml").read_text())
    assert document["provenance"]["trial"] == number and document["provenance"]["study"] == run_dir.name
    assert document["training"]["proxy_result"]["validation_metric"] == trial.user_attrs["metric"]
    assert len(document["features"]["normalization"]["mean"]) == 10


def test_export_all_includes_the_checked_c_library(exported: tuple[Path, int]) -> None:
    target, _ = exported
    document = yaml.safe_load((target / "model.yaml").read_text())
    assert document["files"]["c_library"] == "c/"
    for name in ("ghostrnn_model.h", "ghostrnn_model.c", "ghostrnn_weights.c", "ghostrnn_features.c", "example_main.c", "Makefile"):
        assert (target / "c" / name).is_file()
    assert not list((target / "c").glob("check_driver*"))


def test_export_format_c_writes_only_the_library(run_dir: Path, cached: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    number = int(pd.read_csv(run_dir / "pareto.csv")["number"].iloc[0])
    code, out, _ = cli(["export", str(run_dir), "--trial", str(number), "--format", "c", "--to", str(tmp_path), "--no-progress"], capsys)
    assert code == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["ghostrnn_model.h", "ghostrnn_model.c", "ghostrnn_weights.c", "ghostrnn_features.c", "example_main.c", "Makefile"])
    assert "bit-identical to the int8 simulation" in out and "int8 validation accuracy" in out


def test_onnx_runtime_matches_torch(exported: tuple[Path, int]) -> None:
    import onnxruntime

    target, _ = exported
    model = build_model(load_config(str(target / "model.yaml"))).eval()
    model.load_state_dict(torch.load(target / "weights.pt"))
    session = onnxruntime.InferenceSession(str(target / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = torch.randn(3, 49, 10)  # a batch size the export never saw
    (output,) = session.run(None, {"features": inputs.numpy()})
    with torch.no_grad():
        expected = model(inputs).numpy()
    assert np.abs(output - expected).max() <= 1e-5
    # The frames axis is free too: shorter and longer clips than the search's 49 frames.
    for frames in (12, 49, 101):
        inputs = torch.randn(2, frames, 10)
        (output,) = session.run(None, {"features": inputs.numpy()})
        with torch.no_grad():
            assert np.abs(output - model(inputs).numpy()).max() <= 1e-5, frames
    document = yaml.safe_load((target / "model.yaml").read_text())
    assert document["onnx"]["input_shape"] == ["batch", "frames", 10]


def test_train_says_it_starts_from_scratch_and_shows_each_epoch(run_dir: Path, cached: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """And a re-export into the folder leaves no file of the previous design behind."""
    pareto = pd.read_csv(run_dir / "pareto.csv")
    trials = trials_of(run_dir)
    first = int(pareto["number"].iloc[0])
    other = next(t.number for t in trials if t.user_attrs.get("trained") and t.user_attrs.get("duplicate_of") is None and t.number != first)
    code, _, _ = cli(["export", str(run_dir), "--trial", str(first), "--to", str(tmp_path), "--no-progress"], capsys)
    assert code == 0 and (tmp_path / "model.onnx").is_file()
    code, out, _ = cli(["train", str(tmp_path / "model.yaml"), "--epochs", "2"], capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("training ") and "from scratch" in lines[0] and "for 2 epochs" in lines[0]
    assert [line.split(":")[0] for line in lines[1:3]] == ["epoch 1/2", "epoch 2/2"]
    assert (tmp_path / "weights-trained.pt").is_file()
    code, _, _ = cli(["export", str(run_dir), "--trial", str(other), "--to", str(tmp_path), "--no-onnx", "--no-progress"], capsys)
    assert code == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["c", "model.yaml", "weights.pt"]  # the C library of the new design
    assert yaml.safe_load((tmp_path / "model.yaml").read_text())["provenance"]["trial"] == other


def test_exported_costs_equal_search_cost(exported: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    target, _ = exported
    document = yaml.safe_load((target / "model.yaml").read_text())
    command = document["cost"]["command"].split()
    assert command[:3] == ["search", "cost", "--config"]
    command[3] = str(target / "model.yaml")
    code, out, _ = cli(command[1:], capsys)
    assert code == 0
    computed = json.loads(out)
    computed.pop("config")
    assert {key: document["cost"][key] for key in computed} == computed


def test_train_exported_design_reports_test_metric(exported: tuple[Path, int], cached: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target, _ = exported
    code, out, _ = cli(["train", str(target / "model.yaml"), "--epochs", "1", "--save", str(target / "full.pt"), "--no-progress"], capsys)
    assert code == 0, out
    assert "test accuracy" in out and (target / "full.pt").is_file()


def test_export_best_follows_pick(run_dir: Path, cached: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pareto = pd.read_csv(run_dir / "pareto.csv")
    code, out, _ = cli(["export", str(run_dir), "--trial", "best", "--pick", "memory", "--to", str(tmp_path), "--no-onnx", "--no-progress"], capsys)
    assert code == 0
    smallest = int(pareto.sort_values(["memory_bytes", "accuracy"], ascending=[True, False])["number"].iloc[0])
    assert yaml.safe_load((tmp_path / "model.yaml").read_text())["provenance"]["trial"] == smallest
    assert not (tmp_path / "model.onnx").exists()


def test_errors_are_one_line(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trials = trials_of(run_dir)
    infeasible = next(t.number for t in trials if not t.user_attrs["feasible"])
    cases = [
        (["show", str(tmp_path)], "holds no study"),
        (["report", str(tmp_path / "missing")], "does not exist"),
        (["export", str(run_dir), "--trial", "999"], "trial 999 does not exist"),
        (["export", str(run_dir), "--trial", str(infeasible)], "is infeasible"),
        (["export", str(run_dir), "--trial", "seven"], "--trial must be 'best' or a trial number"),
        (["train", str(tmp_path / "model.yaml")], "does not exist"),
    ]
    # A failed trial, in a copy of the study so the shared one stays as it is.
    copy = tmp_path / "copy" / run_dir.name
    shutil.copytree(run_dir, copy)
    study = optuna.load_study(study_name=run_dir.name, storage=f"sqlite:///{copy / 'study.db'}")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params=trials[0].params, distributions=trials[0].distributions, user_attrs={"design": "gru 1x16 r2 linear/tanh"}))
    cases.append((["export", str(copy), "--trial", str(len(trials))], "failed"))
    for args, message in cases:
        code, out, err = cli(args, capsys)
        assert code == 2, args
        assert err.startswith("search: error: ") and message in err and err.count("\n") == 1, err


# ---------------------------------------------------------------- the report in a real browser


def _browser(tmp_path: Path, width: int = 1400, height: int = 1000):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--window-size={width},{height}",
        # Parallel coordinates draw with WebGL; without a GPU Chromium needs this to use its software renderer.
        "--enable-unsafe-swiftshader",
    ):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


# Where each plot's drawing ends up against its card, and where the budget line is.
GEOMETRY_SCRIPT = """
return Array.from(document.querySelectorAll('figure.plot')).map(function (card) {
  var box = card.getBoundingClientRect();
  var svg = card.querySelector('svg.main-svg');
  var drawn = svg ? svg.getBoundingClientRect() : null;
  var area = card.querySelector('.nsewdrag');
  var plotArea = area ? area.getBoundingClientRect() : null;
  var lines = Array.from(card.querySelectorAll('.shapelayer path')).map(function (path) {
    var r = path.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  });
  var labels = Array.from(card.querySelectorAll('.annotation-text')).filter(function (t) { return t.textContent.indexOf('budget') === 0; })
    .map(function (t) { var r = t.getBoundingClientRect(); return {left: r.left, right: r.right, text: t.textContent}; });
  return {name: card.dataset.plot, card: {left: box.left, right: box.right, width: box.width},
          drawn: drawn ? {left: drawn.left, right: drawn.right, width: drawn.width} : null,
          area: plotArea ? {left: plotArea.left, right: plotArea.right, top: plotArea.top, bottom: plotArea.bottom} : null,
          lines: lines, labels: labels, viewport: document.documentElement.clientWidth};
});
"""


@pytest.mark.parametrize("width", [1280, 1920])
def test_report_plots_fit_their_cards_on_first_open(run_dir: Path, tmp_path: Path, width: int) -> None:
    """No resize, no wait for one: right after load every plot is as wide as its card
    and the budget line of the memory front is inside the plot area, on screen."""
    driver = _browser(tmp_path, width, 1300)
    try:
        driver.get((run_dir / "report.html").resolve().as_uri())
        plots = driver.execute_script(GEOMETRY_SCRIPT)
        driver.save_screenshot(str(tmp_path / f"report-{width}.png"))
    finally:
        driver.quit()
    assert [plot["name"] for plot in plots] == PLOTS
    for plot in plots:
        card, drawn = plot["card"], plot["drawn"]
        assert drawn is not None, plot["name"]
        assert card["left"] - 1 <= drawn["left"] and drawn["right"] <= card["right"] + 1, (width, plot["name"], card, drawn)
        assert drawn["width"] >= card["width"] - 24, (width, plot["name"], "the plot must fill its card")
        assert card["right"] <= plot["viewport"] + 1
    memory = plots[0]
    budget = 34000 / 1024
    assert memory["labels"] and memory["labels"][0]["text"].startswith("budget")
    area = memory["area"]
    # The budget is the only limit drawn on this front (the device total is far beyond every design).
    (line,) = [line for line in memory["lines"] if line["right"] - line["left"] < 4 and line["bottom"] - line["top"] > 50]
    assert area["left"] < line["left"] and line["right"] < area["right"], (width, line, area, budget)
    assert memory["card"]["left"] < line["left"] < memory["card"]["right"] and line["right"] < plot["viewport"]
    label = memory["labels"][0]
    assert memory["card"]["left"] < label["left"] and label["right"] < memory["card"]["right"]


def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    driver = _browser(tmp_path)
    try:
        driver.get((run_dir / "report.html").resolve().as_uri())
        deadline = time.time() + 30
        while time.time() < deadline:
            rendered = driver.execute_script(
                """return Array.from(document.querySelectorAll('figure.plot')).map(function (plot) {
                     var graph = plot.querySelector('.js-plotly-plot');
                     return {name: plot.dataset.plot,
                             svg: graph ? graph.querySelectorAll('svg.main-svg').length : 0,
                             marks: graph ? graph.querySelectorAll('.point, .bars path, .js-line, .trace').length : 0,
                             canvas: graph ? graph.querySelectorAll('canvas').length : 0};
                   });"""
            )
            if len(rendered) == len(PLOTS) and all(plot["svg"] and (plot["marks"] or plot["canvas"]) for plot in rendered):
                break
            time.sleep(0.25)
        assert [plot["name"] for plot in rendered] == PLOTS
        for plot in rendered:
            assert plot["svg"] > 0 and (plot["marks"] > 0 or plot["canvas"] > 0), plot
        parallel = next(plot for plot in rendered if plot["name"] == "parallel")
        assert parallel["canvas"] > 0, "parallel coordinates draw their lines on canvas"
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        # Offline: the page loaded nothing beyond itself.
        assert driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name);") == []
        table_trials = driver.execute_script("return Array.from(document.querySelectorAll('#pareto-table tbody tr')).map(r => Number(r.dataset.trial));")
        pareto = pd.read_csv(run_dir / "pareto.csv")
        assert table_trials == pareto["number"].tolist()
        # Sorting by memory (a click on its header) orders the rows by bytes.
        driver.execute_script("Array.from(document.querySelectorAll('#pareto-table th')).find(h => h.textContent === 'memory').click();")
        memories = driver.execute_script(
            "var i = Array.from(document.querySelectorAll('#pareto-table th')).findIndex(h => h.textContent === 'memory');"
            "return Array.from(document.querySelectorAll('#pareto-table tbody tr')).map(r => Number(r.cells[i].dataset.value));"
        )
        assert memories == sorted(memories)
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_runs_lists_each_run_with_status_and_best_design(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    data = json.loads(text[text.index('id="report-data">') + len('id="report-data">') : text.index("</script>", text.index('id="report-data">'))])
    knee = data["knee"]
    # A copy whose target was raised: a run stopped short of its trials.
    stopped = tmp_path / "runs" / "stopped-run"
    shutil.copytree(run_dir, stopped)
    optuna.load_study(study_name=run_dir.name, storage=f"sqlite:///{stopped / 'study.db'}").set_user_attr("target_trials", 20)
    (tmp_path / "runs" / "not-a-run").mkdir()
    shutil.copytree(run_dir, tmp_path / "runs" / run_dir.name)
    code, out, _ = cli(["runs", str(tmp_path / "runs")], capsys)
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split()[:3] == ["run", "status", "trials"]
    assert len(rows) == 2 and "not-a-run" not in out
    done = next(row for row in rows if run_dir.name in row)
    assert done.split()[1:3] == ["done", "8/8"] and f"#{knee} " in done
    assert next(row for row in rows if "stopped-run" in row).split()[1:3] == ["stopped", "8/20"]
    code, _, err = cli(["runs", str(tmp_path / "missing")], capsys)
    assert code == 2 and "is not a directory" in err

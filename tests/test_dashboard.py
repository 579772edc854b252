"""optuna-dashboard on a real study of `search run`: its API shows objective names,
which designs are infeasible, and each trained design's per-epoch validation metric.

The dashboard (optuna-dashboard 0.21, in the test extra) is served from its WSGI app on
127.0.0.1 in a thread and read over HTTP, as its web page reads it.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest

import search

dashboard = pytest.importorskip("optuna_dashboard", reason="optuna-dashboard not installed (pip install '.[test]')")


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # one line per request would flood the test output
        pass


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GHOSTRNN_CACHE", str(tmp_path_factory.mktemp("cache")))
        # 6 KB: the plain 1x64 GRU and the 1x128 designs are over budget, so random
        # sampling meets infeasible designs next to trained ones.
        result = search.run(
            device="cortex-m7", budget="32KB", space="kws-small", trials=8, sampler="random", utterances_per_class=20,
            fidelity=search.Fidelity(epochs=2), out=out, progress=False,
        )
    assert result.run_dir is not None
    return result.run_dir


@pytest.fixture(scope="module")
def api(run_dir: Path):
    """GET a dashboard API path, return its JSON."""
    app = dashboard.wsgi(f"sqlite:///{run_dir / 'study.db'}")
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def get(path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}{path}", timeout=30) as response:
            return json.loads(response.read())

    yield get
    server.shutdown()
    server.server_close()


def _study_detail(api) -> dict:
    (summary,) = api("/api/studies")["study_summaries"]
    return api(f"/api/studies/{summary['study_id']}")


def test_dashboard_names_the_objectives(api) -> None:
    (summary,) = api("/api/studies")["study_summaries"]
    assert summary["directions"] == ["maximize", "minimize", "minimize"]
    assert _study_detail(api)["objective_names"] == ["accuracy", "memory_bytes", "latency_ms"]


def test_dashboard_sees_which_designs_are_infeasible(api, run_dir: Path) -> None:
    trials = {trial["number"]: trial for trial in _study_detail(api)["trials"]}
    study = optuna.load_study(study_name=run_dir.name, storage=f"sqlite:///{run_dir / 'study.db'}")
    infeasible = 0
    for frozen in study.get_trials(deepcopy=False):
        constraints = trials[frozen.number]["constraints"]
        # The dashboard's list is the same excess per limit as Optuna's named constraints.
        assert sorted(constraints) == sorted(frozen.system_attrs[f"constraints:{name}"] for name in ("device_flash", "device_sram", "latency", "budget"))
        feasible = all(value <= 0 for value in constraints)
        assert feasible == frozen.user_attrs["feasible"]
        infeasible += not feasible
    assert infeasible > 0
    # Optuna itself still counts each limit once (its own format wins for the samplers).
    assert all(len([key for key in t.system_attrs if key.startswith("constraints:")]) == 4 for t in study.get_trials(deepcopy=False))


def test_dashboard_shows_learning_curves(api, run_dir: Path) -> None:
    study = optuna.load_study(study_name=run_dir.name, storage=f"sqlite:///{run_dir / 'study.db'}")
    by_number = {trial.number: trial for trial in study.get_trials(deepcopy=False)}
    detail = _study_detail(api)
    assert detail["has_intermediate_values"] is True
    trained = 0
    for trial in detail["trials"]:
        attrs = by_number[trial["number"]].user_attrs
        values = [(point["step"], point["value"]) for point in trial["intermediate_values"]]
        if not attrs["trained"]:
            assert values == [], "an infeasible design is never trained"
            continue
        trained += 1
        # One point per epoch: the validation metric of the stored learning curve.
        assert values == [(int(point["epoch"]), point["metric"]) for point in attrs["curve"]]
        assert [step for step, _ in values] == [1, 2]
    assert trained > 0

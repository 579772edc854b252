"""The evidence benchmarks run end to end in their ``--smoke`` mode (tiny corpus, few designs, 1 epoch).

The three scripts run side by side on a shared, pre-generated tiny corpus; each must
print its figures and write its JSON and HTML files where it is told to.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SCRIPTS = ("proxy_fidelity", "paper_repro", "search_efficiency")


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("out")
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    try:
        from _common import SMOKE_KWS, SMOKE_SE
    finally:
        sys.path.pop(0)
    from search.data import load_kws_data, load_se_data

    # Generated once here, so the scripts running side by side only read the cache.
    load_kws_data(cache_dir=cache, progress=False, **SMOKE_KWS)
    load_se_data(cache_dir=cache, progress=False, **SMOKE_SE)
    env = dict(os.environ, GHOSTRNN_CACHE=str(cache))
    processes = {
        name: subprocess.Popen(
            [sys.executable, str(REPOSITORY / "benchmarks" / f"{name}.py"), "--smoke", "--out-dir", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPOSITORY,
        )
        for name in SCRIPTS
    }
    outputs = {}
    for name, process in processes.items():
        text, _ = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name} failed:\n{text}"
        outputs[name] = text
    return out, outputs


def load(out: Path, name: str) -> dict:
    assert (out / f"{name}_smoke.html").is_file()
    return json.loads((out / f"{name}_smoke.json").read_text())


def test_proxy_fidelity_smoke(smoke_runs):
    out, outputs = smoke_runs
    report = load(out, "proxy_fidelity")
    assert report["smoke"] and len(report["designs"]) == 6
    for band in ("all", "feasible"):
        for ranking in ("proxy", "params"):
            stats = report["summary"][band][ranking]
            assert -1 <= stats["kendall_tau"] <= 1 or math.isnan(stats["kendall_tau"])
            assert 0 <= stats["top5_overlap"] <= 5
    # The proxy inside a longer run is the proxy run itself (determinism).
    check = report["proxy_checks"][0]
    assert check["proxy_alone"] == check["long_run_at_proxy_epochs"]
    assert "kendall_tau" in outputs["proxy_fidelity"]


def test_paper_repro_smoke(smoke_runs):
    out, outputs = smoke_runs
    report = load(out, "paper_repro")
    roles = {(row["task"], row["role"]) for row in report["designs"]}
    assert roles == {(task, role) for task in ("kws", "se") for role in ("gru", "ghost", "control")}
    for row in report["designs"]:
        assert len(row["metrics"]) == 2 and row["memory_bytes"] > 0 and row["macs"] > 0
    control = next(row for row in report["designs"] if row["role"] == "control")
    assert control["config"]["hidden"] == 8  # m = ceil(16 / 2)
    assert {row["task"] for row in report["ratio2_claim"]} == {"kws", "se"}
    assert "claim_holds" in outputs["paper_repro"]


def test_search_efficiency_smoke(smoke_runs):
    out, outputs = smoke_runs
    report = load(out, "search_efficiency")
    assert {row["sampler"] for row in report["summary"]} == {"nsga2", "tpe", "random"}
    for run in report["runs"]:
        shares = run["hypervolume_share"]
        assert len(shares) == 6 and all(0 <= share <= 1 + 1e-9 for share in shares)
        assert shares == sorted(shares)  # a search never loses hypervolume
    assert (out / "search_efficiency_smoke_table.json").is_file()
    assert "nsga2_over_random_90" in outputs["search_efficiency"]

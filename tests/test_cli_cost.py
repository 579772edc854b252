"""`search devices` and `search cost` through the installed console script."""

import json
import subprocess
import sys

import pytest

from cost_models import analytic_cost, load_device
from spaces import ArchConfig


def run_search(*args, check=False):
    result = subprocess.run([sys.executable, "-m", "search", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_devices_lists_every_profile():
    result = run_search("devices", "--json", check=True)
    names = {device["name"] for device in json.loads(result.stdout)}
    assert {"cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-a53", "host"} <= names
    table = run_search("devices", check=True).stdout
    assert "cortex-m7" in table and "216" in table


def test_cost_json_matches_the_library():
    result = run_search("cost", "--device", "cortex-m7", "--hidden", "128", "--ratio", "2", "--cheap-op", "grouped", "--layers", "2", "--budget", "100KB", "--json", check=True)
    data = json.loads(result.stdout)
    for key in ("params", "macs", "flash_bytes", "ram_bytes", "memory_bytes", "latency_ms", "fits", "violations"):
        assert key in data
    expected = analytic_cost(ArchConfig(hidden=128, ghost_ratio=2, cheap_op="grouped", layers=2), load_device("cortex-m7"))
    assert data["macs"] == expected.macs and data["memory_bytes"] == expected.memory_bytes
    assert data["fits"] is (data["memory_bytes"] <= 100_000 and not data["violations"])


def test_cost_reports_a_budget_violation():
    result = run_search("cost", "--device", "cortex-m4", "--hidden", "256", "--ratio", "1", "--budget", "100KB", "--json", check=True)
    data = json.loads(result.stdout)
    assert data["fits"] is False
    assert any("budget" in line for line in data["violations"])


def test_cost_from_a_config_file(tmp_path):
    config = ArchConfig(task="se", cell="lstm", hidden=48, ghost_ratio=3, features="stft129")
    path = tmp_path / "model.yaml"
    path.write_text(config.to_yaml())
    data = json.loads(run_search("cost", "--device", "cortex-m55", "--config", str(path), "--json", check=True).stdout)
    assert data["config"] == config.to_dict()
    assert data["per"] == "frame"
    text = run_search("cost", "--device", "cortex-m55", "--config", str(path), check=True).stdout
    assert "lstm1" in text and "mask" in text and "total" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["cost", "--device", "cortex-m8"], "unknown device 'cortex-m8'; valid: cortex-a53"),
        (["cost", "--device", "cortex-m7", "--budget", "100QB"], "invalid size '100QB'"),
        (["cost", "--device", "cortex-m7", "--cheap-op", "fft"], "invalid choice: 'fft'"),
        (["cost", "--device", "cortex-m7", "--ratio", "0.5"], "ghost_ratio must be >= 1"),
        (["cost", "--device", "cortex-m7", "--config", "/nonexistent/model.yaml"], "cannot read --config"),
        (["cost", "--device", "/nonexistent/board.yaml"], "device profile file /nonexistent/board.yaml not found"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code_two(args, message):
    result = run_search(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cost_shows_sizes_in_the_unit_of_the_budget():
    # (memory includes the ~23 KB feature front end: its tables, code and audio buffers)
    si = run_search("cost", "--device", "cortex-m7", "--hidden", "32", "--budget", "31KB", check=True).stdout
    assert "fits cortex-m7 and the budget 31 KB" in si and "KiB" not in si.splitlines()[-2] and "KiB" not in si.splitlines()[-3]
    iec = run_search("cost", "--device", "cortex-m7", "--budget", "35KiB", check=True).stdout
    assert "does NOT fit: memory 36.4 KiB > budget 35.0 KiB" in iec

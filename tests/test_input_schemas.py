"""Every bad input file or value is refused in one line that names the file, the key,
the value and what is accepted; anything unforeseen still ends in one line, exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cost_models import DeviceError, device_from_dict, load_device
from reports import read_model_yaml
from search.cli._main import main
from spaces import ArchConfig, Number, SchemaError, SpaceError, check_mapping, load_config, load_space

DEVICE = Path(__file__).resolve().parents[1] / "cost_models" / "devices" / "cortex-m7.yaml"


def one_line_error(capsys, argv: list[str]) -> str:
    """Run ``search argv`` in this process; assert exit 2 and one stderr line; return it."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse refuses the value
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


# ---------------------------------------------------------------- the checker


def test_number_rule_refuses_nan_inf_bools_and_out_of_range():
    rules = {"x": Number(low=0, high=10, low_open=True), "n": Number(low=1, high=5, integer=True)}
    assert check_mapping({"x": 2, "n": 3.0}, rules, "f.yaml") == {"x": 2.0, "n": 3}
    for value, why in ((float("nan"), "is not finite"), (float("inf"), "is not finite"), (0, "is out of range"), (True, "is not a number"), ("abc", "is not a number")):
        with pytest.raises(SchemaError, match=f"f.yaml: x = .* {why}; accepted: a number > 0 and <= 10"):
            check_mapping({"x": value, "n": 3}, rules, "f.yaml")
    with pytest.raises(SchemaError, match="n = 2.5 is not an integer; accepted: an integer >= 1 and <= 5"):
        check_mapping({"x": 1, "n": 2.5}, rules, "f.yaml")
    with pytest.raises(SchemaError, match="f.yaml: n is missing"):
        check_mapping({"x": 1}, rules, "f.yaml")


# ---------------------------------------------------------------- device profiles


@pytest.mark.parametrize(
    "line, replacement, message",
    [
        ("clock_mhz: 216", "clock_mhz: -216", "clock_mhz = -216 is out of range; accepted: a number >= 0.001 and <= 100000"),
        ("clock_mhz: 216", "clock_mhz: 0", "clock_mhz = 0 is out of range"),
        ("clock_mhz: 216", "clock_mhz: 1e400", "clock_mhz = '1e400' is not finite"),
        ("clock_mhz: 216", "clock_mhz: .nan", "clock_mhz = nan is not finite"),
        # The fitted cycle figures change with each calibration: matched by pattern.
        (r"mac: [0-9.]+", "mac: -3.83", "cycles.mac = -3.83 is out of range; accepted: a number > 0"),
        (r"elementwise: [0-9.]+", "elementwise: lots", "cycles.elementwise = 'lots' is not a number"),
        ("sram: 320KiB", "sram: -5", "sram = -5 is not a size"),
        ("flash: 1MiB", "flash: 5000GiB", "flash = 5368709120000 is out of range; accepted: an integer >= 1 and <= 1099511627776"),
        ("weight_dtype: int8", "weight_dtype: int7", "weight_dtype = 'int7' is not accepted; accepted: one of int8"),
        ("cycles_per_instruction: 1.02", "cycles_per_instruction: -1", "cycles_per_instruction = -1 is out of range"),
    ],
)
def test_device_profile_values_are_checked(tmp_path, line, replacement, message):
    text = DEVICE.read_text()
    assert re.search(line, text)
    path = tmp_path / "board.yaml"
    path.write_text(re.sub(line, replacement, text, count=1))
    with pytest.raises(DeviceError) as error:
        load_device(str(path))
    assert str(path) in str(error.value) and message in str(error.value)


def test_binary_and_undecodable_profiles_and_spaces(tmp_path):
    binary = tmp_path / "board.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DeviceError, match="board.yaml is a binary file, not a device profile"):
        load_device(str(binary))
    latin = tmp_path / "space.yaml"
    latin.write_bytes("description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpaceError, match="space.yaml is not UTF-8 text"):
        load_space(str(latin))


def test_shipped_devices_still_load():
    profile = load_device("cortex-m7")
    shipped = yaml.safe_load(DEVICE.read_text())
    assert profile.clock_hz == 216_000_000 and profile.cycles.mac == shipped["cycles"]["mac"]
    assert device_from_dict(profile.to_dict()) == device_from_dict(profile.to_dict())


# ---------------------------------------------------------------- design spaces


@pytest.mark.parametrize(
    "text, message",
    [
        ("classes: 1\nhidden: [16, 32]\n", "line 1: classes = 1 is out of range; accepted: an integer >= 2"),
        ("layers: [1, 1000]\n", "line 1: layers = 1000 is out of range; accepted: an integer >= 1 and <= 16"),
        ("hidden: [16, 99999]\n", "hidden = 99999 is out of range"),
        ("ghost_ratio: [abc, 2]\n", "line 1: ghost_ratio 'abc' is not a number"),
        ("ghost_ratio: [1, .inf]\n", "ghost_ratio must be >= 1 and <= 64, got inf"),
        ("hidden: [16, 2.5]\n", "hidden = 2.5 is not an integer"),
    ],
)
def test_space_values_are_checked(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as error:
        load_space(str(path))
    assert str(path) in str(error.value) and message in str(error.value)


# ---------------------------------------------------------------- model.yaml

MODEL = """\
architecture:
  task: kws
  cell: gru
  layers: 1
  hidden: 32
  ghost_ratio: 2.0
  classes: 12
training:
  data:
    seed: 0
    utterances_per_class: 20
"""

# (name, how the file is broken, what the error must say); the first 11 break the
# architecture (read by `search cost --config`), the last 3 the training data section.
BROKEN_MODELS = [
    ("empty", "", "must be a mapping of keys to values, found empty"),
    ("brace", MODEL.replace("classes: 12", "classes: 5}"), "classes = '5}' is not an integer"),
    ("list", "- 1\n- 2\n", "must be a mapping of keys to values, found a list"),
    ("architecture text", "architecture: text\n", "'architecture' section must be a mapping"),
    ("hidden abc", MODEL.replace("hidden: 32", "hidden: abc"), "hidden = 'abc' is not an integer"),
    ("hidden negative", MODEL.replace("hidden: 32", "hidden: -1"), "hidden = -1 is out of range"),
    ("unknown key", MODEL.replace("hidden: 32", "hidden: 32\n  colour: red"), "unknown architecture key(s) colour"),
    ("ratio nan", MODEL.replace("ghost_ratio: 2.0", "ghost_ratio: .nan"), "ghost_ratio must be >= 1 and <= 64, got nan"),
    ("layers 1e9", MODEL.replace("layers: 1", "layers: 1000000000"), "layers = 1000000000 is out of range"),
    ("cell", MODEL.replace("cell: gru", "cell: transformer"), "unknown cell 'transformer'"),
    ("unclosed", "architecture: {hidden: 32\n", "at line 2, column"),
    ("seed abc", MODEL.replace("seed: 0", "seed: abc"), "training.data.seed = 'abc' is not a number"),
    ("utterances negative", MODEL.replace("utterances_per_class: 20", "utterances_per_class: -5"), "training.data.utterances_per_class = -5 is out of range"),
    ("training list", MODEL.split("training:")[0] + "training: [1, 2]\n", "'training' section must be a mapping"),
]


@pytest.mark.parametrize("name, text, message", BROKEN_MODELS, ids=[case[0] for case in BROKEN_MODELS])
def test_broken_model_yaml_is_refused_naming_file_and_key(tmp_path, name, text, message):
    path = tmp_path / "model.yaml"
    path.write_text(text)
    with pytest.raises(SchemaError) as error:
        read_model_yaml(path)
    assert str(path) in str(error.value) and message in str(error.value)
    if BROKEN_MODELS.index((name, text, message)) < 11:  # the architecture itself is broken
        with pytest.raises(SchemaError, match=str(path)):
            load_config(str(path))


def test_good_model_yaml_reads_and_binary_is_refused(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(MODEL)
    assert load_config(str(path)) == ArchConfig(hidden=32, ghost_ratio=2.0)
    assert read_model_yaml(path)["training"]["data"]["seed"] == 0
    path.write_bytes(b"\x00\x01\x02" * 50)
    with pytest.raises(SchemaError, match="is a binary file"):
        read_model_yaml(path)


def test_cost_and_train_give_one_line_for_broken_model_yaml(tmp_path, capsys):
    path = tmp_path / "model.yaml"
    path.write_text(MODEL.replace("classes: 12", "classes: 5}"))
    assert "classes = '5}' is not an integer" in one_line_error(capsys, ["cost", "--device", "cortex-m7", "--config", str(path)])
    path.write_text(MODEL.replace("utterances_per_class: 20", "utterances_per_class: -5"))
    assert "utterances_per_class = -5 is out of range" in one_line_error(capsys, ["train", str(path), "--epochs", "1"])


# ---------------------------------------------------------------- command-line values

RUN = ["run", "--device", "cortex-m7", "--budget", "100KB", "--space", "kws-small"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--latency-budget", "NaN"], "argument --latency-budget: must be a finite positive number, got NaN"),
        (["--latency-budget", "inf"], "must be a finite positive number, got inf"),
        (["--latency-budget", "-3"], "argument --latency-budget: must be positive, got -3"),
        (["--seed", "-1"], "argument --seed: must be from 0 to 4294967295"),
        (["--seed", "4294967296"], "argument --seed: must be from 0 to 4294967295"),
        (["--data-fraction", "NaN"], "argument --data-fraction: must be a finite positive number"),
        (["--max-trial-seconds", "NaN"], "argument --max-trial-seconds: must be a finite positive number"),
        (["--workers", "99999999999999999999"], "argument --workers: must be at most 1,000,000"),
        (["--workers", "5000"], "--workers 5000 is more than 256"),
        (["--trials", "0"], "argument --trials: must be at least 1"),
    ],
)
def test_numeric_edge_values_give_one_line(tmp_path, capsys, args, message):
    line = one_line_error(capsys, RUN + ["--out", str(tmp_path)] + args)
    assert message in line


def test_unforeseen_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import search.cli._main as cli

    def broken(args):
        raise RuntimeError("the disk caught fire\nsecond line")

    monkeypatch.setattr(cli, "_devices", broken)
    line = one_line_error(capsys, ["devices"])
    assert line == "search: error: RuntimeError: the disk caught fire (run with --debug for the traceback)"
    monkeypatch.delenv("GHOSTRNN_DEBUG", raising=False)
    assert main(["devices", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().endswith("search: error: RuntimeError: the disk caught fire")
    os.environ.pop("GHOSTRNN_DEBUG", None)


def test_unwritable_cache_is_one_line(tmp_path):
    """A real fault from below (the cache directory is a file): one line, exit 2."""
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    env = dict(os.environ, GHOSTRNN_CACHE=str(blocker))
    result = subprocess.run(
        [sys.executable, "-m", "search", "run", "--device", "cortex-m7", "--budget", "100KB", "--space", "kws-small", "--trials", "1",
         "--utterances-per-class", "20", "--epochs", "1", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"cannot use the cache directory {blocker}" in result.stderr and "set GHOSTRNN_CACHE to a writable folder" in result.stderr


def test_read_only_cache_directory_is_refused_before_any_work(tmp_path):
    from search.data import cache_root
    from search._errors import DataError

    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running with privileges that ignore directory permissions")
        with pytest.raises(DataError, match=f"cannot use the cache directory {folder} \\(Permission denied\\)"):
            cache_root(folder)
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-seconds", "nan"], "--max-seconds must be a finite positive number, got nan"),
        (["--max-seconds", "-5"], "--max-seconds must be a finite positive number, got -5.0"),
        (["--epochs", "0"], "--epochs must be from 1 to 100000, got 0"),
    ],
)
def test_train_numeric_edge_values_give_one_line(tmp_path, capsys, args, message):
    path = tmp_path / "model.yaml"
    path.write_text(MODEL)
    assert message in one_line_error(capsys, ["train", str(path), *args])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"seed": -1}, "--seed must be an integer from 0 to 4294967295, got -1"),
        ({"seed": 2**32}, "--seed must be an integer from 0 to 4294967295"),
        ({"latency_budget": float("nan")}, "--latency-budget must be a finite positive number, got nan"),
        ({"latency_budget": float("inf")}, "--latency-budget must be a finite positive number, got inf"),
    ],
)
def test_python_api_checks_numbers_like_the_command_line(tmp_path, options, message):
    import search

    with pytest.raises(search.UsageError, match=message):
        search.run(device="cortex-m7", budget="100KB", space="kws-small", out=tmp_path, progress=False, **options)


def test_a_space_whose_class_count_the_corpus_lacks_is_refused_before_any_study(tmp_path, capsys):
    """classes: 5 on the 12-class synthetic corpus used to fail when the first design trained."""
    space = tmp_path / "five.yaml"
    space.write_text((Path(__file__).resolve().parents[1] / "spaces" / "kws-small.yaml").read_text().replace("classes: 12", "classes: 5"))
    out = tmp_path / "runs"
    line = one_line_error(capsys, ["run", "--device", "cortex-m7", "--budget", "100KB", "--space", str(space), "--out", str(out), "--workers", "1"])
    assert "fixes classes: 5, but the synthetic corpus has 12" in line and "--data-dir" in line
    assert not out.exists() or not any(out.iterdir())


# ---------------------------------------------------------------- options added since the first sweep

EVALUATE_MODEL = MODEL + "features:\n  normalization:\n    mean: [0.0]\n    std: [1.0]\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "RUNS/none", "--format", "pdf"], "argument --format: invalid choice: 'pdf'"),
        (["export", "RUNS/none", "--to", "TMP/x"], "run directory RUNS/none does not exist"),
        (["evaluate", "TMP/model.yaml", "--data-dir", "TMP", "--precision", "int4"], "argument --precision: invalid choice: 'int4'"),
        (["evaluate", "TMP/model.yaml", "--data-dir", "TMP", "--split", "nan"], "argument --split: invalid choice: 'nan'"),
        (["evaluate", "TMP/missing.yaml", "--data-dir", "TMP"], "TMP/missing.yaml does not exist"),
        (["evaluate", "TMP", "--data-dir", "TMP"], "TMP is a directory; pass the model.yaml written by 'search export'"),
        (["train", "/dev/null"], "/dev/null is not a regular file; pass the model.yaml"),
        (["evaluate", "TMP/model.yaml", "--data-dir", "TMP/nowhere"], "data directory TMP/nowhere does not exist"),
        (["evaluate", "TMP/model.yaml", "--data-dir", "TMP", "--weights", "TMP/model.yaml"], "the weights in TMP/model.yaml are not a readable weights file"),
        (["evaluate", "TMP/model.yaml", "--data-dir", "TMP", "--weights", "TMP/nan.pt"], "the weights in TMP/nan.pt hold non-finite values (in w)"),
        (["runs", "nan"], "nan is not a directory"),
        (["runs", "TMP/model.yaml"], "TMP/model.yaml is not a directory"),
        (RUN + ["--precision", "int4"], "argument --precision: invalid choice: 'int4'"),
        (RUN + ["--data-dir", "TMP/nowhere"], "--data-dir TMP/nowhere is not a directory"),
        (RUN + ["--data-dir", "TMP/model.yaml"], "--data-dir TMP/model.yaml is not a directory"),
        (RUN + ["--keywords", "yes,no"], "--keywords and --clip-seconds need --data-dir"),
        (RUN + ["--keywords", "_silence_,yes"], "--keywords: '_silence_' is not a word folder name"),
        (RUN + ["--clip-seconds", "nan"], "argument --clip-seconds: must be a finite positive number, got nan"),
        (RUN + ["--clip-seconds", "1e400"], "argument --clip-seconds: must be a finite positive number, got 1e400"),
        (RUN + ["--clip-seconds", "-1"], "argument --clip-seconds: must be positive, got -1"),
        (RUN + ["--clip-seconds", "0.5"], "--keywords and --clip-seconds need --data-dir"),
        (RUN + ["--max-trial-seconds", "inf"], "argument --max-trial-seconds: must be a finite positive number, got inf"),
        (RUN + ["--storage", "abc"], "storage 'abc' is not a storage URL; expected postgresql://USER@HOST/DB"),
        (["worker", "--storage", "nan", "--study", "x"], "storage 'nan' is not a storage URL"),
        (["calibrate", "--device", "host", "--repeats", "99999999999999999999"], "--repeats must be from 1 to 1000, got 99999999999999999999"),
        (["train", "TMP/model.yaml", "--max-seconds", "inf"], "--max-seconds must be a finite positive number, got inf"),
    ],
)
def test_recent_options_give_one_line_for_edge_values(tmp_path, capsys, monkeypatch, argv, message):
    import torch

    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "model.yaml").write_text(EVALUATE_MODEL)
    torch.save({"w": torch.tensor([1.0, float("nan")])}, tmp_path / "nan.pt")
    from spaces import build_model

    torch.save(build_model(load_config(tmp_path / "model.yaml")).state_dict(), tmp_path / "weights.pt")
    argv = [part.replace("TMP", str(tmp_path)).replace("RUNS", str(tmp_path / "runs")) for part in argv]
    if argv[0] == "run":
        argv += ["--out", str(tmp_path / "runs")]
    line = one_line_error(capsys, argv)
    assert message.replace("TMP", str(tmp_path)).replace("RUNS", str(tmp_path / "runs")) in line

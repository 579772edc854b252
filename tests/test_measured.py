"""Measured cost model: int8 simulation, generated C (host and Cortex-M), emulated counts, ELF sizes, calibration.

The host tests need a C compiler (cc/gcc/clang); the Cortex-M tests need the ``isa``
extra (``pip install ghostrnn-search[isa]``: ziglang, unicorn, pyelftools). Each skips
with the reason when its tools are absent.
"""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from cost_models import (
    TARGETS,
    analytic_cost,
    build_elf,
    generate_c,
    generate_c_float,
    load_device,
    measure_cost,
    measurement_available,
    quantize_model,
    run_elf,
    run_host,
    simulate,
)
from cost_models._calibrate import CALIBRATION_GRIDS, calibrate_against_instructions, fit_cycles
from cost_models._measured import measure_raw
from cost_models.deploy._quantize import SIGMOID_TABLE, TANH_TABLE, table_error
from cost_models.deploy import host_compiler
from spaces import CHEAP_OPS, ArchConfig, build_model

needs_host_cc = pytest.mark.skipif(host_compiler() is None, reason="no host C compiler (cc, gcc or clang) on PATH")
_MISSING = measurement_available()
needs_isa = pytest.mark.skipif(_MISSING is not None, reason=f"Cortex-M toolchain missing: {_MISSING}")

# GRU and LSTM, ratios 1 and 2, every cheap op; two layers so the second layer's Q3.12 input is covered.
DESIGNS = [
    ArchConfig(cell=cell, hidden=20, ghost_ratio=ratio, cheap_op=op, groups=3, layers=2, frames=7, activation=act)
    for cell, ratio, op, act in itertools.product(("gru", "lstm"), (1, 2), tuple(CHEAP_OPS), ("tanh",))
    if not (ratio == 1 and op != "linear")  # at ratio 1 there is no ghost, so the op is irrelevant
] + [
    ArchConfig(cell="gru", hidden=20, ghost_ratio=2, cheap_op="linear", activation="identity", frames=7),
    ArchConfig(cell="lstm", hidden=20, ghost_ratio=2, cheap_op="channelwise", activation="identity", frames=7),
    ArchConfig(task="se", features="stft129", cell="gru", hidden=24, ghost_ratio=2, cheap_op="grouped", frames=4),
    ArchConfig(task="se", features="stft129", cell="lstm", hidden=24, ghost_ratio=1, frames=4),
]


def _ids(config):
    return f"{config.task}-{config.describe().replace(' ', '_')}"


def _model_and_inputs(config, seed=0):
    torch.manual_seed(seed)
    model = build_model(config).eval()
    frames = torch.randn(1, config.frames, config.input_size)
    return model, frames


def test_tables_are_accurate():
    assert table_error(SIGMOID_TABLE, torch.sigmoid) < 1e-4
    assert table_error(TANH_TABLE, torch.tanh) < 5e-4


@pytest.mark.parametrize("config", DESIGNS, ids=_ids)
def test_int8_simulation_tracks_the_float_model(config):
    model, frames = _model_and_inputs(config)
    quantized = quantize_model(model, config, calibration=frames)
    outputs = quantized.dequantize_output(simulate(quantized, quantized.quantize_input(frames)))
    with torch.no_grad():
        reference = model(frames).double()
    assert float((outputs - reference).abs().max()) < 0.02


@needs_host_cc
@pytest.mark.parametrize("config", DESIGNS, ids=_ids)
def test_generated_c_matches_pytorch(config, tmp_path):
    model, frames = _model_and_inputs(config)
    quantized = quantize_model(model, config, calibration=frames)
    inputs = quantized.quantize_input(frames)
    expected = simulate(quantized, inputs)[0].numpy()
    produced = run_host(generate_c(quantized), inputs[0].numpy(), tmp_path / "int8")
    assert np.array_equal(produced.astype(np.int64), expected.reshape(produced.shape)), "int8 C differs from the simulation"
    floats = run_host(generate_c_float(model, config), frames[0].numpy(), tmp_path / "float")
    with torch.no_grad():
        reference = model(frames)[0].numpy()
    assert np.abs(floats - reference.reshape(floats.shape)).max() < 1e-4


@needs_isa
@pytest.mark.parametrize("isa", sorted(TARGETS))
def test_emulated_cortex_m_output_is_bit_exact(isa):
    # measure_raw raises if the emulated outputs differ from the simulation.
    config = ArchConfig(cell="lstm" if isa == "cortex-m4" else "gru", hidden=24, ghost_ratio=2, cheap_op="channelwise", layers=2, frames=6)
    raw = measure_raw(config, isa, verify=True)
    assert raw["instructions"] > 0 and raw["stack_bytes"] > 0


@needs_isa
def test_emulated_float_build_matches_pytorch(tmp_path):
    config = ArchConfig(hidden=24, ghost_ratio=2, cheap_op="grouped", frames=6)
    model, frames = _model_and_inputs(config)
    source = generate_c_float(model, config)
    elf = build_elf(source, TARGETS["cortex-m7"], config.frames, tmp_path)
    result = run_elf(elf, "cortex-m7", frames[0].numpy().astype(np.float32), source.output_count(config.frames), "float32")
    with torch.no_grad():
        reference = model(frames)[0].numpy()
    assert np.abs(result.outputs - reference).max() < 1e-4


def _per_step(config, isa="cortex-m7"):
    """Instructions of one recurrent step: the difference of two window lengths (head and reset cancel)."""
    short = measure_raw(config.replace(frames=4), isa, verify=False)["instructions"]
    long = measure_raw(config.replace(frames=8), isa, verify=False)["instructions"]
    return (long - short) / 4


@needs_isa
def test_doubling_hidden_roughly_quadruples_the_step():
    # A step is dominated by the recurrent H x H products: 3H(D + H) MACs for a GRU, so
    # H 128 -> 256 multiplies the MACs by 3.86 (4 for the recurrent part, 2 for the input part).
    # With the SIMD kernels (1.5 instructions per MAC) the per-row gate arithmetic, which
    # only doubles, is about a quarter of a step at H = 128, so the ratio sits ~11 % under
    # the MAC ratio (3.46 measured, generator 5).
    small = ArchConfig(hidden=128, ghost_ratio=1)
    large = small.replace(hidden=256)
    ratio = _per_step(large) / _per_step(small)
    mac_ratio = (3 * 256 * (10 + 256)) / (3 * 128 * (10 + 128))
    assert 3.4 <= ratio <= 4.2, ratio
    assert ratio == pytest.approx(mac_ratio, rel=0.13)


@needs_isa
@pytest.mark.parametrize("op", tuple(CHEAP_OPS))
def test_ghost_ratio_two_executes_fewer_instructions(op):
    plain = ArchConfig(hidden=64, ghost_ratio=1, frames=10)
    ghost = plain.replace(ghost_ratio=2, cheap_op=op)
    plain_count = measure_raw(plain, "cortex-m4", verify=False)["instructions"]
    ghost_count = measure_raw(ghost, "cortex-m4", verify=False)["instructions"]
    assert ghost_count < 0.8 * plain_count, (ghost_count, plain_count)


# The ELF's flash is the analytic model's flash: weights, biases, scales, the code of
# the device profile's code_bytes (kernels, model API), the two 257-entry int16 tables and
# the zero columns that pad the first layer's input. The per-tensor float scales the
# analytic model counts live in the code as integer multipliers, and the harness and
# memcpy/memset stand in for the model API and class names of the library. Measured
# over these designs: -384 ... +20 bytes; the tolerance is 1 KiB, and 5 % once weights dominate.
FLASH_TOLERANCE_BYTES = 1024


@needs_isa
@pytest.mark.parametrize(
    "config",
    [
        ArchConfig(hidden=32, ghost_ratio=2, cheap_op="grouped", frames=5),
        ArchConfig(hidden=128, ghost_ratio=1, frames=5),
        ArchConfig(cell="lstm", hidden=128, ghost_ratio=2, cheap_op="linear", layers=2, frames=5),
        ArchConfig(task="se", features="stft129", hidden=96, ghost_ratio=3, cheap_op="channelwise"),
    ],
    ids=_ids,
)
def test_elf_flash_and_ram_agree_with_the_analytic_model(config, tmp_path):
    device = load_device("cortex-m7")
    measured = measure_cost(config, device, cache_dir=tmp_path)
    analytic = analytic_cost(config, device)
    # The emulated ELF holds the model alone; the front end is checked in test_front_end_cost.py.
    assert abs(measured.measured_flash_bytes - analytic.model_flash_bytes) <= FLASH_TOLERANCE_BYTES
    if analytic.model_flash_bytes > 50_000:
        assert measured.measured_flash_bytes == pytest.approx(analytic.model_flash_bytes, rel=0.05)
    # Static RAM is the analytic RAM's buffers (the compiler may drop the input-frame copy,
    # and the SE mask is int16 where the analytic model counts int32); the stack is small.
    static = measured.data_bytes + measured.bss_bytes
    ram = analytic.model_ram_bytes
    assert ram - 2 * config.input_size - 2 * config.output_size - 8 <= static <= ram + 16
    assert 0 < measured.stack_bytes < 512


@needs_isa
def test_measurements_are_cached_on_disk(tmp_path):
    config = ArchConfig(hidden=16, frames=4)
    first = measure_cost(config, load_device("cortex-m33"), cache_dir=tmp_path)
    second = measure_cost(config, load_device("cortex-m55"), cache_dir=tmp_path)  # same instruction stream
    assert not first.cached and second.cached
    assert first.instructions == second.instructions
    m33, m55 = load_device("cortex-m33"), load_device("cortex-m55")
    assert second.measured_latency_ms == pytest.approx(1000 * first.instructions * m55.cycles_per_instruction / m55.clock_hz)
    assert first.measured_latency_ms == pytest.approx(1000 * first.instructions * m33.cycles_per_instruction / m33.clock_hz)


def test_fit_recovers_known_figures():
    rng = np.random.default_rng(0)
    counts = rng.uniform(1, 100, size=(12, 4)) * np.array([1e4, 1e2, 1e3, 10])
    truth = np.array([3.5, 40.0, 6.0, 250.0])
    assert np.allclose(fit_cycles(counts, counts @ truth), truth, rtol=1e-6)


@needs_isa
def test_calibrated_analytic_latency_predicts_held_out_designs(tmp_path, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path))
    result = calibrate_against_instructions(load_device("cortex-m7"), grid="small")
    assert result.held_out_designs == len(CALIBRATION_GRIDS["small"]) // 4
    assert max(abs(e) for e in result.report.held_out_errors) < 0.10


@needs_isa
def test_shipped_cortex_m_profiles_are_calibrated_within_ten_percent(tmp_path, monkeypatch):
    # The figures stored in the profiles (search calibrate --write) predict the
    # instruction-derived latency of designs outside the calibration grid.
    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path))
    designs = [
        ArchConfig(hidden=80, ghost_ratio=1.5, cheap_op="linear", frames=20),
        ArchConfig(cell="lstm", hidden=112, ghost_ratio=2.5, cheap_op="channelwise", frames=12),
        ArchConfig(task="se", features="stft129", hidden=72, ghost_ratio=2, cheap_op="identity", layers=2),
    ]
    for name in ("cortex-m7", "cortex-m4"):
        device = load_device(name)
        assert device.calibration, f"{name} has not been calibrated"
        for config in designs:
            measured = measure_cost(config, device).measured_latency_ms  # the model's code alone
            assert analytic_cost(config, device).model_latency_ms == pytest.approx(measured, rel=0.10), (name, config.describe())


@needs_isa
def test_cli_cost_measure_json():
    result = subprocess.run(
        [sys.executable, "-m", "search", "cost", "--device", "cortex-m7", "--hidden", "32", "--frames", "5", "--measure", "--no-cache", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("instructions", "measured_flash_bytes", "measured_ram_bytes", "measured_latency_ms", "flash_bytes", "latency_ms"):
        assert key in data
    assert data["instructions"] > 0 and abs(data["measured_flash_bytes"] - data["model_flash_bytes"]) <= FLASH_TOLERANCE_BYTES
    # The totals hold the front end too (the emulated model code does not).
    assert data["flash_bytes"] == data["model_flash_bytes"] + data["front_end"]["flash_bytes"]


def test_cli_measure_on_a_device_without_an_instruction_set():
    result = subprocess.run([sys.executable, "-m", "search", "cost", "--device", "host", "--measure"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "error" in result.stderr


@pytest.mark.slow
@needs_isa
@pytest.mark.parametrize("name", ["cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_full_grid_calibration_holds_out_within_ten_percent(name):
    result = calibrate_against_instructions(load_device(name), grid="default")
    assert max(abs(e) for e in result.report.held_out_errors) < 0.10


def test_write_calibration_keeps_the_profile_readable(tmp_path):
    import dataclasses
    import shutil

    from cost_models import CycleCosts
    from cost_models._calibrate import CalibrationResult, FitReport, write_calibration

    copy = tmp_path / "board.yaml"
    shutil.copy(load_device("cortex-m4").path, copy)
    device = load_device(str(copy))
    fitted = CycleCosts(mac=4.25, activation=9.5, elementwise=20.0, layer_call=6.0)
    result = CalibrationResult(device.name, "test reference", "small", "2000-01-01", device.cycles, fitted, FitReport([0.01], [0.02]), 1, 1, 0.0)
    write_calibration(device, result)
    write_calibration(device, dataclasses.replace(result, date="2000-01-02"))  # a second write replaces the first block
    again = load_device(str(copy))
    assert again.cycles == fitted
    assert again.calibration["date"] == "2000-01-02" and again.calibration["held_out_max_abs_error"] == 0.02
    assert again.sources["mac"].startswith("fitted 2000-01-02") and again.cycles_per_instruction == device.cycles_per_instruction
    assert copy.read_text().count("calibration:") == 1

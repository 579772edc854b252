"""The feature front end in the analytic cost model, checked against the exported C front end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cost_models import (
    DeviceError,
    Limits,
    analytic_cost,
    device_from_dict,
    front_end_cost,
    layout_of,
    load_device,
    measurement_available,
)
from cost_models.deploy import FrontEndSpec, measure_front_end, quantize_model
from cost_models.deploy import front_end_footprint
from spaces import FEATURE_FRONT_ENDS, FEATURE_RECIPES, ArchConfig, FeatureFrontEnd, FeatureRecipe, build_model, dct_matrix, mel_filterbank

# Tolerances of the analytic front end against the compiled, emulated C front end. The
# code-size and cycle figures were fitted to these builds (benchmarks/front_end_cost.py);
# the slack covers the training statistics the compiler folds into code and a refit.
FLASH_TOLERANCE = 0.03
CYCLES_TOLERANCE = 0.05


def library_spec(name: str, mean: torch.Tensor, std: torch.Tensor, shape: FeatureFrontEnd | None = None, recipe: FeatureRecipe | None = None) -> FrontEndSpec:
    shape = shape or FEATURE_FRONT_ENDS[name]
    recipe = recipe or FEATURE_RECIPES[name]
    filterbank = mel_filterbank(recipe.mel_bands, recipe.n_fft, shape.sample_rate, recipe.f_min, recipe.f_max)
    dct = dct_matrix(recipe.mel_bands, shape.dims) if recipe.kind == "mfcc" else None
    return FrontEndSpec(name, recipe.kind, shape.sample_rate, shape.window_samples, shape.hop_samples, recipe.n_fft, filterbank, dct, recipe.log_floor, mean, std)


@pytest.mark.parametrize("name", ["mfcc10", "logmel40"])
def test_tables_and_state_are_the_generated_librarys(name):
    # The analytic layout (from the recipe alone) and the C generator (from the real
    # filterbank) count the same tables and the same per-stream state.
    dims = FEATURE_FRONT_ENDS[name].dims
    cost = front_end_cost(ArchConfig(features=name), load_device("cortex-m7"))
    generated = front_end_footprint(library_spec(name, torch.zeros(dims), torch.ones(dims)))
    assert cost.table_bytes == generated.table_bytes
    assert cost.state_bytes == generated.state_bytes == 640 * 2 + 1024 * 4 + 4
    assert cost.work.butterflies == generated.ops_per_frame["fft_butterflies"] == 256 * 9
    assert cost.work.macs == generated.ops_per_frame["mel_macs"] + generated.ops_per_frame["dct_macs"]
    assert cost.work.logs == 40 and cost.work.outputs == dims


def test_work_counts_follow_the_recipe():
    # A 512-point FFT of a 400-sample window, 26 bands, 13 MFCC (the "speech" front end of
    # many toolkits): 128 x 8 butterflies, every filter weight once, the DCT in full.
    shape = FeatureFrontEnd("custom", dims=13, window_samples=400, hop_samples=160)
    recipe = FeatureRecipe("mfcc", n_fft=512, mel_bands=26, f_min=0.0, f_max=8000.0)
    layout = layout_of(shape, recipe)
    weights = mel_filterbank(26, 512, 16000, 0.0, 8000.0)
    contiguous = sum(int(row.nonzero().max() - row.nonzero().min()) + 1 for row in weights)
    work = layout.work()
    assert (work.samples, work.fft_points, work.butterflies, work.logs, work.outputs) == (400, 512, 128 * 8, 26, 13)
    assert work.macs == contiguous + 13 * 26
    assert layout.table_bytes() == 4 * 201 + 4 * 512 + 2 * 3 * 26 + 4 * contiguous + 4 * 13 * 26 + 4 * 2 * 13
    assert layout.state_bytes() == 2 * 400 + 4 * 512 + 4


def test_memory_and_latency_include_the_front_end():
    device = load_device("cortex-m7")
    config = ArchConfig(hidden=64, ghost_ratio=2, frames=49)
    cost = analytic_cost(config, device)
    front = cost.front_end
    assert front.flash_bytes == front.table_bytes + device.code_bytes.mfcc > 15_000
    assert cost.flash_bytes == cost.model_flash_bytes + front.flash_bytes
    assert cost.ram_bytes == cost.model_ram_bytes + front.ram_bytes
    # Once per frame: 49 hops of features feed one inference.
    assert cost.latency_ms == pytest.approx(cost.model_latency_ms + 49 * front.latency_ms)
    # ~0.5 ms per 20 ms hop on the 216 MHz Cortex-M7 (emulated: 111,165 instructions x 1.02)
    assert 0.45 < front.latency_ms < 0.6
    # A budget between the model alone and model + front end is broken.
    budget = cost.model_flash_bytes + cost.model_ram_bytes + 1000
    over = analytic_cost(config, device, Limits(memory_bytes=budget))
    assert any("budget" in line for line in over.violations)
    assert analytic_cost(config, device, Limits(memory_bytes=cost.memory_bytes)).fits


def test_se_front_end_is_costed_per_frame():
    device = load_device("cortex-m4")
    cost = analytic_cost(ArchConfig(task="se", features="stft129", hidden=64), device)
    front = cost.front_end
    assert front.kind == "magnitude" and front.work.roots == front.work.logs == 129
    assert cost.latency_ms == pytest.approx(cost.model_latency_ms + front.latency_ms)
    # int16 window, float FFT buffer, sample count, and the overlap-add's float hop.
    assert front.state_bytes == 256 * 2 + 256 * 4 + 4 + 4 * 128


def _profile(**extra):
    base = dict(name="board", clock_mhz=100, sram="256KiB", flash="1MiB", weight_dtype="int8", cycles=dict(mac=2, activation=10, elementwise=1, layer_call=100))
    return device_from_dict({**base, **extra})


def test_profiles_without_front_end_figures_borrow_their_cores_or_cost_no_time():
    config = ArchConfig(hidden=32)
    m7 = load_device("cortex-m7")
    borrowed = front_end_cost(config, _profile(isa="cortex-m7", clock_mhz=108))
    assert borrowed.cycles_per_hop == pytest.approx(front_end_cost(config, m7).cycles_per_hop)
    assert borrowed.latency_ms == pytest.approx(2 * front_end_cost(config, m7).latency_ms)  # half the clock
    plain = front_end_cost(config, _profile())
    assert plain.latency_ms == 0 and plain.table_bytes > 9000 and plain.code_bytes == 0


def test_front_end_sections_are_checked_and_round_trip():
    figures = dict(samples=20, fft_points=30, butterflies=25, macs=7, logs=1, roots=20, outputs=95)
    device = _profile(front_end_cycles=figures, code_bytes=dict(model=1800, mfcc=8000))
    assert device.front_end_cycles.butterflies == 25 and device.code_bytes.mfcc == 8000 and device.code_bytes.logmel == 0
    assert device_from_dict(device.to_dict()) == dataclasses_replace_path(device)
    with pytest.raises(DeviceError, match=r"front_end_cycles\.macs = -1 is out of range; accepted: a number >= 0"):
        _profile(front_end_cycles={**figures, "macs": -1})
    with pytest.raises(DeviceError, match=r"front_end_cycles\.logs is missing"):
        _profile(front_end_cycles={key: value for key, value in figures.items() if key != "logs"})
    with pytest.raises(DeviceError, match=r"'code_bytes' has unknown keys kernels"):
        _profile(code_bytes=dict(kernels=10))
    with pytest.raises(DeviceError, match=r"code_bytes\.model = 1.5 is not an integer"):
        _profile(code_bytes=dict(model=1.5))


def dataclasses_replace_path(device):
    import dataclasses

    return dataclasses.replace(device, path="<dict>")


def _section_bytes(path: Path) -> int:
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as handle:
        return sum(
            section["sh_size"]
            for section in ELFFile(handle).iter_sections()
            if section.name.startswith((".text", ".rodata", ".data")) and section["sh_type"] != "SHT_NOBITS"
        )


def _symbol_size(elf: Path, name: str) -> int:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as handle:
        symbols = ELFFile(handle).get_section_by_name(".symtab")
        return next(symbol["st_size"] for symbol in symbols.iter_symbols() if symbol.name == name)


@pytest.mark.skipif(measurement_available() is not None, reason=f"Cortex-M toolchain missing: {measurement_available()}")
@pytest.mark.parametrize("name, isa", [("mfcc10", "cortex-m4"), ("mfcc10", "cortex-m7"), ("logmel40", "cortex-m33")])
def test_analytic_front_end_matches_the_emulated_c_front_end(name, isa, tmp_path: Path):
    """Flash and state from the compiled front end, cycles per hop from emulated instructions."""
    import subprocess
    import sys

    from cost_models.deploy import TARGETS

    device = load_device(isa)
    config = ArchConfig(hidden=8, ghost_ratio=1, features=name)
    torch.manual_seed(0)
    quantized = quantize_model(build_model(config).eval(), config)
    dims = config.input_size
    spec = library_spec(name, torch.randn(dims), 1 + torch.rand(dims))  # statistics as training gives them
    rng = np.random.default_rng(1)
    audio = np.clip(rng.normal(0, 3000, 8000), -32768, 32767).astype(np.int16)
    measured = measure_front_end(quantized, spec, audio, isa, tmp_path)
    analytic = front_end_cost(config, device)
    cycles = measured.instructions_per_hop * device.cycles_per_instruction
    assert analytic.cycles_per_hop == pytest.approx(cycles, rel=CYCLES_TOLERANCE)
    # The per-stream state is the struct the harness keeps, byte for byte.
    elf = next((tmp_path / "emulated-2").glob("*.elf"))
    assert _symbol_size(elf, "front_end") == analytic.state_bytes
    # Flash: the front end's object as the library is built (-O2), code and tables.
    objects = tmp_path / "features.o"
    subprocess.run(
        [sys.executable, "-m", "ziglang", "cc", "-target", "thumb-freestanding-eabihf", f"-mcpu={TARGETS[isa].cpu}", "-O2", "-std=c99",
         "-ffreestanding", "-ffunction-sections", "-fdata-sections", "-c", str(tmp_path / "ghostrnn_features.c"), "-o", str(objects)],
        check=True, capture_output=True,
    )
    assert analytic.flash_bytes == pytest.approx(_section_bytes(objects), rel=FLASH_TOLERANCE)


def test_a_study_costed_without_the_front_end_is_not_resumed():
    # Its trials' memory would leave out what the new ones count: the two cannot share a front.
    import json

    from search._settings import RunSettings

    settings = RunSettings(task="kws", space={"name": "s"}, space_fingerprint="f", device={"name": "cortex-m7"})
    data = json.loads(settings.to_json())
    assert data["cost_model"] == 2
    del data["cost_model"]
    old = RunSettings.from_json(json.dumps(data))
    assert old.cost_model == 1
    assert settings.conflicts_with(old) == ["its costs leave out the feature front end and the code (cost model 1; this version counts them, 2)"]
    assert settings.conflicts_with(RunSettings.from_json(settings.to_json())) == []

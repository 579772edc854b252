"""The exported C library of a speech enhancer: STFT front end, int8 masks, overlap-add resynthesis.

Compiled with the host C compiler (skipped with the reason when there is none) and, for
the model files, cross-compiled for Cortex-M4/M7/M33 and run in the emulator. The data
is a small set of synthetic SE mixtures (real validation clips of the default recipe).
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from cost_models import measurement_available
from cost_models.deploy import LIBRARY_FILES, build_library_driver, front_end_footprint, host_compiler, quantize_model, run_library_driver, simulate, write_c_library
from search.data import apply_mask, load_se_data, log_magnitude
from search.results._c_export import c_library_summary, export_c_library, front_end_spec
from spaces import ArchConfig, build_model

pytestmark = pytest.mark.skipif(host_compiler() is None, reason="no host C compiler (cc, gcc or clang) on PATH")

CONFIG = ArchConfig(task="se", features="stft129", hidden=24, ghost_ratio=2, cheap_op="channelwise")
HOP = 128


@pytest.fixture(scope="module")
def se_data(tmp_path_factory: pytest.TempPathFactory):
    return load_se_data(cache_dir=tmp_path_factory.mktemp("se"), train_clips=24, eval_clips=12, seed=5, progress=False)


@pytest.fixture(scope="module")
def library(se_data, tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    model = build_model(CONFIG).eval()
    quantized = quantize_model(model, CONFIG, calibration=se_data.train.inputs)
    directory = tmp_path_factory.mktemp("se-library")
    spec = front_end_spec(CONFIG, se_data.mean, se_data.std)
    files = write_c_library(directory, quantized, spec, [])
    return {"quantized": quantized, "spec": spec, "files": files, "dir": directory, "driver": build_library_driver(directory), "model": model}


def _pcm(waveforms: torch.Tensor) -> np.ndarray:
    return torch.round(waveforms * 32768.0).clamp(-32768, 32767).to(torch.int16).numpy()


def test_the_se_library_has_its_files_and_builds_with_werror(library):
    assert [path.name for path in library["files"]] == list(LIBRARY_FILES)
    header = (library["dir"] / "ghostrnn_model.h").read_text()
    for name in ("GHOSTRNN_SAMPLE_RATE 16000", "GHOSTRNN_HOP_SAMPLES 128", "GHOSTRNN_BINS 129", "ghostrnn_se_push", "ghostrnn_se_reset"):
        assert name in header
    assert "ghostrnn_kws" not in header and "ghostrnn_class_names" not in header
    for name in ("ghostrnn_model.c", "ghostrnn_weights.c", "ghostrnn_features.c"):
        text = (library["dir"] / name).read_text()
        assert "malloc" not in text and "<math.h>" not in text and "sqrtf(" not in text.replace("grnn_sqrtf(", "")
    result = subprocess.run(["make", "-C", str(library["dir"])], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr  # -std=c99 -Wall -Wextra -Werror
    assert (library["dir"] / "example").is_file()


def test_se_masks_are_bit_identical_to_the_integer_simulation(library, se_data):
    quantized = library["quantized"]
    inputs = quantized.quantize_input(se_data.validation.inputs)
    produced = run_library_driver(library["driver"], "model", inputs.numpy())
    expected = simulate(quantized, inputs).numpy()
    assert expected.shape == (12, 126, 129)
    assert np.array_equal(produced.reshape(expected.shape), expected)


def test_se_front_end_matches_the_training_log_magnitudes(library, se_data):
    noisy = se_data.validation.noisy
    audio = _pcm(noisy)
    frames = audio.shape[1] // HOP  # the streamed frames; Python's last one needs the flush hop
    produced = run_library_driver(library["driver"], "features", audio, outputs_per_clip=frames)
    reference = log_magnitude(torch.from_numpy(audio.astype(np.float32) / 32768))[:, :frames].numpy()
    error = np.abs(produced - reference) / np.maximum(np.abs(reference), 1.0)
    assert error.max() < 1e-3, error.max()  # float32 FFT, sqrt and log against torch's (~1e-4)


def test_streamed_se_gives_the_simulated_masks_and_their_resynthesis(library, se_data):
    quantized, spec = library["quantized"], library["spec"]
    noisy = se_data.validation.noisy[:4]
    audio = _pcm(noisy)
    masks = torch.from_numpy(run_library_driver(library["driver"], "masks", audio).reshape(4, -1, 129).copy())
    assert masks.shape == (4, 126, 129)  # one mask per hop, plus the flushing hop
    # The masks are exactly the integer model on the frames the C front end made. Those
    # frames are the Python ones up to a few LSB in a few values: near the floor the log
    # magnifies float32 rounding of small magnitudes, and (x - mean) / std scales it up
    # again for quiet bins (measured: max 3 LSB, 1.2 % of values differ).
    waveforms = torch.from_numpy(audio.astype(np.float32) / 32768)
    python_inputs = quantized.quantize_input((log_magnitude(waveforms) - spec.mean) / spec.std)
    c_features = run_library_driver(library["driver"], "features", np.pad(audio, ((0, 0), (0, HOP))), outputs_per_clip=126)
    scale = (1.0 / (spec.std.double() * quantized.input_scale)).float().numpy()
    values = np.clip((c_features - spec.mean.numpy()) * scale, -32768, 32767)
    c_inputs = torch.from_numpy(np.where(values >= 0, np.floor(values + np.float32(0.5)), -np.floor(-values + np.float32(0.5))).astype(np.int64))
    difference = (c_inputs - python_inputs).abs()
    assert int(difference.max()) <= 4 and float((difference > 0).double().mean()) < 0.03
    assert torch.equal(masks, simulate(quantized, c_inputs))
    # The enhanced audio is torch.istft of the masked noisy spectrum (noisy phase kept),
    # within the int16 output rounding.
    enhanced = run_library_driver(library["driver"], "stream", audio)
    reference = apply_mask(masks.float() / 32768, waveforms).numpy() * 32768
    assert enhanced.shape == audio.shape
    assert np.abs(enhanced - reference).max() <= 0.51
    # And it is not the input: the untrained model's masks remove energy.
    assert np.abs(enhanced).sum() < 0.99 * np.abs(audio.astype(np.int64)).sum()


def test_se_example_writes_the_enhanced_wav(library, se_data, tmp_path: Path):
    subprocess.run(["make", "-C", str(library["dir"]), "example"], check=True, capture_output=True)
    audio = _pcm(se_data.validation.noisy[:1])[0][:5000]  # not a whole number of hops
    noisy_path, enhanced_path = tmp_path / "noisy.wav", tmp_path / "enhanced.wav"
    with wave.open(str(noisy_path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(audio.tobytes())
    result = subprocess.run([str(library["dir"] / "example"), str(noisy_path), str(enhanced_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with wave.open(str(enhanced_path), "rb") as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (1, 2, 16000)
        enhanced = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    assert enhanced.size == audio.size
    streamed = run_library_driver(library["driver"], "stream", np.pad(audio, (0, 5120 - audio.size))[None])[0]
    assert np.array_equal(enhanced, streamed[: audio.size])  # the zero-padded last hop, then the flush
    assert "wrote 5000 enhanced samples" in result.stdout
    stats = subprocess.run([str(library["dir"] / "example"), str(noisy_path)], capture_output=True, text=True)
    lines = stats.stdout.strip().splitlines()
    assert len(lines) == 5000 // HOP + 2 and lines[0].startswith("hop 1: mask mean ")


def test_se_front_end_cost_counts_the_overlap_add(library):
    cost = front_end_footprint(library["spec"])
    # int16 window, float FFT buffer and sample count, and the float overlap of one hop.
    assert cost.state_bytes == 2 * 256 + 4 * 256 + 4 + 4 * 128
    assert cost.ops_per_frame["fft_butterflies"] == 2 * 64 * 7 and cost.ops_per_frame["square_roots"] == 129


def test_search_export_checks_the_se_library(library, se_data, tmp_path: Path):
    export = export_c_library(tmp_path, library["model"], CONFIG, se_data, "SE test design")
    assert export.checked_clips == 12 and export.mismatched_clips == 0
    assert export.int8_accuracy is None and export.int8_si_snr_improvement_db is not None
    lines = c_library_summary(export)
    assert "bit-identical to the int8 simulation on 12 validation clips" in lines[1]
    assert any("SI-SNR improvement" in line for line in lines)
    assert not list(tmp_path.glob("check_driver*"))


_MODEL_HARNESS = """#include <stddef.h>
#include "ghostrnn_model.h"
{memory_functions}
static ghostrnn_state state;
__attribute__((section(".io"))) int16_t io_input[{values}];
__attribute__((section(".io"))) int16_t io_output[{outputs}];

__attribute__((section(".text.harness_run"), used)) void harness_run(void) {{
    ghostrnn_run(&state, io_input, {frames}, io_output);
}}
"""


@pytest.mark.skipif(measurement_available() is not None, reason=f"Cortex-M toolchain missing: {measurement_available()}")
@pytest.mark.parametrize("isa", ["cortex-m4", "cortex-m7", "cortex-m33"])
def test_exported_se_files_on_cortex_m_give_the_simulated_masks(library, se_data, isa, tmp_path: Path):
    from cost_models.deploy import TARGETS, run_elf
    from cost_models.deploy._toolchain import MEMORY_FUNCTIONS, link_elf

    quantized, directory, frames = library["quantized"], library["dir"], 12
    harness = directory / f"harness_se_{isa}.c"
    harness.write_text(_MODEL_HARNESS.format(memory_functions=MEMORY_FUNCTIONS, values=frames * 129, outputs=frames * 129, frames=frames))
    elf = link_elf([directory / "ghostrnn_model.c", directory / "ghostrnn_weights.c", harness], TARGETS[isa], tmp_path)
    inputs = quantized.quantize_input(se_data.validation.inputs[:1, :frames])
    result = run_elf(elf, isa, inputs[0].numpy().astype(np.int16), frames * 129, "int16")
    assert np.array_equal(result.outputs.astype(np.int64), simulate(quantized, inputs)[0].reshape(-1).numpy())


@pytest.mark.skipif(measurement_available() is not None, reason=f"Cortex-M toolchain missing: {measurement_available()}")
@pytest.mark.parametrize("isa", ["cortex-m4", "cortex-m7", "cortex-m33"])
def test_se_front_end_on_cortex_m_matches_the_training_log_magnitudes(library, se_data, isa, tmp_path: Path):
    # Six hops pushed from a reset: the window then holds the centred frame 5. One
    # steady-state hop of the analysis costs ~34 k instructions (a 128-point complex FFT,
    # 129 square roots and logs).
    from cost_models.deploy import measure_front_end

    audio = _pcm(se_data.validation.noisy[:1])[0]
    measured = measure_front_end(library["quantized"], library["spec"], audio, isa, tmp_path)
    reference = log_magnitude(torch.from_numpy(audio[: 6 * HOP].astype(np.float32) / 32768)[None])[0, 5].numpy()
    error = np.abs(measured.features - reference) / np.maximum(np.abs(reference), 1.0)
    assert error.max() < 1e-3, error.max()
    assert 20_000 < measured.instructions_per_hop < 60_000, measured.instructions_per_hop

"""The exported C library (``write_c_library``): builds warning-free, bit-exact, streams.

Compiled with the host C compiler; skipped with the reason when there is none. The data
is the small synthetic corpus (20 clips per class), the audio for the front end is
synthesised here (voiced harmonics with formant-like envelopes over coloured noise).
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from cost_models import measurement_available
from cost_models.deploy import LIBRARY_FILES, build_library_driver, front_end_footprint, host_compiler, measure_front_end, quantize_model, run_library_driver, simulate, write_c_library
from search.data import compute_features, load_kws_data
from search.results._c_export import front_end_spec
from spaces import ArchConfig, build_model

pytestmark = pytest.mark.skipif(host_compiler() is None, reason="no host C compiler (cc, gcc or clang) on PATH")

DESIGNS = {
    "gru-linear": ArchConfig(hidden=32, ghost_ratio=2, cheap_op="linear"),
    "lstm-grouped-logmel": ArchConfig(cell="lstm", hidden=27, ghost_ratio=3, cheap_op="grouped", groups=2, features="logmel40", layers=2),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("corpus")
    return {name: load_kws_data(features=name, utterances_per_class=20, cache_dir=cache, progress=False) for name in ("mfcc10", "logmel40")}


@pytest.fixture(scope="module", params=sorted(DESIGNS))
def library(request, corpus, tmp_path_factory: pytest.TempPathFactory):
    config = DESIGNS[request.param]
    data = corpus[config.features]
    torch.manual_seed(0)
    model = build_model(config).eval()
    quantized = quantize_model(model, config, calibration=data.train.features)
    directory = tmp_path_factory.mktemp(request.param)
    spec = front_end_spec(config, data.mean, data.std)
    files = write_c_library(directory, quantized, spec, list(data.class_names))
    return {"config": config, "data": data, "quantized": quantized, "spec": spec, "files": files, "dir": directory, "driver": build_library_driver(directory)}


def synthetic_speech(seconds: float, seed: int) -> np.ndarray:
    """int16 PCM at 16 kHz: a voiced sweep (harmonics under two moving formants), onsets, noise."""
    rng = np.random.default_rng(seed)
    samples = int(16000 * seconds)
    t = np.arange(samples) / 16000
    pitch = 110 + 60 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 16000
    formants = [600 + 400 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)), 1700 + 700 * np.sin(2 * np.pi * 1.1 * t)]
    voiced = np.zeros(samples)
    for harmonic in range(1, 30):
        frequency = harmonic * pitch
        gain = sum(np.exp(-(((frequency - f) / 150) ** 2)) for f in formants) / harmonic**0.5
        voiced += gain * np.sin(harmonic * phase)
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(1, 3) * t) + 0.3, 0, None)
    noise = np.convolve(rng.standard_normal(samples), np.ones(4) / 4, mode="same")
    audio = 0.25 * voiced * envelope / (np.abs(voiced).max() + 1e-9) + rng.uniform(0.002, 0.05) * noise
    return np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)


def test_the_library_has_its_files_and_builds_with_werror(library):
    assert [path.name for path in library["files"]] == list(LIBRARY_FILES)
    header = (library["dir"] / "ghostrnn_model.h").read_text()
    for name in ("GHOSTRNN_SAMPLE_RATE 16000", "GHOSTRNN_HOP_SAMPLES 320", f"GHOSTRNN_CLASSES {library['config'].output_size}", "ghostrnn_kws_push"):
        assert name in header
    # No allocation and no libm in the library sources.
    for name in ("ghostrnn_model.c", "ghostrnn_weights.c", "ghostrnn_features.c"):
        text = (library["dir"] / name).read_text()
        assert "malloc" not in text and "<math.h>" not in text and "logf(" not in text.replace("grnn_logf(", "")
    result = subprocess.run(["make", "-C", str(library["dir"])], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr  # -std=c99 -Wall -Wextra -Werror
    assert (library["dir"] / "example").is_file() and (library["dir"] / "libghostrnn.a").is_file()


def test_library_logits_are_bit_identical_to_the_integer_simulation(library):
    quantized, data = library["quantized"], library["data"]
    inputs = quantized.quantize_input(data.validation.features)
    produced = run_library_driver(library["driver"], "model", inputs.numpy())
    expected = simulate(quantized, inputs).numpy()
    assert produced.shape == expected.shape == (len(data.validation.features), quantized.config.output_size)
    assert np.array_equal(produced, expected)


def test_front_end_matches_compute_features(library):
    config = library["config"]
    audio = np.stack([synthetic_speech(1.0, seed) for seed in range(6)])
    produced = run_library_driver(library["driver"], "features", audio, outputs_per_clip=config.frames)
    reference = compute_features(torch.from_numpy(audio.astype(np.float32) / 32768), config.features).numpy()
    assert produced.shape == reference.shape
    # Within 1e-3 of each value, relative to its magnitude (absolute below 1): float32
    # FFT and log against torch's (measured worst case ~1e-5).
    error = np.abs(produced - reference) / np.maximum(np.abs(reference), 1.0)
    assert error.max() < 1e-3, error.max()


def _quantized_as_in_c(features: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, input_scale: float) -> torch.Tensor:
    """``ghostrnn_features_quantize`` step by step in float32: (x - mean) * scale, clamped,
    rounded half away from zero. Python's float64 normalisation can land one LSB away."""
    scale = (1.0 / (std.double() * input_scale)).float().numpy()
    values = (features.numpy().astype(np.float32) - mean.float().numpy()) * scale
    values = np.clip(values, np.float32(-32768.0), np.float32(32767.0))
    half = np.float32(0.5)
    rounded = np.where(values >= 0, np.floor(values + half), -np.floor(-values + half))
    return torch.from_numpy(rounded.astype(np.int64))


def test_streamed_audio_gives_the_models_logits_after_one_second(library):
    quantized, data, config = library["quantized"], library["data"], library["config"]
    audio = np.stack([synthetic_speech(1.0, seed) for seed in range(10, 16)])
    scores = run_library_driver(library["driver"], "stream", audio)
    features = compute_features(torch.from_numpy(audio.astype(np.float32) / 32768), config.features)
    python_inputs = quantized.quantize_input((features - data.mean) / data.std)
    c_features = torch.from_numpy(run_library_driver(library["driver"], "features", audio, outputs_per_clip=config.frames).copy())
    c_inputs = _quantized_as_in_c(c_features, data.mean, data.std, quantized.input_scale)
    # The C front end's int16 frames are the Python ones up to rare 1-LSB rounding ties;
    # the streamed scores are exactly the simulation of the frames the C front end made.
    assert int((c_inputs - python_inputs).abs().max()) <= 1
    assert float((c_inputs != python_inputs).double().mean()) < 0.01
    assert np.array_equal(scores, simulate(quantized, c_inputs).numpy())
    assert np.array_equal(scores.argmax(axis=1), simulate(quantized, python_inputs).numpy().argmax(axis=1))


def test_example_streams_a_wav_file(library, tmp_path: Path):
    subprocess.run(["make", "-C", str(library["dir"]), "example"], check=True, capture_output=True)
    path = tmp_path / "clip.wav"
    audio = synthetic_speech(2.0, 3)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(audio.tobytes())
    result = subprocess.run([str(library["dir"] / "example"), str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2  # one decision per full utterance: 2 s of audio holds two
    names = set(library["data"].class_names)
    assert all(line.split()[2] in names for line in lines)  # "1.000 s: <class> <scores>"
    wrong = subprocess.run([str(library["dir"] / "example"), str(tmp_path / "missing.wav")], capture_output=True, text=True)
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: cannot open")
    (tmp_path / "text.wav").write_text("not audio")
    wrong = subprocess.run([str(library["dir"] / "example"), str(tmp_path / "text.wav")], capture_output=True, text=True)
    assert wrong.returncode == 2 and "is not a RIFF/WAVE file" in wrong.stderr
    with wave.open(str(tmp_path / "slow.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(audio[:8000].tobytes())
    wrong = subprocess.run([str(library["dir"] / "example"), str(tmp_path / "slow.wav")], capture_output=True, text=True)
    assert wrong.returncode == 2 and "need 16-bit mono PCM at 16000 Hz, got 1 channel(s), 16 bits, 8000 Hz" in wrong.stderr


def test_front_end_cost_counts_the_generated_tables(library):
    cost = front_end_footprint(library["spec"])
    # The audio window (int16) and the n_fft float work buffer are the state.
    assert cost.state_bytes == 2 * 640 + 4 * 1024 + 4
    assert 8_000 < cost.table_bytes < 20_000
    assert cost.ops_per_frame["fft_butterflies"] == 256 * 9


@pytest.mark.skipif(measurement_available() is not None, reason=f"Cortex-M toolchain missing: {measurement_available()}")
@pytest.mark.parametrize("isa", ["cortex-m4", "cortex-m7", "cortex-m33"])
def test_front_end_on_cortex_m_matches_compute_features(library, isa, tmp_path: Path):
    # Cross-compiled for the core (FPU on) and run in the emulator: the last window's
    # float features equal the Python ones within 1e-3, and one steady-state hop costs
    # ~0.1 M instructions (a 512-point complex FFT dominates).
    config, spec = library["config"], library["spec"]
    audio = synthetic_speech(0.5, 7)
    measured = measure_front_end(library["quantized"], spec, audio, isa, tmp_path)
    used = spec.window_samples + 4 * spec.hop_samples
    reference = compute_features(torch.from_numpy(audio[:used].astype(np.float32) / 32768)[None], config.features)[0, -1].numpy()
    error = np.abs(measured.features - reference) / np.maximum(np.abs(reference), 1.0)
    assert error.max() < 1e-3, error.max()
    assert 50_000 < measured.instructions_per_hop < 250_000, measured.instructions_per_hop


_MODEL_HARNESS = """#include <stddef.h>
#include "ghostrnn_model.h"
{memory_functions}
static ghostrnn_state state;
__attribute__((section(".io"))) int16_t io_input[{values}];
__attribute__((section(".io"))) int32_t io_output[GHOSTRNN_CLASSES];

__attribute__((section(".text.harness_run"), used)) void harness_run(void) {{
    ghostrnn_run(&state, io_input, {frames}, io_output);
}}
"""


@pytest.mark.skipif(measurement_available() is not None, reason=f"Cortex-M toolchain missing: {measurement_available()}")
@pytest.mark.parametrize("isa", ["cortex-m4", "cortex-m7", "cortex-m33"])
def test_exported_files_on_cortex_m_give_the_simulated_logits(library, isa, tmp_path: Path):
    # The exported model and weights files, cross-compiled as shipped (SIMD kernels on
    # these cores) and run in the emulator on real validation features.
    from cost_models.deploy import TARGETS, run_elf
    from cost_models.deploy._toolchain import MEMORY_FUNCTIONS, link_elf

    quantized, data, config = library["quantized"], library["data"], library["config"]
    directory = library["dir"]
    harness = directory / f"harness_model_{isa}.c"
    harness.write_text(_MODEL_HARNESS.format(memory_functions=MEMORY_FUNCTIONS, values=config.frames * config.input_size, frames=config.frames))
    elf = link_elf([directory / "ghostrnn_model.c", directory / "ghostrnn_weights.c", harness], TARGETS[isa], tmp_path)
    inputs = quantized.quantize_input(data.validation.features[:2])
    expected = simulate(quantized, inputs).numpy()
    for clip in range(2):
        result = run_elf(elf, isa, inputs[clip].numpy().astype(np.int16), config.output_size, "int32")
        assert np.array_equal(result.outputs.astype(np.int64), expected[clip])

"""The generated int8 matrix kernels: weight layout, SIMD (DSP extension) and portable builds.

The SIMD path only compiles for Cortex-M cores with the DSP extension, so it is checked
in the emulator (``isa`` extra); the portable path is what the host compiler builds.
"""

import dataclasses
from collections import Counter

import numpy as np
import pytest
import torch

from cost_models import TARGETS, analytic_cost, build_elf, generate_c, load_device, measurement_available, quantize_model, run_elf, simulate
from cost_models.deploy._codegen import _kernel_order
from spaces import ArchConfig, build_model

_MISSING = measurement_available()
needs_isa = pytest.mark.skipif(_MISSING is not None, reason=f"Cortex-M toolchain missing: {_MISSING}")

# Sizes that leave remainders everywhere: m = 9 and 11 (rows % 4 != 0, a GRU candidate
# split at an odd column), 10 features (n % 4 = 2), grouped blocks of uneven widths.
AWKWARD = [
    ArchConfig(cell="gru", hidden=27, ghost_ratio=3, cheap_op="grouped", groups=2, layers=2, frames=5),
    ArchConfig(cell="lstm", hidden=22, ghost_ratio=2, cheap_op="linear", frames=5),
    ArchConfig(task="se", features="stft129", cell="gru", hidden=18, ghost_ratio=2, cheap_op="channelwise", frames=3),
]


def test_kernel_order_is_a_permutation_of_each_section():
    weight = torch.arange(7 * 10).reshape(7, 10)
    ordered = _kernel_order(weight, splits=(3,))
    assert Counter(ordered) == Counter(weight.reshape(-1).tolist())
    # First block, first segment (columns 0-2, no full group): one word per column of the 4 rows.
    assert ordered[:4] == [0, 10, 20, 30]
    # Then segment [3, 10): group of 4 columns 3..6 per row as (w0, w2, w1, w3).
    assert ordered[12:16] == [3, 5, 4, 6] and ordered[16:20] == [13, 15, 14, 16]
    # Rows 4-6 are stored alone, segment by segment.
    tail = ordered[40:50]
    assert tail == [40, 41, 42, 43, 45, 44, 46, 47, 48, 49]


def _inputs(config, seed=0):
    torch.manual_seed(seed)
    model = build_model(config).eval()
    frames = torch.randn(1, config.frames, config.input_size)
    quantized = quantize_model(model, config, calibration=frames)
    return quantized, quantized.quantize_input(frames)[0]


def _emulate(quantized, inputs, isa, directory, flags=()):
    source = generate_c(quantized)
    target = dataclasses.replace(TARGETS[isa], flags=tuple(flags))
    frames = inputs.shape[0]
    elf = build_elf(source, target, frames, directory)
    dtype = "int32" if source.output_type == "int32_t" else "int16"
    return run_elf(elf, isa, inputs.numpy().astype(np.int16), source.output_count(frames), dtype)


@needs_isa
@pytest.mark.parametrize("isa", ["cortex-m4", "cortex-m7", "cortex-m33"])
@pytest.mark.parametrize("config", AWKWARD, ids=lambda c: f"{c.task}-{c.describe().replace(' ', '_')}")
def test_simd_and_portable_kernels_are_bit_exact(config, isa, tmp_path):
    quantized, inputs = _inputs(config)
    expected = simulate(quantized, inputs.unsqueeze(0))[0].reshape(-1).numpy()
    simd = _emulate(quantized, inputs, isa, tmp_path / "simd")
    assert np.array_equal(simd.outputs.astype(np.int64), expected)
    if isa == "cortex-m7":
        portable = _emulate(quantized, inputs, isa, tmp_path / "portable", flags=("-DGRNN_PORTABLE",))
        assert np.array_equal(portable.outputs.astype(np.int64), expected)


@needs_isa
def test_simd_kernels_execute_fewer_instructions_per_mac(tmp_path):
    # Hello Edge GRU: the DSP build needs under 75 % of the portable build's
    # instructions (same layout, plain C), and under 2.2 per MAC for the whole inference (4.1 before the
    # SIMD kernels; see benchmarks/README.md).
    config = ArchConfig(hidden=154, ghost_ratio=1, frames=25, features="mfcc10", classes=12)
    quantized, inputs = _inputs(config)
    simd = _emulate(quantized, inputs, "cortex-m7", tmp_path / "simd").instructions
    portable = _emulate(quantized, inputs, "cortex-m7", tmp_path / "portable", flags=("-DGRNN_PORTABLE",)).instructions
    macs = analytic_cost(config, load_device("cortex-m7")).macs
    assert simd < 0.75 * portable, (simd, portable)
    assert simd / macs < 2.2, simd / macs

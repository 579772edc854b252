"""The int8 deployment of a design: what a microcontroller runs.

* :func:`quantize_model`: int8 weights, int32 biases, int16 Q3.12 state, table
  sigmoid/tanh; :func:`simulate` is the bit-exact integer reference in PyTorch;
* :func:`generate_c` / :func:`generate_c_float`: C99 sources of the quantized (or float)
  model, bit-exact with :func:`simulate`;
* :func:`build_elf` / :func:`build_host_library`: the cross toolchain (``ziglang``) for
  Cortex-M4/M7/M33, and the host C compiler;
* :func:`run_elf`: the Cortex-M emulator (``unicorn``), counting instructions;
* :func:`write_c_library`: a deployable C99 library of a KWS or SE design with its
  feature front end (streaming API), checked on the host by :func:`build_library_driver`.

The measured cost model (``cost_models.measure_cost``) and the export both use this room.
Toolchain and emulator need the ``isa`` extra (``pip install ".[isa]"``).

Example:
    >>> import torch
    >>> from spaces import ArchConfig, build_model
    >>> from cost_models.deploy import quantize_model, simulate
    >>> torch.manual_seed(0) and None
    >>> model = build_model(ArchConfig(hidden=16)).eval()
    >>> quantized = quantize_model(model, ArchConfig(hidden=16), calibration=torch.randn(4, 49, 10))
    >>> simulate(quantized, torch.randn(1, 49, 10)).shape
    torch.Size([1, 12])
"""

from cost_models.deploy._codegen import GENERATOR_VERSION, CSource, generate_c, generate_c_float
from cost_models.deploy._emulator import ElfSizes, EmulationResult, elf_sizes, emulator_available, require_emulator, run_elf
from cost_models.deploy._library import (
    LIBRARY_FILES,
    FrontEndFootprint,
    FrontEndMeasurement,
    FrontEndSpec,
    LibraryError,
    build_library_driver,
    front_end_footprint,
    measure_front_end,
    run_library_driver,
    write_c_library,
)
from cost_models.deploy._quantize import QuantizationError, QuantizedModel, quantize_model, simulate
from cost_models.deploy._toolchain import (
    INSTALL_HINT,
    TARGETS,
    Target,
    ToolchainError,
    build_elf,
    build_host_library,
    host_compiler,
    require_cross_compiler,
    run_host,
    target_for,
)

__all__ = [
    "GENERATOR_VERSION",
    "INSTALL_HINT",
    "LIBRARY_FILES",
    "TARGETS",
    "CSource",
    "ElfSizes",
    "FrontEndFootprint",
    "FrontEndMeasurement",
    "FrontEndSpec",
    "EmulationResult",
    "LibraryError",
    "QuantizationError",
    "QuantizedModel",
    "Target",
    "ToolchainError",
    "build_elf",
    "build_host_library",
    "build_library_driver",
    "elf_sizes",
    "emulator_available",
    "front_end_footprint",
    "generate_c",
    "generate_c_float",
    "host_compiler",
    "measure_front_end",
    "quantize_model",
    "require_cross_compiler",
    "require_emulator",
    "run_elf",
    "run_host",
    "run_library_driver",
    "simulate",
    "target_for",
    "write_c_library",
]

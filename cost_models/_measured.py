"""Measured cost of a design on a Cortex-M: generated C, cross-compiled, run in an emulator.

For one design and one device profile with an ``isa`` (cortex-m4/m7/m33/m55):

1. build the PyTorch model (fixed seed), quantise it (``_quantize``) and generate its
   int8 C code (``_codegen``);
2. cross-compile it with the harness (``_toolchain``) and run one inference -- the
   whole KWS window plus the classifier, or one SE frame plus the mask -- in the
   emulator (``_emulator``), checking that its outputs equal the PyTorch integer
   simulation bit for bit;
3. read flash (``.text + .rodata + .data``) and RAM (``.data + .bss`` + stack
   high-water mark) from the ELF, and turn the executed instruction count into
   latency: ``instructions x cycles_per_instruction / clock``.

Instruction counts and sizes are cached on disk per (design, instruction set, compiler,
generator version), so a search pays each measurement once; the latency is recomputed
from the current profile, so a new CPI or clock needs no new measurement.

Example:
    >>> from spaces import ArchConfig
    >>> from cost_models import load_device, measure_cost  # doctest: +SKIP
    >>> cost = measure_cost(ArchConfig(hidden=32, frames=10), load_device("cortex-m7"))  # doctest: +SKIP
    >>> cost.instructions > 0, cost.measured_flash_bytes > cost.text_bytes  # doctest: +SKIP
    (True, True)
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from spaces import ArchConfig, build_model

from cost_models.deploy import GENERATOR_VERSION, generate_c
from cost_models._devices import DeviceProfile
from cost_models._diskcache import JsonCache
from cost_models.deploy import elf_sizes, require_emulator, run_elf
from cost_models.deploy import quantize_model, simulate
from cost_models.deploy import TARGETS, ToolchainError, build_elf, require_cross_compiler, target_for

CACHE_NAMESPACE = "measured"


@dataclass(frozen=True)
class MeasuredCost:
    """What the target executes and stores for one inference (KWS) or frame (SE)."""

    config: ArchConfig
    device: str
    isa: str
    compiler_cpu: str
    instructions: int
    cycles_per_instruction: float
    measured_latency_ms: float
    measured_flash_bytes: int
    measured_ram_bytes: int
    text_bytes: int
    rodata_bytes: int
    data_bytes: int
    bss_bytes: int
    stack_bytes: int
    frames: int  # frames run for the measurement (KWS window, or 1 SE frame)
    generator_version: str
    seconds: float  # wall time of the measurement itself (0 when cached)
    cached: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["config"] = self.config.to_dict()
        return data


def measurement_available() -> Optional[str]:
    """None when the cross compiler and emulator are installed, else the reason."""
    try:
        require_cross_compiler()
        require_emulator()
    except ToolchainError as error:
        return str(error)
    return None


def _isa_of(device: DeviceProfile) -> str:
    isa = device.isa or (device.name if device.name in TARGETS else "")
    if not isa:
        raise ToolchainError(
            f"device {device.name} has no instruction set to measure on; add 'isa: cortex-m4|cortex-m7|cortex-m33|cortex-m55' "
            f"to its profile (measurable: {', '.join(TARGETS)})"
        )
    return isa


def _compiler_version() -> str:
    try:
        return importlib.metadata.version("ziglang")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _frames(config: ArchConfig) -> int:
    return config.frames if config.task == "kws" else 1


def measure_raw(config: ArchConfig, isa: str, seed: int = 0, verify: bool = True, build_dir: Optional[Path] = None) -> dict[str, Any]:
    """Build, run and size one design for an instruction set (no cache, no latency)."""
    target = target_for(isa)
    start = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(config).eval()
        frames = torch.randn(1, _frames(config), config.input_size)
    quantized = quantize_model(model, config)
    inputs = quantized.quantize_input(frames)[0]
    source = generate_c(quantized)
    with tempfile.TemporaryDirectory(prefix="ghostrnn-elf-") as scratch:
        directory = Path(build_dir) if build_dir is not None else Path(scratch)
        elf = build_elf(source, target, _frames(config), directory)
        sizes = elf_sizes(elf)
        output_dtype = "int32" if source.output_type == "int32_t" else "int16"
        result = run_elf(elf, isa, inputs.numpy().astype(np.int16), source.output_count(_frames(config)), output_dtype)
    if verify:
        expected = simulate(quantized, inputs.unsqueeze(0))[0].reshape(-1).numpy()
        if not np.array_equal(expected, result.outputs.astype(np.int64)):
            raise ToolchainError(f"emulated outputs of {config.describe()} on {isa} differ from the integer simulation")
    return {
        "instructions": result.instructions,
        "text_bytes": sizes.text,
        "rodata_bytes": sizes.rodata,
        "data_bytes": sizes.data,
        "bss_bytes": sizes.bss,
        "stack_bytes": result.stack_bytes,
        "frames": _frames(config),
        "compiler_cpu": target.cpu,
        "seconds": time.perf_counter() - start,
    }


def measure_cost(
    config: ArchConfig,
    device: DeviceProfile,
    seed: int = 0,
    use_cache: bool = True,
    cache_dir: Optional[str] = None,
    verify: bool = True,
) -> MeasuredCost:
    """Measured instructions, flash, RAM and latency of ``config`` on ``device`` (cached on disk)."""
    isa = _isa_of(device)
    target = target_for(isa)
    if device.cycles_per_instruction is None:
        raise ToolchainError(f"device profile {device.name} has no cycles_per_instruction; add it to measure latency")
    cache = JsonCache(CACHE_NAMESPACE, cache_dir)
    key = cache.key(
        {
            "config": config.to_dict(),
            # The compiled instruction stream, not the profile name: the M55 shares the
            # M33's build, so it reuses its measurements.
            "cpu": target.cpu,
            "flags": list(target.flags),
            "compiler": _compiler_version(),
            "generator": GENERATOR_VERSION,
            "seed": seed,
        }
    )
    raw = cache.get(key) if use_cache else None
    cached = raw is not None
    if raw is None:
        reason = measurement_available()
        if reason:
            raise ToolchainError(reason)
        raw = measure_raw(config, isa, seed=seed, verify=verify)
        if use_cache:
            cache.put(key, raw)
    cpi = device.cycles_per_instruction
    return MeasuredCost(
        config=config,
        device=device.name,
        isa=isa,
        compiler_cpu=raw["compiler_cpu"],
        instructions=int(raw["instructions"]),
        cycles_per_instruction=cpi,
        measured_latency_ms=1000.0 * raw["instructions"] * cpi / device.clock_hz,
        measured_flash_bytes=raw["text_bytes"] + raw["rodata_bytes"] + raw["data_bytes"],
        measured_ram_bytes=raw["data_bytes"] + raw["bss_bytes"] + raw["stack_bytes"],
        text_bytes=raw["text_bytes"],
        rodata_bytes=raw["rodata_bytes"],
        data_bytes=raw["data_bytes"],
        bss_bytes=raw["bss_bytes"],
        stack_bytes=raw["stack_bytes"],
        frames=raw["frames"],
        generator_version=GENERATOR_VERSION,
        seconds=0.0 if cached else float(raw["seconds"]),
        cached=cached,
        note=target.note,
    )


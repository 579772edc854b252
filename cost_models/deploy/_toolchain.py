"""Compile generated C for a Cortex-M (clang from the ``ziglang`` wheel) or for the host.

Cortex-M builds use ``python -m ziglang cc`` (a clang with bundled lld, installed from
PyPI by the ``isa`` extra): the FPU is enabled only through the
``+feature`` suffix of ``-mcpu`` (``-mfpu``/``-mfloat-abi`` are ignored by it). The
Cortex-M55 is built as scalar Armv8-M Mainline code (no MVE/Helium) because the
emulator that counts the instructions implements neither MVE nor Armv8.1-M.

The link script places code and constants in FLASH (0x08000000), ``.data`` and
``.bss`` in RAM (0x20000000) and the harness's input/output buffers in a separate IO
region (0x60000000), so that the ELF's flash and RAM are the model's alone. The
entry point ``harness_run`` calls ``ghostrnn_run(&state, io_input, count, io_output)``
with the model's state struct in ``.bss``.

Example:
    >>> from cost_models import target_for
    >>> target_for("cortex-m7").cpu
    'cortex_m7+fp_armv8d16'
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cost_models.deploy._codegen import CSource

FLASH_ORIGIN = 0x08000000
RAM_ORIGIN = 0x20000000
IO_ORIGIN = 0x60000000
REGION_LENGTH = 0x01000000  # 16 MiB each: large enough for any design a search meets
INSTALL_HINT = "pip install '.[isa]' in the ghostrnn-search checkout (the package is not on PyPI)"


class ToolchainError(RuntimeError):
    """The cross compiler or the emulator is missing, or a build failed."""


@dataclass(frozen=True)
class Target:
    """A Cortex-M core as the compiler names it."""

    name: str  # device-profile style name, e.g. "cortex-m7"
    cpu: str  # -mcpu with FPU features
    note: str = ""
    flags: tuple[str, ...] = ()  # extra compiler flags


TARGETS: dict[str, Target] = {
    "cortex-m4": Target("cortex-m4", "cortex_m4+vfp4d16sp"),
    "cortex-m7": Target("cortex-m7", "cortex_m7+fp_armv8d16"),
    # +dsp: the DSP extension is optional on the M33 and clang leaves it off by default;
    # the M33 parts on the market (STM32U5/L5, nRF5340, LPC55) have it, and the SIMD
    # matrix kernels need it.
    "cortex-m33": Target("cortex-m33", "cortex_m33+dsp+fp_armv8d16sp"),
    # No +mve: the emulator cannot execute Helium instructions (see the module docstring).
    # The emulator implements neither MVE (Helium) nor the Armv8.1-M scalar additions
    # (CSEL/CSINC, WLS/DLS/LE loops) that clang emits for cortex_m55, so the M55 is
    # measured on Armv8-M Mainline code (the M33 instruction set: DSP + FPU); its
    # latency still uses the M55 profile's clock and cycles per instruction.
    "cortex-m55": Target("cortex-m55", "cortex_m33+dsp+fp_armv8d16sp", note="measured as scalar Armv8-M Mainline code (no MVE/Helium, no Armv8.1-M)"),
}

LINK_SCRIPT = f"""
MEMORY {{
    FLASH (rx)  : ORIGIN = 0x{FLASH_ORIGIN:08x}, LENGTH = 0x{REGION_LENGTH:x}
    RAM   (rwx) : ORIGIN = 0x{RAM_ORIGIN:08x}, LENGTH = 0x{REGION_LENGTH:x}
    IO    (rw)  : ORIGIN = 0x{IO_ORIGIN:08x}, LENGTH = 0x{REGION_LENGTH:x}
}}
ENTRY(harness_run)
SECTIONS {{
    .text : {{ KEEP(*(.text.harness_run)) *(.text*) }} > FLASH
    .rodata : {{ *(.rodata*) }} > FLASH
    .data : {{ *(.data*) }} > RAM AT > FLASH
    .bss (NOLOAD) : {{ *(.bss*) *(COMMON) }} > RAM
    .io (NOLOAD) : {{ *(.io*) }} > IO
    /DISCARD/ : {{ *(.ARM.exidx*) *(.ARM.extab*) *(.comment) }}
}}
"""

# memcpy/memset: the compiler may turn copy loops into calls to them, and a bare
# target has no C library. -ffreestanding keeps these loops from becoming calls.
MEMORY_FUNCTIONS = """
void *memcpy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) { while (n--) *d++ = *s++; } else { while (n--) d[n] = s[n]; }
    return dst;
}

void *memset(void *dst, int value, size_t n) {
    unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)value;
    return dst;
}
"""

_HARNESS = """
#include <stddef.h>
#include "model.h"

static ghostrnn_state model_state; /* .bss: counted as the model's RAM */
__attribute__((section(".io"))) {input_type} io_input[{input_count}];
__attribute__((section(".io"))) {output_type} io_output[{output_count}];

{memory_functions}
__attribute__((section(".text.harness_run"), used)) void harness_run(void) {{
    ghostrnn_run(&model_state, io_input, {frames}, io_output);
}}
"""

ARM_FLAGS = ["-O2", "-std=c99", "-fomit-frame-pointer", "-ffreestanding", "-nostdlib", "-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-fno-exceptions"]


def target_for(device_name: str) -> Target:
    """The compile target of a Cortex-M device profile name (``cortex-m4`` ... ``cortex-m55``)."""
    key = device_name.lower()
    if key not in TARGETS:
        raise ToolchainError(f"no instruction-set target for device {device_name!r}; measurable: {', '.join(TARGETS)}")
    return TARGETS[key]


def cross_compiler_available() -> bool:
    return importlib.util.find_spec("ziglang") is not None


def require_cross_compiler() -> None:
    if not cross_compiler_available():
        raise ToolchainError(f"the Cortex-M cross compiler (ziglang) is not installed: {INSTALL_HINT}")


def host_compiler() -> str | None:
    """The host C compiler (``$CC``, else cc/gcc/clang on PATH), or None."""
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise ToolchainError(f"{what} failed: " + " | ".join(message[:8]))


def build_elf(source: CSource, target: Target, frames: int, directory: Path) -> Path:
    """Cross-compile ``source`` plus the harness for ``frames`` frames; returns the ELF path."""
    require_cross_compiler()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.c").write_text(source.code, encoding="utf-8")
    (directory / "model.h").write_text(source.header(), encoding="utf-8")
    harness = _HARNESS.format(
        memory_functions=MEMORY_FUNCTIONS,
        input_type=source.input_type,
        output_type=source.output_type,
        input_count=frames * source.input_size,
        output_count=source.output_count(frames),
        frames=frames,
    )
    (directory / "harness.c").write_text(harness, encoding="utf-8")
    return link_elf([directory / "model.c", directory / "harness.c"], target, directory)


def link_elf(sources: list[Path], target: Target, directory: Path) -> Path:
    """Cross-compile C files (one defines ``harness_run`` and the ``io_input``/``io_output``
    buffers, see ``_HARNESS``) into ``directory/model.elf`` with the project's link script."""
    require_cross_compiler()
    (directory / "link.ld").write_text(LINK_SCRIPT, encoding="utf-8")
    elf = directory / "model.elf"
    # zig keeps a compile cache; point it inside the build directory's parent so a
    # read-only home does not break the build.
    env = dict(os.environ)
    env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(Path(tempfile.gettempdir()) / "ghostrnn-zig-cache"))
    env.setdefault("ZIG_LOCAL_CACHE_DIR", env["ZIG_GLOBAL_CACHE_DIR"])
    command = [
        sys.executable, "-m", "ziglang", "cc", "-target", "thumb-freestanding-eabihf", f"-mcpu={target.cpu}",
        *ARM_FLAGS, *target.flags, f"-Wl,-T,{directory / 'link.ld'}", "-Wl,-e,harness_run", "-Wl,--gc-sections",
        "-ffunction-sections", "-fdata-sections", f"-I{directory}",
        *[str(path) for path in sources], "-o", str(elf),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise ToolchainError(f"cross compile for {target.name} failed: " + " | ".join(message[:8]))
    return elf


def build_host_library(source: CSource, directory: Path) -> Path:
    """Compile ``source`` into a shared library for the host (ctypes), e.g. to check outputs."""
    compiler = host_compiler()
    if compiler is None:
        raise ToolchainError("no host C compiler (cc, gcc or clang) on PATH")
    directory.mkdir(parents=True, exist_ok=True)
    # The ctypes entry point keeps its state in a static of the library.
    code = source.code + _HOST_ENTRY.format(input_type=source.input_type, output_type=source.output_type)
    digest = hashlib.sha256(code.encode("utf-8")).hexdigest()[:12]
    path = directory / "model.c"
    path.write_text(code, encoding="utf-8")
    library = directory / f"model_{digest}.so"
    # -ffp-contract=off: no fused multiply-adds, so float results do not depend on the host CPU.
    _run([compiler, "-O2", "-std=c99", "-shared", "-fPIC", "-ffp-contract=off", str(path), "-o", str(library)], "host compile")
    return library


_HOST_ENTRY = """
static ghostrnn_state host_state;

void ghostrnn_host_run(const {input_type} *frames, int count, {output_type} *out) {{
    ghostrnn_run(&host_state, frames, count, out);
}}
"""

_NUMPY_TYPES = {"int16_t": "int16", "int32_t": "int32", "float": "float32"}


def run_host(source: CSource, frames, directory: Path | None = None):
    """Run the generated code on the host for frames [T, D] (numpy/torch); returns a numpy array.

    KWS gives the outputs after the last frame, SE one output row per frame.
    """
    import ctypes

    import numpy as np

    frames = np.ascontiguousarray(np.asarray(frames), dtype=_NUMPY_TYPES[source.input_type])
    count = frames.shape[0]
    outputs = np.zeros(source.output_count(count), dtype=_NUMPY_TYPES[source.output_type])
    with tempfile.TemporaryDirectory(prefix="ghostrnn-host-") as scratch:
        library_path = build_host_library(source, Path(directory or scratch))
        library = ctypes.CDLL(str(library_path))
        library.ghostrnn_host_run.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        library.ghostrnn_host_run.restype = None
        library.ghostrnn_host_run(frames.ctypes.data, count, outputs.ctypes.data)
    return outputs.reshape(count, -1) if source.task == "se" else outputs

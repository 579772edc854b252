"""Execute a Cortex-M ELF in the unicorn emulator, count executed instructions, read its memory.

Unicorn (QEMU's CPU core, ``pip install unicorn``) runs the Thumb-2 code of the
generated inference function; no board is needed. Details that matter for correct
counts:

* the CPU model is set with ``ctl_set_cpu_model`` in ``UC_MODE_THUMB`` (with
  ``UC_MODE_MCLASS`` unicorn silently picks a Cortex-M33 whatever is asked);
* the block hook is installed before the first run, so every translated block is
  counted; each block's instruction count is decoded once from its bytes (a Thumb
  halfword whose top five bits are 0b11101, 0b11110 or 0b11111 starts a 32-bit
  instruction) and then multiplied by the number of times the block ran;
* unicorn has no Cortex-M55, no MVE (Helium) and no Armv8.1-M: the M55 build is
  scalar Armv8-M Mainline code (the M33 instruction set), run on the Cortex-M33 model.

Memory: flash = ``.text + .rodata + .data`` (the initial values of ``.data`` live in
flash), RAM = ``.data + .bss`` + the stack high-water mark, measured by painting the
stack with a pattern before the run and finding the deepest overwritten word after.

Example:
    >>> from cost_models import elf_sizes  # doctest: +SKIP
    >>> elf_sizes("model.elf").flash_bytes  # doctest: +SKIP
    8392
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cost_models.deploy._toolchain import INSTALL_HINT, IO_ORIGIN, RAM_ORIGIN, ToolchainError

STACK_BYTES = 64 * 1024  # room for the stack above .bss; the harness needs a few hundred bytes
STACK_PATTERN = 0xA5
RETURN_ADDRESS = 0x7FFF0000  # an unmapped sentinel: the run stops when harness_run returns here
PAGE = 0x1000

# unicorn CPU model per target; the M55 runs on the M33 model (see the module docstring).
CPU_MODELS = {"cortex-m4": "UC_CPU_ARM_CORTEX_M4", "cortex-m7": "UC_CPU_ARM_CORTEX_M7", "cortex-m33": "UC_CPU_ARM_CORTEX_M33", "cortex-m55": "UC_CPU_ARM_CORTEX_M33"}


def emulator_available() -> bool:
    return importlib.util.find_spec("unicorn") is not None and importlib.util.find_spec("elftools") is not None


def require_emulator() -> None:
    if not emulator_available():
        raise ToolchainError(f"the Cortex-M emulator (unicorn, pyelftools) is not installed: {INSTALL_HINT}")


@dataclass(frozen=True)
class ElfSizes:
    """Section sizes of a linked ELF, in bytes."""

    text: int
    rodata: int
    data: int
    bss: int
    symbols: dict[str, tuple[int, int]]  # name -> (address, size) for the harness and model symbols

    @property
    def flash_bytes(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def static_ram_bytes(self) -> int:
        return self.data + self.bss


@dataclass(frozen=True)
class EmulationResult:
    """What one run of ``harness_run`` did."""

    instructions: int
    blocks: int
    stack_bytes: int
    outputs: np.ndarray
    cpu: str
    # With ``profile=True``: executed instructions per function symbol (a block belongs to
    # the function its first instruction is in; "?" outside every symbol), and per
    # translated block as {(start address, size in bytes): instructions}.
    by_symbol: dict[str, int] | None = None
    by_block: dict[tuple[int, int], int] | None = None


def elf_sizes(path: str | Path) -> ElfSizes:
    """Flash and static RAM sections of an ELF built by ``build_elf``."""
    require_emulator()
    from elftools.elf.elffile import ELFFile

    sizes = {".text": 0, ".rodata": 0, ".data": 0, ".bss": 0}
    symbols: dict[str, tuple[int, int]] = {}
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        for section in elf.iter_sections():
            for name in sizes:
                if section.name == name or section.name.startswith(name + "."):
                    sizes[name] += section["sh_size"]
        table = elf.get_section_by_name(".symtab")
        if table is not None:
            for symbol in table.iter_symbols():
                if symbol.name and symbol["st_info"]["type"] in ("STT_OBJECT", "STT_FUNC"):
                    symbols[symbol.name] = (symbol["st_value"], symbol["st_size"])
    return ElfSizes(sizes[".text"], sizes[".rodata"], sizes[".data"], sizes[".bss"], symbols)


def _thumb_instructions(code: bytes) -> int:
    count, offset = 0, 0
    while offset + 1 < len(code):
        first = code[offset] | (code[offset + 1] << 8)
        offset += 4 if (first >> 11) in (0b11101, 0b11110, 0b11111) else 2
        count += 1
    return count


def _align(value: int, to: int = PAGE) -> int:
    return (value + to - 1) // to * to


def run_elf(
    path: str | Path, device: str, inputs: np.ndarray, output_count: int, output_dtype: str, max_instructions: int = 2_000_000_000, profile: bool = False
) -> EmulationResult:
    """Run ``harness_run`` of an ELF on ``inputs`` (already in the harness's input dtype).

    ``profile`` also attributes the executed instructions to functions and blocks.
    """
    require_emulator()
    import unicorn
    from elftools.elf.elffile import ELFFile
    from unicorn import arm_const

    if device not in CPU_MODELS:
        raise ToolchainError(f"no emulated CPU for {device!r}; measurable: {', '.join(CPU_MODELS)}")
    sizes = elf_sizes(path)
    emu = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB)
    emu.ctl_set_cpu_model(getattr(arm_const, CPU_MODELS[device]))
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        entry = elf.header.e_entry
        segments = [(seg["p_vaddr"], seg.data(), seg["p_memsz"]) for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
    # Map flash from the loaded segments, RAM for .data/.bss plus the stack, and the IO buffers.
    flash_end = max([address + size for address, _, size in segments if address < RAM_ORIGIN] or [0x08000000 + PAGE])
    emu.mem_map(0x08000000, _align(flash_end - 0x08000000) or PAGE, unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC)
    ram_size = _align(sizes.static_ram_bytes + STACK_BYTES)
    emu.mem_map(RAM_ORIGIN, ram_size, unicorn.UC_PROT_READ | unicorn.UC_PROT_WRITE)
    stack_top = RAM_ORIGIN + ram_size
    stack_bottom = RAM_ORIGIN + _align(sizes.static_ram_bytes, 8)
    emu.mem_write(stack_bottom, bytes([STACK_PATTERN]) * (stack_top - stack_bottom))
    for address, data, _ in segments:
        if address < IO_ORIGIN and data:
            emu.mem_write(address, data)  # .data is placed at its run address directly (what a start-up copy does)
    input_address = sizes.symbols["io_input"][0]
    output_address = sizes.symbols["io_output"][0]
    raw_inputs = np.ascontiguousarray(inputs).tobytes()
    output_bytes = output_count * np.dtype(output_dtype).itemsize
    emu.mem_map(IO_ORIGIN, _align(max(PAGE, output_address - IO_ORIGIN + output_bytes, len(raw_inputs))), unicorn.UC_PROT_READ | unicorn.UC_PROT_WRITE)
    emu.mem_write(input_address, raw_inputs)
    emu.mem_map(RETURN_ADDRESS & ~(PAGE - 1), PAGE, unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC)
    emu.mem_write(RETURN_ADDRESS, b"\x00\xbf" * 8)  # NOPs; the run stops before executing them
    # The CPU starts with the FPU off on M-profile models: enable CP10/CP11 (CPACR) so
    # float builds run; integer builds never touch it.
    try:
        emu.reg_write(arm_const.UC_ARM_REG_CPACR, 0xF << 20)
    except (unicorn.UcError, AttributeError):
        pass
    emu.reg_write(arm_const.UC_ARM_REG_SP, stack_top)
    emu.reg_write(arm_const.UC_ARM_REG_LR, RETURN_ADDRESS | 1)

    block_sizes: dict[int, int] = {}
    block_runs: dict[int, int] = {}

    def on_block(uc, address, size, _user):
        key = (address << 8) | size
        runs = block_runs.get(key)
        if runs is None:
            block_runs[key] = 1
            block_sizes[key] = _thumb_instructions(bytes(uc.mem_read(address, size)))
        else:
            block_runs[key] = runs + 1

    # Installed before the first emu_start, so no block is translated without the hook.
    emu.hook_add(unicorn.UC_HOOK_BLOCK, on_block)
    try:
        emu.emu_start(entry | 1, RETURN_ADDRESS, count=max_instructions)
    except unicorn.UcError as error:
        pc = emu.reg_read(arm_const.UC_ARM_REG_PC)
        raise ToolchainError(f"emulation of {path} on {device} stopped at pc=0x{pc:08x}: {error}") from None
    if emu.reg_read(arm_const.UC_ARM_REG_PC) & ~1 != RETURN_ADDRESS:
        raise ToolchainError(f"emulation of {path} did not return within {max_instructions} instructions")
    instructions = sum(block_sizes[key] * runs for key, runs in block_runs.items())
    stack = bytes(emu.mem_read(stack_bottom, stack_top - stack_bottom))
    untouched = len(stack) - len(stack.lstrip(bytes([STACK_PATTERN])))
    stack_used = stack_top - (stack_bottom + untouched)
    outputs = np.frombuffer(bytes(emu.mem_read(output_address, output_bytes)), dtype=output_dtype).copy()
    by_symbol = by_block = None
    if profile:
        by_block = {(key >> 8, key & 0xFF): block_sizes[key] * runs for key, runs in block_runs.items()}
        by_symbol = _attribute(by_block, sizes.symbols)
    return EmulationResult(
        instructions=instructions, blocks=sum(block_runs.values()), stack_bytes=stack_used, outputs=outputs, cpu=CPU_MODELS[device], by_symbol=by_symbol, by_block=by_block
    )


def _attribute(by_block: dict[tuple[int, int], int], symbols: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Instructions per function: each block goes to the symbol whose range holds its start."""
    ranges = sorted((address & ~1, (address & ~1) + max(size, 1), name) for name, (address, size) in symbols.items() if address < RAM_ORIGIN)
    totals: dict[str, int] = {}
    for (address, _), count in by_block.items():
        name = next((name for start, end, name in ranges if start <= address < end), "?")
        totals[name] = totals.get(name, 0) + count
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def count_instructions(path: str | Path, device: str, inputs: np.ndarray, output_count: int, output_dtype: str) -> int:
    """Executed instructions of one ``harness_run`` (a shorthand for ``run_elf(...).instructions``)."""
    return run_elf(path, device, inputs, output_count, output_dtype).instructions


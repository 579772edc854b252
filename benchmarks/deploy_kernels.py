"""Instructions per MAC of the generated int8 C on Cortex-M4/M7/M33, and the exported library's flash.

Prints a table and writes ``benchmarks/deploy_kernels.json`` with, for five designs on
each core:

* executed instructions of one inference (emulator; KWS window, or one SE frame), per
  MAC, and cycles per inference (instructions x the profile's cycles per instruction),
  against the 0.5 cycle/MAC limit of two int8 MACs per cycle (SMLAD);
* the same code built portable (``-DGRNN_PORTABLE``: identical layout, plain C loops),
  so the SIMD kernels' gain is measured on one generator;

the exported front ends (``mfcc10``, ``logmel40``; ``stft129``, the SE analysis without
the resynthesis) run in the emulator: instructions per steady-state hop and the latency
that makes on each profile; one whole ``ghostrnn_se_push`` of the SE design (front end,
model, overlap-add resynthesis) per hop; and, for the KWS designs,
the flash of the exported C library (``write_c_library``,
cross-compiled for the Cortex-M7 with the project's clang, ``-O2``: ``.text + .rodata +
.data`` of the model and weights objects, and of the front end) against the analytic
flash model.

Instruction counts do not depend on machine load. The figures of an earlier generator
come from running this script with ``--baseline`` in a checkout of it (it then skips the
portable build and the library, which generator 1 did not have); generator 5's full run
is kept as ``deploy_kernels_generator5.json``.

Run from the repository root: ``python benchmarks/deploy_kernels.py`` (about two minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cost_models import analytic_cost, load_device, measurement_available  # noqa: E402
from cost_models._measured import measure_raw  # noqa: E402
from cost_models.deploy import GENERATOR_VERSION  # noqa: E402
from spaces import ArchConfig, build_model  # noqa: E402

DEVICES = ("cortex-m4", "cortex-m7", "cortex-m33")
DESIGNS = {
    "hello_edge_gru_h154": ArchConfig(hidden=154, ghost_ratio=1, frames=25, features="mfcc10", classes=12),
    "ghost_gru_h154_r2_linear": ArchConfig(hidden=154, ghost_ratio=2, cheap_op="linear", frames=25, features="mfcc10", classes=12),
    "ghost_gru_h64_r2_channelwise": ArchConfig(hidden=64, ghost_ratio=2, cheap_op="channelwise"),
    "ghost_lstm_2x96_r3_grouped": ArchConfig(cell="lstm", hidden=96, ghost_ratio=3, cheap_op="grouped", groups=2, layers=2),
    "se_gru_h128_r2_identity": ArchConfig(task="se", features="stft129", hidden=128, ghost_ratio=2, cheap_op="identity"),
}
OUTPUT = Path(__file__).with_suffix(".json")


def _portable_instructions(config: ArchConfig, isa: str) -> int:
    from cost_models.deploy import TARGETS, build_elf, generate_c, quantize_model, run_elf

    torch.manual_seed(0)
    model = build_model(config).eval()
    frames_count = config.frames if config.task == "kws" else 1
    frames = torch.randn(1, frames_count, config.input_size)
    quantized = quantize_model(model, config)
    source = generate_c(quantized)
    target = dataclasses.replace(TARGETS[isa], flags=("-DGRNN_PORTABLE",))
    with tempfile.TemporaryDirectory() as scratch:
        elf = build_elf(source, target, frames_count, Path(scratch))
        dtype = "int32" if source.output_type == "int32_t" else "int16"
        inputs = quantized.quantize_input(frames)[0].numpy().astype(np.int16)
        return run_elf(elf, isa, inputs, source.output_count(frames_count), dtype).instructions


def _object_flash(paths: list[Path]) -> int:
    from elftools.elf.elffile import ELFFile

    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            for section in ELFFile(handle).iter_sections():
                if section.name.startswith((".text", ".rodata", ".data")) and section["sh_type"] != "SHT_NOBITS":
                    total += section["sh_size"]
    return total


def library_flash(config: ArchConfig) -> dict:
    """Flash of the exported library's objects for the Cortex-M7 vs the analytic flash."""
    from cost_models.deploy import TARGETS, front_end_footprint, quantize_model, write_c_library
    from search.results._c_export import front_end_spec

    torch.manual_seed(0)
    quantized = quantize_model(build_model(config).eval(), config)
    dims = config.input_size
    spec = front_end_spec(config, torch.zeros(dims), torch.ones(dims))
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        write_c_library(directory, quantized, spec, [f"class{k}" for k in range(config.output_size)])
        objects = {}
        for name in ("ghostrnn_model", "ghostrnn_weights", "ghostrnn_features"):
            output = directory / f"{name}.o"
            command = [
                sys.executable, "-m", "ziglang", "cc", "-target", "thumb-freestanding-eabihf", f"-mcpu={TARGETS['cortex-m7'].cpu}",
                "-O2", "-std=c99", "-ffreestanding", "-ffunction-sections", "-fdata-sections", "-c", str(directory / f"{name}.c"), "-o", str(output),
            ]
            subprocess.run(command, check=True, capture_output=True)
            objects[name] = _object_flash([output])
    cost = analytic_cost(config, load_device("cortex-m7"))
    analytic = cost.model_flash_bytes  # the model's share; cost.flash_bytes adds the front end
    model_flash = objects["ghostrnn_model"] + objects["ghostrnn_weights"]
    return {
        "analytic_flash_bytes": analytic,
        "model_and_weights_flash_bytes": model_flash,
        "model_vs_analytic": model_flash / analytic - 1,
        "analytic_total_flash_bytes": cost.flash_bytes,
        "library_vs_analytic_total": (model_flash + objects["ghostrnn_features"]) / cost.flash_bytes - 1,
        "front_end_flash_bytes": objects["ghostrnn_features"],
        "front_end_tables_bytes": front_end_footprint(spec).table_bytes,
        "front_end_state_bytes": front_end_footprint(spec).state_bytes,
    }


def front_end_per_hop() -> dict:
    """The exported front ends in the emulator: instructions per steady-state hop, and latency."""
    from cost_models.deploy import front_end_footprint, measure_front_end, quantize_model
    from search.results._c_export import front_end_spec

    rng = np.random.default_rng(0)
    audio = np.clip(rng.normal(0, 3000, 16000), -32768, 32767).astype(np.int16)
    results = {}
    for name in ("mfcc10", "logmel40", "stft129"):
        config = ArchConfig(hidden=16, features=name, task="se" if name == "stft129" else "kws")
        torch.manual_seed(0)
        quantized = quantize_model(build_model(config).eval(), config)
        spec = front_end_spec(config, torch.zeros(config.input_size), torch.ones(config.input_size))
        cost = front_end_footprint(spec)
        rows = {}
        for isa in DEVICES:
            device = load_device(isa)
            with tempfile.TemporaryDirectory() as scratch:
                measured = measure_front_end(quantized, spec, audio, isa, scratch)
            milliseconds = 1000 * measured.instructions_per_hop * device.cycles_per_instruction / device.clock_hz
            rows[isa] = {
                "instructions_per_hop": measured.instructions_per_hop,
                "ms_per_hop": milliseconds,
                "share_of_hop_period": milliseconds / (1000 * spec.hop_samples / spec.sample_rate),
            }
        results[name] = {"table_bytes": cost.table_bytes, "state_bytes": cost.state_bytes, "ops_per_frame": cost.ops_per_frame, "devices": rows}
    return results


_SE_STREAM_HARNESS = """#include <stddef.h>
#include "ghostrnn_model.h"
{memory_functions}
static ghostrnn_se stream;
__attribute__((section(".io"))) int16_t io_input[{samples}];
__attribute__((section(".io"))) int16_t io_output[GHOSTRNN_HOP_SAMPLES];

__attribute__((section(".text.harness_run"), used)) void harness_run(void) {{
    int16_t mask[GHOSTRNN_BINS];
    ghostrnn_se_reset(&stream);
    for (int h = 0; h < {hops}; h++) ghostrnn_se_push(&stream, io_input + h * GHOSTRNN_HOP_SAMPLES, mask, io_output);
}}
"""


def se_stream_per_hop(label: str = "se_gru_h128_r2_identity", hops: int = 4, extra: int = 4) -> dict:
    """One steady-state ghostrnn_se_push of the exported SE library (front end, model, overlap-add)."""
    from cost_models.deploy import TARGETS, quantize_model, run_elf, write_c_library
    from cost_models.deploy._toolchain import MEMORY_FUNCTIONS, link_elf
    from search.results._c_export import front_end_spec

    config = DESIGNS[label]
    torch.manual_seed(0)
    quantized = quantize_model(build_model(config).eval(), config)
    spec = front_end_spec(config, torch.zeros(config.input_size), torch.ones(config.input_size))
    rng = np.random.default_rng(0)
    audio = np.clip(rng.normal(0, 3000, (hops + extra) * spec.hop_samples), -32768, 32767).astype(np.int16)
    rows = {}
    for isa in DEVICES:
        device = load_device(isa)
        counts = []
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch)
            write_c_library(directory, quantized, spec, [])
            for count in (hops, hops + extra):
                harness = directory / f"harness_{count}.c"
                harness.write_text(_SE_STREAM_HARNESS.format(memory_functions=MEMORY_FUNCTIONS, samples=audio.size, hops=count), encoding="utf-8")
                build = directory / f"build_{count}"
                build.mkdir()
                sources = [directory / "ghostrnn_features.c", directory / "ghostrnn_model.c", directory / "ghostrnn_weights.c", harness]
                elf = link_elf(sources, TARGETS[isa], build)
                counts.append(run_elf(elf, isa, audio, spec.hop_samples, "int16").instructions)
        per_hop = (counts[1] - counts[0]) / extra
        milliseconds = 1000 * per_hop * device.cycles_per_instruction / device.clock_hz
        rows[isa] = {"instructions_per_hop": per_hop, "ms_per_hop": milliseconds, "share_of_hop_period": milliseconds / (1000 * spec.hop_samples / spec.sample_rate)}
    return {"design": label, "describe": f"{config.task} {config.describe()}", "devices": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true", help="only the emulated counts (for a checkout of an older generator)")
    parser.add_argument("--out", default=str(OUTPUT))
    args = parser.parse_args()
    missing = measurement_available()
    if missing:
        print(f"cannot measure: {missing}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    rows = []
    for label, config in DESIGNS.items():
        for isa in DEVICES:
            device = load_device(isa)
            macs = analytic_cost(config, device).macs
            raw = measure_raw(config, isa, verify=True)
            row = {
                "design": label,
                "describe": f"{config.task} {config.describe()}",
                "device": isa,
                "macs": macs,
                "instructions": raw["instructions"],
                "instructions_per_mac": raw["instructions"] / macs,
                "cycles": raw["instructions"] * device.cycles_per_instruction,
                "cycles_per_mac": raw["instructions"] * device.cycles_per_instruction / macs,
                "cycles_per_instruction": device.cycles_per_instruction,
                "flash_bytes": raw["text_bytes"] + raw["rodata_bytes"] + raw["data_bytes"],
            }
            if not args.baseline:
                portable = _portable_instructions(config, isa)
                row["portable_instructions"] = portable
                row["portable_instructions_per_mac"] = portable / macs
            rows.append(row)
    report = {"generator_version": GENERATOR_VERSION, "python": platform.python_version(), "kernels": rows}
    if not args.baseline:
        report["library_flash_cortex_m7"] = {label: library_flash(config) for label, config in DESIGNS.items() if config.task == "kws"}
        report["front_end"] = front_end_per_hop()
        report["se_stream"] = se_stream_per_hop()
    report["benchmark_seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"generator {GENERATOR_VERSION}: instructions per MAC (emulated) and cycles per inference (x profile CPI)")
    print(f"{'design':<30} {'device':<11} {'MACs':>10} {'instr/MAC':>10} {'portable':>9} {'cycles':>12} {'cyc/MAC':>8}")
    for row in rows:
        portable = f"{row['portable_instructions_per_mac']:.2f}" if "portable_instructions_per_mac" in row else "-"
        print(f"{row['design']:<30} {row['device']:<11} {row['macs']:>10,} {row['instructions_per_mac']:>10.2f} {portable:>9} {row['cycles']:>12,.0f} {row['cycles_per_mac']:>8.2f}")
    for label, data in report.get("library_flash_cortex_m7", {}).items():
        print(
            f"library {label}: model+weights {data['model_and_weights_flash_bytes']:,} B vs analytic {data['analytic_flash_bytes']:,} B "
            f"({100 * data['model_vs_analytic']:+.1f} %); front end {data['front_end_flash_bytes']:,} B flash, {data['front_end_state_bytes']:,} B state"
        )
    for name, data in report.get("front_end", {}).items():
        per_device = ", ".join(f"{isa} {row['instructions_per_hop']:,.0f} instr = {row['ms_per_hop']:.2f} ms ({100 * row['share_of_hop_period']:.1f} % of the hop)" for isa, row in data["devices"].items())
        print(f"front end {name}: {data['table_bytes']:,} B tables, {data['state_bytes']:,} B state; per hop: {per_device}")
    if "se_stream" in report:
        data = report["se_stream"]
        per_device = ", ".join(f"{isa} {row['instructions_per_hop']:,.0f} instr = {row['ms_per_hop']:.2f} ms ({100 * row['share_of_hop_period']:.1f} % of the hop)" for isa, row in data["devices"].items())
        print(f"SE stream {data['describe']} (front end + model + overlap-add) per hop: {per_device}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fit and check the analytic front-end and code-size model against the exported C library.

For Cortex-M4, M7 and M33 (M55 takes the M33's figures: it is measured as M33 code):

* **front end per hop**: the exported ``ghostrnn_features.c`` of a grid of 13 front ends
  (MFCC and log-mel; windows of 256-2048 samples, FFTs of 256-2048 points, 20-80 mel
  bands) runs in the emulator (``cost_models.deploy.measure_front_end``: one steady-state
  hop); its instructions x the profile's cycles per instruction are fitted by
  non-negative least squares on relative error to the counted work of
  ``cost_models.FrontEndWork`` (every 4th front end held out, reported apart);
* **code size**: the exported library of a grid of designs is compiled for the core
  (``-O2``, as ``benchmarks/deploy_kernels.py``); the ``.text`` of ``ghostrnn_model.o``
  is fitted (non-negative least squares on relative error) as ``model + layer x (layers
  - 1) + ghost x ghost layers + unaligned x layers whose intrinsic width is not a
  multiple of 4 + mask (SE)``, and the front end's code by kind is the flash of
  ``ghostrnn_features.o`` of the shipped front end less its analytic tables (the
  normalisation constants the compiler folds into code are counted there);
* **check**: for the five designs of ``benchmarks/deploy_kernels.py`` the flash of the
  exported library (model, weights and front end objects; the SE design: model and
  weights, it has no C front end yet) against the analytic flash.

``--write`` stores the fitted ``front_end_cycles`` and ``code_bytes`` in the shipped
Cortex-M profiles (their comments kept): the one command to run again when the
generated C changes. Instruction counts and object sizes do not depend on machine load.
Writes ``benchmarks/front_end_cost.json``.

Run from the repository root: ``python benchmarks/front_end_cost.py [--write]`` (about a minute).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cost_models import (  # noqa: E402
    FrontEndWork,
    analytic_cost,
    fit_cycles,
    layout_of,
    load_device,
    measurement_available,
)
from cost_models.deploy import TARGETS, FrontEndSpec, generate_c, measure_front_end, quantize_model, write_c_library  # noqa: E402
from spaces import FEATURE_FRONT_ENDS, FEATURE_RECIPES, ArchConfig, FeatureFrontEnd, FeatureRecipe, build_model, dct_matrix, mel_filterbank  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_kernels import DESIGNS as CHECK_DESIGNS  # noqa: E402  (the five designs the flash target names)

ISAS = ("cortex-m4", "cortex-m7", "cortex-m33")
# The M55 is built and measured as M33 code (cost_models.deploy.TARGETS).
PROFILES = {"cortex-m4": ("cortex-m4",), "cortex-m7": ("cortex-m7",), "cortex-m33": ("cortex-m33", "cortex-m55")}
OUTPUT = Path(__file__).with_suffix(".json")
ROOT_CYCLES = 20.0  # no C magnitude front end to measure yet: see ROOT_SOURCE
ROOT_SOURCE = "estimate until a magnitude front end has C code: VSQRT.F32 takes 14 cycles (Arm Cortex-M4 TRM) plus a load, a store and the loop"

# (kind, window, hop, n_fft, bands, f_min, f_max); MFCC keeps 10 coefficients, log-mel 40 bands
# (the model's input width fixes the features per frame: mfcc10 and logmel40).
FRONT_END_GRID = [
    ("mfcc", 640, 320, 1024, 40, 20.0, 4000.0),
    ("mfcc", 480, 160, 512, 40, 20.0, 8000.0),
    ("mfcc", 256, 128, 256, 20, 20.0, 4000.0),
    ("mfcc", 1024, 256, 1024, 64, 20.0, 8000.0),
    ("mfcc", 1024, 512, 2048, 80, 20.0, 8000.0),
    ("mfcc", 640, 320, 1024, 20, 20.0, 4000.0),
    ("mfcc", 512, 256, 512, 32, 20.0, 8000.0),
    ("mfcc", 2048, 512, 2048, 40, 20.0, 4000.0),
    ("logmel", 640, 320, 1024, 40, 20.0, 8000.0),
    ("logmel", 256, 128, 256, 40, 20.0, 8000.0),
    ("logmel", 512, 256, 512, 40, 20.0, 4000.0),
    ("logmel", 1024, 256, 2048, 40, 20.0, 8000.0),
    ("logmel", 480, 160, 512, 40, 0.0, 8000.0),
]
# Designs whose compiled model code the code-size figures are fitted to.
CODE_GRID = [
    ArchConfig(hidden=8, ghost_ratio=1),
    ArchConfig(hidden=32, ghost_ratio=1, features="logmel40"),
    ArchConfig(hidden=154, ghost_ratio=1, frames=25),
    ArchConfig(hidden=16, ghost_ratio=1, layers=2),
    ArchConfig(hidden=64, ghost_ratio=1, layers=3),
    ArchConfig(cell="lstm", hidden=16, ghost_ratio=1),
    ArchConfig(cell="lstm", hidden=48, ghost_ratio=1, layers=2),
    ArchConfig(hidden=16, ghost_ratio=2, cheap_op="identity"),
    ArchConfig(hidden=64, ghost_ratio=2, cheap_op="channelwise"),
    ArchConfig(hidden=154, ghost_ratio=2, cheap_op="linear", frames=25),
    ArchConfig(hidden=96, ghost_ratio=3, cheap_op="grouped", layers=2),
    ArchConfig(cell="lstm", hidden=96, ghost_ratio=3, cheap_op="grouped", layers=2),
    ArchConfig(cell="lstm", hidden=128, ghost_ratio=2, cheap_op="linear"),
    ArchConfig(hidden=100, ghost_ratio=1.5, cheap_op="channelwise"),
    ArchConfig(task="se", features="stft129", hidden=64, ghost_ratio=1),
    ArchConfig(task="se", features="stft129", hidden=96, ghost_ratio=2, cheap_op="linear"),
    ArchConfig(task="se", features="stft129", cell="lstm", hidden=32, ghost_ratio=1, layers=2),
]
CLASS_NAMES = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_silence_", "_unknown_"]


def grid_spec(kind: str, window: int, hop: int, n_fft: int, bands: int, f_min: float, f_max: float):
    """A front end of the grid: the C library's spec, the shipped front end of its width, its layout."""
    name = "mfcc10" if kind == "mfcc" else "logmel40"
    dims = FEATURE_FRONT_ENDS[name].dims
    filterbank = mel_filterbank(bands, n_fft, 16000, f_min, f_max)
    dct = dct_matrix(bands, dims) if kind == "mfcc" else None
    label = f"{kind} w{window} h{hop} n{n_fft} b{bands} {f_min:g}-{f_max:g} Hz"
    spec = FrontEndSpec(label, kind, 16000, window, hop, n_fft, filterbank, dct, 1e-6, torch.zeros(dims), torch.ones(dims))
    layout = layout_of(FeatureFrontEnd(label, dims, window, hop), FeatureRecipe(kind, n_fft, bands, f_min, f_max))
    return spec, name, layout


def _tiny_model(features: str):
    config = ArchConfig(hidden=8, ghost_ratio=1, features=features)
    torch.manual_seed(0)
    return quantize_model(build_model(config).eval(), config)


def measure_front_ends(isa: str, audio: np.ndarray) -> list[dict]:
    rows = []
    for row in FRONT_END_GRID:
        spec, name, layout = grid_spec(*row)
        with tempfile.TemporaryDirectory() as scratch:
            measured = measure_front_end(_tiny_model(name), spec, audio, isa, scratch)
        rows.append({"front_end": spec.name, "work": layout.work().as_dict(), "instructions_per_hop": measured.instructions_per_hop})
    return rows


def _compile(source: Path, isa: str, output: Path) -> dict[str, int]:
    """Section sizes (.text, .rodata, .data) of one object compiled for the core at -O2."""
    from elftools.elf.elffile import ELFFile

    command = [
        sys.executable, "-m", "ziglang", "cc", "-target", "thumb-freestanding-eabihf", f"-mcpu={TARGETS[isa].cpu}",
        "-O2", "-std=c99", "-ffreestanding", "-ffunction-sections", "-fdata-sections", "-c", str(source), "-o", str(output),
    ]
    subprocess.run(command, check=True, capture_output=True)
    sizes = {"text": 0, "rodata": 0, "data": 0}
    with open(output, "rb") as handle:
        for section in ELFFile(handle).iter_sections():
            if section["sh_type"] == "SHT_NOBITS":
                continue
            for kind in sizes:
                if section.name.startswith(f".{kind}"):
                    sizes[kind] += section["sh_size"]
    return sizes


def library_objects(config: ArchConfig, isa: str) -> dict[str, dict[str, int]]:
    """Section sizes of the exported library's objects (SE: model and weights from the generator)."""
    torch.manual_seed(0)
    quantized = quantize_model(build_model(config).eval(), config)
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        if config.task == "kws":
            recipe = FEATURE_RECIPES[config.features]
            spec = FrontEndSpec(
                config.features, recipe.kind, 16000, config.front_end.window_samples, config.front_end.hop_samples, recipe.n_fft,
                mel_filterbank(recipe.mel_bands, recipe.n_fft, 16000, recipe.f_min, recipe.f_max),
                dct_matrix(recipe.mel_bands, config.input_size) if recipe.kind == "mfcc" else None,
                recipe.log_floor, torch.randn(config.input_size), 1 + torch.rand(config.input_size),
            )
            write_c_library(directory, quantized, spec, CLASS_NAMES[: config.output_size])
            names = ("ghostrnn_model", "ghostrnn_weights", "ghostrnn_features")
        else:
            source = generate_c(quantized)
            (directory / "ghostrnn_model.h").write_text(source.header("GHOSTRNN_MODEL_H", ""), encoding="utf-8")
            (directory / "ghostrnn_model.c").write_text('#include "ghostrnn_model.h"\n' + source.weight_declarations + source.implementation, encoding="utf-8")
            (directory / "ghostrnn_weights.c").write_text('#include "ghostrnn_model.h"\n' + source.weight_declarations + source.weights, encoding="utf-8")
            names = ("ghostrnn_model", "ghostrnn_weights")
        return {name: _compile(directory / f"{name}.c", isa, directory / f"{name}.o") for name in names}


def fit_code(isa: str) -> tuple[dict[str, int], list[dict]]:
    rows, counts, sizes = [], [], []
    terms = ("model", "layer", "ghost", "unaligned", "mask")
    for config in CODE_GRID:
        text = library_objects(config, isa)["ghostrnn_model"]["text"]
        layers = config.layers
        counts.append([1.0, layers - 1, layers if config.ghost_size else 0, layers if config.intrinsic_size % 4 else 0, config.task == "se"])
        sizes.append(text)
        rows.append({"design": f"{config.task} {config.describe()}", "model_text_bytes": text})
    solution = fit_cycles(np.array(counts, dtype=float), np.array(sizes, dtype=float))
    code = {term: round(value) for term, value in zip(terms, solution)}
    for name in ("mfcc10", "logmel40"):
        config = ArchConfig(hidden=8, ghost_ratio=1, features=name)
        objects = library_objects(config, isa)
        tables = layout_of(FEATURE_FRONT_ENDS[name], FEATURE_RECIPES[name]).table_bytes()
        code[FEATURE_RECIPES[name].kind] = sum(objects["ghostrnn_features"].values()) - tables
    for row, count in zip(rows, counts):
        predicted = sum(code[term] * value for term, value in zip(terms, count))
        row["predicted_bytes"] = predicted
        row["error"] = predicted / row["model_text_bytes"] - 1
    return code, rows


def check_flash(isa: str, profile) -> dict[str, dict]:
    results = {}
    for label, config in CHECK_DESIGNS.items():
        objects = library_objects(config, isa)
        library = sum(sum(sizes.values()) for sizes in objects.values())
        cost = analytic_cost(config, profile)
        analytic = cost.flash_bytes if config.task == "kws" else cost.model_flash_bytes
        results[label] = {
            "library_flash_bytes": library,
            "objects": objects,
            "analytic_flash_bytes": analytic,
            "analytic_front_end_flash_bytes": cost.front_end.flash_bytes,
            "difference": library / analytic - 1,
            "compared": "model, weights and front end" if config.task == "kws" else "model and weights (no C front end for SE)",
        }
    return results


def _yaml_block(key: str, values: dict, sources: dict) -> str:
    lines = [f"{key}:"]
    for name, value in values.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"  {name}: {shown}  # {sources[name]}")
    return "\n".join(lines) + "\n"


def write_profile(name: str, cycles: dict, code: dict, date: str, fit_note: str) -> Path:
    """Replace (or add) the profile's front_end_cycles and code_bytes blocks, keeping the rest."""
    path = Path(load_device(name).path)
    text = path.read_text(encoding="utf-8")
    for key in ("front_end_cycles", "code_bytes"):
        text = re.sub(rf"\n{key}:\n(?:  [^\n]*\n?)*", "\n", text)
    cycle_sources = {key: f"fitted {date} to the emulated ghostrnn_features.c ({fit_note}); benchmarks/front_end_cost.py --write" for key in cycles}
    cycle_sources["roots"] = ROOT_SOURCE
    core = TARGETS[name].cpu.split("+")[0]
    code_sources = {key: f"fitted {date} to the .text of ghostrnn_model.o ({len(CODE_GRID)} designs, {core}, -O2); benchmarks/front_end_cost.py --write" for key in code}
    for kind in ("mfcc", "logmel"):
        code_sources[kind] = f"{date}: ghostrnn_features.o ({core}, -O2) less its const tables; benchmarks/front_end_cost.py --write"
    block = _yaml_block("front_end_cycles", cycles, cycle_sources) + _yaml_block("code_bytes", code, code_sources)
    # Before the calibration block (search calibrate rewrites that one at the end).
    marker = text.find("\ncalibration:")
    text = text.rstrip("\n") + "\n" + block if marker < 0 else text[: marker + 1] + block + text[marker + 1 :]
    path.write_text(text, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the fitted figures in the shipped Cortex-M profiles")
    parser.add_argument("--out", default=str(OUTPUT))
    args = parser.parse_args()
    missing = measurement_available()
    if missing:
        print(f"cannot measure: {missing}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    date = datetime.date.today().isoformat()
    rng = np.random.default_rng(0)
    audio = np.clip(rng.normal(0, 3000, 16000), -32768, 32767).astype(np.int16)
    terms = [name for name in FrontEndWork.__dataclass_fields__ if name != "roots"]
    report: dict = {"date": date, "isas": {}}
    for isa in ISAS:
        device = load_device(isa)
        rows = measure_front_ends(isa, audio)
        counts = np.array([[row["work"][term] for term in terms] for row in rows], dtype=float)
        cycles = np.array([row["instructions_per_hop"] * device.cycles_per_instruction for row in rows])
        held = [i for i in range(len(rows)) if i % 4 == 3]
        fitted_idx = [i for i in range(len(rows)) if i not in held]
        solution = fit_cycles(counts[fitted_idx], cycles[fitted_idx])
        predicted = counts @ np.array(solution)
        for index, row in enumerate(rows):
            row["cycles_per_hop"] = float(cycles[index])
            row["predicted_cycles_per_hop"] = float(predicted[index])
            row["error"] = float(predicted[index] / cycles[index] - 1)
            row["held_out"] = index in held
        fitted = {term: float(value) for term, value in zip(terms, solution)}
        fitted["roots"] = ROOT_CYCLES
        code, code_rows = fit_code(isa)
        fit_errors = [abs(rows[i]["error"]) for i in fitted_idx]
        held_errors = [abs(rows[i]["error"]) for i in held]
        fit_note = f"{len(fitted_idx)} front ends, max error {100 * max(fit_errors):.1f} %; {len(held)} held out, max {100 * max(held_errors):.1f} %"
        report["isas"][isa] = {
            "cycles_per_instruction": device.cycles_per_instruction,
            "front_end_cycles": fitted,
            "front_ends": rows,
            "fit": fit_note,
            "code_bytes": code,
            "code_designs": code_rows,
        }
        if args.write:
            for name in PROFILES[isa]:
                # Cycles are instructions x the profile's cycles per instruction (the M55's differs from the M33's).
                ratio = load_device(name).cycles_per_instruction / device.cycles_per_instruction
                scaled = {term: value * ratio if term != "roots" else value for term, value in fitted.items()}
                note = fit_note if name == isa else f"{isa} code, {name}'s cycles per instruction; {fit_note}"
                write_profile(name, scaled, code, date, note)
    for isa in ISAS:
        report["isas"][isa]["library_flash"] = check_flash(isa, load_device(isa))
    report["benchmark_seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    for isa, data in report["isas"].items():
        figures = ", ".join(f"{key} {value:.3g}" for key, value in data["front_end_cycles"].items())
        print(f"{isa}: front end cycles per unit: {figures} ({data['fit']})")
        print(f"  code bytes: {data['code_bytes']} (model code error max {100 * max(abs(r['error']) for r in data['code_designs']):.1f} %)")
        for row in data["front_ends"]:
            mark = " (held out)" if row["held_out"] else ""
            print(f"  {row['front_end']:<36} {row['cycles_per_hop']:>10,.0f} cycles/hop, model {row['predicted_cycles_per_hop']:>10,.0f} ({100 * row['error']:+.1f} %){mark}")
        for label, row in data["library_flash"].items():
            print(f"  flash {label:<30} library {row['library_flash_bytes']:>7,} B, analytic {row['analytic_flash_bytes']:>7,} B ({100 * row['difference']:+.1f} %; {row['compared']})")
    if args.write:
        print("wrote front_end_cycles and code_bytes to " + ", ".join(name for names in PROFILES.values() for name in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

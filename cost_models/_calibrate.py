"""Fit a device profile's per-op cycle figures to measurements over a grid of designs.

The analytic latency model is linear in four counts of a design (``_analytic``)::

    cycles = MACs x c_mac + activations x c_act + elementwise x c_elem + layer_calls x c_call

so its figures can be fitted by least squares against measured latencies:

* Cortex-M profiles: against the instruction-derived latency of the design's generated
  int8 C code (``measure_cost``: emulated instructions x cycles per instruction);
* ``host``: against the wall-clock time of the PyTorch module (median of repeats after
  warm-up, one thread); ONNX Runtime is timed and fitted the same way and reported
  beside it.

The fit minimises relative error (each design's row is divided by its measured
cycles, since designs span three orders of magnitude), with non-negative figures (an
exhaustive search over the 16 subsets of active terms, exact for four unknowns).
Every fourth design of the grid is held out of the fit and only used to report the
error of the fitted model. ``write_calibration`` stores the figures in the profile
YAML with their provenance (date, grid, residuals), keeping its comments.

Example:
    >>> from cost_models._calibrate import fit_cycles
    >>> import numpy as np
    >>> counts = np.array([[100, 10, 20, 2], [200, 20, 40, 2], [400, 10, 80, 4], [50, 5, 5, 1], [300, 30, 10, 3]], float)
    >>> cycles = counts @ np.array([4.0, 30.0, 2.0, 100.0])
    >>> [round(c, 6) for c in fit_cycles(counts, cycles)]
    [4.0, 30.0, 2.0, 100.0]
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import itertools
import re
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from spaces import ArchConfig, build_model

from cost_models._analytic import analytic_cost
from cost_models._counted import example_input
from cost_models._devices import CycleCosts, DeviceProfile
from cost_models._measured import measure_cost

TERMS = ("mac", "activation", "elementwise", "layer_call")
HELD_OUT_EVERY = 4  # every 4th design of a grid is held out of the fit


def _grid(hiddens, ratios, ops, cells=("gru", "lstm"), layers=(1, 2), tasks=("kws", "se")) -> list[ArchConfig]:
    configs = []
    for index, (task, cell, hidden, ratio, layer_count) in enumerate(itertools.product(tasks, cells, hiddens, ratios, layers)):
        op = ops[index % len(ops)]  # rotate the cheap ops through the grid instead of multiplying it
        features = "mfcc10" if task == "kws" else "stft129"
        configs.append(ArchConfig(task=task, cell=cell, layers=layer_count, hidden=hidden, ghost_ratio=ratio, cheap_op=op, groups=2, features=features))
    return configs


OPS = ("linear", "grouped", "channelwise", "identity")
CALIBRATION_GRIDS: dict[str, list[ArchConfig]] = {
    # 2 tasks x 2 cells x 4 widths x 3 ratios x 2 depths = 96 designs (~1 min of emulation, cached).
    "default": _grid((16, 48, 96, 160), (1.0, 2.0, 3.0), OPS),
    # 2 x 2 x 2 x 2 x 1 = 16 designs, for a quick check.
    "small": _grid((24, 96), (1.0, 2.0), OPS, layers=(1,)),
}
# Host timing is slow per design (ONNX export), so the host uses a thinner grid.
HOST_GRIDS: dict[str, list[ArchConfig]] = {
    "default": _grid((16, 64, 128, 256), (1.0, 2.0), OPS, layers=(1, 2), cells=("gru", "lstm"), tasks=("kws", "se"))[::2],
    "small": _grid((32, 128), (1.0, 2.0), OPS, layers=(1,), tasks=("kws",)),
}


@dataclass(frozen=True)
class FitReport:
    """Relative errors (predicted / measured - 1) of a fit on its own designs and held-out ones."""

    fit_errors: list[float]
    held_out_errors: list[float]

    @staticmethod
    def _stats(errors: list[float]) -> dict[str, float]:
        if not errors:
            return {"median_abs": 0.0, "max_abs": 0.0, "rms": 0.0}
        values = np.abs(np.asarray(errors))
        return {"median_abs": float(np.median(values)), "max_abs": float(values.max()), "rms": float(np.sqrt(np.mean(values**2)))}

    def to_dict(self) -> dict[str, Any]:
        return {"fit": self._stats(self.fit_errors), "held_out": self._stats(self.held_out_errors)}


@dataclass(frozen=True)
class CalibrationResult:
    """Fitted cycle figures of one profile and how well they predict the measurements."""

    device: str
    reference: str  # what was fitted against
    grid: str
    date: str
    before: CycleCosts
    fitted: CycleCosts
    report: FitReport
    fit_designs: int
    held_out_designs: int
    seconds: float
    designs: list[dict[str, Any]] = field(default_factory=list)  # per design: label, counts, measured, predicted
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the ONNX Runtime fit on the host

    def coefficient_changes(self) -> dict[str, tuple[float, float]]:
        return {name: (getattr(self.before, name), getattr(self.fitted, name)) for name in TERMS}

    def summary_lines(self) -> list[str]:
        report = self.report.to_dict()
        lines = [
            f"fit error ({self.fit_designs} designs): median {100 * report['fit']['median_abs']:.1f} %, max {100 * report['fit']['max_abs']:.1f} %",
            f"held-out error ({self.held_out_designs} designs): median {100 * report['held_out']['median_abs']:.1f} %, "
            f"max {100 * report['held_out']['max_abs']:.1f} %",
        ]
        for name, data in self.extra.items():
            if isinstance(data, dict) and "report" in data:
                held = data["report"]["held_out"]
                lines.append(f"{name}: held-out median {100 * held['median_abs']:.1f} %, max {100 * held['max_abs']:.1f} %; figures {data['fitted']}")
        return lines

    def provenance(self) -> dict[str, Any]:
        report = self.report.to_dict()
        return {
            "date": self.date,
            "reference": self.reference,
            "grid": f"{self.grid} ({self.fit_designs} fitted + {self.held_out_designs} held out; every {HELD_OUT_EVERY}th design held out)",
            "fit_median_abs_error": round(report["fit"]["median_abs"], 4),
            "fit_max_abs_error": round(report["fit"]["max_abs"], 4),
            "held_out_median_abs_error": round(report["held_out"]["median_abs"], 4),
            "held_out_max_abs_error": round(report["held_out"]["max_abs"], 4),
            "command": f"search calibrate --device {self.device} --grid {self.grid} --write",
        }

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["report"] = self.report.to_dict()
        data["provenance"] = self.provenance()
        return data


def design_counts(config: ArchConfig, device: DeviceProfile) -> np.ndarray:
    """The four counts the analytic latency multiplies by the cycle figures."""
    cost = analytic_cost(config, device)
    calls = sum(layer.layer_calls for layer in cost.layers)
    return np.array([cost.macs, cost.activations, cost.elementwise, calls], dtype=float)


def fit_cycles(counts: np.ndarray, cycles: np.ndarray) -> list[float]:
    """Non-negative least squares on relative error: figures c minimising sum((counts c / cycles - 1)^2)."""
    rows = counts / cycles[:, None]
    target = np.ones(len(cycles))
    best: Optional[np.ndarray] = None
    best_residual = np.inf
    for size in range(1, counts.shape[1] + 1):
        for active in itertools.combinations(range(counts.shape[1]), size):
            solution, *_ = np.linalg.lstsq(rows[:, active], target, rcond=None)
            if np.any(solution < 0):
                continue
            full = np.zeros(counts.shape[1])
            full[list(active)] = solution
            residual = float(np.sum((rows @ full - target) ** 2))
            if residual < best_residual - 1e-15:
                best, best_residual = full, residual
    assert best is not None  # a single non-negative term always exists for positive data
    return [float(value) for value in best]


def _split(n: int) -> tuple[list[int], list[int]]:
    held = [i for i in range(n) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    return [i for i in range(n) if i not in held], held


def _fit_and_report(counts: np.ndarray, cycles: np.ndarray) -> tuple[list[float], FitReport, np.ndarray]:
    fit_idx, held_idx = _split(len(cycles))
    coefficients = fit_cycles(counts[fit_idx], cycles[fit_idx])
    predicted = counts @ np.asarray(coefficients)
    errors = predicted / cycles - 1
    return coefficients, FitReport([float(errors[i]) for i in fit_idx], [float(errors[i]) for i in held_idx]), predicted


def _progress(enabled: bool, text: str) -> None:
    if enabled:
        print(text, file=sys.stderr, flush=True)


def _calibration_result(
    device: DeviceProfile,
    reference: str,
    grid: str,
    coefficients: list[float],
    report: FitReport,
    designs: list[dict[str, Any]],
    start: float,
    extra: Optional[dict[str, Any]] = None,
) -> CalibrationResult:
    """The record both calibrations return (one design entry per grid design)."""
    fit_idx, held_idx = _split(len(designs))
    return CalibrationResult(
        device=device.name,
        reference=reference,
        grid=grid,
        date=datetime.date.today().isoformat(),
        before=device.cycles,
        fitted=CycleCosts(*coefficients),
        report=report,
        fit_designs=len(fit_idx),
        held_out_designs=len(held_idx),
        seconds=time.perf_counter() - start,
        designs=designs,
        extra=extra or {},
    )


def calibrate_against_instructions(device: DeviceProfile, grid: str = "default", progress: bool = False) -> CalibrationResult:
    """Fit a Cortex-M profile's figures to the instruction-derived latency of the grid."""
    start = time.perf_counter()
    configs = CALIBRATION_GRIDS[grid]
    counts, cycles, designs = [], [], []
    for number, config in enumerate(configs, 1):
        measured = measure_cost(config, device)
        counts.append(design_counts(config, device))
        cycles.append(measured.instructions * measured.cycles_per_instruction)
        designs.append({"design": f"{config.task} {config.describe()}", "instructions": measured.instructions})
        _progress(progress, f"[{number}/{len(configs)}] {config.task} {config.describe()}: {measured.instructions:,} instructions")
    counts_array, cycles_array = np.array(counts), np.array(cycles)
    coefficients, report, predicted = _fit_and_report(counts_array, cycles_array)
    for design, value, measured_cycles in zip(designs, predicted, cycles_array):
        design["measured_ms"] = float(1000 * measured_cycles / device.clock_hz)
        design["predicted_ms"] = float(1000 * value / device.clock_hz)
    reference = f"instruction-derived latency of the generated int8 C ({device.isa or device.name}, {device.cycles_per_instruction} cycles/instruction)"
    return _calibration_result(device, reference, grid, coefficients, report, designs, start)


def _median_seconds(function, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        begin = time.perf_counter()
        function()
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples)


def time_host(config: ArchConfig, repeats: int = 7, onnx: bool = True) -> dict[str, float]:
    """Median seconds of one inference (KWS window / SE frame) in PyTorch and ONNX Runtime, one thread."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(config).eval()
        inputs = example_input(config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            result = {"torch": _median_seconds(lambda: model(inputs), repeats)}
    finally:
        torch.set_num_threads(threads)
    if onnx:
        try:
            import onnxruntime
        except ImportError:
            return result
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (inputs,), buffer, dynamo=False, input_names=["features"], output_names=["output"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        feed = {"features": inputs.numpy()}
        result["onnxruntime"] = _median_seconds(lambda: session.run(None, feed), repeats)
    return result


def calibrate_host(device: DeviceProfile, grid: str = "default", repeats: int = 7, progress: bool = False) -> CalibrationResult:
    """Fit the host profile's figures to PyTorch wall-clock times (ONNX Runtime reported beside)."""
    start = time.perf_counter()
    configs = HOST_GRIDS[grid]
    counts, torch_cycles, ort_cycles, designs = [], [], [], []
    for number, config in enumerate(configs, 1):
        timings = time_host(config, repeats)
        counts.append(design_counts(config, device))
        torch_cycles.append(timings["torch"] * device.clock_hz)
        if "onnxruntime" in timings:
            ort_cycles.append(timings["onnxruntime"] * device.clock_hz)
        designs.append({"design": f"{config.task} {config.describe()}", **{f"{k}_ms": 1000 * v for k, v in timings.items()}})
        _progress(progress, f"[{number}/{len(configs)}] {config.task} {config.describe()}: " + ", ".join(f"{k} {1000 * v:.3f} ms" for k, v in timings.items()))
    counts_array = np.array(counts)
    coefficients, report, predicted = _fit_and_report(counts_array, np.array(torch_cycles))
    for design, value in zip(designs, predicted):
        design["predicted_ms"] = float(1000 * value / device.clock_hz)
    extra: dict[str, Any] = {}
    if len(ort_cycles) == len(configs):
        ort_coefficients, ort_report, _ = _fit_and_report(counts_array, np.array(ort_cycles))
        extra["onnxruntime"] = {"fitted": dict(zip(TERMS, [round(c, 4) for c in ort_coefficients])), "report": ort_report.to_dict()}
    reference = f"PyTorch {torch.__version__} wall clock, 1 thread, median of {repeats} after warm-up (nominal clock {device.clock_hz / 1e6:g} MHz)"
    return _calibration_result(device, reference, grid, coefficients, report, designs, start, extra)


def calibrate_device(device: DeviceProfile, grid: str = "default", repeats: int = 7, progress: bool = False) -> CalibrationResult:
    """Host: wall-clock timing; a profile with an instruction set: emulated instruction counts."""
    if device.name == "host" or device.weight_dtype.startswith("float") and not device.isa:
        return calibrate_host(device, grid, repeats, progress)
    return calibrate_against_instructions(device, grid, progress)


def _format(value: float) -> str:
    return f"{value:.4g}"


def write_calibration(device: DeviceProfile, result: CalibrationResult) -> Path:
    """Replace the profile's cycle figures by the fitted ones and record the provenance.

    The YAML is edited as text so that its comments (the sources of the other figures)
    survive; a previous ``calibration:`` block is replaced.
    """
    path = Path(device.path)
    text = path.read_text(encoding="utf-8")
    source = f"fitted {result.date}: least squares against {result.reference}; see calibration"
    for name in TERMS:
        line = f"  {name}: {_format(getattr(result.fitted, name))}  # fitted by search calibrate on {result.date} (was {_format(getattr(result.before, name))})"
        # The first "  name:" line is the one under cycles: (it precedes sources:).
        text, count = re.subn(rf"^  {name}:[^\n]*$", lambda _: line, text, count=1, flags=re.MULTILINE)
        if count != 1:
            raise ValueError(f"{path}: no 'cycles: {name}:' line to update")
        text = re.sub(
            rf"^(sources:\n(?:  [^\n]*\n)*?)  {name}: [^\n]*\n",
            lambda match: f'{match.group(1)}  {name}: "{source}"\n',
            text,
            count=1,
            flags=re.MULTILINE,
        )
    text = re.sub(r"\ncalibration:\n(?:  [^\n]*\n?)*", "\n", text).rstrip("\n") + "\n"
    lines = ["calibration:"]
    for key, value in result.provenance().items():
        lines.append(f"  {key}: {value!r}" if isinstance(value, float) else f'  {key}: "{value}"')
    path.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    return path

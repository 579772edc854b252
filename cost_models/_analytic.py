"""Closed-form costs of a design on a device: params, MACs, memory and latency.

This is the model the search evaluates for every trial before any training, so it is
plain arithmetic. Conventions (the counted and measured models are checked against
them):

* Work is per inference for KWS (``frames`` steps plus the classifier) and per frame
  for SE (one step plus the mask projection).
* A MAC is a weight times an input summed into an output (matrix products and the
  channelwise cheap op). Bias adds, gate products and state updates are
  ``elementwise``; sigmoid/tanh evaluations are ``activations``.
* Flash holds the deployed weights at the device's weight dtype, biases at its bias
  dtype and, for integer weights, one float32 scale per weight tensor. A GRU deploys
  4m biases (b_ir + b_hr and b_iz + b_hz fold; b_in and b_hn cannot, the reset gate
  sits between them), an LSTM 4m (b_ih + b_hh fold).
* RAM is the peak of streaming inference: one input frame, every layer's recurrent
  state ([h, g], plus the LSTM cell), the largest layer's scratch (int32 gate
  accumulators and the new state before it replaces the old) and the output.
* The feature front end (``cost_models._front_end``) is part of the deployment: its
  const tables and code are flash, its audio window, FFT buffer and per-frame vectors
  RAM, and it runs once per frame (per hop), so its latency per hop is added once per
  frame of the inference (KWS: ``frames`` times; SE: once per frame). Its float work is
  not in ``macs`` (MACs stay the model's, equal to the counted ones).
* On an integer deployment, flash also holds the code (the device profile's
  ``code_bytes``: kernels, model API, front end), the two int16 activation tables, the
  zero columns that pad the first layer's input to a multiple of 4, and (KWS) the class
  names.
* memory = flash + RAM (the Hello Edge convention that ``--budget`` bounds), front end
  included; ``model_flash_bytes``, ``model_ram_bytes`` and ``model_latency_ms`` are the
  model's share alone (what the emulated model code measures).

Example:
    >>> from spaces import ArchConfig
    >>> from cost_models import analytic_cost, load_device
    >>> cost = analytic_cost(ArchConfig(hidden=128, ghost_ratio=2, features="logmel40"), load_device("cortex-m7"))
    >>> cost.params, cost.macs
    (38348, 1782784)
    >>> cost.front_end.name, cost.flash_bytes == cost.model_flash_bytes + cost.front_end.flash_bytes
    ('logmel40', True)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from spaces import CHEAP_OPS, ArchConfig

from cost_models._devices import DeviceProfile
from cost_models._front_end import FrontEndCost, front_end_cost
from cost_models._sizes import format_size

ACCUMULATOR_BYTES = 4  # int32 accumulators (float32 on float targets): 4 bytes either way
SCALE_BYTES = 4  # one float32 scale per quantised weight tensor
GATES = {"gru": 3, "lstm": 4}
# Elementwise work per intrinsic unit per step. GRU: 3 pre-activation sums, 4 deployed
# bias adds, the reset product, and (1 - z) * c + z * h (3). LSTM: 4 sums, 4 bias adds,
# f * c + i * g (3) and o * tanh(c) (1).
CELL_ELEMENTWISE = {"gru": 11, "lstm": 12}
# sigmoid/tanh per intrinsic unit per step. GRU: r, z, tanh(c). LSTM: i, f, o, g, tanh(c).
CELL_ACTIVATIONS = {"gru": 3, "lstm": 5}
# The integer deployment's sigmoid and tanh: 257 int16 entries each (cost_models.deploy).
ACTIVATION_TABLE_BYTES = 2 * 257 * 2
# The kernels read the input frame 4 columns at a time: W_ih of the first layer is padded.
INPUT_ALIGNMENT = 4
# A class name in the exported library: a 4-byte pointer and its text (~8 bytes with
# the terminating zero for Speech Commands' words); an estimate, names are data.
CLASS_NAME_BYTES = 12


@dataclass(frozen=True)
class LayerCost:
    """Costs of one block of the model (a recurrent layer or the output head)."""

    name: str
    params: int
    weights: int
    biases: int
    weight_tensors: int
    macs: int
    activations: int
    elementwise: int
    layer_calls: int
    flash_bytes: int
    state_bytes: int
    scratch_bytes: int
    latency_ms: float


@dataclass(frozen=True)
class CostReport:
    """Totals and per-layer breakdown of a design on a device."""

    config: ArchConfig
    device: str
    per: str  # "inference" (KWS) or "frame" (SE)
    layers: list[LayerCost]
    params: int
    macs: int
    activations: int
    elementwise: int
    flash_bytes: int
    ram_bytes: int
    memory_bytes: int
    latency_ms: float
    realtime_ms: float
    violations: list[str] = field(default_factory=list)
    front_end: Optional[FrontEndCost] = None  # per hop; its flash, RAM and latency are in the totals
    model_flash_bytes: int = 0  # the totals without the front end
    model_ram_bytes: int = 0
    model_latency_ms: float = 0.0

    @property
    def fits(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["config"] = self.config.to_dict()
        data["fits"] = self.fits
        if self.front_end is not None:
            data["front_end"] = self.front_end.to_dict()
        return data


@dataclass(frozen=True)
class Limits:
    """Hard limits a design must respect besides the device's own memories."""

    memory_bytes: Optional[int] = None  # --budget (flash + RAM)
    ram_bytes: Optional[int] = None  # --ram-budget
    latency_ms: Optional[float] = None  # --latency-budget; None means real time
    units: str = "iec"  # how violations show sizes: "si" or "iec", as the budget was typed


def realtime_ms(config: ArchConfig) -> float:
    """The real-time deadline: one hop per frame, so a KWS window of T frames has T hops."""
    hop_ms = config.front_end.hop_ms
    return config.frames * hop_ms if config.task == "kws" else hop_ms


def _flash(device: DeviceProfile, weights: int, biases: int, weight_tensors: int) -> int:
    scales = weight_tensors * SCALE_BYTES if device.is_quantized else 0
    return weights * device.weight_bytes + biases * device.bias_bytes + scales


def _latency_ms(device: DeviceProfile, macs: float, activations: float, elementwise: float, calls: float) -> float:
    cycles = device.cycles
    total = macs * cycles.mac + activations * cycles.activation + elementwise * cycles.elementwise + calls * cycles.layer_call
    return 1000.0 * total / device.clock_hz


def _aligned(columns: int) -> int:
    return -(-columns // INPUT_ALIGNMENT) * INPUT_ALIGNMENT


def _recurrent_layer(config: ArchConfig, device: DeviceProfile, index: int, steps: int) -> LayerCost:
    input_size = config.input_size if index == 0 else config.hidden
    hidden, intrinsic, ghost = config.hidden, config.intrinsic_size, config.ghost_size
    gates = GATES[config.cell]
    cheap = CHEAP_OPS[config.cheap_op].cost(intrinsic, ghost, config.groups, config.activation)
    if ghost == 0:
        cheap = dataclasses.replace(cheap, weights=0, biases=0, weight_tensors=0, macs=0, activations=0, elementwise=0)
    weights = gates * intrinsic * (input_size + hidden) + cheap.weights
    deployed_biases = 4 * intrinsic + cheap.biases
    macs = steps * (gates * intrinsic * (input_size + hidden) + cheap.macs)
    activations = steps * (CELL_ACTIVATIONS[config.cell] * intrinsic + cheap.activations)
    elementwise = steps * (CELL_ELEMENTWISE[config.cell] * intrinsic + cheap.elementwise)
    calls = steps * (1 + (1 if ghost else 0))
    cell_state = intrinsic if config.cell == "lstm" else 0
    # Zero columns of the first layer's W_ih (integer kernels read 4 input columns at a time).
    padding = gates * intrinsic * (_aligned(input_size) - input_size) if index == 0 and device.is_quantized else 0
    return LayerCost(
        name=f"{config.cell}{index + 1}",
        params=weights + 2 * gates * intrinsic + cheap.biases,
        weights=weights,
        biases=deployed_biases,
        weight_tensors=2 + cheap.weight_tensors,
        macs=macs,
        activations=activations,
        elementwise=elementwise,
        layer_calls=calls,
        flash_bytes=_flash(device, weights + padding, deployed_biases, 2 + cheap.weight_tensors),
        state_bytes=(hidden + cell_state) * device.activation_bytes,
        scratch_bytes=gates * intrinsic * ACCUMULATOR_BYTES + hidden * device.activation_bytes,
        latency_ms=_latency_ms(device, macs, activations, elementwise, calls),
    )


def _head(config: ArchConfig, device: DeviceProfile, steps: int) -> LayerCost:
    outputs = config.output_size
    weights = config.hidden * outputs
    # KWS classifies once per window; SE projects (and squashes) every frame.
    activations = 0 if config.task == "kws" else outputs
    macs = steps * weights
    return LayerCost(
        name="classifier" if config.task == "kws" else "mask",
        params=weights + outputs,
        weights=weights,
        biases=outputs,
        weight_tensors=1,
        macs=macs,
        activations=activations,
        elementwise=outputs,
        layer_calls=1,
        flash_bytes=_flash(device, weights, outputs, 1),
        state_bytes=0,
        scratch_bytes=outputs * ACCUMULATOR_BYTES,
        latency_ms=_latency_ms(device, macs, activations, outputs, 1),
    )


def model_code_bytes(config: ArchConfig, device: DeviceProfile) -> int:
    """Flash of the model's code on ``device`` (its ``code_bytes`` figures; 0 where not modelled)."""
    code = device.code_bytes
    if not code.model:
        return 0
    layers = config.layers
    ghost_layers = layers if config.ghost_size else 0
    unaligned = layers if config.intrinsic_size % INPUT_ALIGNMENT else 0
    mask = code.mask if config.task == "se" else 0
    return code.model + code.layer * (layers - 1) + code.ghost * ghost_layers + code.unaligned * unaligned + mask


def _support(config: ArchConfig, device: DeviceProfile) -> Optional[LayerCost]:
    """Code and shared tables of the deployed model (integer deployments), or None."""
    if not device.is_quantized:
        return None
    code_bytes = model_code_bytes(config, device)
    names = CLASS_NAME_BYTES * config.output_size if config.task == "kws" else 0
    flash = code_bytes + ACTIVATION_TABLE_BYTES + names
    return LayerCost("code and tables", 0, 0, 0, 0, 0, 0, 0, 0, flash, 0, 0, 0.0)


def _front_end_block(front: FrontEndCost, steps: int) -> LayerCost:
    return LayerCost(f"front end {front.name}", 0, 0, 0, 0, 0, 0, 0, 0, front.flash_bytes, front.ram_bytes, 0, steps * front.latency_ms)


def analytic_cost(config: ArchConfig, device: DeviceProfile, limits: Limits = Limits()) -> CostReport:
    """Costs of ``config`` on ``device`` and the limits it breaks (empty if it fits)."""
    steps = config.frames if config.task == "kws" else 1
    layers = [_recurrent_layer(config, device, index, steps) for index in range(config.layers)]
    head = _head(config, device, 1)
    support = _support(config, device)
    blocks = layers + [head] + ([support] if support is not None else [])
    model_flash = sum(block.flash_bytes for block in blocks)
    input_frame = config.input_size * device.activation_bytes
    model_ram = input_frame + sum(layer.state_bytes for layer in layers) + max(layer.scratch_bytes for layer in layers) + head.scratch_bytes
    model_latency = sum(block.latency_ms for block in blocks)
    front = front_end_cost(config, device)
    front_block = _front_end_block(front, steps)
    flash = model_flash + front.flash_bytes
    ram = model_ram + front.ram_bytes
    report = CostReport(
        config=config,
        device=device.name,
        per="inference" if config.task == "kws" else "frame",
        layers=blocks + [front_block],
        params=sum(block.params for block in blocks),
        macs=sum(block.macs for block in blocks),
        activations=sum(block.activations for block in blocks),
        elementwise=sum(block.elementwise for block in blocks),
        flash_bytes=flash,
        ram_bytes=ram,
        memory_bytes=flash + ram,
        latency_ms=model_latency + front_block.latency_ms,
        realtime_ms=realtime_ms(config),
        front_end=front,
        model_flash_bytes=model_flash,
        model_ram_bytes=model_ram,
        model_latency_ms=model_latency,
    )
    return dataclasses.replace(report, violations=check_limits(report, device, limits))


def check_limits(report: CostReport, device: DeviceProfile, limits: Limits = Limits()) -> list[str]:
    """One line per broken limit, in the words a user reads in the terminal."""
    violations = []

    def size(num_bytes: int) -> str:
        return format_size(num_bytes, limits.units)

    if limits.memory_bytes is not None and report.memory_bytes > limits.memory_bytes:
        violations.append(f"memory {size(report.memory_bytes)} > budget {size(limits.memory_bytes)}")
    if limits.ram_bytes is not None and report.ram_bytes > limits.ram_bytes:
        violations.append(f"RAM {size(report.ram_bytes)} > RAM budget {size(limits.ram_bytes)}")
    if report.flash_bytes > device.flash_bytes:
        violations.append(f"flash {size(report.flash_bytes)} > {device.name} flash {size(device.flash_bytes)}")
    if report.ram_bytes > device.sram_bytes:
        violations.append(f"RAM {size(report.ram_bytes)} > {device.name} SRAM {size(device.sram_bytes)}")
    latency_limit = limits.latency_ms if limits.latency_ms is not None else report.realtime_ms
    if report.latency_ms > latency_limit:
        kind = "latency budget" if limits.latency_ms is not None else "real time"
        violations.append(f"latency {report.latency_ms:.2f} ms > {kind} {latency_limit:.2f} ms per {report.per}")
    return violations

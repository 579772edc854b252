"""Integer (int8 weights, int16 state) deployment of a design, simulated bit-exactly in PyTorch.

The generated C code (``cost_models.deploy._codegen``) and :func:`simulate` compute the same
integers step by step, so the C output can be checked bit for bit against this module
and the measured instruction counts belong to a model that really computes the design.

Number formats (chosen to match the analytic flash/RAM conventions of ``_analytic``):

* weights: int8, symmetric, one float32 scale per weight tensor (``W_ih``, ``W_hh``,
  each cheap-op tensor, the head) -- ``s = max|W| / 127``;
* biases: int32 at the scale of the accumulator they are added to. A GRU deploys 4m of
  them: ``b_ir + b_hr`` and ``b_iz + b_hz`` fold into the input side, ``b_in`` stays on
  the input side and ``b_hn`` on the recurrent side (the reset gate sits between them);
  an LSTM folds ``b_ih + b_hh`` into 4m;
* recurrent state ``[h, g]``, the LSTM cell and the input of every layer after the
  first: int16 in Q3.12 (``x = q / 4096``, range [-8, 8)); the first layer's input is
  int16 with the scale ``input_scale`` (``x = q * input_scale``);
* accumulators: int32 (int8 x int16 products; the worst case 127 * 32767 * width stays
  below 2**31 for widths up to 516, and states in (-1, 1) use only 1/8 of the range);
* requantisation of an accumulator to Q3.12: ``(acc * M + 2**29) >> 30`` in int64 with
  an integer multiplier ``M = round(real_scale * 2**30)`` (a fixed shift keeps the
  Cortex-M code free of 64-bit shift helpers), saturated to int16;
* sigmoid and tanh: a 257-entry int16 table over [-8, 8] (step 1/16) with linear
  interpolation on the low 8 bits of the Q3.12 input; outputs in Q0.15. The
  interpolation error is below 1e-4 (sigmoid) and 4e-4 (tanh) of full scale.

Example:
    >>> import torch
    >>> from spaces import ArchConfig, build_model
    >>> from cost_models import quantize_model, simulate
    >>> config = ArchConfig(hidden=16, ghost_ratio=2, frames=5)
    >>> torch.manual_seed(0) and None
    >>> quantized = quantize_model(build_model(config), config)
    >>> frames = quantized.quantize_input(torch.randn(2, 5, 10))
    >>> simulate(quantized, frames).shape, simulate(quantized, frames).dtype
    (torch.Size([2, 12]), torch.int64)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from spaces import ArchConfig
from spaces import ChannelwiseGhost, GroupedGhost, IdentityGhost, LinearGhost

STATE_FRAC = 12  # Q3.12 state and gate pre-activations
GATE_FRAC = 15  # Q0.15 sigmoid/tanh outputs
RQ_SHIFT = 30  # fixed requantisation shift: multiplier = round(real * 2**30)
INT16_MIN, INT16_MAX = -32768, 32767
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
LUT_SIZE = 257  # 256 segments of 1/16 over [-8, 8], plus the right end point
ROUND_15 = 1 << 14
ROUND_18 = 1 << 17


class QuantizationError(ValueError):
    """A design or scale that the integer format cannot represent."""


def _table(function) -> torch.Tensor:
    """Q0.15 values of ``function`` at x = -8, -8 + 1/16, ..., 8 (int64, clamped to int16)."""
    points = (torch.arange(LUT_SIZE, dtype=torch.float64) * 256 - 32768) / 2**STATE_FRAC
    return torch.clamp(torch.round(function(points) * 2**GATE_FRAC), INT16_MIN, INT16_MAX).to(torch.int64)


SIGMOID_TABLE = _table(torch.sigmoid)
TANH_TABLE = _table(torch.tanh)


@dataclass(frozen=True)
class QuantizedCheapOp:
    """Integer form of one cheap op: ``blocks`` dense int8 blocks (one scale each).

    ``linear`` is one block, ``grouped`` one block per group, ``channelwise`` keeps
    its per-ghost scales as an int8 vector in ``weights[0]``, ``identity`` has none.
    """

    name: str
    activation: str  # "tanh" or "identity"
    intrinsic: int
    ghost: int
    weights: list[torch.Tensor]  # int8 values, int64 tensors
    bias: Optional[torch.Tensor]  # int32 values [G]
    multipliers: list[int]  # one per block: real scale s_w * 2**-12 / 2**-12 = s_w
    input_sizes: list[int]
    output_sizes: list[int]
    scales: list[float]  # float weight scales (for the record)


@dataclass(frozen=True)
class QuantizedLayer:
    """One GhostGRU/GhostLSTM layer in integers (see the module docstring for formats)."""

    cell: str
    input_size: int
    hidden: int
    intrinsic: int
    weight_ih: torch.Tensor  # int8 [gates*m, D]
    weight_hh: torch.Tensor  # int8 [gates*m, H]
    bias_input: torch.Tensor  # int32 [gates*m], scale s_ih * s_in
    bias_hn: Optional[torch.Tensor]  # GRU only: int32 [m], scale s_hh * 2**-12
    multiplier_input: int  # round(s_ih * s_in * 2**12 * 2**30)
    multiplier_state: int  # round(s_hh * 2**30)
    scale_ih: float
    scale_hh: float
    cheap: Optional[QuantizedCheapOp]

    @property
    def ghost(self) -> int:
        return self.hidden - self.intrinsic

    @property
    def gates(self) -> int:
        return 3 if self.cell == "gru" else 4


@dataclass(frozen=True)
class QuantizedHead:
    """The KWS classifier (int32 logits) or the SE mask projection (sigmoid, Q0.15)."""

    task: str
    weight: torch.Tensor  # int8 [outputs, H]
    bias: torch.Tensor  # int32 [outputs], scale s_w * 2**-12
    multiplier: int  # SE: round(s_w * 2**30), to Q3.12 before the sigmoid table
    scale: float  # float weight scale

    @property
    def output_scale(self) -> float:
        """Float value of one unit of the output integers."""
        return self.scale / 2**STATE_FRAC if self.task == "kws" else 1.0 / 2**GATE_FRAC


@dataclass(frozen=True)
class QuantizedModel:
    """A design's integer deployment: what the generated C stores and computes."""

    config: ArchConfig
    input_scale: float
    layers: list[QuantizedLayer]
    head: QuantizedHead
    sigmoid_table: torch.Tensor = field(default_factory=lambda: SIGMOID_TABLE.clone())
    tanh_table: torch.Tensor = field(default_factory=lambda: TANH_TABLE.clone())

    def quantize_input(self, frames: torch.Tensor) -> torch.Tensor:
        """Float features [..., D] -> int16 values (int64 tensor) at ``input_scale``."""
        return torch.clamp(torch.round(frames.double() / self.input_scale), INT16_MIN, INT16_MAX).to(torch.int64)

    def dequantize_output(self, outputs: torch.Tensor) -> torch.Tensor:
        """Integer outputs of :func:`simulate` or the C code -> float logits or mask."""
        return outputs.double() * self.head.output_scale


def _weight_scale(weight: torch.Tensor) -> float:
    largest = float(weight.detach().abs().max()) if weight.numel() else 0.0
    return largest / 127.0 if largest > 0 else 1.0


def _int8(weight: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.clamp(torch.round(weight.detach().double() / scale), -127, 127).to(torch.int64)


def _int32(bias: torch.Tensor, scale: float) -> torch.Tensor:
    values = torch.round(bias.detach().double() / scale)
    if values.numel() and float(values.abs().max()) > INT32_MAX:
        raise QuantizationError(f"a bias does not fit int32 at accumulator scale {scale:.3g}; raise input_scale")
    return values.to(torch.int64)


def _multiplier(real: float) -> int:
    """Integer multiplier for a fixed shift of 30; real scales must lie in (0, 2)."""
    value = round(real * 2**RQ_SHIFT)
    if not 0 < value <= INT32_MAX:
        raise QuantizationError(f"requantisation scale {real:.3g} is outside (0, 2): choose another input_scale")
    return value


def _quantize_cheap(op: nn.Module, intrinsic: int, ghost: int) -> QuantizedCheapOp:
    state_scale = 2.0**-STATE_FRAC
    if isinstance(op, LinearGhost):
        tensors, bias = [op.linear.weight], op.linear.bias
        inputs, outputs = [intrinsic], [ghost]
    elif isinstance(op, GroupedGhost):
        tensors, bias = [block.weight for block in op.blocks], op.bias
        inputs, outputs = list(op.input_sizes), [block.out_features for block in op.blocks]
    elif isinstance(op, ChannelwiseGhost):
        tensors, bias = [op.scale], op.bias
        inputs, outputs = [intrinsic], [ghost]
    elif isinstance(op, IdentityGhost):
        return QuantizedCheapOp("identity", "identity", intrinsic, ghost, [], None, [], [intrinsic], [ghost], [])
    else:
        raise QuantizationError(f"no integer form for cheap op {type(op).__name__}")
    scales = [_weight_scale(tensor) for tensor in tensors]
    weights = [_int8(tensor, scale) for tensor, scale in zip(tensors, scales)]
    # Each block's bias slice sits at that block's accumulator scale.
    bias_parts, start = [], 0
    for size, scale in zip(outputs, scales):
        bias_parts.append(_int32(bias[start : start + size], scale * state_scale))
        start += size
    name = {LinearGhost: "linear", GroupedGhost: "grouped", ChannelwiseGhost: "channelwise"}[type(op)]
    return QuantizedCheapOp(
        name=name,
        activation=op.activation,
        intrinsic=intrinsic,
        ghost=ghost,
        weights=weights,
        bias=torch.cat(bias_parts),
        multipliers=[_multiplier(scale) for scale in scales],
        input_sizes=inputs,
        output_sizes=outputs,
        scales=scales,
    )


def _quantize_layer(layer: nn.Module, cell: str, input_scale: float) -> QuantizedLayer:
    m = layer.intrinsic_size
    state_scale = 2.0**-STATE_FRAC
    scale_ih, scale_hh = _weight_scale(layer.weight_ih), _weight_scale(layer.weight_hh)
    bias_ih, bias_hh = layer.bias_ih.detach().double(), layer.bias_hh.detach().double()
    if cell == "gru":
        folded = bias_ih + torch.cat([bias_hh[: 2 * m], bias_hh.new_zeros(m)])
        bias_hn: Optional[torch.Tensor] = _int32(bias_hh[2 * m :], scale_hh * state_scale)
    else:
        folded, bias_hn = bias_ih + bias_hh, None
    return QuantizedLayer(
        cell=cell,
        input_size=layer.input_size,
        hidden=layer.hidden_size,
        intrinsic=m,
        weight_ih=_int8(layer.weight_ih, scale_ih),
        weight_hh=_int8(layer.weight_hh, scale_hh),
        bias_input=_int32(folded, scale_ih * input_scale),
        bias_hn=bias_hn,
        multiplier_input=_multiplier(scale_ih * input_scale / state_scale),
        multiplier_state=_multiplier(scale_hh),
        scale_ih=scale_ih,
        scale_hh=scale_hh,
        cheap=_quantize_cheap(layer.ghost, m, layer.ghost_size) if layer.ghost is not None else None,
    )


def quantize_model(
    model: nn.Module,
    config: ArchConfig,
    input_scale: Optional[float] = None,
    calibration: Optional[torch.Tensor] = None,
) -> QuantizedModel:
    """Integer deployment of a model built by ``spaces.build_model(config)``.

    The first layer's input scale is ``input_scale`` if given, else ``max|calibration|
    / 32767`` for calibration features, else Q3.12 (features in [-8, 8)).
    """
    if input_scale is None:
        if calibration is not None and float(calibration.abs().max()) > 0:
            input_scale = float(calibration.abs().max()) / INT16_MAX
        else:
            input_scale = 2.0**-STATE_FRAC
    layers = []
    for index, layer in enumerate(model.rnn.layers):
        layer_scale = input_scale if index == 0 else 2.0**-STATE_FRAC
        layers.append(_quantize_layer(layer, config.cell, layer_scale))
    linear = model.classifier if config.task == "kws" else model.projection
    scale = _weight_scale(linear.weight)
    head = QuantizedHead(
        task=config.task,
        weight=_int8(linear.weight, scale),
        bias=_int32(linear.bias, scale * 2.0**-STATE_FRAC),
        multiplier=_multiplier(scale),
        scale=scale,
    )
    return QuantizedModel(config=config, input_scale=input_scale, layers=layers, head=head)


# ---------------------------------------------------------------- integer simulation
# Every function below mirrors one C expression of the generated code; int64 tensors
# hold the C's int16/int32 values exactly (no intermediate here exceeds int64).
#
# Speed (profiled: int64 matrix products ~1/3 of the time, elementwise integer work and
# table gathers the rest): the simulation runs clips in chunks of SIMULATION_CHUNK (a
# chunk's int64 tensors stay in the CPU cache: 1.2-1.4x faster than one batch of 2,400
# clips, benchmarks/int8_simulation.py), layer by layer over all frames (layer l at
# frame t needs only layer l-1 at frame t and itself at t-1, so the integers are those
# of the C's frame-by-frame order) with each layer's input products for every frame in
# one matrix product, and each activation as one gather from its table evaluated at
# every int16 input. int64 products were as fast as float64 BLAS here, so they stay int64.

SIMULATION_CHUNK = 256


def _saturate16(values: torch.Tensor) -> torch.Tensor:
    return torch.clamp(values, INT16_MIN, INT16_MAX)


def _requantize(*terms: tuple[torch.Tensor, int]) -> torch.Tensor:
    """sat16((sum acc_i * M_i + 2**29) >> 30): int32 accumulators to Q3.12."""
    total = sum(acc * multiplier for acc, multiplier in terms) + (1 << (RQ_SHIFT - 1))
    return _saturate16(total >> RQ_SHIFT)


def _lookup(table: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Interpolated table lookup of Q3.12 int16 values -> Q0.15."""
    unsigned = values + 32768
    index, fraction = unsigned >> 8, unsigned & 255
    low, high = table[index], table[index + 1]
    return low + (((high - low) * fraction + 128) >> 8)


def _q15_to_q12(values: torch.Tensor) -> torch.Tensor:
    return (values + 4) >> 3


class _Tables:
    """Both interpolated tables evaluated at every int16 input, so a lookup is one gather.

    Each entry is :func:`_lookup` of that input, so the values are the C's exactly.
    """

    def __init__(self, model: QuantizedModel):
        every = torch.arange(INT16_MIN, INT16_MAX + 1, dtype=torch.int64)
        self._sigmoid = _lookup(model.sigmoid_table, every)
        self._tanh = _lookup(model.tanh_table, every)
        self._tanh_q12 = _q15_to_q12(self._tanh)

    def sigmoid(self, values: torch.Tensor) -> torch.Tensor:
        """Q3.12 -> Q0.15."""
        return self._sigmoid[values + 32768]

    def tanh(self, values: torch.Tensor) -> torch.Tensor:
        """Q3.12 -> Q0.15."""
        return self._tanh[values + 32768]

    def tanh_q12(self, values: torch.Tensor) -> torch.Tensor:
        """Q3.12 -> Q3.12 (the Q0.15 result rounded to Q3.12, as the C's ``(v + 4) >> 3``)."""
        return self._tanh_q12[values + 32768]


def _operand(weight: torch.Tensor) -> torch.Tensor:
    """An int8 weight [out, in] as the contiguous right operand [in, out] of a product."""
    return weight.t().contiguous()


class _CheapWeights:
    """A cheap op's operands, made once per simulation."""

    def __init__(self, op: QuantizedCheapOp):
        self.blocks = [_operand(weight) for weight in op.weights] if op.name in ("linear", "grouped") else []
        self.source = torch.arange(op.ghost) % max(1, op.intrinsic)


def _cheap(op: QuantizedCheapOp, tables: _Tables, intrinsic: torch.Tensor, weights: _CheapWeights) -> torch.Tensor:
    if op.name == "identity":
        return intrinsic[:, weights.source]
    if op.name == "channelwise":
        source = intrinsic[:, weights.source]
        ghost = _requantize((op.weights[0] * source + op.bias, op.multipliers[0]))
    else:
        parts, start_in, start_out = [], 0, 0
        for weight, multiplier, size_in, size_out in zip(weights.blocks, op.multipliers, op.input_sizes, op.output_sizes):
            acc = intrinsic[:, start_in : start_in + size_in] @ weight + op.bias[start_out : start_out + size_out]
            parts.append(_requantize((acc, multiplier)))
            start_in, start_out = start_in + size_in, start_out + size_out
        ghost = torch.cat(parts, dim=1)
    if op.activation == "tanh":
        ghost = tables.tanh_q12(ghost)
    return ghost


def _gru_layer(layer: QuantizedLayer, tables: _Tables, acc_inputs: torch.Tensor) -> torch.Tensor:
    """All frames of one GRU layer: input accumulators [B, T, 3m] -> states [B, T, H]."""
    m = layer.intrinsic
    gate_rows, candidate_rows = _operand(layer.weight_hh[: 2 * m]), layer.weight_hh[2 * m :]
    from_h, from_g = _operand(candidate_rows[:, :m]), _operand(candidate_rows[:, m:])
    cheap = _CheapWeights(layer.cheap) if layer.cheap is not None else None
    batch, frames = acc_inputs.shape[:2]
    state = acc_inputs.new_zeros(batch, layer.hidden)
    states = []
    for step in range(frames):
        acc_input = acc_inputs[:, step]
        gates = tables.sigmoid(_requantize((acc_input[:, : 2 * m], layer.multiplier_input), (state @ gate_rows, layer.multiplier_state)))
        reset, update = gates[:, :m], gates[:, m:]
        input_part = _requantize((acc_input[:, 2 * m :], layer.multiplier_input), (state[:, m:] @ from_g, layer.multiplier_state))
        hidden_part = _requantize((state[:, :m] @ from_h + layer.bias_hn, layer.multiplier_state))
        pre = _saturate16(input_part + ((reset * hidden_part + ROUND_15) >> 15))
        candidate = tables.tanh_q12(pre)
        intrinsic = candidate + ((update * (state[:, :m] - candidate) + ROUND_15) >> 15)
        state = intrinsic if cheap is None else torch.cat([intrinsic, _cheap(layer.cheap, tables, intrinsic, cheap)], dim=1)
        states.append(state)
    return torch.stack(states, dim=1) if states else acc_inputs.new_zeros(batch, 0, layer.hidden)


def _lstm_layer(layer: QuantizedLayer, tables: _Tables, acc_inputs: torch.Tensor) -> torch.Tensor:
    """All frames of one LSTM layer: input accumulators [B, T, 4m] -> states [B, T, H]."""
    m = layer.intrinsic
    recurrent = _operand(layer.weight_hh)
    cheap = _CheapWeights(layer.cheap) if layer.cheap is not None else None
    batch, frames = acc_inputs.shape[:2]
    state = acc_inputs.new_zeros(batch, layer.hidden)
    cell = acc_inputs.new_zeros(batch, m)
    states = []
    for step in range(frames):
        pre = _requantize((acc_inputs[:, step], layer.multiplier_input), (state @ recurrent, layer.multiplier_state))
        sig = tables.sigmoid(pre)
        input_gate, forget_gate, output_gate = sig[:, :m], sig[:, m : 2 * m], sig[:, 3 * m :]
        cell_input = tables.tanh(pre[:, 2 * m : 3 * m])
        # Q0.15 x Q3.12 >> 15 and Q0.15 x Q0.15 >> 18 both land in Q3.12.
        cell = _saturate16(((forget_gate * cell + ROUND_15) >> 15) + ((input_gate * cell_input + ROUND_18) >> 18))
        intrinsic = (output_gate * tables.tanh(cell) + ROUND_18) >> 18
        state = intrinsic if cheap is None else torch.cat([intrinsic, _cheap(layer.cheap, tables, intrinsic, cheap)], dim=1)
        states.append(state)
    return torch.stack(states, dim=1) if states else acc_inputs.new_zeros(batch, 0, layer.hidden)


def _head(model: QuantizedModel, tables: _Tables, state: torch.Tensor) -> torch.Tensor:
    head = model.head
    acc = state @ _operand(head.weight) + head.bias
    if head.task == "kws":
        return acc
    return tables.sigmoid(_requantize((acc, head.multiplier)))


def simulate(model: QuantizedModel, frames: torch.Tensor) -> torch.Tensor:
    """Run the integer model on int16 frames [B, T, D] from zero state.

    Returns int32 logits [B, classes] (KWS, after the last frame) or Q0.15 masks
    [B, T, bins] (SE, one per frame), as int64 tensors holding the C's integers.
    """
    if frames.dim() == 2:
        frames = frames.unsqueeze(0)
    frames = frames.to(torch.int64)
    tables = _Tables(model)
    if frames.shape[0] <= SIMULATION_CHUNK:
        return _simulate_chunk(model, tables, frames)
    return torch.cat([_simulate_chunk(model, tables, chunk) for chunk in frames.split(SIMULATION_CHUNK)])


def _simulate_chunk(model: QuantizedModel, tables: _Tables, inputs: torch.Tensor) -> torch.Tensor:
    batch, steps = inputs.shape[:2]
    for layer in model.layers:
        # The input side of every frame at once: it does not depend on this layer's state.
        acc_inputs = (inputs.reshape(batch * steps, -1) @ _operand(layer.weight_ih)).reshape(batch, steps, -1) + layer.bias_input
        run_layer = _gru_layer if layer.cell == "gru" else _lstm_layer
        inputs = run_layer(layer, tables, acc_inputs)
    if model.config.task == "kws":
        return _head(model, tables, inputs[:, -1] if steps else inputs.new_zeros(batch, model.layers[-1].hidden))
    return _head(model, tables, inputs.reshape(batch * steps, -1)).reshape(batch, steps, -1)


def table_error(table: torch.Tensor, function) -> float:
    """Largest error of an interpolated table against ``function`` over every int16 input."""
    inputs = torch.arange(INT16_MIN, INT16_MAX + 1, dtype=torch.int64)
    approx = _lookup(table, inputs).double() / 2**GATE_FRAC
    return float((approx - function(inputs.double() / 2**STATE_FRAC)).abs().max())


def describe_formats() -> str:
    """One line per number format, for reports."""
    return (
        f"weights int8 per-tensor symmetric; biases int32; state Q3.12 int16; gates Q0.15; "
        f"requantisation (acc*M + 2^{RQ_SHIFT - 1}) >> {RQ_SHIFT}; sigmoid/tanh {LUT_SIZE}-entry tables, step 1/16, "
        f"max error {table_error(SIGMOID_TABLE, torch.sigmoid):.1e} / {table_error(TANH_TABLE, torch.tanh):.1e}"
    )


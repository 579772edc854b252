"""GhostGRU and GhostLSTM: recurrent layers whose hidden state is mostly ghost states.

A layer of width H keeps a real recurrent state h of intrinsic width m = ceil(H / r)
and derives the other G = H - m states g = phi(h) with a cheap op every step
(DESIGN.md section 1). The gates read the whole previous state [h, g]; for the GRU the
reset gate multiplies only the intrinsic part of the candidate.

Weights are laid out like PyTorch's so that r = 1 *is* ``nn.GRU`` / ``nn.LSTM``:
``weight_ih`` [gates*m, D], ``weight_hh`` [gates*m, H] whose first m columns read h
and the rest read g, ``bias_ih`` and ``bias_hh`` [gates*m].

Three ways to run, all on those weights: r = 1 calls PyTorch's fused GRU/LSTM kernel;
r > 1 with gradients (training) runs :class:`_GhostGRUSequence` /
:class:`_GhostLSTMSequence`, a time loop with a hand-written backward through time;
r > 1 without gradients (evaluation, export, MAC counting) runs a plain step loop that
calls the cheap op's own ``forward``.

Example:
    >>> import torch
    >>> from spaces import GhostGRU
    >>> rnn = GhostGRU(input_size=10, hidden_size=64, ghost_ratio=2.0, num_layers=2)
    >>> outputs, state = rnn(torch.randn(3, 49, 10))
    >>> outputs.shape, state.shape
    (torch.Size([3, 49, 64]), torch.Size([2, 3, 64]))
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from spaces._cheap_ops import CheapOp, create_cheap_op
from spaces._config import intrinsic_size_for


class _GhostLayer(nn.Module):
    """Shared parameter layout of one Ghost GRU/LSTM layer (``gates`` = 3 or 4)."""

    gates: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        ghost_ratio: float = 2.0,
        cheap_op: str = "linear",
        activation: str = "tanh",
        groups: int = 2,
    ):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.intrinsic_size = intrinsic_size_for(hidden_size, ghost_ratio)
        self.ghost_size = hidden_size - self.intrinsic_size
        gate_rows = self.gates * self.intrinsic_size
        self.weight_ih = nn.Parameter(torch.empty(gate_rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gate_rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(gate_rows))
        self.bias_hh = nn.Parameter(torch.empty(gate_rows))
        self.ghost: Optional[CheapOp] = (
            create_cheap_op(cheap_op, self.intrinsic_size, self.ghost_size, activation, groups)
            if self.ghost_size > 0
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's RNN init, scaled by the width the recurrent matrix reads.
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            nn.init.uniform_(weight, -bound, bound)

    def _split_recurrent(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Transposed recurrent weights for h [m, gates*m] and for g [G, gates*m]."""
        m = self.intrinsic_size
        from_intrinsic = self.weight_hh[:, :m].t()
        from_ghost = self.weight_hh[:, m:].t() if self.ghost_size > 0 else None
        return from_intrinsic, from_ghost

    def _trainable_affine(self) -> Optional[tuple[torch.Tensor, torch.Tensor, str]]:
        """The ghost op's affine form when this call trains and the op has one, else None.

        Without gradients (evaluation, export, MAC counting) the plain step loop runs the
        op's own ``forward``, so counted work is the op's, not a dense matrix's.
        """
        if not torch.is_grad_enabled():
            return None
        affine = self.ghost.affine()
        if affine is None or affine[2] not in ("tanh", "identity"):
            return None
        matrix, bias, activation = affine
        return matrix.to(self.weight_hh.dtype), bias.to(self.weight_hh.dtype), activation

    def _output(self, intrinsic_steps: list[torch.Tensor], ghost_steps: list[torch.Tensor]) -> torch.Tensor:
        intrinsic = torch.stack(intrinsic_steps, dim=1)
        if self.ghost is None:
            return intrinsic
        return torch.cat([intrinsic, torch.stack(ghost_steps, dim=1)], dim=2)

    def _initial(self, inputs: torch.Tensor, state: Optional[torch.Tensor]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Split an H-wide initial state into (h, g); zeros when none is given."""
        m = self.intrinsic_size
        if state is None:
            state = inputs.new_zeros(inputs.shape[0], self.hidden_size)
        ghost = state[:, m:] if self.ghost_size > 0 else None
        return state[:, :m], ghost


class GhostGRULayer(_GhostLayer):
    """One GhostGRU layer, batch first: x [B, T, D] -> outputs [B, T, H]."""

    gates = 3

    def forward(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.ghost is None:
            return self._fused(inputs, state)
        m = self.intrinsic_size
        # One matmul for all time steps; b_hr and b_hz sit outside the reset gate, so
        # they are folded in here too. b_hn stays: the reset gate multiplies it.
        folded_bias = self.bias_ih + torch.cat([self.bias_hh[: 2 * m], self.bias_hh.new_zeros(m)])
        projected = nn.functional.linear(inputs, self.weight_ih, folded_bias)
        from_intrinsic, from_ghost = self._split_recurrent()
        candidate_bias = self.bias_hh[2 * m :]
        intrinsic, ghost = self._initial(inputs, state)
        affine = self._trainable_affine()
        if affine is not None:
            matrix, bias, activation = affine
            outputs = _GhostGRUSequence.apply(
                projected, intrinsic, ghost, from_intrinsic, from_ghost, candidate_bias, matrix, bias, activation == "tanh"
            )
            return outputs, outputs[:, -1]
        intrinsic_steps: list[torch.Tensor] = []
        ghost_steps: list[torch.Tensor] = []
        # unbind reads every step once: indexing projected[:, step] would make each
        # step's backward zero-fill a gradient as large as the whole sequence.
        for step_inputs in projected.unbind(1):
            # Input part plus everything the ghost states feed (gates and candidate).
            gate_inputs = torch.addmm(step_inputs, ghost, from_ghost)
            recurrent = torch.mm(intrinsic, from_intrinsic)
            reset, update = torch.sigmoid(gate_inputs[:, : 2 * m] + recurrent[:, : 2 * m]).chunk(2, dim=1)
            candidate = torch.tanh(gate_inputs[:, 2 * m :] + reset * (recurrent[:, 2 * m :] + candidate_bias))
            # h = (1 - z) * c + z * h_prev
            intrinsic = torch.lerp(candidate, intrinsic, update)
            ghost = self.ghost(intrinsic)
            intrinsic_steps.append(intrinsic)
            ghost_steps.append(ghost)
        outputs = self._output(intrinsic_steps, ghost_steps)
        return outputs, outputs[:, -1]

    def _fused(self, inputs: torch.Tensor, state: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Ratio 1 is nn.GRU: run PyTorch's GRU kernel on this layer's own weights."""
        initial = inputs.new_zeros(1, inputs.shape[0], self.hidden_size) if state is None else state.unsqueeze(0)
        weights = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        outputs, final = torch.gru(inputs, initial, weights, True, 1, 0.0, self.training, False, True)
        return outputs, final[0]


class GhostLSTMLayer(_GhostLayer):
    """One GhostLSTM layer: intrinsic LSTM of width m, gates read [h, g], cell state intrinsic only."""

    gates = 4

    def reset_parameters(self) -> None:
        super().reset_parameters()
        # Forget-gate bias 1 (Jozefowicz et al., 2015): the cell keeps its state from the
        # first step, so an LSTM learns in a 3-epoch proxy about as fast as a GRU does.
        # Gate order i, f, g, o as in nn.LSTM; the two biases add, so bias_hh's share is cleared.
        m = self.intrinsic_size
        with torch.no_grad():
            self.bias_ih[m : 2 * m].fill_(1.0)
            self.bias_hh[m : 2 * m].zero_()

    def forward(
        self, inputs: torch.Tensor, state: Optional[tuple[torch.Tensor, torch.Tensor]] = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        m = self.intrinsic_size
        hidden_state, cell = (None, None) if state is None else state
        if cell is None:
            cell = inputs.new_zeros(inputs.shape[0], m)
        if self.ghost is None:
            return self._fused(inputs, hidden_state, cell)
        projected = nn.functional.linear(inputs, self.weight_ih, self.bias_ih + self.bias_hh)
        intrinsic, ghost = self._initial(inputs, hidden_state)
        affine = self._trainable_affine()
        if affine is not None:
            matrix, bias, activation = affine
            from_intrinsic, from_ghost = self._split_recurrent()
            outputs, cell = _GhostLSTMSequence.apply(
                projected, intrinsic, ghost, cell, from_intrinsic, from_ghost, matrix, bias, activation == "tanh"
            )
            return outputs, (outputs[:, -1], cell)
        # The LSTM has no reset gate between h and g, so the whole state [h, g] meets the
        # recurrent weights in one matmul (a cat plus one addmm beats two matmuls and an add).
        recurrent_weight = self.weight_hh.t()
        intrinsic_steps: list[torch.Tensor] = []
        ghost_steps: list[torch.Tensor] = []
        for step_inputs in projected.unbind(1):
            full_state = torch.cat([intrinsic, ghost], dim=1)
            pre_activation = torch.addmm(step_inputs, full_state, recurrent_weight)
            # One sigmoid over all four gates (the cell-input slice is unused) is cheaper
            # than three separate activation calls.
            input_gate, forget_gate, _, output_gate = torch.sigmoid(pre_activation).chunk(4, dim=1)
            cell_input = torch.tanh(pre_activation[:, 2 * m : 3 * m])
            cell = forget_gate * cell + input_gate * cell_input
            intrinsic = output_gate * torch.tanh(cell)
            ghost = self.ghost(intrinsic)
            intrinsic_steps.append(intrinsic)
            ghost_steps.append(ghost)
        outputs = self._output(intrinsic_steps, ghost_steps)
        return outputs, (outputs[:, -1], cell)

    def _fused(
        self, inputs: torch.Tensor, hidden_state: Optional[torch.Tensor], cell: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Ratio 1 is nn.LSTM: run PyTorch's LSTM kernel on this layer's own weights."""
        if hidden_state is None:
            hidden_state = inputs.new_zeros(inputs.shape[0], self.hidden_size)
        weights = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        initial = (hidden_state.unsqueeze(0), cell.unsqueeze(0))
        outputs, final_hidden, final_cell = torch.lstm(inputs, initial, weights, True, 1, 0.0, self.training, False, True)
        return outputs, (final_hidden[0], final_cell[0])


def _flat(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(-1, tensor.shape[-1])


def _tanh_(tensor: torch.Tensor) -> torch.Tensor:
    """tanh in place as 2 sigmoid(2x) - 1: ATen's float tanh on CPU took ~17 us on a
    64 x 64 block, its sigmoid ~2-5 us (doubling by an add avoids a wrapped scalar)."""
    return _twice_minus_one_(tensor.add_(tensor).sigmoid_())


def _twice_minus_one_(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.add_(tensor).sub_(1)


def _derivative_times(grad: torch.Tensor, activated: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out = grad * (1 - activated^2), tanh's derivative from its output."""
    return torch.addcmul(grad, grad, activated * activated, value=-1, out=out)


def _read_intrinsic(current: torch.Tensor, m: int, reads: torch.Tensor, reads_bias: torch.Tensor, tanh_ghost: bool) -> torch.Tensor:
    """One matmul reads the new h (``current[:, :m]``) for its ghost op, written into
    ``current[:, m:]``, and for the next step's recurrent gates, which it returns."""
    ghost_size = current.shape[1] - m
    both = torch.addmm(reads_bias, current[:, :m], reads)
    if tanh_ghost:
        ghost_pre = both[:, :ghost_size]
        _twice_minus_one_(torch.sigmoid(ghost_pre.add_(ghost_pre), out=current[:, m:]))
    else:
        current[:, m:] = both[:, :ghost_size]
    return both[:, ghost_size:]


def _ghost_backward(
    grad_output: torch.Tensor,
    later_gates: Optional[torch.Tensor],
    from_ghost_t: torch.Tensor,
    ghost: torch.Tensor,
    tanh_ghost: bool,
    out: torch.Tensor,
) -> None:
    """Gradient of a step's ghost pre-activation into ``out``: from the output and, but
    for the last step, from the next step's gates (``later_gates``)."""
    grad_ghost = grad_output if later_gates is None else torch.addmm(grad_output, later_gates, from_ghost_t)
    if tanh_ghost:
        _derivative_times(grad_ghost, ghost, out=out)
    else:
        out.copy_(grad_ghost)


class _GhostGRUSequence(torch.autograd.Function):
    """The GhostGRU time loop with a hand-written backward through time (training only).

    Through autograd a step recorded ~15 nodes whose bookkeeping (and the zero-filled
    gradients of slices), not the matmuls, dominated the time. Here a step is one
    ``addmm`` (ghost -> gates), one ``addmm`` that reads h once for its own ghost op and
    the next step's gates, and in-place elementwise work into preallocated buffers; the
    weight gradients are single matmuls over all steps. The ghost op enters as
    ``act(h @ matrix + bias)`` (:meth:`CheapOp.affine`).

    ``states[k]`` holds [h, g] after step k - 1 (``states[0]`` the initial state). In the
    backward ``reads_grads[k]`` holds the gradients that multiply ``reads`` into h of
    ``states[k]``: its ghost pre-activation (step k - 1) and the recurrent gates of step k.
    """

    @staticmethod
    def forward(ctx, projected, intrinsic, ghost, from_intrinsic, from_ghost, candidate_bias, matrix, bias, tanh_ghost):
        m, ghost_size = from_intrinsic.shape[0], matrix.shape[1]
        batch, steps = projected.shape[:2]
        reads = torch.cat([matrix, from_intrinsic], dim=1)
        # b_hn rides in the recurrent matmul: the reset gate multiplies it with W_hn h.
        reads_bias = torch.cat([bias, bias.new_zeros(2 * m), candidate_bias])
        states = projected.new_empty(steps + 1, batch, m + ghost_size)
        states[0, :, :m] = intrinsic
        states[0, :, m:] = ghost
        recurrent = torch.addmm(reads_bias[ghost_size:], intrinsic, from_intrinsic)
        gates, candidates, candidate_recurrents = [], [], []
        for step, step_inputs in enumerate(projected.unbind(1)):
            previous, current = states[step], states[step + 1]
            gate_inputs = torch.addmm(step_inputs, previous[:, m:], from_ghost)
            reset_update = torch.add(gate_inputs[:, : 2 * m], recurrent[:, : 2 * m]).sigmoid_()
            candidate_recurrent = recurrent[:, 2 * m :]
            candidate = _tanh_(torch.addcmul(gate_inputs[:, 2 * m :], reset_update[:, :m], candidate_recurrent))
            torch.lerp(candidate, previous[:, :m], reset_update[:, m:], out=current[:, :m])
            recurrent = _read_intrinsic(current, m, reads, reads_bias, tanh_ghost)
            gates.append(reset_update)
            candidates.append(candidate)
            candidate_recurrents.append(candidate_recurrent)
        ctx.tanh_ghost = tanh_ghost
        ctx.steps = (gates, candidates, candidate_recurrents)
        ctx.save_for_backward(from_intrinsic, from_ghost, reads, states)
        return states[1:].transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx, grad_outputs):
        from_intrinsic, from_ghost, reads, states = ctx.saved_tensors
        gates, candidates, candidate_recurrents = ctx.steps
        m, ghost_size = from_intrinsic.shape[0], reads.shape[1] - from_intrinsic.shape[1]
        steps, batch = len(gates), states.shape[1]
        grad_steps = grad_outputs.transpose(0, 1)
        reads_t, from_ghost_t = reads.t(), from_ghost.t()
        reads_grads = grad_outputs.new_empty(steps + 1, batch, ghost_size + 3 * m)
        reads_grads[0, :, :ghost_size] = 0
        reads_grads[steps, :, ghost_size:] = 0
        grad_gate_inputs = grad_outputs.new_empty(steps, batch, 3 * m)
        carry = grad_outputs.new_zeros(batch, m)  # dL/dh through z * h_prev
        for step in range(steps - 1, -1, -1):
            later_gates = grad_gate_inputs[step + 1] if step + 1 < steps else None
            _ghost_backward(grad_steps[step, :, m:], later_gates, from_ghost_t, states[step + 1, :, m:], ctx.tanh_ghost,
                            out=reads_grads[step + 1, :, :ghost_size])
            grad_intrinsic = torch.addmm(carry, reads_grads[step + 1], reads_t).add_(grad_steps[step, :, :m])
            reset_update, candidate = gates[step], candidates[step]
            carry = grad_intrinsic * reset_update[:, m:]
            grad = grad_gate_inputs[step]
            _derivative_times(grad_intrinsic - carry, candidate, out=grad[:, 2 * m :])
            torch.mul(grad[:, 2 * m :], candidate_recurrents[step], out=grad[:, :m])
            torch.mul(grad_intrinsic, states[step, :, :m] - candidate, out=grad[:, m : 2 * m])
            grad[:, : 2 * m].mul_(torch.addcmul(reset_update, reset_update, reset_update, value=-1))
            grad_recurrent = reads_grads[step, :, ghost_size:]
            grad_recurrent[:, : 2 * m] = grad[:, : 2 * m]
            torch.mul(grad[:, 2 * m :], reset_update[:, :m], out=grad_recurrent[:, 2 * m :])
        grad_reads = _flat(states[:, :, :m]).t() @ _flat(reads_grads)
        return (
            grad_gate_inputs.transpose(0, 1),
            torch.addmm(carry, reads_grads[0], reads_t),
            torch.mm(grad_gate_inputs[0], from_ghost_t),
            grad_reads[:, ghost_size:],
            _flat(states[:-1, :, m:]).t() @ _flat(grad_gate_inputs),
            reads_grads[:, :, ghost_size + 2 * m :].sum((0, 1)),
            grad_reads[:, :ghost_size],
            reads_grads[:, :, :ghost_size].sum((0, 1)),
            None,
        )


class _GhostLSTMSequence(torch.autograd.Function):
    """The GhostLSTM time loop with a hand-written backward through time (training only).

    Same scheme as :class:`_GhostGRUSequence`; ``reads_grads[k]`` holds the gradient of
    the ghost pre-activation of step k - 1 and of the gate pre-activations of step k.
    Returns the outputs [B, T, H] and the final cell [B, m].
    """

    @staticmethod
    def forward(ctx, projected, intrinsic, ghost, cell, from_intrinsic, from_ghost, matrix, bias, tanh_ghost):
        m, ghost_size = from_intrinsic.shape[0], matrix.shape[1]
        batch, steps = projected.shape[:2]
        reads = torch.cat([matrix, from_intrinsic], dim=1)
        reads_bias = torch.cat([bias, bias.new_zeros(4 * m)])
        states = projected.new_empty(steps + 1, batch, m + ghost_size)
        states[0, :, :m] = intrinsic
        states[0, :, m:] = ghost
        cells = projected.new_empty(steps + 1, batch, m)
        cells[0] = cell
        recurrent = torch.mm(intrinsic, from_intrinsic)
        gates, cell_tanhs = [], []
        for step, step_inputs in enumerate(projected.unbind(1)):
            previous, current = states[step], states[step + 1]
            activated = torch.addmm(recurrent.add_(step_inputs), previous[:, m:], from_ghost)
            # i, f, o through the sigmoid, the cell input through tanh = 2 sigmoid(2x) - 1.
            cell_input = activated[:, 2 * m : 3 * m]
            cell_input.add_(cell_input)
            activated.sigmoid_()
            _twice_minus_one_(cell_input)
            input_gate, forget_gate, cell_input, output_gate = activated.chunk(4, dim=1)
            torch.addcmul(forget_gate * cells[step], input_gate, cell_input, out=cells[step + 1])
            cell_tanh = _tanh_(cells[step + 1].clone())
            torch.mul(output_gate, cell_tanh, out=current[:, :m])
            recurrent = _read_intrinsic(current, m, reads, reads_bias, tanh_ghost)
            gates.append(activated)
            cell_tanhs.append(cell_tanh)
        ctx.tanh_ghost = tanh_ghost
        ctx.steps = (gates, cell_tanhs)
        ctx.save_for_backward(from_intrinsic, from_ghost, reads, states, cells)
        return states[1:].transpose(0, 1).contiguous(), cells[steps].clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_final_cell):
        from_intrinsic, from_ghost, reads, states, cells = ctx.saved_tensors
        gates, cell_tanhs = ctx.steps
        m, ghost_size = from_intrinsic.shape[0], reads.shape[1] - from_intrinsic.shape[1]
        steps, batch = len(gates), states.shape[1]
        grad_steps = grad_outputs.transpose(0, 1)
        reads_t, from_ghost_t = reads.t(), from_ghost.t()
        reads_grads = grad_outputs.new_empty(steps + 1, batch, ghost_size + 4 * m)
        reads_grads[0, :, :ghost_size] = 0
        reads_grads[steps, :, ghost_size:] = 0
        grad_cell = grad_final_cell  # dL/dc of the step being processed
        for step in range(steps - 1, -1, -1):
            later_gates = reads_grads[step + 1, :, ghost_size:] if step + 1 < steps else None
            _ghost_backward(grad_steps[step, :, m:], later_gates, from_ghost_t, states[step + 1, :, m:], ctx.tanh_ghost,
                            out=reads_grads[step + 1, :, :ghost_size])
            grad_intrinsic = torch.addmm(grad_steps[step, :, :m], reads_grads[step + 1], reads_t)
            activated, cell_tanh = gates[step], cell_tanhs[step]
            input_gate, forget_gate, cell_input, output_gate = activated.chunk(4, dim=1)
            grad_cell = grad_cell + _derivative_times(grad_intrinsic * output_gate, cell_tanh, out=torch.empty_like(cell_tanh))
            grad = reads_grads[step, :, ghost_size:]
            torch.mul(grad_cell, cell_input, out=grad[:, :m])
            torch.mul(grad_cell, cells[step], out=grad[:, m : 2 * m])
            torch.mul(grad_cell, input_gate, out=grad[:, 2 * m : 3 * m])
            torch.mul(grad_intrinsic, cell_tanh, out=grad[:, 3 * m :])
            # sigmoid' = s (1 - s) for i, f, o; tanh' = 1 - t^2 for the cell input.
            derivative = torch.addcmul(activated, activated, activated, value=-1)
            torch.addcmul(torch.ones_like(cell_input), cell_input, cell_input, value=-1, out=derivative[:, 2 * m : 3 * m])
            grad.mul_(derivative)
            grad_cell = grad_cell * forget_gate
        grad_reads = _flat(states[:, :, :m]).t() @ _flat(reads_grads)
        grad_pre = reads_grads[:steps, :, ghost_size:]
        return (
            grad_pre.transpose(0, 1),
            torch.mm(reads_grads[0], reads_t),
            torch.mm(grad_pre[0], from_ghost_t),
            grad_cell,
            grad_reads[:, ghost_size:],
            _flat(states[:-1, :, m:]).t() @ _flat(grad_pre),
            grad_reads[:, :ghost_size],
            reads_grads[:, :, :ghost_size].sum((0, 1)),
            None,
        )


class _GhostStack(nn.Module):
    """Stacked layers with ``nn.GRU``-like call: (outputs, final state per layer)."""

    layer_class: type[_GhostLayer]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        ghost_ratio: float = 2.0,
        num_layers: int = 1,
        cheap_op: str = "linear",
        activation: str = "tanh",
        groups: int = 2,
    ):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.layers = nn.ModuleList(
            self.layer_class(
                input_size if index == 0 else hidden_size, hidden_size, ghost_ratio, cheap_op, activation, groups
            )
            for index in range(num_layers)
        )

    @property
    def intrinsic_size(self) -> int:
        return self.layers[0].intrinsic_size

    def load_from_torch(self, reference: nn.RNNBase) -> None:
        """Copy the weights of a batch-first ``nn.GRU``/``nn.LSTM`` (only at ratio 1)."""
        if self.layers[0].ghost_size:
            raise ValueError("weights of a plain RNN fit only a ghost ratio of 1")
        with torch.no_grad():
            for index, layer in enumerate(self.layers):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(layer, name).copy_(getattr(reference, f"{name}_l{index}"))


class GhostGRU(_GhostStack):
    """Stacked GhostGRU, batch first. ``state`` is [layers, B, H] in and out."""

    layer_class = GhostGRULayer

    def forward(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        finals = []
        for index, layer in enumerate(self.layers):
            inputs, final = layer(inputs, None if state is None else state[index])
            finals.append(final)
        return inputs, torch.stack(finals)


class GhostLSTM(_GhostStack):
    """Stacked GhostLSTM, batch first. ``state`` is (h [layers, B, H], c [layers, B, m])."""

    layer_class = GhostLSTMLayer

    def forward(
        self, inputs: torch.Tensor, state: Optional[tuple[torch.Tensor, torch.Tensor]] = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        hiddens, cells = [], []
        for index, layer in enumerate(self.layers):
            layer_state = None if state is None else (state[0][index], state[1][index])
            inputs, (hidden, cell) = layer(inputs, layer_state)
            hiddens.append(hidden)
            cells.append(cell)
        return inputs, (torch.stack(hiddens), torch.stack(cells))

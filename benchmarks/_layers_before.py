"""The GhostGRU/GhostLSTM layers as they were before the speed work (commit baaf5ea),
kept verbatim (imports aside) so that ``layer_speed.py`` and ``trial_speed.py`` time the
old and the new code side by side in one run. Not used by the package.

Every step read ``projected[:, step]`` (whose backward zero-fills a [B, T, gates*m]
gradient per step), ratio 1 ran the same Python time loop, and training went through
autograd step by step.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from spaces import CheapOp, create_cheap_op, intrinsic_size_for


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

    def _ghost_of(self, intrinsic: torch.Tensor) -> Optional[torch.Tensor]:
        return self.ghost(intrinsic) if self.ghost is not None else None

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
        m = self.intrinsic_size
        # One matmul for all time steps; b_hr and b_hz sit outside the reset gate, so
        # they are folded in here too. b_hn stays: the reset gate multiplies it.
        folded_bias = self.bias_ih + torch.cat([self.bias_hh[: 2 * m], self.bias_hh.new_zeros(m)])
        projected = nn.functional.linear(inputs, self.weight_ih, folded_bias)
        from_intrinsic, from_ghost = self._split_recurrent()
        candidate_bias = self.bias_hh[2 * m :]
        intrinsic, ghost = self._initial(inputs, state)
        intrinsic_steps: list[torch.Tensor] = []
        ghost_steps: list[torch.Tensor] = []
        for step in range(inputs.shape[1]):
            # Input part plus everything the ghost states feed (gates and candidate).
            gate_inputs = projected[:, step] if ghost is None else torch.addmm(projected[:, step], ghost, from_ghost)
            recurrent = torch.mm(intrinsic, from_intrinsic)
            reset, update = torch.sigmoid(gate_inputs[:, : 2 * m] + recurrent[:, : 2 * m]).chunk(2, dim=1)
            candidate = torch.tanh(gate_inputs[:, 2 * m :] + reset * (recurrent[:, 2 * m :] + candidate_bias))
            # h = (1 - z) * c + z * h_prev
            intrinsic = torch.lerp(candidate, intrinsic, update)
            ghost = self._ghost_of(intrinsic)
            intrinsic_steps.append(intrinsic)
            if ghost is not None:
                ghost_steps.append(ghost)
        outputs = self._output(intrinsic_steps, ghost_steps)
        return outputs, outputs[:, -1]


class GhostLSTMLayer(_GhostLayer):
    """One GhostLSTM layer: intrinsic LSTM of width m, gates read [h, g], cell state intrinsic only."""

    gates = 4

    def forward(
        self, inputs: torch.Tensor, state: Optional[tuple[torch.Tensor, torch.Tensor]] = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        m = self.intrinsic_size
        projected = nn.functional.linear(inputs, self.weight_ih, self.bias_ih + self.bias_hh)
        # The LSTM has no reset gate between h and g, so the whole state [h, g] meets the
        # recurrent weights in one matmul (a cat plus one addmm beats two matmuls and an add).
        recurrent_weight = self.weight_hh.t()
        hidden_state, cell = (None, None) if state is None else state
        intrinsic, ghost = self._initial(inputs, hidden_state)
        if cell is None:
            cell = inputs.new_zeros(inputs.shape[0], m)
        intrinsic_steps: list[torch.Tensor] = []
        ghost_steps: list[torch.Tensor] = []
        for step in range(inputs.shape[1]):
            full_state = intrinsic if ghost is None else torch.cat([intrinsic, ghost], dim=1)
            pre_activation = torch.addmm(projected[:, step], full_state, recurrent_weight)
            # One sigmoid over all four gates (the cell-input slice is unused) is cheaper
            # than three separate activation calls.
            input_gate, forget_gate, _, output_gate = torch.sigmoid(pre_activation).chunk(4, dim=1)
            cell_input = torch.tanh(pre_activation[:, 2 * m : 3 * m])
            cell = forget_gate * cell + input_gate * cell_input
            intrinsic = output_gate * torch.tanh(cell)
            ghost = self._ghost_of(intrinsic)
            intrinsic_steps.append(intrinsic)
            if ghost is not None:
                ghost_steps.append(ghost)
        outputs = self._output(intrinsic_steps, ghost_steps)
        return outputs, (outputs[:, -1], cell)


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

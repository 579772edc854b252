"""Cheap operations that turn intrinsic states h (width m) into ghost states g (width G).

The paper only says "a linear transformation plus an activation", so the operation is
a search dimension. Each op is one ``nn.Module`` class plus one registry line; the
cost model reads the same registry (``params`` / ``macs`` / ``elementwise`` static
methods), so a new op cannot be built without also being costed.

Example:
    >>> import torch
    >>> from spaces import create_cheap_op
    >>> op = create_cheap_op("channelwise", intrinsic_size=4, ghost_size=6, activation="tanh")
    >>> op(torch.zeros(2, 4)).shape
    torch.Size([2, 6])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "identity": lambda tensor: tensor,
}


def split_evenly(total: int, parts: int) -> list[int]:
    """Sizes of ``parts`` contiguous blocks of ``total``, differing by at most one."""
    base, extra = divmod(total, parts)
    return [base + 1 if index < extra else base for index in range(parts)]


@dataclass(frozen=True)
class CheapOpCost:
    """What one cheap op stores and computes per time step (read by ``cost_models``)."""

    weights: int  # multipliers, stored at the weight dtype
    biases: int  # stored at the bias dtype
    weight_tensors: int  # each quantised tensor carries one scale
    macs: int
    activations: int
    elementwise: int

    @property
    def params(self) -> int:
        return self.weights + self.biases


def _activations(ghost_size: int, activation: str) -> int:
    return ghost_size if activation != "identity" else 0


class CheapOp(nn.Module, ABC):
    """Base class: maps h [..., m] to g [..., G]. Subclasses define the costs too.

    MAC convention (shared with ``cost_models``): a multiply-accumulate is a weight
    times a state element summed into an output, as a dense, grouped or per-channel
    multiply-add computes it. Bias adds and activations are elementwise work.
    """

    def __init__(self, intrinsic_size: int, ghost_size: int, activation: str = "tanh", groups: int = 1):
        super().__init__()
        self.intrinsic_size = intrinsic_size
        self.ghost_size = ghost_size
        self.activation = activation
        self._act = ACTIVATIONS[activation]

    @staticmethod
    @abstractmethod
    def cost(intrinsic_size: int, ghost_size: int, groups: int, activation: str) -> "CheapOpCost":
        """Stored numbers and work per time step of this op at these sizes."""

    def affine(self) -> Optional[tuple[torch.Tensor, torch.Tensor, str]]:
        """The op as ``act(h @ matrix + bias)``: (matrix [m, G], bias [G], act name), or None.

        Built from the parameters on every call, so gradients reach them. Training uses
        it to run the whole time loop with hand-written backward (one fused matmul per
        step reads h for the ghost op and the next step's gates); an op that returns
        None trains through autograd step by step. Inference and MAC counting always
        run ``forward``, so the counted work stays that of the op itself.
        """
        return None


class LinearGhost(CheapOp):
    """g = act(W h + b) with a dense G x m matrix."""

    def __init__(self, intrinsic_size: int, ghost_size: int, activation: str = "tanh", groups: int = 1):
        super().__init__(intrinsic_size, ghost_size, activation)
        self.linear = nn.Linear(intrinsic_size, ghost_size)

    def forward(self, intrinsic: torch.Tensor) -> torch.Tensor:
        return self._act(self.linear(intrinsic))

    def affine(self) -> tuple[torch.Tensor, torch.Tensor, str]:
        return self.linear.weight.t(), self.linear.bias, self.activation

    @staticmethod
    def cost(intrinsic_size: int, ghost_size: int, groups: int, activation: str) -> CheapOpCost:
        weights = intrinsic_size * ghost_size
        return CheapOpCost(weights, ghost_size, 1, weights, _activations(ghost_size, activation), ghost_size)


def effective_groups(intrinsic_size: int, ghost_size: int, groups: int) -> int:
    """Groups actually used: no group may be empty on either side."""
    return max(1, min(groups, intrinsic_size, ghost_size))


class GroupedGhost(CheapOp):
    """Block-diagonal W: input and output split into ``groups`` near-equal blocks."""

    def __init__(self, intrinsic_size: int, ghost_size: int, activation: str = "tanh", groups: int = 2):
        super().__init__(intrinsic_size, ghost_size, activation)
        self.groups = effective_groups(intrinsic_size, ghost_size, groups)
        self.input_sizes = split_evenly(intrinsic_size, self.groups)
        output_sizes = split_evenly(ghost_size, self.groups)
        self.blocks = nn.ModuleList(
            nn.Linear(in_size, out_size, bias=False) for in_size, out_size in zip(self.input_sizes, output_sizes)
        )
        self.bias = nn.Parameter(torch.zeros(ghost_size))
        bound = 1.0 / max(1, intrinsic_size // self.groups) ** 0.5
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, intrinsic: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(intrinsic, self.input_sizes, dim=-1)
        ghost = torch.cat([block(chunk) for block, chunk in zip(self.blocks, chunks)], dim=-1)
        return self._act(ghost + self.bias)

    def affine(self) -> tuple[torch.Tensor, torch.Tensor, str]:
        return torch.block_diag(*(block.weight for block in self.blocks)).t(), self.bias, self.activation

    @staticmethod
    def cost(intrinsic_size: int, ghost_size: int, groups: int, activation: str) -> CheapOpCost:
        used = effective_groups(intrinsic_size, ghost_size, groups)
        weights = sum(a * b for a, b in zip(split_evenly(intrinsic_size, used), split_evenly(ghost_size, used)))
        return CheapOpCost(weights, ghost_size, used, weights, _activations(ghost_size, activation), ghost_size)


def _repeat_index(intrinsic_size: int, ghost_size: int) -> torch.Tensor:
    """Ghost j reads intrinsic j mod m."""
    return torch.arange(ghost_size) % max(1, intrinsic_size)


def _selection(source: torch.Tensor, intrinsic_size: int, dtype: torch.dtype) -> torch.Tensor:
    """[m, G] matrix with a one where ghost j reads intrinsic ``source[j]``."""
    return nn.functional.one_hot(source, intrinsic_size).t().to(dtype)


class ChannelwiseGhost(CheapOp):
    """g_j = act(a_j * h_{j mod m} + b_j): one scale and one shift per ghost state."""

    def __init__(self, intrinsic_size: int, ghost_size: int, activation: str = "tanh", groups: int = 1):
        super().__init__(intrinsic_size, ghost_size, activation)
        self.scale = nn.Parameter(torch.empty(ghost_size).uniform_(0.5, 1.5))
        self.bias = nn.Parameter(torch.empty(ghost_size).uniform_(-0.1, 0.1))
        self.register_buffer("source", _repeat_index(intrinsic_size, ghost_size), persistent=False)

    def forward(self, intrinsic: torch.Tensor) -> torch.Tensor:
        # addcmul is the one op the counted cost model treats as a MAC per element;
        # the recurrent cells avoid it so that their gating stays elementwise work.
        return self._act(torch.addcmul(self.bias, intrinsic[..., self.source], self.scale))

    def affine(self) -> tuple[torch.Tensor, torch.Tensor, str]:
        return _selection(self.source, self.intrinsic_size, self.scale.dtype) * self.scale, self.bias, self.activation

    @staticmethod
    def cost(intrinsic_size: int, ghost_size: int, groups: int, activation: str) -> CheapOpCost:
        # The shift rides in the multiply-add, so no separate elementwise work.
        return CheapOpCost(ghost_size, ghost_size, 1, ghost_size, _activations(ghost_size, activation), 0)


class IdentityGhost(CheapOp):
    """g_j = h_{j mod m}: GhostNet's identity map, a copy with no weights (activation ignored)."""

    def __init__(self, intrinsic_size: int, ghost_size: int, activation: str = "tanh", groups: int = 1):
        super().__init__(intrinsic_size, ghost_size, activation)
        self.register_buffer("source", _repeat_index(intrinsic_size, ghost_size), persistent=False)

    def forward(self, intrinsic: torch.Tensor) -> torch.Tensor:
        return intrinsic[..., self.source]

    def affine(self) -> tuple[torch.Tensor, torch.Tensor, str]:
        selection = _selection(self.source, self.intrinsic_size, torch.get_default_dtype())
        return selection, selection.new_zeros(self.ghost_size), "identity"

    @staticmethod
    def cost(intrinsic_size: int, ghost_size: int, groups: int, activation: str) -> CheapOpCost:
        # A copy (G moves on a target that cannot alias); no activation applies to it.
        return CheapOpCost(0, 0, 0, 0, 0, ghost_size)


CHEAP_OPS: dict[str, type[CheapOp]] = {
    "linear": LinearGhost,
    "grouped": GroupedGhost,
    "channelwise": ChannelwiseGhost,
    "identity": IdentityGhost,
}


def create_cheap_op(name: str, intrinsic_size: int, ghost_size: int, activation: str = "tanh", groups: int = 2) -> CheapOp:
    """Build a registered cheap op by name."""
    if name not in CHEAP_OPS:
        raise ValueError(f"unknown cheap op {name!r}; valid: {', '.join(CHEAP_OPS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
    return CHEAP_OPS[name](intrinsic_size, ghost_size, activation, groups)

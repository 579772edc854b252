"""MACs counted on the real PyTorch module, by fvcore and by torch's FlopCounterMode.

Both counters see the ops the module really executes for one inference (KWS: the
whole window; SE: one frame), so they check the analytic formulas. One convention
is added to both: ``aten::addcmul`` (used only by the channelwise cheap op) counts
one MAC per output element, as a per-channel multiply-add is on a target.

Example:
    >>> from spaces import ArchConfig
    >>> from cost_models import counted_macs
    >>> counts = counted_macs(ArchConfig(hidden=16, ghost_ratio=2, frames=5))
    >>> counts.fvcore == counts.flop_counter
    True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from spaces import ArchConfig, build_model

with warnings.catch_warnings():
    # fvcore's import touches torch.jit.script, which torch now flags as deprecated.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=DeprecationWarning)
    from fvcore.nn import FlopCountAnalysis


@dataclass(frozen=True)
class CountedCost:
    fvcore: int  # fvcore counts one "flop" per MAC
    flop_counter: int  # FlopCounterMode's flops / 2
    params: int  # sum of p.numel() of the built module


def example_input(config: ArchConfig) -> torch.Tensor:
    """One inference's input: the KWS window, or a single SE frame."""
    steps = config.frames if config.task == "kws" else 1
    return torch.randn(1, steps, config.input_size)


def _fvcore_addcmul(inputs: list[Any], outputs: list[Any]) -> int:
    return prod(outputs[0].type().sizes())


def _flop_counter_addcmul(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return 2 * prod(out_shape)


def counted_macs(config: ArchConfig, model: torch.nn.Module | None = None) -> CountedCost:
    """Count the MACs of one inference of ``config``'s model (built if not given)."""
    model = build_model(config) if model is None else model
    model.eval()
    inputs = example_input(config)
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing an unrolled time loop warns about Python values; the count is exact.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.*deprecated", category=DeprecationWarning)
        analysis = FlopCountAnalysis(model, (inputs,))
        analysis.set_op_handle("aten::addcmul", _fvcore_addcmul)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        fvcore_macs = int(analysis.total())
        counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addcmul: _flop_counter_addcmul})
        with counter:
            model(inputs)
    flops = counter.get_total_flops()
    return CountedCost(fvcore=fvcore_macs, flop_counter=flops // 2, params=sum(p.numel() for p in model.parameters()))

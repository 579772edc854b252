"""MACs counted on the real PyTorch module, by fvcore and by torch's FlopCounterMode.

Both counters see the ops the module really executes for one inference (KWS: the
whole window; SE: one frame), so they check the analytic formulas. One convention
is added to both: ``aten::addcmul`` (used only by the channelwise cheap op) counts
one MAC per output element, as a per-channel multiply-add is on a target. Ratio-1
layers run PyTorch's fused GRU/LSTM: FlopCounterMode sees the GRU's matmuls but one
``mkldnn_rnn_layer`` for the LSTM, and fvcore one ``aten::gru``/``aten::lstm`` node;
those get handles that count each weight matrix once per step and sample.

Example:
    >>> from spaces import ArchConfig
    >>> from cost_models import counted_macs
    >>> counts = counted_macs(ArchConfig(hidden=16, ghost_ratio=2, frames=5))
    >>> counts.fvcore == counts.flop_counter
    True
"""

from __future__ import annotations

import functools
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


def _fvcore_fused_rnn(inputs: list[Any], outputs: list[Any]) -> int:
    """``aten::gru`` / ``aten::lstm`` (ratio-1 layers run PyTorch's kernel): every weight
    matrix in the parameter list multiplies the state or input once per step and sample."""
    samples_times_steps = prod(inputs[0].type().sizes()[:-1])
    weight_shapes = [value.type().sizes() for value in inputs[2].node().inputs()]
    return samples_times_steps * sum(prod(shape) for shape in weight_shapes if len(shape) == 2)


def _flop_counter_mkldnn_rnn_layer(inputs: Any, weight_ih: Any, weight_hh: Any, *args: Any, **kwargs: Any) -> int:
    """oneDNN's LSTM layer (what ``aten::lstm`` runs on CPU): both weight matrices once per step and sample."""
    return 2 * prod(inputs[:-1]) * (prod(weight_ih) + prod(weight_hh))


def counted_macs(config: ArchConfig, model: torch.nn.Module | None = None) -> CountedCost:
    """Count the MACs of one inference of ``config``'s model (built if not given).

    Without a model the count is cached per distinct design (the canonical config) for
    the life of the process: tracing costs 0.1-0.3 s and the count never changes.
    """
    if model is None:
        return _counted_design(config.canonical())
    return _count(config, model)


@functools.lru_cache(maxsize=4096)
def _counted_design(config: ArchConfig) -> CountedCost:
    return _count(config, build_model(config))


def _count(config: ArchConfig, model: torch.nn.Module) -> CountedCost:
    model.eval()
    inputs = example_input(config)
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing an unrolled time loop warns about Python values; the count is exact.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.*deprecated", category=DeprecationWarning)
        analysis = FlopCountAnalysis(model, (inputs,))
        analysis.set_op_handle("aten::addcmul", _fvcore_addcmul)
        analysis.set_op_handle("aten::gru", _fvcore_fused_rnn, "aten::lstm", _fvcore_fused_rnn)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        fvcore_macs = int(analysis.total())
        counter = FlopCounterMode(
            display=False,
            custom_mapping={
                torch.ops.aten.addcmul: _flop_counter_addcmul,
                torch.ops.aten.mkldnn_rnn_layer: _flop_counter_mkldnn_rnn_layer,
            },
        )
        with counter:
            model(inputs)
    flops = counter.get_total_flops()
    return CountedCost(fvcore=fvcore_macs, flop_counter=flops // 2, params=sum(p.numel() for p in model.parameters()))

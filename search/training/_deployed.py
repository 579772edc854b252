"""Deployed accuracy: a trained design scored as the device runs it, in integers.

The int8 deployment (``cost_models.deploy``: int8 weights, int16 Q3.12 state, table
sigmoid/tanh) is post-training quantization of the trained weights; its only
calibrated number, the first layer's input scale, comes from the training split
(``max|x| / 32767`` over every training clip), never from the data it is scored on.
The validation split is then run through :func:`cost_models.deploy.simulate`, which
computes the generated C's integers bit for bit, so the score is the one the
exported C library gives.

Example:
    >>> from spaces import ArchConfig
    >>> from search.data import load_kws_data
    >>> from search.training import Fidelity, train_proxy, deployed_score
    >>> data = load_kws_data(utterances_per_class=10, progress=False)  # doctest: +SKIP
    >>> result = train_proxy(ArchConfig(hidden=16), data, Fidelity(epochs=1))  # doctest: +SKIP
    >>> deployed_score(ArchConfig(hidden=16), result.state_dict, data).metric  # doctest: +SKIP
    0.41
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from cost_models.deploy import QuantizationError, QuantizedModel, quantize_model, simulate
from search.data import KwsData, KwsSplit, SeData, SeSplit, apply_mask, si_snr_improvement
from search.training._trainer import ProxyResult
from spaces import ArchConfig, build_model

Data = Union[KwsData, SeData]


@dataclass(frozen=True)
class DeployedScore:
    """The int8 score of a trained design on the validation split.

    ``metric`` is None when the design has no integer form (``error`` says why, e.g. a
    bias beyond int32 at its accumulator scale); ``input_scale`` is the float value of
    one unit of the int16 input (from the training split); ``seconds`` the wall time of
    quantizing and scoring.
    """

    metric: Optional[float]
    input_scale: Optional[float]
    seconds: float
    error: str = ""


def training_inputs(data: Data) -> torch.Tensor:
    """The model inputs of the training split: what the input scale is calibrated on."""
    return data.train.features if isinstance(data, KwsData) else data.train.inputs


def _as_model(config: ArchConfig, weights: Union[nn.Module, Mapping[str, torch.Tensor]]) -> nn.Module:
    if isinstance(weights, nn.Module):
        return weights.eval()
    model = build_model(config)
    model.load_state_dict(dict(weights))
    return model.eval()


def deployed_model(
    config: ArchConfig, weights: Union[nn.Module, Mapping[str, torch.Tensor]], data: Data, input_scale: Optional[float] = None
) -> QuantizedModel:
    """The integer deployment of trained weights (a model or its ``state_dict``).

    ``input_scale`` None calibrates it on the training split (``max|x| / 32767``); a
    stored scale reproduces an earlier deployment exactly.
    """
    calibration = training_inputs(data) if input_scale is None else None
    return quantize_model(_as_model(config, weights), config, input_scale=input_scale, calibration=calibration)


@torch.no_grad()
def evaluate_int8_kws(quantized: QuantizedModel, split: KwsSplit) -> float:
    """Top-1 accuracy of the integer model (argmax of its int32 logits) on a split."""
    logits = simulate(quantized, quantized.quantize_input(split.features))
    return int((logits.argmax(dim=1) == split.labels).sum()) / max(1, len(split))


@torch.no_grad()
def evaluate_int8_se(quantized: QuantizedModel, split: SeSplit) -> float:
    """Mean SI-SNR improvement (dB) of the noisy clips masked by the integer model's Q0.15 masks."""
    masks = quantized.dequantize_output(simulate(quantized, quantized.quantize_input(split.inputs))).to(split.noisy.dtype)
    return float(si_snr_improvement(apply_mask(masks, split.noisy), split.noisy, split.clean).mean())


def evaluate_int8(quantized: QuantizedModel, data: Data) -> float:
    """The task metric of the integer model on the validation split."""
    if isinstance(data, KwsData):
        return evaluate_int8_kws(quantized, data.validation)
    return evaluate_int8_se(quantized, data.validation)


def deployed_score(
    config: ArchConfig,
    weights: Union[nn.Module, Mapping[str, torch.Tensor]],
    data: Data,
    input_scale: Optional[float] = None,
) -> DeployedScore:
    """Quantize trained weights and score the integer model on the validation split.

    ``input_scale`` None calibrates it on the training split.
    """
    started = time.perf_counter()
    try:
        quantized = deployed_model(config, weights, data, input_scale)
    except (QuantizationError, ValueError, OverflowError) as error:
        # ValueError/OverflowError: a non-finite weight or scale has no integer either.
        return DeployedScore(metric=None, input_scale=input_scale, seconds=round(time.perf_counter() - started, 3), error=str(error))
    metric = evaluate_int8(quantized, data)
    return DeployedScore(metric=metric, input_scale=quantized.input_scale, seconds=round(time.perf_counter() - started, 3))


def with_deployed_score(result: ProxyResult, config: ArchConfig, data: Data) -> ProxyResult:
    """``result`` with the int8 score of its weights, computed on the proxy's thread count."""
    if result.state_dict is None:
        return result
    previous = torch.get_num_threads()
    torch.set_num_threads(result.fidelity.threads)
    try:
        score = deployed_score(config, result.state_dict, data)
    finally:
        torch.set_num_threads(previous)
    return dataclasses.replace(result, deployed=score)


def summary_attrs(metric_name: str, metric_float: float, score: Optional[DeployedScore]) -> dict[str, Any]:
    """The per-trial record of both precisions: ``<metric>_float``, ``<metric>_int8``, ``<metric>_drop``
    (float minus int8, in the metric's unit), plus the int8 input scale and timing."""
    attrs: dict[str, Any] = {f"{metric_name}_float": metric_float}
    if score is None:
        return attrs
    attrs[f"{metric_name}_int8"] = score.metric
    attrs[f"{metric_name}_drop"] = None if score.metric is None else metric_float - score.metric
    attrs["int8_input_scale"] = score.input_scale
    attrs["int8_seconds"] = score.seconds
    if score.error:
        attrs["int8_error"] = score.error
    return attrs

"""Proxy training: a short, seeded training run whose validation score ranks designs.

Proxy training is cheap on purpose (a few epochs, optionally a share of the data, a
time limit); how well it ranks designs is measured, not assumed (DESIGN.md section 4).
It is deterministic for a seed on CPU: weights, subset and batch order all come from
``Fidelity.seed`` and the thread count is fixed while it runs.

A run never raises for numerical trouble: a non-finite loss or gradient stops it, the
weights of the last finished epoch come back, and the result says ``diverged`` and why.
Running out of ``max_seconds`` stops it with ``timeout``; the metric is then that of
the weights reached.

Example:
    >>> from spaces import ArchConfig
    >>> from search.data._datasets import load_kws_data
    >>> from search.training._trainer import Fidelity, train_proxy
    >>> data = load_kws_data(progress=False)  # doctest: +SKIP
    >>> result = train_proxy(ArchConfig(hidden=64, ghost_ratio=2), data)  # doctest: +SKIP
    >>> result.status, round(result.metric, 2)  # doctest: +SKIP
    ('ok', 0.67)
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from search.data import KwsData, KwsSplit
from search.data import SeData, SeSplit, apply_mask, si_snr, si_snr_improvement, stft, istft
from spaces import ArchConfig, build_model

from search.training._augment import spec_augment
from search.training._fidelity import Fidelity

Data = Union[KwsData, SeData]
# Called with each curve record as soon as its epoch is scored (progress, learning curves).
EpochCallback = Callable[[dict[str, float]], None]
STATUSES = ("ok", "diverged", "timeout")
METRIC_NAMES = {"kws": "accuracy", "se": "si_snri_db"}
_EVAL_BATCH = 1024
@dataclass
class ProxyResult:
    """What a proxy run measured.

    ``metric``: validation top-1 accuracy in [0, 1] (KWS) or mean SI-SNR improvement in
    dB (SE) of the weights returned. ``curve``: one JSON-ready record per epoch
    (``epoch``, ``train_loss``, ``metric``, ``seconds``, ``samples_seen``); a run cut
    short by the time limit adds a record for the partial epoch. ``status`` is
    ``ok``, ``diverged`` or ``timeout``, with ``reason`` in words for the last two.
    ``deployed``: the int8 score of the same weights, once
    :func:`search.training.with_deployed_score` has added it.
    """

    metric: float
    metric_name: str
    status: str
    reason: str
    curve: list[dict[str, float]]
    wall_seconds: float
    samples_seen: int
    params: int
    fidelity: Fidelity
    state_dict: Optional[dict[str, torch.Tensor]] = field(default=None, repr=False)
    deployed: Optional[Any] = None  # a search.training.DeployedScore

    @property
    def metric_int8(self) -> Optional[float]:
        return self.deployed.metric if self.deployed is not None else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the weights)."""
        return {
            "metric": self.metric,
            "metric_name": self.metric_name,
            "status": self.status,
            "reason": self.reason,
            "curve": self.curve,
            "wall_seconds": self.wall_seconds,
            "samples_seen": self.samples_seen,
            "params": self.params,
            "fidelity": self.fidelity.to_dict(),
            **({"deployed": dataclasses.asdict(self.deployed)} if self.deployed is not None else {}),
        }


class _Diverged(Exception):
    """Internal signal: the loss or the gradient stopped being finite."""


def _check_compatible(config: ArchConfig, data: Data) -> None:
    if config.task != data.task:
        raise ValueError(f"a {config.task} design cannot train on {data.task} data")
    if config.features != data.feature_name:
        raise ValueError(f"the design reads {config.features} features but the data holds {data.feature_name}")
    if isinstance(data, KwsData) and config.classes != data.num_classes:
        raise ValueError(f"the design has {config.classes} classes but the data has {data.num_classes}")


def _training_subset(data: Data, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Indices of the training clips used: all, or a seeded share (per class for KWS)."""
    count = len(data.train)
    if fraction >= 1:
        return torch.arange(count)
    if isinstance(data, KwsData):
        chosen = []
        for label in range(data.num_classes):
            members = torch.nonzero(data.train.labels == label).flatten()
            keep = max(1, round(len(members) * fraction)) if len(members) else 0
            chosen.append(members[torch.randperm(len(members), generator=generator)[:keep]])
        return torch.sort(torch.cat(chosen)).values
    keep = max(1, round(count * fraction))
    return torch.sort(torch.randperm(count, generator=generator)[:keep]).values


@torch.no_grad()
def evaluate_kws(model: nn.Module, split: KwsSplit) -> float:
    """Top-1 accuracy of a KWS model on a split."""
    model.eval()
    correct = 0
    for start in range(0, len(split), _EVAL_BATCH):
        logits = model(split.features[start : start + _EVAL_BATCH])
        correct += int((logits.argmax(dim=1) == split.labels[start : start + _EVAL_BATCH]).sum())
    return correct / max(1, len(split))


@torch.no_grad()
def evaluate_se(model: nn.Module, split: SeSplit) -> float:
    """Mean SI-SNR improvement (dB) of an SE model's masked, resynthesised output."""
    model.eval()
    improvements = []
    for start in range(0, len(split), _EVAL_BATCH):
        mask = model(split.inputs[start : start + _EVAL_BATCH])
        noisy, clean = split.noisy[start : start + _EVAL_BATCH], split.clean[start : start + _EVAL_BATCH]
        improvements.append(si_snr_improvement(apply_mask(mask, noisy), noisy, clean))
    return float(torch.cat(improvements).mean())


def _kws_loss(model: nn.Module, data: KwsData, batch: torch.Tensor, masks: Optional[torch.Generator] = None) -> torch.Tensor:
    features = data.train.features[batch]
    if masks is not None:
        features = spec_augment(features, masks)
    return nn.functional.cross_entropy(model(features), data.train.labels[batch])


def _se_loss(model: nn.Module, data: SeData, batch: torch.Tensor, masks: Optional[torch.Generator] = None) -> torch.Tensor:
    """Negative SI-SNR of the resynthesised estimate: the loss is the metric itself."""
    noisy, clean = data.train.noisy[batch], data.train.clean[batch]
    mask = model(data.train.inputs[batch])
    estimate = istft(mask * stft(noisy), noisy.shape[-1])
    return -si_snr(estimate, clean).mean()


def train_proxy(config: ArchConfig, data: Data, fidelity: Fidelity = Fidelity(), on_epoch: Optional[EpochCallback] = None) -> ProxyResult:
    """Train ``spaces.build_model(config)`` briefly on ``data`` and score it on validation.

    ``on_epoch`` receives each record of the curve as soon as its epoch is scored.

    Raises ValueError only for a design that does not fit the data (task, features or
    class count); numerical failure and the time limit end the run with a status.
    """
    _check_compatible(config, data)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(fidelity.threads)
    try:
        # Seeding must not disturb the caller's random state (an Optuna sampler, a test).
        with torch.random.fork_rng(devices=[]):
            return _train(config, data, fidelity, on_epoch)
    finally:
        torch.set_num_threads(previous_threads)


def _train(config: ArchConfig, data: Data, fidelity: Fidelity, on_epoch: Optional[EpochCallback] = None) -> ProxyResult:
    started = time.perf_counter()
    torch.manual_seed(fidelity.seed)
    model = build_model(config)
    params = sum(parameter.numel() for parameter in model.parameters())
    generator = torch.Generator().manual_seed(fidelity.seed)
    subset = _training_subset(data, fidelity.data_fraction, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=fidelity.learning_rate)
    loss_of = _kws_loss if isinstance(data, KwsData) else _se_loss
    # Its own generator: masking on or off leaves the weights' and batches' draws alone.
    masks = torch.Generator().manual_seed(fidelity.seed + 0x5BEC) if fidelity.spec_augment and isinstance(data, KwsData) else None
    evaluate = (lambda: evaluate_kws(model, data.validation)) if isinstance(data, KwsData) else (lambda: evaluate_se(model, data.validation))

    curve: list[dict[str, float]] = []
    samples_seen = 0
    status, reason = "ok", ""
    last_good = copy.deepcopy(model.state_dict())
    for epoch in range(1, fidelity.epochs + 1):
        model.train()
        order = subset[torch.randperm(len(subset), generator=generator)]
        batch_size = fidelity.batch_size_for(config.task)
        loss_sum, batches = 0.0, 0
        timed_out = False
        try:
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                loss = loss_of(model, data, batch, masks)
                if not torch.isfinite(loss):
                    raise _Diverged(f"non-finite loss at epoch {epoch}, step {batches + 1}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = nn.utils.clip_grad_norm_(model.parameters(), fidelity.grad_clip)
                if not torch.isfinite(norm):
                    raise _Diverged(f"non-finite gradient at epoch {epoch}, step {batches + 1}")
                optimizer.step()
                samples_seen += len(batch)
                loss_sum += float(loss.detach())
                batches += 1
                if fidelity.max_seconds is not None and time.perf_counter() - started > fidelity.max_seconds:
                    timed_out = True
                    break
        except _Diverged as signal:
            status, reason = "diverged", f"{signal}; weights of epoch {epoch - 1} kept"
            model.load_state_dict(last_good)
            break
        done = batches / max(1, math.ceil(len(order) / batch_size))
        metric = evaluate()
        curve.append(
            {
                "epoch": round(epoch - 1 + done, 4),
                "train_loss": loss_sum / max(1, batches),
                "metric": metric,
                "seconds": round(time.perf_counter() - started, 3),
                "samples_seen": samples_seen,
            }
        )
        if on_epoch is not None:
            on_epoch(dict(curve[-1]))
        if not math.isfinite(metric):
            status, reason = "diverged", f"non-finite validation metric at epoch {epoch}; weights of epoch {epoch - 1} kept"
            model.load_state_dict(last_good)
            break
        last_good = copy.deepcopy(model.state_dict())
        if timed_out:
            status = "timeout"
            reason = f"stopped at epoch {curve[-1]['epoch']:.2f} of {fidelity.epochs} after {fidelity.max_seconds:g} s"
            break
    # After divergence the restored weights are scored afresh (the initial ones if no
    # epoch finished), so the caller always gets a finite number.
    metric = evaluate() if status == "diverged" else curve[-1]["metric"]
    return ProxyResult(
        metric=float(metric),
        metric_name=METRIC_NAMES[config.task],
        status=status,
        reason=reason,
        curve=curve,
        wall_seconds=round(time.perf_counter() - started, 3),
        samples_seen=samples_seen,
        params=params,
        fidelity=fidelity,
        state_dict={name: tensor.detach().clone() for name, tensor in model.state_dict().items()},
    )

"""Task models built from an :class:`ArchConfig`: a KWS classifier and an SE mask estimator.

Example:
    >>> import torch
    >>> from spaces import ArchConfig, build_model
    >>> model = build_model(ArchConfig(task="kws", hidden=32, ghost_ratio=2))
    >>> model(torch.randn(4, 49, 10)).shape
    torch.Size([4, 12])
    >>> mask = build_model(ArchConfig(task="se", features="stft129", hidden=32))(torch.rand(1, 5, 129))
    >>> mask.shape, bool(((mask >= 0) & (mask <= 1)).all())
    (torch.Size([1, 5, 129]), True)
"""

from __future__ import annotations

import torch
from torch import nn

from spaces._config import ArchConfig
from spaces._ghost_rnn import GhostGRU, GhostLSTM, _GhostStack

RNN_CELLS: dict[str, type[_GhostStack]] = {
    "gru": GhostGRU,
    "lstm": GhostLSTM,
}


def create_rnn(config: ArchConfig) -> _GhostStack:
    """The stacked Ghost RNN of a config, without a task head."""
    return RNN_CELLS[config.cell](
        input_size=config.input_size,
        hidden_size=config.hidden,
        ghost_ratio=config.ghost_ratio,
        num_layers=config.layers,
        cheap_op=config.cheap_op,
        activation=config.activation,
        groups=config.groups,
    )


class KeywordSpotter(nn.Module):
    """Features [B, T, F] -> stacked Ghost RNN -> last output -> linear -> logits [B, classes]."""

    def __init__(self, config: ArchConfig):
        super().__init__()
        self.config = config
        self.rnn = create_rnn(config)
        self.classifier = nn.Linear(config.hidden, config.output_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(features)
        return self.classifier(outputs[:, -1])


class MaskEstimator(nn.Module):
    """Magnitude frames [B, T, bins] -> stacked Ghost RNN -> linear -> sigmoid mask [B, T, bins]."""

    def __init__(self, config: ArchConfig):
        super().__init__()
        self.config = config
        self.rnn = create_rnn(config)
        self.projection = nn.Linear(config.hidden, config.output_size)

    def forward(self, magnitudes: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(magnitudes)
        return torch.sigmoid(self.projection(outputs))


TASK_MODELS: dict[str, type[nn.Module]] = {
    "kws": KeywordSpotter,
    "se": MaskEstimator,
}


def build_model(config: ArchConfig) -> nn.Module:
    """Build the PyTorch model of a design (randomly initialised)."""
    return TASK_MODELS[config.task](config)

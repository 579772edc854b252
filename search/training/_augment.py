"""SpecAugment-style masking of KWS training features (Park et al., Interspeech 2019).

Each training clip gets a few bands of frames (time masks) and of feature dimensions
(frequency masks) set to 0, the training mean of normalised features, so that a design
cannot lean on one moment or one band of the synthetic speech. The masks come from a
generator seeded with the proxy's seed and advance one batch at a time, so a run stays
a function of its fidelity.

Example:
    >>> import torch
    >>> masked = spec_augment(torch.ones(4, 49, 10), torch.Generator().manual_seed(0))
    >>> masked.shape, bool((masked == 0).any())
    (torch.Size([4, 49, 10]), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MaskSizes:
    """How many masks of what largest width (in frames / feature dimensions) each clip gets."""

    time_masks: int = 2
    time_width: int = 8  # of 49 frames: up to 80 ms each
    frequency_masks: int = 1
    frequency_width: int = 2  # of 10 MFCCs (scaled for wider features)


def _bands(count: int, width: int, length: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """[batch, length] True where one of ``count`` random bands of up to ``width`` covers a position."""
    covered = torch.zeros(batch, length, dtype=torch.bool)
    positions = torch.arange(length)
    for _ in range(count):
        widths = torch.randint(0, width + 1, (batch, 1), generator=generator)
        starts = (torch.rand(batch, 1, generator=generator) * (length - widths + 1)).floor().long()
        covered |= (positions >= starts) & (positions < starts + widths)
    return covered


def spec_augment(features: torch.Tensor, generator: torch.Generator, sizes: MaskSizes = MaskSizes()) -> torch.Tensor:
    """``features`` [batch, frames, dims] with time and frequency bands zeroed (a new tensor)."""
    batch, frames, dims = features.shape
    # MaskSizes are given for 10-dimensional features; wider front ends get wider bands.
    frequency_width = max(1, round(sizes.frequency_width * dims / 10)) if sizes.frequency_width > 0 else 0
    time = _bands(sizes.time_masks, sizes.time_width, frames, batch, generator)
    frequency = _bands(sizes.frequency_masks, frequency_width, dims, batch, generator)
    keep = ~(time[:, :, None] | frequency[:, None, :])
    return features * keep

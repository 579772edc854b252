"""SpecAugment-style masking of KWS training features: where the masks fall, and seeded training."""

from __future__ import annotations

import dataclasses

import torch

from search.data import CLASS_NAMES, KwsData, KwsSplit
from search.training import Fidelity, train_proxy
from search.training._augment import MaskSizes, spec_augment
from spaces import ArchConfig


def test_masks_are_whole_bands_of_bounded_width_and_seeded() -> None:
    features = torch.randn(256, 49, 10) + 5.0  # no value is 0 before masking
    masked = spec_augment(features, torch.Generator().manual_seed(1))
    zero = masked == 0
    # Where a value survives it is untouched.
    assert torch.equal(masked[~zero], features[~zero])
    time_band = zero.all(dim=2)  # frames masked across every dimension
    frequency_band = zero.all(dim=1)  # dimensions masked across every frame
    assert bool((zero == (time_band[:, :, None] | frequency_band[:, None, :])).all())
    # At most 2 time masks of up to 8 frames and 1 frequency mask of up to 2 dimensions.
    assert int(time_band.sum(dim=1).max()) <= 16 and int(frequency_band.sum(dim=1).max()) <= 2
    assert time_band.any(dim=1).float().mean() > 0.7 and frequency_band.any(dim=1).float().mean() > 0.4
    assert torch.equal(masked, spec_augment(features, torch.Generator().manual_seed(1)))
    assert not torch.equal(masked, spec_augment(features, torch.Generator().manual_seed(2)))
    # No masks at zero width.
    untouched = spec_augment(features, torch.Generator().manual_seed(1), MaskSizes(time_width=0, frequency_width=0))
    assert torch.equal(untouched, features)


def _random_kws(clips: int = 240) -> KwsData:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(clips) % len(CLASS_NAMES)
    # Each class has its own mean pattern, so there is something to learn.
    patterns = torch.randn(len(CLASS_NAMES), 49, 10, generator=generator)
    split = KwsSplit(patterns[labels] + torch.randn(clips, 49, 10, generator=generator), labels)
    return KwsData(split, split, split, CLASS_NAMES, "mfcc10", torch.zeros(10), torch.ones(10), "random")


def test_masked_training_is_seeded_and_differs_from_plain() -> None:
    data = _random_kws()
    design = ArchConfig(task="kws", hidden=16, ghost_ratio=1)
    fidelity = Fidelity(epochs=4, spec_augment=True)
    first, second = train_proxy(design, data, fidelity), train_proxy(design, data, fidelity)
    plain = train_proxy(design, data, dataclasses.replace(fidelity, spec_augment=False))
    for name, tensor in first.state_dict.items():
        assert torch.equal(tensor, second.state_dict[name]), name
    assert not torch.equal(first.state_dict["classifier.weight"], plain.state_dict["classifier.weight"])
    assert first.samples_seen == plain.samples_seen == 4 * 240
    assert first.metric > 0.4  # masked features still teach the classes (measured 0.53; chance 0.08)
    assert Fidelity.from_dict(fidelity.to_dict()) == fidelity

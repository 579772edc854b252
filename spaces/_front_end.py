"""What a feature front end computes, beyond its shape: the recipe, the mel filterbank, the DCT.

``FEATURE_FRONT_ENDS`` (``spaces._config``) gives a front end's shape (width, window,
hop); this module gives the signal processing behind it, as numbers and matrices that
the feature code (``search.data.compute_features``), the front end's cost
(``cost_models``) and the exported C front end all read, so the three cannot drift.

Example:
    >>> from spaces import FEATURE_RECIPES, mel_filterbank
    >>> recipe = FEATURE_RECIPES["mfcc10"]
    >>> mel_filterbank(recipe.mel_bands, recipe.n_fft, 16000, recipe.f_min, recipe.f_max).shape
    torch.Size([40, 513])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FeatureRecipe:
    """The signal processing behind a front end, beyond its shape.

    ``kind`` is ``mfcc``, ``logmel`` or ``magnitude``. Mel front ends zero-pad each
    windowed frame to ``n_fft`` (the next power of two), take the power spectrum, apply
    ``mel_bands`` triangular filters between ``f_min`` and ``f_max`` and the natural log
    with ``log_floor`` added; MFCC keeps the first ``dims`` orthonormal DCT-II
    coefficients of that log-mel vector (the TensorFlow front end Hello Edge used:
    40 bands, 20-4000 Hz). ``magnitude`` gives |STFT|; the speech-enhancement data takes
    its log with ``log_floor`` added.
    """

    kind: str
    n_fft: int
    mel_bands: int = 0
    f_min: float = 0.0
    f_max: float = 0.0
    log_floor: float = 1e-6


FEATURE_RECIPES: dict[str, FeatureRecipe] = {
    "mfcc10": FeatureRecipe("mfcc", n_fft=1024, mel_bands=40, f_min=20.0, f_max=4000.0),
    # Log-mel keeps the band up to Nyquist: fricatives ("six", "yes", "stop") live above 4 kHz.
    "logmel40": FeatureRecipe("logmel", n_fft=1024, mel_bands=40, f_min=20.0, f_max=8000.0),
    # Speech enhancement: log(|STFT| + log_floor), the floor about -80 dB re a full-scale bin.
    "stft129": FeatureRecipe("magnitude", n_fft=256, log_floor=1e-4),
}


def hz_to_mel(frequency: torch.Tensor) -> torch.Tensor:
    """HTK mel scale."""
    return 2595.0 * torch.log10(1.0 + frequency / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    mel_bands: int, n_fft: int, sample_rate: int, f_min: float, f_max: float
) -> torch.Tensor:
    """Triangular mel filters [mel_bands, n_fft // 2 + 1], peak 1, linear on the mel axis.

    Band centres are equally spaced in mel between ``f_min`` and ``f_max``. Because
    neighbouring triangles cross at half height in mel, the filters sum to exactly 1
    at every bin between the first and the last centre frequency.
    """
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= {sample_rate / 2}, got {f_min}, {f_max}")
    bins = n_fft // 2 + 1
    bin_mel = hz_to_mel(torch.linspace(0.0, sample_rate / 2, bins, dtype=torch.float64))
    edges = torch.linspace(
        float(hz_to_mel(torch.tensor(f_min))), float(hz_to_mel(torch.tensor(f_max))), mel_bands + 2, dtype=torch.float64
    )
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_mel[None, :] - lower) / (centre - lower)
    falling = (upper - bin_mel[None, :]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


def dct_matrix(inputs: int, outputs: int) -> torch.Tensor:
    """Orthonormal DCT-II as a matrix [outputs, inputs] (``scipy.fft.dct(norm="ortho")`` rows)."""
    n = torch.arange(inputs, dtype=torch.float64)
    k = torch.arange(outputs, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi / inputs * (n + 0.5) * k) * math.sqrt(2.0 / inputs)
    basis[0] /= math.sqrt(2.0)
    return basis.to(torch.float32)

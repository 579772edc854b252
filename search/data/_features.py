"""Feature front ends in torch: framing, STFT magnitude, mel filterbank, log-mel, MFCC.

The shapes (window, hop, width) come from ``spaces.FEATURE_FRONT_ENDS``; this module
adds the signal processing. Frames are cut without centre padding (Hello Edge
convention), so 1 s at 16 kHz gives 1 + (16000 - 640) // 320 = 49 frames for mfcc10.

Example:
    >>> import torch
    >>> from search.data._features import compute_features
    >>> compute_features(torch.zeros(2, 16000), "mfcc10").shape
    torch.Size([2, 49, 10])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from spaces import FEATURE_FRONT_ENDS, FeatureFrontEnd


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


def hann_window(length: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Periodic Hann window (the one ``torch.stft`` / ``torch.istft`` expect)."""
    return torch.hann_window(length, periodic=True, dtype=dtype)


def frame_signal(waveforms: torch.Tensor, window_samples: int, hop_samples: int) -> torch.Tensor:
    """[N, samples] -> [N, frames, window_samples], no padding."""
    if waveforms.dim() != 2:
        raise ValueError(f"expected waveforms [N, samples], got shape {tuple(waveforms.shape)}")
    if waveforms.shape[1] < window_samples:
        raise ValueError(f"{waveforms.shape[1]} samples are fewer than one {window_samples}-sample window")
    return waveforms.unfold(1, window_samples, hop_samples)


def spectrum(waveforms: torch.Tensor, front_end: FeatureFrontEnd, n_fft: int) -> torch.Tensor:
    """Complex spectrum [N, frames, n_fft // 2 + 1] of Hann-windowed frames.

    Frames are cut here rather than by ``torch.stft`` because ``torch.stft`` frames are
    ``n_fft`` long: with a 640-sample window and a 1024-point FFT it would give 47
    frames for 1 s instead of 49. When ``n_fft`` equals the window (stft129) the result
    equals ``torch.stft(..., center=False)``.
    """
    frames = frame_signal(waveforms, front_end.window_samples, front_end.hop_samples)
    window = hann_window(front_end.window_samples, dtype=waveforms.dtype)
    return torch.fft.rfft(frames * window, n=n_fft)


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


def log_mel(power: torch.Tensor, filterbank: torch.Tensor, log_floor: float) -> torch.Tensor:
    """Natural log of mel energies; the floor keeps silence finite."""
    return torch.log(power @ filterbank.t() + log_floor)


def compute_features(waveforms: torch.Tensor, name: str, batch_size: int = 512) -> torch.Tensor:
    """Features [N, frames, dims] of 16 kHz waveforms [N, samples] for a named front end.

    Works in batches of ``batch_size`` clips to bound memory (a 1024-point spectrum of
    49 frames is 200 KB per clip). Returns float32.
    """
    if name not in FEATURE_FRONT_ENDS:
        raise ValueError(f"unknown feature front end {name!r}; valid: {', '.join(FEATURE_FRONT_ENDS)}")
    front_end = FEATURE_FRONT_ENDS[name]
    recipe = FEATURE_RECIPES[name]
    waveforms = torch.as_tensor(waveforms, dtype=torch.float32)
    if waveforms.dim() == 1:
        waveforms = waveforms[None]
    filterbank: Optional[torch.Tensor] = None
    dct: Optional[torch.Tensor] = None
    if recipe.kind in ("mfcc", "logmel"):
        filterbank = mel_filterbank(recipe.mel_bands, recipe.n_fft, front_end.sample_rate, recipe.f_min, recipe.f_max)
    if recipe.kind == "mfcc":
        dct = dct_matrix(recipe.mel_bands, front_end.dims)
    outputs = []
    for start in range(0, waveforms.shape[0], batch_size):
        complex_spectrum = spectrum(waveforms[start : start + batch_size], front_end, recipe.n_fft)
        if recipe.kind == "magnitude":
            outputs.append(complex_spectrum.abs())
            continue
        assert filterbank is not None
        energies = log_mel(complex_spectrum.real.square() + complex_spectrum.imag.square(), filterbank, recipe.log_floor)
        outputs.append(energies @ dct.t() if dct is not None else energies)
    features = torch.cat(outputs) if outputs else waveforms.new_zeros(0, front_end.frames_for(waveforms.shape[1]), front_end.dims)
    if features.shape[-1] != front_end.dims:
        raise AssertionError(f"{name} produced {features.shape[-1]} values per frame, expected {front_end.dims}")
    return features.contiguous()

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

from typing import Optional

import torch

from spaces import FEATURE_FRONT_ENDS, FEATURE_RECIPES, FeatureFrontEnd, FeatureRecipe, dct_matrix, hz_to_mel, mel_filterbank, mel_to_hz

# The recipes and the mel/DCT matrices are part of a front end's definition, shared with the
# cost model and the C export (spaces); this module computes the features.
__all__ = ["FEATURE_RECIPES", "FeatureRecipe", "compute_features", "dct_matrix", "frame_signal", "hann_window", "hz_to_mel", "log_mel", "mel_filterbank", "mel_to_hz", "spectrum"]


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

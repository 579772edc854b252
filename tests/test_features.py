"""Feature front ends: shapes, frame counts and known DSP properties."""

from __future__ import annotations

import math

import pytest
import torch

from search.data import FEATURE_RECIPES, compute_features
from search.data._features import dct_matrix, hz_to_mel, mel_filterbank, mel_to_hz
from spaces._config import FEATURE_FRONT_ENDS

SECOND = 16000


@pytest.mark.parametrize("name, frames, dims", [("mfcc10", 49, 10), ("logmel40", 49, 40), ("stft129", 124, 129)])
def test_one_second_gives_the_front_end_shape(name: str, frames: int, dims: int) -> None:
    features = compute_features(torch.randn(3, SECOND) * 0.1, name)
    assert features.shape == (3, frames, dims)
    assert features.dtype == torch.float32
    assert FEATURE_FRONT_ENDS[name].frames_for(SECOND) == frames


def test_mel_filterbank_shape_and_rows() -> None:
    bank = mel_filterbank(40, 1024, 16000, 20.0, 4000.0)
    assert bank.shape == (40, 513)
    assert bool((bank >= 0).all()) and float(bank.max()) <= 1.0
    # Every filter covers at least one bin, and their peaks climb in frequency.
    assert bool((bank.sum(dim=1) > 0).all())
    peaks = bank.argmax(dim=1)
    assert bool((peaks[1:] >= peaks[:-1]).all())
    assert int(peaks[-1]) > int(peaks[0])


def test_mel_filters_sum_to_one_between_first_and_last_centre() -> None:
    sample_rate, n_fft, f_min, f_max, bands = 16000, 1024, 20.0, 4000.0, 40
    bank = mel_filterbank(bands, n_fft, sample_rate, f_min, f_max)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(f_min))), float(hz_to_mel(torch.tensor(f_max))), bands + 2))
    frequencies = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    inside = (frequencies >= edges[1]) & (frequencies <= edges[-2])
    assert int(inside.sum()) > 200
    torch.testing.assert_close(bank.sum(dim=0)[inside], torch.ones(int(inside.sum())), atol=1e-5, rtol=0)
    # Nothing below f_min or above f_max.
    outside = (frequencies < f_min) | (frequencies > f_max)
    assert float(bank[:, outside].abs().max()) == 0.0


def test_dct_matrix_is_orthonormal_dct_ii() -> None:
    dct = dct_matrix(40, 40).double()
    torch.testing.assert_close(dct @ dct.t(), torch.eye(40, dtype=torch.float64), atol=1e-6, rtol=0)
    # DC row is 1/sqrt(N); row k at n is sqrt(2/N) cos(pi k (2n+1) / 2N).
    torch.testing.assert_close(dct[0], torch.full((40,), 1 / math.sqrt(40), dtype=torch.float64), atol=1e-7, rtol=0)
    assert float(dct[3, 5]) == pytest.approx(math.sqrt(2 / 40) * math.cos(math.pi * 3 * 11 / 80), abs=1e-7)


def test_mfcc_of_silence_is_the_log_floor_in_c0_only() -> None:
    recipe = FEATURE_RECIPES["mfcc10"]
    mfcc = compute_features(torch.zeros(2, SECOND), "mfcc10")
    expected_c0 = math.sqrt(recipe.mel_bands) * math.log(recipe.log_floor)
    torch.testing.assert_close(mfcc[..., 0], torch.full((2, 49), expected_c0), atol=1e-3, rtol=0)
    assert float(mfcc[..., 1:].abs().max()) < 1e-4


def test_log_mel_of_a_tone_peaks_in_the_band_around_its_frequency() -> None:
    t = torch.arange(SECOND) / 16000
    tone = 0.5 * torch.sin(2 * math.pi * 1000 * t)
    log_mel = compute_features(tone[None], "logmel40")[0].mean(dim=0)
    recipe = FEATURE_RECIPES["logmel40"]
    bank = mel_filterbank(recipe.mel_bands, recipe.n_fft, 16000, recipe.f_min, recipe.f_max)
    response_at_1khz = bank[:, round(1000 / 16000 * recipe.n_fft)]
    assert int(log_mel.argmax()) == int(response_at_1khz.argmax())


def test_stft129_equals_torch_stft_without_centering() -> None:
    waveforms = torch.randn(2, 4000)
    reference = torch.stft(waveforms, 256, 128, window=torch.hann_window(256), center=False, return_complex=True)
    torch.testing.assert_close(compute_features(waveforms, "stft129"), reference.abs().transpose(1, 2), atol=1e-4, rtol=1e-5)


def test_batching_does_not_change_features() -> None:
    waveforms = torch.randn(7, SECOND) * 0.05
    torch.testing.assert_close(compute_features(waveforms, "mfcc10", batch_size=3), compute_features(waveforms, "mfcc10"))


def test_unknown_front_end_and_short_input_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown feature front end"):
        compute_features(torch.zeros(1, SECOND), "mfcc13")
    with pytest.raises(ValueError, match="fewer than one"):
        compute_features(torch.zeros(1, 100), "mfcc10")

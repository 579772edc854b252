"""SE mixtures and metrics: asked SNRs, SI-SNR properties, masks and resynthesis."""

from __future__ import annotations

import math

import pytest
import torch

from search.data import load_se_data
from search.data import SeConfig, apply_mask, log_magnitude, si_snr, si_snr_improvement, stft
from search.data._se_data import build_se_mixtures, ideal_mask, quality_metrics

SMALL = SeConfig(train_clips=24, eval_clips=12, seed=5)


@pytest.fixture(scope="module")
def se_data(tmp_path_factory: pytest.TempPathFactory):
    return load_se_data(
        cache_dir=tmp_path_factory.mktemp("se"), train_clips=SMALL.train_clips, eval_clips=SMALL.eval_clips, seed=SMALL.seed, progress=False
    )


def test_mixtures_have_the_asked_snr(se_data) -> None:
    for split in ("train", "validation", "test"):
        data = se_data.split(split)
        noise = (data.noisy - data.clean).double()
        measured = 10 * torch.log10(data.clean.double().square().sum(dim=1) / noise.square().sum(dim=1))
        torch.testing.assert_close(measured, data.snr_db, atol=0.02, rtol=0)
        assert float(data.snr_db.min()) >= -5.0 and float(data.snr_db.max()) <= 15.0
    # The SNRs spread over the range rather than sitting at one value.
    assert float(se_data.train.snr_db.std()) > 3.0


def test_shapes_and_normalisation(se_data) -> None:
    train = se_data.train
    assert train.noisy.shape == train.clean.shape == (24, 16000)
    assert train.inputs.shape == (24, 126, 129)
    frames = train.inputs.reshape(-1, 129)
    torch.testing.assert_close(frames.mean(dim=0), torch.zeros(129), atol=1e-4, rtol=0)
    assert set(train.noise_kinds) <= {"white", "pink", "brown", "babble"}
    assert bool((train.noisy.abs() < 1).all())


def test_same_seed_gives_identical_mixtures(se_data) -> None:
    again = build_se_mixtures(SMALL, progress=False)
    for name in ("inputs", "noisy", "clean", "snr_db"):
        assert torch.equal(getattr(again.validation, name), getattr(se_data.validation, name)), name


def test_si_snr_of_a_signal_with_itself_is_huge_and_scale_invariant() -> None:
    generator = torch.Generator().manual_seed(0)
    clean = torch.randn(3, 16000, generator=generator)
    assert bool((si_snr(clean, clean) > 100).all())
    estimate = clean + 0.3 * torch.randn(3, 16000, generator=generator)
    torch.testing.assert_close(si_snr(5.0 * estimate, clean), si_snr(estimate, clean), atol=1e-4, rtol=0)
    torch.testing.assert_close(si_snr(estimate + 2.0, clean), si_snr(estimate, clean), atol=1e-4, rtol=0)


def test_si_snr_of_an_orthogonal_residual_is_its_power_ratio() -> None:
    generator = torch.Generator().manual_seed(1)
    reference = torch.randn(1, 8000, generator=generator, dtype=torch.float64)
    reference -= reference.mean()
    residual = torch.randn(1, 8000, generator=generator, dtype=torch.float64)
    residual -= residual.mean()
    residual -= (residual * reference).sum() / reference.square().sum() * reference
    residual *= math.sqrt(reference.square().sum() / residual.square().sum() / 10.0)  # 10 dB below
    assert float(si_snr(reference + residual, reference)) == pytest.approx(10.0, abs=1e-6)


def test_unit_mask_gives_back_the_noisy_input(se_data) -> None:
    noisy = se_data.validation.noisy
    restored = apply_mask(torch.ones(noisy.shape[0], 126, 129), noisy)
    torch.testing.assert_close(restored, noisy, atol=1e-5, rtol=0)
    improvement = si_snr_improvement(restored, noisy, se_data.validation.clean)
    assert float(improvement.abs().max()) < 0.01


def test_ideal_mask_improves_si_snr(se_data) -> None:
    data = se_data.validation
    mask = ideal_mask(data.clean, data.noisy)
    assert float(mask.min()) >= 0 and float(mask.max()) <= 1
    improvement = si_snr_improvement(apply_mask(mask, data.noisy), data.noisy, data.clean)
    assert float(improvement.mean()) > 6.0


def test_model_inputs_are_the_standardised_log_magnitudes(se_data) -> None:
    data = se_data.validation
    raw = torch.log(stft(data.noisy).abs() + 1e-4)
    torch.testing.assert_close(log_magnitude(data.noisy), raw, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(data.inputs * se_data.std + se_data.mean, raw, atol=1e-3, rtol=1e-4)


def test_quality_metrics_only_where_installed(se_data) -> None:
    metrics = quality_metrics(se_data.validation.clean[:2], se_data.validation.clean[:2])
    for name, module in (("pesq", "pesq"), ("stoi", "pystoi")):
        try:
            __import__(module)
        except ImportError:
            assert name not in metrics
        else:
            assert metrics[name] > 0.9

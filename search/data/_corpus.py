"""The embedded synthetic keyword corpus: eSpeak NG and neural voices, noise, a silence class.

No download and no system package: the 10 Speech Commands keywords and 25 "unknown"
words are spoken by eSpeak NG (``search.data._espeak``) with 840 voice configurations
(8 English accents x 105 variants) at random pitch, pitch range and rate, and, since
version 3, half of them by two neural voices installed from PyPI
(``search.data._neural_voices``): Piper's VITS voice "joe" and Kokoro-82M speaking
blends of its voice vectors, both reading eSpeak's IPA in one of its accents. The
neural voices make a few takes of each word (16 per keyword and, since version 4, 2 per
unknown word at the default size), which the mixing below turns into many clips. To
sound less like a few synthesizers and more like many people in many rooms (version 2),
each word is then sped up or slowed down by
0.85-1.15x by resampling (pitch, formants and duration move together, as between
speakers with longer or shorter vocal tracts), 60 % of words are said in a synthetic
room (exponentially decaying noise, RT60 0.15-0.8 s), and 80 % of clips are heard
through a random microphone response (high-pass, optional low-pass, +-6 dB ripple). The
word is placed at a random offset in a 1 s window at a random level and mixed with
white, pink, brown or babble noise (other utterances of the same split) at an SNR drawn
from 10-50 dB. The silence class is noise alone at the level the noise of a spoken clip
would have. Every one of these is a :class:`CorpusConfig` field; at their neutral
values (no warp, no room, no microphone, no neural voice, 0-20 dB) the corpus is
version 1. Breaths and clicks are options, off by default (they did not help).

Splits never share a voice configuration: the eSpeak configurations, the accents the
neural voices read and the Kokoro blends are shuffled once per seed and dealt 80 / 10 /
10 % to training, validation and test, so validation measures how a design generalises
to unheard voices (the one Piper speaker is heard in every split, in other accents).

What this corpus is for: it ranks designs by what they can learn from keyword-like
speech. It is still not human speech: measured on real recordings of the 10 keywords
(``benchmarks/corpus_transfer.py``, README "Data"), models trained here reach well
below the accuracy that models trained on real recordings reach; use a Speech Commands
copy for accuracy you can quote.

Example:
    >>> from search.data._corpus import CorpusConfig, load_synthetic_corpus
    >>> corpus = load_synthetic_corpus(CorpusConfig(utterances_per_class=10), "mfcc10", progress=False)
    >>> corpus.splits["train"].features.shape
    torch.Size([120, 49, 10])
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from search.data._audio import (
    NOISE_KINDS,
    apply_magnitude_response,
    breath,
    click,
    colored_noise,
    convolve,
    microphone_responses,
    place,
    rms,
    room_impulse_response,
    warp,
)
from search.data._cache import PathLike, cache_root, fingerprint, load_tensors, save_tensors
from search.data._espeak import ACCENTS, SAMPLE_RATE, Utterance, library_version, synthesize, voice_configurations
from search.data._neural_voices import KOKORO, KOKORO_VOICE_COUNT, PIPER, NeuralTake, model_versions, synthesize_takes
from search.data._features import compute_features
from search.data._mixing import mix_in_helpers, mixing_helpers
from search.data._footprint import check_cached_load, check_count_fits, check_disk, kws_cache_bytes, kws_generation_bytes
from spaces import FEATURE_FRONT_ENDS

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
CLASS_NAMES = (*KEYWORDS, SILENCE, UNKNOWN)
# The other words of Speech Commands v1 and v2, the vocabulary of the unknown class.
UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
    "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero",
    "backward", "forward", "follow", "learn", "visual",
)  # fmt: skip
SPLITS = ("train", "validation", "test")
BABBLE = "babble"
MIX_NOISE_KINDS = (*NOISE_KINDS, BABBLE)
# Bump when the generation recipe changes, so stale caches are not reused.
CORPUS_VERSION = 4


@dataclass(frozen=True)
class CorpusConfig:
    """Everything that determines the synthetic corpus (and so its cache key).

    ``utterances_per_class`` is the training size per class (about 1000 are needed
    for a 3-epoch proxy to separate small designs); validation and test get
    ``eval_fraction`` of it each.
    """

    utterances_per_class: int = 1000
    seed: int = 0
    eval_fraction: float = 0.2
    clip_samples: int = SAMPLE_RATE  # 1 s at 16 kHz
    # Version 1 drew 0-20 dB; real close-talk recordings are cleaner, and models trained
    # at 10-50 dB recognised real speech better (benchmarks/corpus_transfer.py).
    snr_db: tuple[float, float] = (10.0, 50.0)
    speech_dbfs: tuple[float, float] = (-35.0, -15.0)  # RMS of the spoken word
    pitch: tuple[int, int] = (15, 85)
    pitch_range: tuple[int, int] = (10, 90)
    rate_wpm: tuple[int, int] = (80, 240)
    voice_split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    babble_talkers: tuple[int, int] = (3, 6)
    # Speaker and channel variety (each off at its neutral value, which gives the
    # version-1 recipe): the speech-rate factor range of ``warp`` (pitch, formants and
    # duration move together), the share of words said in a synthetic room and its
    # reverberation time and direct-to-reverberant ratio, and the share of clips heard
    # through a random microphone response.
    warp: tuple[float, float] = (0.85, 1.15)
    reverb_probability: float = 0.6
    reverb_rt60_s: tuple[float, float] = (0.15, 0.8)
    reverb_drr_db: tuple[float, float] = (0.0, 15.0)
    mic_probability: float = 0.8
    # Neural voices (``search.data._neural_voices``): the share of spoken clips whose word
    # is a neural take instead of an eSpeak utterance, how many distinct takes of each word
    # a split of 1000 clips per class has (smaller splits proportionally fewer; a take is
    # reused by several clips, each warped, placed and mixed anew), the share of takes said by
    # Kokoro (ten times slower than Piper), the number of Kokoro speaker blends dealt to
    # the splits, and the takes' speaking-speed range. Off (0) gives the version-2 recipe.
    neural_share: float = 0.5
    neural_takes_per_word: int = 16
    # An "unknown" word has a twentieth of a keyword's clips; at a keyword's number of
    # takes nearly every one of its clips had its own, and unknown words took 70 % of the
    # synthesis (version 3). None gives them a keyword's takes again.
    neural_takes_per_unknown_word: Optional[int] = 2
    kokoro_share: float = 0.3
    kokoro_blends: int = 40
    neural_speed: tuple[float, float] = (0.8, 1.25)
    # Sounds of real recordings around the word: the share of spoken clips with a breath
    # (10-25 dB below the word, before or after it) and of all clips with a click.
    breath_probability: float = 0.0
    click_probability: float = 0.0

    def __post_init__(self) -> None:
        if self.utterances_per_class < 1:
            raise ValueError(f"utterances_per_class must be >= 1, got {self.utterances_per_class}")
        if not 0 < self.eval_fraction <= 1:
            raise ValueError(f"eval_fraction must be in (0, 1], got {self.eval_fraction}")
        if not 0 < self.warp[0] <= self.warp[1]:
            raise ValueError(f"warp must be a range of positive factors, got {self.warp}")
        if self.neural_takes_per_word < 1 or self.kokoro_blends < 3:
            raise ValueError("neural_takes_per_word must be >= 1 and kokoro_blends >= 3")
        if self.neural_takes_per_unknown_word is not None and self.neural_takes_per_unknown_word < 1:
            raise ValueError(f"neural_takes_per_unknown_word must be >= 1 or None, got {self.neural_takes_per_unknown_word}")
        if not 0 < self.neural_speed[0] <= self.neural_speed[1]:
            raise ValueError(f"neural_speed must be a range of positive factors, got {self.neural_speed}")
        for name in ("reverb_probability", "mic_probability", "neural_share", "kokoro_share", "breath_probability", "click_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.reverb_rt60_s[0] <= self.reverb_rt60_s[1]:
            raise ValueError(f"reverb_rt60_s must be a range of positive times, got {self.reverb_rt60_s}")

    def split_size(self, split: str) -> int:
        """Clips per class in a split."""
        if split == "train":
            return self.utterances_per_class
        return max(1, round(self.utterances_per_class * self.eval_fraction))


@dataclass
class CorpusSplit:
    """One split: features [N, frames, dims] (not normalised), labels [N] and provenance."""

    features: torch.Tensor
    labels: torch.Tensor
    voices: list[str]  # voice configuration per clip ("" for silence)
    words: list[str]  # the word said per clip ("" for silence)


@dataclass
class SyntheticCorpus:
    """The generated corpus for one feature front end."""

    config: CorpusConfig
    feature_name: str
    class_names: tuple[str, ...]
    splits: dict[str, CorpusSplit]
    cache_path: Optional[Path] = None
    voice_sets: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Clip:
    """The plan of one clip; ``utterance`` is None for silence, ``take`` set for a neural voice's word."""

    label: int
    utterance: Optional[Utterance]
    take: Optional[NeuralTake] = None

    @property
    def word(self) -> str:
        return self.utterance.text if self.utterance is not None else ""

    @property
    def voice(self) -> str:
        """The voice configuration that said the word ("" for silence)."""
        if self.take is not None:
            return neural_voice_name(self.take)
        return self.utterance.voice if self.utterance is not None else ""


def split_voice_configurations(seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[str]]:
    """Deal all voice configurations to the three splits, disjointly, for a seed."""
    return _deal(voice_configurations(), seed, 0x70C35, fractions)


def _deal(items: list, seed: int, salt: int, fractions: tuple[float, float, float]) -> dict[str, list]:
    """``items`` shuffled for a seed and dealt to the three splits, each getting at least one."""
    order = np.random.default_rng(np.random.SeedSequence([seed, salt])).permutation(len(items))
    shuffled = [items[index] for index in order]
    validation = max(1, round(len(items) * fractions[1]))
    test = max(1, round(len(items) * fractions[2]))
    train = len(items) - validation - test
    return {"train": shuffled[:train], "validation": shuffled[train : train + validation], "test": shuffled[train + validation :]}


def kokoro_blend(seed: int, index: int) -> tuple[float, ...]:
    """The weights of Kokoro speaker blend ``index`` over the five voice vectors (Dirichlet 0.5: mostly two or three voices)."""
    weights = np.random.default_rng(np.random.SeedSequence([seed, 0xB1E4D, index])).dirichlet(np.full(KOKORO_VOICE_COUNT, 0.5))
    return tuple(round(float(weight), 4) for weight in weights)


def neural_voice_name(take: NeuralTake) -> str:
    """A neural take's voice configuration: the speaker and the accent of its phonemes."""
    if take.engine == PIPER:
        return f"piper-joe/{take.accent}"
    return f"kokoro/{'-'.join(f'{weight:.2f}' for weight in take.blend)}/{take.accent}"


def _plan_neural(config: CorpusConfig, split: str, clips: list[_Clip]) -> list[_Clip]:
    """Give ``neural_share`` of the spoken clips a neural take of their word instead.

    The split's takes use accents and Kokoro blends no other split uses. Each keyword
    gets up to ``neural_takes_per_word`` takes per 1000 clips per class, each unknown word
    up to ``neural_takes_per_unknown_word``; a word's clips share its takes in turn. The
    draws have their own random stream: the eSpeak plan is unchanged.
    """
    if config.neural_share <= 0:
        return clips
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, SPLITS.index(split), 6]))
    accents = _deal(list(ACCENTS), config.seed, 0xACCE, config.voice_split)[split]
    blends = _deal(list(range(config.kokoro_blends)), config.seed, 0xB1E4D, config.voice_split)[split]
    chosen = [index for index, clip in enumerate(clips) if clip.utterance is not None and rng.random() < config.neural_share]
    per_word: dict[str, list[int]] = {}
    for index in chosen:
        per_word.setdefault(clips[index].word, []).append(index)
    # Takes scale with the split (the default training split has 1000 clips per class), so
    # a small test corpus does not pay for a full set of neural takes.
    def scaled(takes: int) -> int:
        return max(1, round(takes * config.split_size(split) / 1000))

    keyword_limit = scaled(config.neural_takes_per_word)
    unknown_limit = keyword_limit if config.neural_takes_per_unknown_word is None else scaled(config.neural_takes_per_unknown_word)
    planned = list(clips)
    for word in sorted(per_word):
        members = per_word[word]
        limit = keyword_limit if word in KEYWORDS else unknown_limit
        takes = []
        for _ in range(min(limit, len(members))):
            engine = KOKORO if rng.random() < config.kokoro_share else PIPER
            accent = accents[int(rng.integers(len(accents)))]
            speed = float(rng.uniform(*config.neural_speed))
            noise_scale, noise_w = float(rng.uniform(0.4, 0.9)), float(rng.uniform(0.5, 1.1))
            blend = kokoro_blend(config.seed, blends[int(rng.integers(len(blends)))]) if engine == KOKORO else ()
            takes.append(NeuralTake(word, engine, accent, round(speed, 4), round(noise_scale, 4), round(noise_w, 4), blend))
        for position, index in enumerate(members):
            planned[index] = _Clip(clips[index].label, clips[index].utterance, takes[position % len(takes)])
    return planned


def random_utterance(
    rng: np.random.Generator, text: str, voice: str, config: CorpusConfig
) -> Utterance:
    """An utterance of ``text`` by ``voice`` with prosody drawn from the config's ranges."""
    return Utterance(
        text=text,
        voice=voice,
        pitch=int(rng.integers(config.pitch[0], config.pitch[1] + 1)),
        pitch_range=int(rng.integers(config.pitch_range[0], config.pitch_range[1] + 1)),
        rate=int(rng.integers(config.rate_wpm[0], config.rate_wpm[1] + 1)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def _plan_split(config: CorpusConfig, split: str, voices: list[str]) -> list[_Clip]:
    """The clips of one split, in a shuffled order; voices are dealt round-robin."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, SPLITS.index(split), 1]))
    per_class = config.split_size(split)
    voice_cycle = [voices[index] for index in rng.permutation(len(voices))]
    clips: list[_Clip] = []
    spoken = 0
    for label, name in enumerate(CLASS_NAMES):
        for _ in range(per_class):
            if name == SILENCE:
                clips.append(_Clip(label, None))
                continue
            word = name if name != UNKNOWN else UNKNOWN_WORDS[int(rng.integers(len(UNKNOWN_WORDS)))]
            voice = voice_cycle[spoken % len(voice_cycle)]
            spoken += 1
            clips.append(_Clip(label, random_utterance(rng, word, voice, config)))
    return [clips[index] for index in rng.permutation(len(clips))]


def babble_noise(
    rng: np.random.Generator, speech: list[np.ndarray], talkers: int, samples: int, exclude: int = -1
) -> np.ndarray:
    """Several other utterances summed at random offsets and gains (a crowd of voices)."""
    noise = np.zeros(samples, dtype=np.float32)
    for _ in range(talkers):
        index = int(rng.integers(len(speech)))
        if index == exclude and len(speech) > 1:
            index = (index + 1) % len(speech)
        voice = speech[index].astype(np.float32)
        offset = int(rng.integers(-len(voice) // 2, samples - len(voice) // 2))
        gain = 10 ** (rng.uniform(-6.0, 6.0) / 20) / max(rms(voice), 1e-6)
        start = max(0, -offset)
        noise += place(voice[start:] * gain, samples, max(0, offset))
    return noise


def mix_noise(
    rng: np.random.Generator, kind: str, samples: int, speech_pool: list[np.ndarray], exclude: int = -1, talkers: tuple[int, int] = (3, 6)
) -> np.ndarray:
    """A noise window of a given kind; babble draws from ``speech_pool``."""
    if kind == BABBLE and speech_pool:
        noise = babble_noise(rng, speech_pool, int(rng.integers(talkers[0], talkers[1] + 1)), samples, exclude)
        if rms(noise) > 0:
            return noise
    return colored_noise(kind if kind != BABBLE else "white", samples, rng)


def _voice_and_room(
    config: CorpusConfig, word: np.ndarray, warp_rng: np.random.Generator, room_rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """A word as another speaker in another room might say it, and how long the word itself lasts.

    A no-op at the neutral settings; a reverberant word runs on past its spoken length.
    Each augmentation draws from its own random stream, so switching one on or off
    leaves the others' draws, and the version-1 mix, unchanged.
    """
    if config.warp != (1.0, 1.0):
        word = warp(word, float(warp_rng.uniform(*config.warp)))
    spoken_length = len(word)
    if config.reverb_probability > 0 and room_rng.random() < config.reverb_probability:
        response = room_impulse_response(room_rng, float(room_rng.uniform(*config.reverb_rt60_s)), float(room_rng.uniform(*config.reverb_drr_db)))
        word = convolve(word, response)
    return word, spoken_length


def _breath_near(rng: np.random.Generator, level: float, offset: int, spoken_length: int, samples: int) -> np.ndarray:
    """A breath 10-25 dB below the word, just before it or just after it, where the window has room."""
    sound = breath(rng) * level * 10 ** (-rng.uniform(10.0, 25.0) / 20)
    gap = int(rng.integers(0, SAMPLE_RATE // 10))
    before = offset - gap - len(sound)
    after = offset + spoken_length + gap
    if before >= 0 and (after + len(sound) > samples or rng.random() < 0.5):
        return place(sound, samples, before)
    return place(sound, samples, min(after, samples - 1))


def _mix_chunk(
    config: CorpusConfig, split: str, chunk: int, pool: list[np.ndarray], positions: list[int], feature_name: str
) -> torch.Tensor:
    """Place, mix and featurise chunk number ``chunk`` of a split: ``positions[i]`` is the
    i-th clip's word in ``pool`` (the split's spoken words, the talkers of its babble too;
    int16, since every use rescales them to an RMS level anyway), or -1 for silence.

    Each chunk draws from its own random streams, so the chunks of a corpus can be mixed in
    any process and any order with the same result.
    """
    split_index = SPLITS.index(split)
    rng, warp_rng, room_rng, mic_rng, sound_rng = (
        np.random.default_rng(np.random.SeedSequence([config.seed, split_index, stream, chunk])) for stream in (2, 3, 4, 5, 7)
    )
    samples = config.clip_samples
    waveforms = np.zeros((len(positions), samples), dtype=np.float32)
    for row, position in enumerate(positions):
        level = 10 ** (rng.uniform(*config.speech_dbfs) / 20)
        snr = rng.uniform(*config.snr_db)
        kind = MIX_NOISE_KINDS[int(rng.integers(len(MIX_NOISE_KINDS)))]
        noise = mix_noise(rng, kind, samples, pool, position, config.babble_talkers)
        # The noise window sits ``snr`` dB below the word's RMS level; a silence clip
        # is exactly the noise a spoken clip at this level and SNR would carry.
        waveform = noise * (level / 10 ** (snr / 20) / max(rms(noise), 1e-12))
        if position >= 0:
            word, spoken_length = _voice_and_room(config, pool[position].astype(np.float32), warp_rng, room_rng)
            word *= level / max(rms(word[:spoken_length]), 1e-6)
            # Placed by the length of the word itself; a reverberant tail may run off the end.
            offset = int(rng.integers(0, max(1, samples - spoken_length + 1)))
            waveform = waveform + place(word, samples, offset)
            if config.breath_probability > 0 and sound_rng.random() < config.breath_probability:
                waveform += _breath_near(sound_rng, level, offset, spoken_length, samples)
        if config.click_probability > 0 and sound_rng.random() < config.click_probability:
            sound = click(sound_rng) * level * float(sound_rng.uniform(0.5, 4.0))
            waveform += place(sound, samples, int(sound_rng.integers(0, samples - len(sound))))
        waveforms[row] = waveform
    if config.mic_probability > 0:
        heard = mic_rng.random(waveforms.shape[0]) < config.mic_probability
        responses = microphone_responses(mic_rng, int(heard.sum()), samples)
        if heard.any():
            # A microphone changes the level too; the recorded level is kept as drawn.
            before = np.sqrt(np.mean(np.square(waveforms[heard], dtype=np.float64), axis=1, keepdims=True))
            filtered = apply_magnitude_response(waveforms[heard], responses)
            after = np.sqrt(np.mean(np.square(filtered, dtype=np.float64), axis=1, keepdims=True))
            waveforms[heard] = filtered * (before / np.maximum(after, 1e-12)).astype(np.float32)
    np.clip(waveforms, -1.0, 1.0, out=waveforms)
    return compute_features(torch.from_numpy(waveforms), feature_name)


def corpus_fingerprint(config: CorpusConfig, feature_name: str) -> dict:
    """The recipe that names a cached corpus."""
    return {
        "kind": "kws-synthetic",
        "version": CORPUS_VERSION,
        "espeak": library_version(),
        **({"neural_voices": model_versions()} if config.neural_share > 0 else {}),
        "features": feature_name,
        "config": asdict(config),
    }


def build_synthetic_corpus(config: CorpusConfig, feature_name: str, progress: bool = True) -> SyntheticCorpus:
    """Generate the corpus (no cache): synthesize, mix and compute features."""
    voice_sets = split_voice_configurations(config.seed, config.voice_split)
    plans = {split: _plan_neural(config, split, _plan_split(config, split, voice_sets[split])) for split in SPLITS}
    utterances = [clip.utterance for split in SPLITS for clip in plans[split] if clip.utterance is not None and clip.take is None]
    # Each distinct take is said once, in plan order; clips that share it share its audio.
    takes = list(dict.fromkeys(clip.take for split in SPLITS for clip in plans[split] if clip.take is not None))
    with tqdm(total=len(utterances) + len(takes), desc="synthesizing words", unit="word", disable=not progress) as bar:
        spoken = iter(synthesize(utterances, progress=bar.update))
        take_audio = dict(zip(takes, synthesize_takes(takes, progress=bar.update)))
    # Each split's spoken words, and where each clip's word is among them (-1: silence).
    pools: dict[str, list[np.ndarray]] = {}
    positions: dict[str, list[int]] = {}
    for split in SPLITS:
        pools[split], positions[split] = [], []
        for clip in plans[split]:
            if clip.utterance is None:
                positions[split].append(-1)
                continue
            positions[split].append(len(pools[split]))
            pools[split].append(take_audio[clip.take] if clip.take is not None else next(spoken))
    chunks = [
        (split, chunk, positions[split][start : start + MIX_BATCH])
        for split in SPLITS
        for chunk, start in enumerate(range(0, len(positions[split]), MIX_BATCH))
    ]
    helpers = mixing_helpers(len(chunks))
    total = sum(len(plan) for plan in plans.values())
    with tqdm(total=total, desc="mixing and features", unit="clip", disable=not progress) as bar:
        if helpers > 1:
            mixed = {key: torch.from_numpy(features) for key, features in mix_in_helpers(config, feature_name, pools, chunks, helpers, bar.update).items()}
        else:
            mixed = {}
            for split, chunk, members in chunks:
                mixed[(split, chunk)] = _mix_chunk(config, split, chunk, pools[split], members, feature_name)
                bar.update(len(members))
    splits: dict[str, CorpusSplit] = {}
    for split in SPLITS:
        clips = plans[split]
        splits[split] = CorpusSplit(
            features=torch.cat([mixed[(name, chunk)] for name, chunk, _ in chunks if name == split]),
            labels=torch.tensor([clip.label for clip in clips], dtype=torch.int64),
            voices=[clip.voice for clip in clips],
            words=[clip.word for clip in clips],
        )
    return SyntheticCorpus(config, feature_name, CLASS_NAMES, splits, voice_sets=voice_sets)


def corpus_cache_path(config: CorpusConfig, feature_name: str, cache_dir: Optional[PathLike] = None) -> Path:
    """Where a corpus is cached."""
    key = fingerprint(corpus_fingerprint(config, feature_name))
    name = f"kws-synthetic-{feature_name}-n{config.utterances_per_class}-s{config.seed}-{key}.pt"
    return cache_root(cache_dir) / name


# Clips mixed and featurised at once: bounded memory, and the unit of work of the mixing
# helpers (``search.data._mixing``).
MIX_BATCH = 1024


def mixing_chunks(config: CorpusConfig) -> int:
    """Chunks of ``MIX_BATCH`` clips the corpus is mixed in, all splits."""
    return sum(-(-len(CLASS_NAMES) * config.split_size(split) // MIX_BATCH) for split in SPLITS)


def corpus_clips(config: CorpusConfig) -> int:
    """Clips in the corpus, all splits."""
    return len(CLASS_NAMES) * sum(config.split_size(split) for split in SPLITS)


def corpus_generation_bytes(config: CorpusConfig, feature_bytes: int) -> int:
    """Peak memory of generating the corpus, its mixing helpers included."""
    helpers = mixing_helpers(mixing_chunks(config))
    return kws_generation_bytes(corpus_clips(config), config.clip_samples, feature_bytes, MIX_BATCH, words=True, helpers=0 if helpers == 1 else helpers)


def check_corpus_fits(config: CorpusConfig, feature_name: str, cache_dir: Optional[PathLike] = None) -> None:
    """Refuse, in one line, a corpus this machine cannot make, cache or load."""
    path = corpus_cache_path(config, feature_name, cache_dir)
    fix = "free memory, or use a smaller --utterances-per-class"
    if path.is_file():
        check_cached_load(path, "the cached synthetic corpus", fix)
        return
    front_end = FEATURE_FRONT_ENDS[feature_name]
    feature_bytes = 4 * front_end.dims * front_end.frames_for(config.clip_samples)

    def memory(count: int) -> int:
        return corpus_generation_bytes(replace(config, utterances_per_class=max(1, count)), feature_bytes)

    clips = corpus_clips(config)
    check_count_fits("--utterances-per-class", config.utterances_per_class, memory, f"generating the synthetic corpus ({clips:,} clips)")
    check_disk(
        kws_cache_bytes(clips, feature_bytes), path.parent, f"caching the synthetic corpus ({clips:,} clips)",
        "free space there, set GHOSTRNN_CACHE to a larger disk, or use a smaller --utterances-per-class",
    )


def load_synthetic_corpus(
    config: CorpusConfig = CorpusConfig(),
    feature_name: str = "mfcc10",
    cache_dir: Optional[PathLike] = None,
    progress: bool = True,
) -> SyntheticCorpus:
    """The corpus from the cache, generating and caching it on first use."""
    check_corpus_fits(config, feature_name, cache_dir)
    path = corpus_cache_path(config, feature_name, cache_dir)
    payload = load_tensors(path)
    recipe = json.dumps(corpus_fingerprint(config, feature_name), sort_keys=True)
    if payload is not None and payload.get("recipe") == recipe:
        splits = {name: CorpusSplit(**payload["splits"][name]) for name in SPLITS}
        return SyntheticCorpus(
            config, feature_name, tuple(payload["class_names"]), splits, path, dict(payload["voice_sets"])
        )
    corpus = build_synthetic_corpus(config, feature_name, progress)
    save_tensors(
        path,
        {
            "recipe": recipe,
            "class_names": list(corpus.class_names),
            "voice_sets": corpus.voice_sets,
            "splits": {
                name: {"features": split.features, "labels": split.labels, "voices": split.voices, "words": split.words}
                for name, split in corpus.splits.items()
            },
        },
    )
    corpus.cache_path = path
    return corpus

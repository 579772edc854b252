"""Google Speech Commands v1/v2 from a local copy, in its own layout.

Expected layout (an extracted ``speech_commands_v0.0x.tar.gz``)::

    DIR/yes/0a7c2a8d_nohash_0.wav ...   one folder per word, 16 kHz mono 16-bit WAV
    DIR/validation_list.txt             paths relative to DIR, one per line
    DIR/testing_list.txt
    DIR/_background_noise_/*.wav        long noise recordings

Files named in the lists form the validation and test splits; every other clip trains.
The 12-class setup (default) follows the TensorFlow example and Hello Edge: the 10
keywords, plus "_silence_" and "_unknown_" each sized at 10 % of a split's keyword
clips (unknown clips drawn from the other words, silence cut from the background
noise at a random volume). The 35-class setup uses every word of v2 as its own class.
Training clips get the example's augmentation once, when the features are built:
background noise on 80 % of them at up to 0.1 volume and a time shift of up to 100 ms.

Problems with the directory raise :class:`search._errors.DataError`, one line saying
what was expected.
"""

from __future__ import annotations

import json
import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from search.data._cache import PathLike, cache_root, fingerprint, load_tensors, save_tensors
from search.data._corpus import KEYWORDS, SILENCE, SPLITS, UNKNOWN, CorpusSplit
from search._errors import DataError
from search.data._features import compute_features

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE
BACKGROUND = "_background_noise_"
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
V2_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on",
    "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up",
    "visual", "wow", "yes", "zero",
)  # fmt: skip
SETUPS = ("12", "35")
LOADER_VERSION = 1
_LAYOUT = "class folders of 16 kHz mono WAV, validation_list.txt, testing_list.txt and _background_noise_/"


@dataclass(frozen=True)
class SpeechCommandsConfig:
    """How clips become the training set (part of the cache key)."""

    setup: str = "12"
    silence_fraction: float = 0.1  # of a split's keyword clips
    unknown_fraction: float = 0.1
    background_probability: float = 0.8  # training clips that get background noise
    background_volume: float = 0.1
    time_shift_samples: int = 1600  # up to 100 ms either way, training only
    seed: int = 0


@dataclass
class SpeechCommands:
    """Features per split, not normalised; ``voices`` holds speaker ids, ``words`` file paths."""

    class_names: tuple[str, ...]
    feature_name: str
    splits: dict[str, CorpusSplit]
    cache_path: Optional[Path] = None


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV as float32 in [-1, 1] (stdlib ``wave`` + NumPy)."""
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate = handle.getnchannels(), handle.getsampwidth(), handle.getframerate()
            frames = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError, OSError) as error:
        raise DataError(f"{path} is not a readable WAV file ({error}); expected {_LAYOUT}") from None
    if (channels, width, rate) != (1, 2, SAMPLE_RATE):
        raise DataError(
            f"{path} is {rate} Hz, {channels} channel(s), {8 * width}-bit; Speech Commands clips are 16000 Hz mono 16-bit"
        )
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def _fit(clip: np.ndarray, samples: int = CLIP_SAMPLES) -> np.ndarray:
    """Zero-pad at the end or cut to exactly one second (as the TensorFlow example does)."""
    out = np.zeros(samples, dtype=np.float32)
    out[: min(samples, len(clip))] = clip[:samples]
    return out


def _speaker(relative: str) -> str:
    """The speaker id in ``word/SPEAKER_nohash_N.wav``."""
    return Path(relative).name.split("_nohash_")[0]


@dataclass(frozen=True)
class _Layout:
    root: Path
    words: tuple[str, ...]
    files: dict[str, list[str]]  # split -> relative paths
    background: tuple[Path, ...]


def scan_layout(root: PathLike, setup: str = "12") -> _Layout:
    """Check the directory and sort its clips into splits; raises DataError."""
    if setup not in SETUPS:
        raise DataError(f"unknown Speech Commands setup {setup!r}; use 12 (10 keywords + silence + unknown) or 35")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist; point it at an extracted Speech Commands v1/v2 copy ({_LAYOUT})")
    for name in LIST_FILES.values():
        if not (root / name).is_file():
            raise DataError(f"{root} has no {name}; expected an extracted Speech Commands v1/v2 copy ({_LAYOUT})")
    words = tuple(
        sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("_") and any(entry.glob("*.wav")))
    )
    needed = KEYWORDS if setup == "12" else V2_WORDS
    missing = [word for word in needed if word not in words]
    if missing:
        hint = " (the 35-class setup needs Speech Commands v2)" if setup == "35" else ""
        raise DataError(f"{root} lacks the word folder(s) {', '.join(missing)}{hint}; expected {_LAYOUT}")
    background = tuple(sorted((root / BACKGROUND).glob("*.wav"))) if (root / BACKGROUND).is_dir() else ()
    if setup == "12" and not background:
        raise DataError(f"{root} has no {BACKGROUND}/ with WAV files; the silence class is cut from it ({_LAYOUT})")
    listed: dict[str, set[str]] = {}
    for split, name in LIST_FILES.items():
        entries = [line.strip() for line in (root / name).read_text(encoding="utf-8").splitlines() if line.strip()]
        for entry in entries:
            if not (root / entry).is_file():
                raise DataError(f"{name} names {entry}, which is not in {root}; the lists and the folders come from different copies")
        listed[split] = set(entries)
    files: dict[str, list[str]] = {split: [] for split in SPLITS}
    for word in words:
        for path in sorted((root / word).glob("*.wav")):
            relative = f"{word}/{path.name}"
            split = "validation" if relative in listed["validation"] else "test" if relative in listed["test"] else "train"
            files[split].append(relative)
    return _Layout(root, words, files, background)


def _plan(layout: _Layout, config: SpeechCommandsConfig) -> tuple[tuple[str, ...], dict[str, list[tuple[int, str]]]]:
    """Class names and, per split, (label, relative path or "" for silence) in a fixed order."""
    if config.setup == "35":
        names = V2_WORDS
        index = {word: label for label, word in enumerate(names)}
        return names, {
            split: [(index[path.split("/")[0]], path) for path in layout.files[split] if path.split("/")[0] in index]
            for split in SPLITS
        }
    names = (*KEYWORDS, SILENCE, UNKNOWN)
    index = {word: label for label, word in enumerate(KEYWORDS)}
    plans: dict[str, list[tuple[int, str]]] = {}
    for number, split in enumerate(SPLITS):
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, number, 0x5C]))
        known = [(index[path.split("/")[0]], path) for path in layout.files[split] if path.split("/")[0] in index]
        unknown_pool = [path for path in layout.files[split] if path.split("/")[0] not in index]
        unknown_count = min(len(unknown_pool), math.ceil(len(known) * config.unknown_fraction))
        chosen = [unknown_pool[i] for i in sorted(rng.permutation(len(unknown_pool))[:unknown_count])]
        silence_count = math.ceil(len(known) * config.silence_fraction)
        plans[split] = known + [(names.index(UNKNOWN), path) for path in chosen] + [(names.index(SILENCE), "")] * silence_count
    return names, plans


def _background_segment(rng: np.random.Generator, noises: list[np.ndarray]) -> np.ndarray:
    noise = noises[int(rng.integers(len(noises)))]
    if len(noise) <= CLIP_SAMPLES:
        return _fit(noise)
    start = int(rng.integers(0, len(noise) - CLIP_SAMPLES))
    return noise[start : start + CLIP_SAMPLES]


def _shift(audio: np.ndarray, shift: int) -> np.ndarray:
    """Move a clip by ``shift`` samples (later if positive), filling with silence."""
    out = np.zeros_like(audio)
    if shift >= 0:
        out[shift:] = audio[: len(audio) - shift]
    else:
        out[:shift] = audio[-shift:]
    return out


def _clip(
    rng: np.random.Generator, layout: _Layout, path: str, split: str, noises: list[np.ndarray], config: SpeechCommandsConfig
) -> np.ndarray:
    """The waveform of one planned clip, with the training augmentation."""
    if not path:  # silence: background noise at a random volume
        return _background_segment(rng, noises) * rng.uniform(0.0, 1.0) if noises else np.zeros(CLIP_SAMPLES, np.float32)
    audio = _fit(read_wav(layout.root / path))
    if split == "train":
        audio = _shift(audio, int(rng.integers(-config.time_shift_samples, config.time_shift_samples + 1)))
        if noises and rng.uniform() < config.background_probability:
            audio = np.clip(audio + _background_segment(rng, noises) * rng.uniform(0.0, config.background_volume), -1.0, 1.0)
    return audio.astype(np.float32)


def _layout_fingerprint(layout: _Layout, config: SpeechCommandsConfig, feature_name: str) -> dict:
    """What names a cached copy: the directory, its lists, its file set and the recipe."""
    stats = {name: [(layout.root / name).stat().st_size, (layout.root / name).stat().st_mtime_ns] for name in LIST_FILES.values()}
    files = fingerprint({split: layout.files[split] for split in SPLITS})
    return {
        "kind": "speech-commands",
        "version": LOADER_VERSION,
        "root": str(layout.root.resolve()),
        "lists": stats,
        "files": files,
        "background": [path.name for path in layout.background],
        "features": feature_name,
        "config": config.__dict__,
    }


def load_speech_commands(
    data_dir: PathLike,
    feature_name: str = "mfcc10",
    setup: str = "12",
    cache_dir: Optional[PathLike] = None,
    seed: int = 0,
    progress: bool = True,
) -> SpeechCommands:
    """Features of a local Speech Commands copy, computed once and cached."""
    config = SpeechCommandsConfig(setup=str(setup), seed=seed)
    layout = scan_layout(data_dir, config.setup)
    recipe = _layout_fingerprint(layout, config, feature_name)
    recipe_text = json.dumps(recipe, sort_keys=True)
    path = cache_root(cache_dir) / f"speech-commands-{config.setup}-{feature_name}-{fingerprint(recipe)}.pt"
    payload = load_tensors(path)
    if payload is not None and payload.get("recipe") == recipe_text:
        splits = {name: CorpusSplit(**payload["splits"][name]) for name in SPLITS}
        return SpeechCommands(tuple(payload["class_names"]), feature_name, splits, path)
    names, plans = _plan(layout, config)
    noises = [read_wav(background) for background in layout.background]
    splits: dict[str, CorpusSplit] = {}
    total = sum(len(plan) for plan in plans.values())
    with tqdm(total=total, desc="reading Speech Commands", unit="clip", disable=not progress) as bar:
        for number, split in enumerate(SPLITS):
            rng = np.random.default_rng(np.random.SeedSequence([seed, number, 0xA6]))
            plan = plans[split]
            if not plan:
                raise DataError(f"{layout.root} has no clips in the {split} split; expected {_LAYOUT}")
            features = []
            for start in range(0, len(plan), 2048):
                batch = np.stack([_clip(rng, layout, p, split, noises, config) for _, p in plan[start : start + 2048]])
                features.append(compute_features(torch.from_numpy(batch), feature_name))
                bar.update(len(batch))
            splits[split] = CorpusSplit(
                features=torch.cat(features),
                labels=torch.tensor([label for label, _ in plan], dtype=torch.int64),
                voices=[_speaker(p) if p else "" for _, p in plan],
                words=[p for _, p in plan],
            )
    save_tensors(
        path,
        {
            "recipe": recipe_text,
            "class_names": list(names),
            "splits": {
                name: {"features": s.features, "labels": s.labels, "voices": s.voices, "words": s.words}
                for name, s in splits.items()
            },
        },
    )
    return SpeechCommands(tuple(names), feature_name, splits, path)

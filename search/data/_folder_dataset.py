"""Keyword-spotting features from a folder of class folders (``--data-dir``), cached.

Which clips, classes and splits: :mod:`search.data._class_folders`. The classes are the
keywords, ``_silence_`` and, when other word folders exist, ``_unknown_``; as in the
TensorFlow Speech Commands example and Hello Edge, silence and unknown are each sized
at 10 % of a split's keyword clips (unknown clips drawn from the other words, silence
cut from the background noise at a random volume). Clips are read in any format
(:mod:`search.data._audio_files`), made mono 16 kHz and cut or zero-padded to the clip
length. Training clips get the example's augmentation once, when the features are
built: background noise on 80 % of them at up to 0.1 volume and a time shift of up to
100 ms. A folder without ``_background_noise_/`` gets seeded synthetic white, pink and
brown noise instead, for silence and augmentation alike.

Features are cached per dataset content (every clip's path, size and modification
time, the list files, the noise files) and recipe, so a second load takes seconds and
a copy of the same folder elsewhere reuses the cache.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from spaces import FEATURE_FRONT_ENDS

from search.data._footprint import check_cached_load, check_count_fits, check_disk, clip_seconds_text, kws_cache_bytes, kws_generation_bytes

from search._errors import DataError
from search.data._audio import NOISE_KINDS, colored_noise
from search.data._audio_files import SAMPLE_RATE, fit_length, read_audio
from search.data._cache import PathLike, cache_root, fingerprint, load_tensors, save_tensors
from search.data._class_folders import BACKGROUND, FolderLayout, scan_folders, speaker_of
from search.data._corpus import SILENCE, SPLITS, UNKNOWN, CorpusSplit
from search.data._features import compute_features

LOADER_VERSION = 2
_BATCH = 2048
_SYNTHETIC_NOISE_SECONDS = 10
_SYNTHETIC_NOISE_RMS = 0.1  # about the level of the Speech Commands background recordings


@dataclass(frozen=True)
class FolderRecipe:
    """How clips become features (part of the cache key)."""

    clip_samples: int = SAMPLE_RATE
    silence_fraction: float = 0.1  # of a split's keyword clips
    unknown_fraction: float = 0.1
    augment: bool = True  # the training split's noise and time shift
    background_probability: float = 0.8
    background_volume: float = 0.1
    time_shift_samples: int = 1600  # up to 100 ms either way
    seed: int = 0


@dataclass
class FolderDataset:
    """Features per split, not normalised; ``voices`` holds speaker ids, ``words`` relative paths."""

    class_names: tuple[str, ...]
    feature_name: str
    splits: dict[str, CorpusSplit]
    layout: FolderLayout
    notes: tuple[str, ...]
    cache_path: Optional[Path] = None


def class_names_for(layout: FolderLayout) -> tuple[str, ...]:
    """Keywords, silence, and unknown when there are other words to draw it from."""
    return (*layout.keywords, SILENCE) + ((UNKNOWN,) if layout.unknown_words else ())


def _plan(layout: FolderLayout, names: tuple[str, ...], recipe: FolderRecipe) -> dict[str, list[tuple[int, str]]]:
    """Per split, (label, relative path or "" for silence) in a fixed order."""
    index = {word: label for label, word in enumerate(names) if word not in (SILENCE, UNKNOWN)}
    plans: dict[str, list[tuple[int, str]]] = {}
    for number, split in enumerate(SPLITS):
        rng = np.random.default_rng(np.random.SeedSequence([recipe.seed, number, 0x5C]))
        known = [(index[layout.word_of(path)], path) for path in layout.files[split] if layout.word_of(path) in index]
        plan = list(known)
        if UNKNOWN in names:
            pool = [path for path in layout.files[split] if layout.word_of(path) not in index]
            count = min(len(pool), math.ceil(len(known) * recipe.unknown_fraction))
            plan += [(names.index(UNKNOWN), pool[i]) for i in sorted(rng.permutation(len(pool))[:count])]
        if SILENCE in names:
            plan += [(names.index(SILENCE), "")] * math.ceil(len(known) * recipe.silence_fraction)
        plans[split] = plan
    return plans


def _noises(layout: FolderLayout, seed: int) -> list[np.ndarray]:
    """The background recordings, or seeded synthetic noise when the folder has none."""
    if layout.background:
        return [read_audio(path) for path in layout.background]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB6]))
    return [colored_noise(kind, _SYNTHETIC_NOISE_SECONDS * SAMPLE_RATE, rng) * _SYNTHETIC_NOISE_RMS for kind in NOISE_KINDS]


def _segment(rng: np.random.Generator, noises: list[np.ndarray], samples: int) -> np.ndarray:
    noise = noises[int(rng.integers(len(noises)))]
    if len(noise) <= samples:
        return fit_length(noise, samples)
    start = int(rng.integers(0, len(noise) - samples))
    return noise[start : start + samples]


def _shift(audio: np.ndarray, shift: int) -> np.ndarray:
    """Move a clip by ``shift`` samples (later if positive), filling with silence."""
    out = np.zeros_like(audio)
    if shift >= 0:
        out[shift:] = audio[: len(audio) - shift]
    else:
        out[:shift] = audio[-shift:]
    return out


def _waveform(rng: np.random.Generator, root: Path, path: str, train: bool, noises: list[np.ndarray], recipe: FolderRecipe) -> np.ndarray:
    """The waveform of one planned clip, with the training augmentation."""
    samples = recipe.clip_samples
    if not path:  # silence: background noise at a random volume
        return (_segment(rng, noises, samples) * rng.uniform(0.0, 1.0)).astype(np.float32)
    audio = fit_length(read_audio(root / path), samples)
    if train and recipe.augment:
        audio = _shift(audio, int(rng.integers(-recipe.time_shift_samples, recipe.time_shift_samples + 1)))
        if rng.uniform() < recipe.background_probability:
            audio = np.clip(audio + _segment(rng, noises, samples) * rng.uniform(0.0, recipe.background_volume), -1.0, 1.0)
    return audio.astype(np.float32)


def dataset_notes(layout: FolderLayout, names: tuple[str, ...], splits: bool = True) -> tuple[str, ...]:
    """One line each: the classes and clips (per split when ``splits``), what was skipped, where silence comes from."""
    counts = [len(layout.files[split]) for split in SPLITS]
    rule = {"lists": "validation_list.txt/testing_list.txt", "speaker hash": "the speaker hash rule (no list files)", "speaker rank": "speaker (no list files)"}[layout.split_rule]
    clips = f"clips train/validation/test {'/'.join(map(str, counts))} split by {rule}" if splits else f"{sum(counts)} clips"
    lines = [f"{layout.root}: {len(names)} classes ({', '.join(names)}); {clips}", *layout.notes, *(layout.split_notes if splits else ())]
    if SILENCE in names:
        lines.append(
            f"{SILENCE} and training noise: {len(layout.background)} recording(s) of {BACKGROUND}/"
            if layout.background
            else f"{SILENCE} and training noise: synthetic white/pink/brown noise ({layout.root} has no {BACKGROUND}/)"
        )
    return tuple(lines)


def clip_samples_for(clip_seconds: float, feature_name: str) -> int:
    """Samples per clip; DataError if shorter than one feature window."""
    samples = int(round(clip_seconds * SAMPLE_RATE))
    window = FEATURE_FRONT_ENDS[feature_name].window_samples
    if samples < window:
        raise DataError(f"--clip-seconds {clip_seconds} is shorter than one {feature_name} window ({window / SAMPLE_RATE:.3f} s); use a longer clip")
    return samples


def _check_fits(root: Path, clips: int, clip_samples: int, feature_name: str, cache_dir: Path) -> None:
    """Refuse, in one line, clips this machine cannot hold at this length (``--clip-seconds``)."""
    front_end = FEATURE_FRONT_ENDS[feature_name]

    def feature_bytes(samples: int) -> int:
        return 4 * front_end.dims * front_end.frames_for(max(samples, front_end.window_samples))

    check_count_fits(
        "--clip-seconds", clip_samples, lambda samples: kws_generation_bytes(clips, samples, feature_bytes(samples), _BATCH, words=False),
        f"reading {clips:,} clips of {root}", shown=clip_seconds_text(SAMPLE_RATE), smallest=front_end.window_samples,
        fallback="free memory, or use fewer clips",
    )
    check_disk(kws_cache_bytes(clips, feature_bytes(clip_samples)), cache_dir, f"caching the features of {clips:,} clips", "free space there, or set GHOSTRNN_CACHE to a larger disk")


def load_folder_dataset(
    data_dir: PathLike,
    feature_name: str = "mfcc10",
    keywords: Optional[Sequence[str]] = None,
    class_names: Optional[Sequence[str]] = None,
    clip_seconds: float = 1.0,
    augment: bool = True,
    cache_dir: Optional[PathLike] = None,
    seed: int = 0,
    progress: bool = True,
) -> FolderDataset:
    """Features of a class-folder dataset, computed once and cached.

    ``class_names`` fixes the classes and their order (an exported design's); its
    keywords are every name but ``_silence_``/``_unknown_``, and those without clips
    in the folder are left out (noted). Otherwise ``keywords``
    (default: see :func:`scan_folders`) decides. Splits may be empty here.
    """
    if class_names is not None:
        keywords = [name for name in class_names if name not in (SILENCE, UNKNOWN)]
    layout = scan_folders(data_dir, keywords, allow_missing=class_names is not None)
    names = tuple(class_names) if class_names is not None else class_names_for(layout)
    recipe = FolderRecipe(clip_samples=clip_samples_for(clip_seconds, feature_name), augment=augment, seed=seed)
    notes = dataset_notes(layout, names)
    key = {
        "kind": "class-folders",
        "version": LOADER_VERSION,
        "content": layout.content_key,
        "splits": fingerprint(layout.files),  # the split rule's outcome, so a changed rule never reuses features
        "keywords": list(layout.keywords),
        "classes": list(names),
        "features": feature_name,
        "recipe": asdict(recipe),
    }
    key_text = json.dumps(key, sort_keys=True)
    path = cache_root(cache_dir) / f"folder-{feature_name}-{fingerprint(key)}.pt"
    if path.is_file():
        check_cached_load(path, f"the cached features of {layout.root}", "free memory, or use a shorter --clip-seconds")
    payload = load_tensors(path)
    if payload is not None and payload.get("key") == key_text:
        splits = {name: CorpusSplit(**payload["splits"][name]) for name in SPLITS}
        return FolderDataset(names, feature_name, splits, layout, notes, path)
    plans = _plan(layout, names, recipe)
    _check_fits(layout.root, sum(len(plan) for plan in plans.values()), recipe.clip_samples, feature_name, path.parent)
    noises = _noises(layout, seed)
    splits: dict[str, CorpusSplit] = {}
    frames = FEATURE_FRONT_ENDS[feature_name].frames_for(recipe.clip_samples)
    total = sum(len(plan) for plan in plans.values())
    with tqdm(total=total, desc=f"reading {layout.root.name}", unit="clip", disable=not progress, dynamic_ncols=True) as bar:
        for number, split in enumerate(SPLITS):
            rng = np.random.default_rng(np.random.SeedSequence([seed, number, 0xA6]))
            plan = plans[split]
            features = [torch.zeros(0, frames, FEATURE_FRONT_ENDS[feature_name].dims)]
            for start in range(0, len(plan), _BATCH):
                waveforms = []
                for _, relative in plan[start : start + _BATCH]:
                    waveforms.append(_waveform(rng, layout.root, relative, split == "train", noises, recipe))
                    bar.update(1)
                features.append(compute_features(torch.from_numpy(np.stack(waveforms)), feature_name))
            splits[split] = CorpusSplit(
                features=torch.cat(features),
                labels=torch.tensor([label for label, _ in plan], dtype=torch.int64),
                voices=[speaker_of(p) if p else "" for _, p in plan],
                words=[p for _, p in plan],
            )
    save_tensors(
        path,
        {
            "key": key_text,
            "splits": {name: {"features": s.features, "labels": s.labels, "voices": s.voices, "words": s.words} for name, s in splits.items()},
        },
    )
    return FolderDataset(names, feature_name, splits, layout, notes, path)

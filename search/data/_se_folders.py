"""Speech-enhancement mixtures from one's own recordings: ``DIR/clean/`` and ``DIR/noise/``.

Layout::

    DIR/clean/**/*.wav   speech recordings (any audio format; speaker id before _nohash_ if any)
    DIR/noise/**/*.wav   noise recordings, any length

Mixed the way the synthetic SE set is (``search.data._se_data``): every clean file gives
one window of the clip length (a random stretch of a longer file, zero-padded if
shorter), scaled to a random speech level, plus a random stretch of noise at an SNR
drawn from the configured range, measured over the window; both are kept on the 16-bit
grid. Clean files go to splits by the Speech Commands speaker hash (ranked by it when
the hash leaves a split empty; see ``search.data._class_folders``), so a speaker never
straddles splits; every noise
recording is cut in three, its first 80 % feeding training mixtures, the next 10 %
validation and the last 10 % test, so no noise sample is shared across splits.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm.auto import tqdm

from search._errors import DataError
from search.data._audio import noise_for_snr, rms
from search.data._audio_files import AUDIO_SUFFIXES, SAMPLE_RATE, fit_length, is_audio_file, read_audio
from search.data._cache import PathLike, cache_root, fingerprint
from search.data._class_folders import speaker_rank_split, hash_split
from search.data._corpus import SPLITS
from search.data._footprint import check_cached_load, check_count_fits, check_disk, clip_seconds_text, se_cache_bytes, se_generation_bytes
from search.data._se_data import SeConfig, SeData, _to_16_bit, load_se_cache, save_se_cache, se_data_from_mixtures

SE_FOLDERS_VERSION = 1
CLEAN, NOISE = "clean", "noise"
_NOISE_SHARES = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}


def _files(folder: Path) -> list[Path]:
    found = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        found += [Path(directory) / name for name in names if is_audio_file(Path(directory) / name)]
    return sorted(found)


def _content_key(paths: list[Path], root: Path) -> str:
    lines = []
    for path in paths:
        stat = path.stat()
        lines.append(f"{path.relative_to(root).as_posix()}\t{stat.st_size}\t{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def scan_se_folders(root: PathLike) -> tuple[dict[str, list[Path]], list[Path]]:
    """Clean files per split and the noise files; DataError with one line when unusable."""
    root = Path(root).expanduser()
    expected = f"expected {root}/{CLEAN}/ and {root}/{NOISE}/ with audio files ({', '.join(AUDIO_SUFFIXES)})"
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist; {expected}")
    clean = _files(root / CLEAN) if (root / CLEAN).is_dir() else []
    noise = _files(root / NOISE) if (root / NOISE).is_dir() else []
    if not clean or not noise:
        raise DataError(f"{root} has no {CLEAN if not clean else NOISE} recordings; {expected}")
    relative = {path.relative_to(root / CLEAN).as_posix(): path for path in clean}
    split_of = {name: hash_split(name) for name in relative}
    if len(set(split_of.values())) < len(SPLITS):
        split_of, _ = speaker_rank_split(list(relative), root / CLEAN, split_of)
    splits: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for name, path in relative.items():
        splits[split_of[name]].append(path)
    empty = [split for split in SPLITS if not splits[split]]
    if empty:
        raise DataError(f"{root}/{CLEAN} gives no recordings to the {', '.join(empty)} split(s); add recordings of at least 3 speakers")
    return splits, noise


def _noise_stretch(rng: np.random.Generator, noises: list[np.ndarray], split: str, samples: int) -> np.ndarray:
    """A random stretch of the split's share of a random noise recording."""
    noise = noises[int(rng.integers(len(noises)))]
    low, high = _NOISE_SHARES[split]
    share = noise[int(low * len(noise)) : int(high * len(noise))]
    if len(share) <= samples:
        return np.resize(share, samples).astype(np.float32) if len(share) else np.zeros(samples, np.float32)
    start = int(rng.integers(0, len(share) - samples))
    return share[start : start + samples]


def _mix_split(config: SeConfig, split: str, clean_files: list[Path], noises: list[np.ndarray], bar: tqdm):
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, SPLITS.index(split), 0x5F]))
    samples = config.clip_samples
    clean = np.zeros((len(clean_files), samples), dtype=np.float32)
    noisy = np.zeros_like(clean)
    snrs = np.zeros(len(clean_files), dtype=np.float64)
    for index, path in enumerate(clean_files):
        audio = read_audio(path)
        start = int(rng.integers(0, len(audio) - samples + 1)) if len(audio) > samples else 0
        window = fit_length(audio[start:], samples)
        if rms(window) == 0:
            raise DataError(f"{path} is silent; remove it from {CLEAN}/")
        window *= 10 ** (rng.uniform(*config.speech_dbfs) / 20) / rms(window)
        noise = _noise_stretch(rng, noises, split, samples)
        snr = float(rng.uniform(*config.snr_db))
        mixture = window + noise_for_snr(window, noise, snr) if rms(noise) > 0 else window.copy()
        peak = float(np.abs(mixture).max())
        if peak > 0.99:  # scale both together: the SNR is unchanged
            window *= 0.99 / peak
            mixture *= 0.99 / peak
        clean[index], noisy[index], snrs[index] = _to_16_bit(window), _to_16_bit(mixture), snr
        bar.update(1)
    return clean, noisy, snrs, [NOISE] * len(clean_files)


def load_se_folders(root: PathLike, config: SeConfig = SeConfig(), cache_dir: Optional[PathLike] = None, progress: bool = True) -> SeData:
    """SE mixtures of ``root/clean`` and ``root/noise``, cached per content and recipe.

    ``config.train_clips``/``eval_clips`` are unused: every clean file gives one mixture.
    """
    root = Path(root).expanduser()
    splits, noise_files = scan_se_folders(root)
    key = {
        "kind": "se-folders",
        "version": SE_FOLDERS_VERSION,
        "content": _content_key([path for split in SPLITS for path in splits[split]] + noise_files, root),
        "splits": {split: len(splits[split]) for split in SPLITS},
        "config": asdict(config) | {"train_clips": None, "eval_clips": None},
    }
    recipe = json.dumps(key, sort_keys=True)
    path = cache_root(cache_dir) / f"se-folders-{fingerprint(key)}.pt"
    if path.is_file():
        check_cached_load(path, f"the cached mixtures of {root}", "free memory, or use a shorter --clip-seconds")
    cached = load_se_cache(path, recipe, config)
    if cached is not None:
        return cached
    total = sum(len(files) for files in splits.values())
    check_count_fits(
        "--clip-seconds", config.clip_samples, lambda samples: se_generation_bytes(total, samples),
        f"mixing {total:,} clean files of {root}", shown=clip_seconds_text(SAMPLE_RATE), smallest=SAMPLE_RATE // 100,
        fallback="free memory, or use fewer clean files",
    )
    check_disk(se_cache_bytes(total, config.clip_samples), path.parent, f"caching the mixtures of {total:,} clean files", "free space there, or set GHOSTRNN_CACHE to a larger disk")
    with tqdm(total=total + len(noise_files), desc=f"mixing {root.name}", unit="file", disable=not progress, dynamic_ncols=True) as bar:
        noises = []
        for noise_path in noise_files:
            noises.append(read_audio(noise_path))
            bar.update(1)
        raw = {split: _mix_split(config, split, splits[split], noises, bar) for split in SPLITS}
    return save_se_cache(path, recipe, se_data_from_mixtures(raw, config))

"""How much memory and disk the training data takes, checked before any is made or loaded.

``--utterances-per-class 1000000`` asks for 16.8 million synthetic clips: hundreds of GB
while they are made. Instead of running until the kernel kills the process, every loader
estimates what it needs from its settings and refuses in one line, naming the option, the
estimate, what this machine has, and the largest value that fits.

The estimates are linear in the clip count, with constants measured on the real loaders
(peak resident memory of generation and of loading the cache, at two sizes each:
``benchmarks/data_footprint.py``). They are meant to tell 2 GB from 600 GB, not to the
last megabyte: a run refused here could not have finished, and one let through may still
meet a machine that is busy with other work.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from search._errors import DataError

# Working memory of one mixing batch, per audio sample in the batch: the float32
# waveforms, the STFT and the mel/MFCC intermediates (the KWS corpus mixes 1024 clips at a
# time, a class folder 2048).
BATCH_BYTES_PER_SAMPLE = 32
# The synthesized words of the whole corpus are held while it is mixed (int16 speech and
# the synthesizer's transfer copies), per clip.
WORD_BYTES_PER_CLIP = 36_000
# Features are held as the split tensors, their concatenation and the cache's serialised copy.
FEATURE_COPIES = 3
# SE mixtures while they are made, per sample of a clip: clean, noise and noisy waveforms,
# their STFT, the log magnitudes and the serialised cache.
SE_GENERATION_BYTES_PER_SAMPLE = 42
# Loading a cache file holds its bytes, the unpickled tensors and the normalised copy
# (measured 2.4-2.8 times the file).
CACHED_LOAD_FACTOR = 3
# A process that trains: Python, torch and the tool's modules (measured ~0.25 GB).
PROCESS_BYTES = 300_000_000
# What is read per clip besides the features in a cache file: label, speaker, word.
RECORD_BYTES_PER_CLIP = 64


@dataclass(frozen=True)
class MemoryInfo:
    """Memory this process may use now, and where that figure came from."""

    available_bytes: int
    source: str


def available_memory() -> Optional[MemoryInfo]:
    """``MemAvailable`` of /proc/meminfo (what can be allocated without swapping), else
    the free physical pages (``os.sysconf``); None where neither is known."""
    try:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return MemoryInfo(int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo")
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    if pages <= 0 or size <= 0:
        return None
    return MemoryInfo(pages * size, "free physical memory (sysconf)")


def gigabytes(count: float) -> str:
    """``12.3 GB`` (SI, as ``free -g --si`` and disk tools show it)."""
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.0f} MB"


def kws_generation_bytes(clips: int, clip_samples: int, feature_bytes: int, batch: int, words: bool, helpers: int = 0) -> int:
    """Peak memory of making KWS features: one mixing batch, the words, the features; and
    for each mixing helper process (``search.data._mixing``) its own batch and words."""
    batch_bytes = BATCH_BYTES_PER_SAMPLE * min(batch, clips) * clip_samples
    word_bytes = clips * WORD_BYTES_PER_CLIP if words else 0
    # Every mixing process holds a batch and the words; only the calling one the features.
    return (1 + helpers) * (batch_bytes + word_bytes) + clips * FEATURE_COPIES * feature_bytes


def kws_cache_bytes(clips: int, feature_bytes: int) -> int:
    return clips * (feature_bytes + RECORD_BYTES_PER_CLIP)


def se_generation_bytes(clips: int, clip_samples: int) -> int:
    return SE_GENERATION_BYTES_PER_SAMPLE * clips * clip_samples


def se_cache_bytes(clips: int, clip_samples: int) -> int:
    # int16 clean and noisy waveforms, float32 log magnitudes (129 bins per 128-sample hop).
    return clips * (4 * clip_samples + 4 * 129 * (1 + clip_samples // 128) + RECORD_BYTES_PER_CLIP)


def check_memory(needed: int, what: str, fix: str) -> None:
    """A DataError when ``needed`` bytes exceed the memory available now."""
    memory = available_memory()
    if memory is None or needed <= memory.available_bytes:
        return
    raise DataError(f"{what} needs about {gigabytes(needed)} of memory, and {gigabytes(memory.available_bytes)} is available ({memory.source}); {fix}")


def check_disk(needed: int, directory: Path, what: str, fix: str) -> None:
    """A DataError when ``needed`` bytes exceed the free space of ``directory``'s disk."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if needed > free:
        raise DataError(f"{what} needs about {gigabytes(needed)} of disk in {directory}, and {gigabytes(free)} is free there; {fix}")


def largest_fitting(requested: int, needed: Callable[[int], int], limit: int) -> int:
    """The largest count in [0, requested] whose need is within ``limit`` (needs grow with the count)."""
    low, high = 0, requested
    while low < high:
        middle = (low + high + 1) // 2
        if needed(middle) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def two_digits(count: int) -> int:
    """``count`` rounded down to two significant digits (33127 -> 33000): a value to type."""
    if count < 100:
        return count
    scale = 10 ** (len(str(count)) - 2)
    return count // scale * scale


def check_count_fits(
    option: str,
    requested: int,
    needed: Callable[[int], int],
    what: str,
    shown: Callable[[int], str] = str,
    smallest: int = 1,
    fallback: str = "free memory, or use a machine with more",
) -> None:
    """Refuse ``option`` at ``requested`` when ``needed(requested)`` bytes exceed the
    available memory, naming the largest value of the option that fits.

    ``shown`` writes a count as the option is typed (``--clip-seconds`` counts samples);
    ``fallback`` is the fix when not even ``smallest`` fits.
    """
    memory = available_memory()
    total = needed(requested)
    if memory is None or total <= memory.available_bytes:
        return
    fits = two_digits(largest_fitting(requested, needed, memory.available_bytes))
    fix = f"use {option} {shown(fits)} or less" if fits >= smallest else fallback
    raise DataError(
        f"{option} {shown(requested)}: {what} needs about {gigabytes(total)} of memory, and "
        f"{gigabytes(memory.available_bytes)} is available ({memory.source}); {fix}"
    )


def clip_seconds_text(sample_rate: int) -> Callable[[int], str]:
    """Writes a clip length in samples as ``--clip-seconds`` takes it."""
    return lambda samples: f"{samples / sample_rate:.6g}"


def check_cached_load(path: Path, what: str, fix: str) -> None:
    """Refuse to load a cache file that memory cannot hold."""
    try:
        size = path.stat().st_size
    except OSError:
        return
    check_memory(CACHED_LOAD_FACTOR * size, f"loading {what} ({path}, {gigabytes(size)})", fix)


def check_workers_fit(workers: int, cache_path: Optional[Path]) -> None:
    """Refuse ``--workers N`` when N training processes, each holding the data, cannot fit."""
    data = 0
    if cache_path is not None:
        try:
            data = CACHED_LOAD_FACTOR * cache_path.stat().st_size
        except OSError:
            data = 0
    per_worker = PROCESS_BYTES + data
    check_count_fits(
        "--workers",
        workers,
        lambda count: count * per_worker,
        f"{workers} worker processes, each holding the training data ({gigabytes(per_worker)} each),",
    )

"""A folder of class subfolders of audio clips: which clips there are, their classes and splits.

Layout (Google Speech Commands is one instance; any words work)::

    DIR/yes/0a7c2a8d_nohash_0.wav ...   one folder per word (subfolders allowed), any audio format
    DIR/validation_list.txt             optional: paths relative to DIR, one per line
    DIR/testing_list.txt                optional, together with the validation list
    DIR/_background_noise_/*.wav        optional long noise recordings

Keywords: the ones asked for, else the 10 Speech Commands keywords when all have
clips, else every folder with clips. Other folders with clips are the ``_unknown_``
pool; folders starting with ``_`` or ``.`` are not words.

Splits: with the list files, the listed clips form the validation and test splits
(listed clips that are absent are skipped and counted: a partial copy); without them
the Speech Commands rule: the SHA-1 of the speaker id (the file name before
``_nohash_``, else the whole file name) puts 10 % in validation and 10 % in test, so a
speaker's clips never straddle splits.

Every problem raises :class:`search._errors.DataError` with one line and the fix.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence

from search._errors import DataError
from search.data._audio_files import AUDIO_SUFFIXES, is_audio_file
from search.data._cache import PathLike
from search.data._corpus import KEYWORDS, SILENCE, SPLITS, UNKNOWN

BACKGROUND = "_background_noise_"
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
# The Speech Commands example's split rule (tensorflow/examples/speech_commands/input_data.py).
_MAX_CLIPS_PER_CLASS = 2**27 - 1
VALIDATION_PERCENT = 10.0
TEST_PERCENT = 10.0
_LAYOUT = "DIR/<word>/*.wav, one folder per word"


@dataclass(frozen=True)
class FolderLayout:
    """The clips of a class-folder dataset, sorted into splits (relative POSIX paths)."""

    root: Path
    keywords: tuple[str, ...]
    unknown_words: tuple[str, ...]
    files: dict[str, list[str]]  # split -> clips of keyword and unknown folders
    background: tuple[Path, ...]
    split_rule: str  # "lists", "speaker hash" or "speaker rank" (when the hash leaves a split empty)
    content_key: str  # hash of every clip's path, size and mtime, the lists and the noise files
    notes: tuple[str, ...] = field(default=())
    split_notes: tuple[str, ...] = field(default=())  # about the splits only

    def word_of(self, relative: str) -> str:
        return relative.split("/", 1)[0]


def speaker_of(relative: str) -> str:
    """The speaker id of ``word/SPEAKER_nohash_N.wav`` (the whole file name without ``_nohash_``)."""
    return re.sub(r"_nohash_.*$", "", PurePosixPath(relative).name)


def hash_split(relative: str) -> str:
    """The split the Speech Commands rule gives a clip, from its speaker id alone."""
    digest = int(hashlib.sha1(speaker_of(relative).encode("utf-8")).hexdigest(), 16)
    percent = (digest % (_MAX_CLIPS_PER_CLASS + 1)) * (100.0 / _MAX_CLIPS_PER_CLASS)
    if percent < VALIDATION_PERCENT:
        return "validation"
    if percent < VALIDATION_PERCENT + TEST_PERCENT:
        return "test"
    return "train"


def speaker_rank_split(clips: list[str], root: Path, by_hash: dict[str, str]) -> tuple[dict[str, str], str]:
    """Speakers ranked by their hash, the last 10 % (at least one) to test, the 10 % before to validation.

    For a folder the hash rule leaves a split empty: a few speakers, or one split of
    Speech Commands itself (its test files all hash to test).
    """
    empty = [split for split in SPLITS if split not in by_hash.values()]
    speakers = sorted({speaker_of(relative) for relative in clips}, key=lambda name: hashlib.sha1(name.encode("utf-8")).hexdigest())
    if len(speakers) < len(SPLITS):
        return by_hash, f"the speaker hash rule gives no clips to {', '.join(empty)} and {root} has only {len(speakers)} speaker(s)"
    held_out = max(1, round(len(speakers) * TEST_PERCENT / 100))
    validation = max(1, round(len(speakers) * VALIDATION_PERCENT / 100))
    rank = {speaker: number for number, speaker in enumerate(speakers)}
    first_test, first_validation = len(speakers) - held_out, len(speakers) - held_out - validation

    def split(relative: str) -> str:
        number = rank[speaker_of(relative)]
        return "test" if number >= first_test else "validation" if number >= first_validation else "train"

    line = (
        f"the speaker hash rule gives no clips to {', '.join(empty)} (few speakers, or one Speech Commands split, whose speakers hash alike); "
        f"split by speaker instead: {first_validation}/{validation}/{held_out} of {len(speakers)} speakers to train/validation/test"
    )
    return {relative: split(relative) for relative in clips}, line


def parse_keywords(text: Optional[str]) -> Optional[list[str]]:
    """``"yes, no"`` -> ``["yes", "no"]``; None or empty -> None (the default rule)."""
    if text is None or not text.strip():
        return None
    words = [word.strip() for word in text.split(",") if word.strip()]
    for word in words:
        if word in (SILENCE, UNKNOWN) or word.startswith(("_", ".")) or "/" in word:
            raise DataError(f"--keywords: {word!r} is not a word folder name; {SILENCE} and {UNKNOWN} are added by the tool")
    duplicates = sorted({word for word in words if words.count(word) > 1})
    if duplicates:
        raise DataError(f"--keywords names {', '.join(duplicates)} twice; list each word once")
    return words


def _clips_of(folder: Path, root: Path, stats: list[str]) -> list[str]:
    """Audio files under ``folder`` (any depth), sorted, relative to ``root``; records their stats."""
    found = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        for name in names:
            path = Path(directory) / name
            if is_audio_file(path):
                relative = path.relative_to(root).as_posix()
                stat = path.stat()
                found.append(relative)
                stats.append(f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}")
    return sorted(found)


def _read_list(root: Path, name: str) -> list[str]:
    entries = []
    for number, line in enumerate((root / name).read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        entry = line.strip().replace("\\", "/")
        if not entry:
            continue
        parts = PurePosixPath(entry).parts
        if entry.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", entry):
            raise DataError(f"{name} line {number} names {entry}, outside {root}; list paths are relative to the folder, like yes/0a7c2a8d_nohash_0.wav")
        entries.append(PurePosixPath(*parts).as_posix())
    return entries


def scan_folders(root: PathLike, keywords: Optional[Sequence[str]] = None, allow_missing: bool = False) -> FolderLayout:
    """Check ``root`` and sort its clips into classes and splits; raises DataError.

    ``allow_missing``: keywords without clips are noted and left out instead of refused
    (scoring a design on a folder that holds only some of its words).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist; point --data-dir at a folder of class folders ({_LAYOUT})")
    stats: list[str] = []
    clips: dict[str, list[str]] = {}
    empty: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith(("_", ".")):
            found = _clips_of(entry, root, stats)
            if found:
                clips[entry.name] = found
            else:
                empty.append(entry.name)
    if not clips:
        raise DataError(f"{root} has no class folders with audio clips ({', '.join(AUDIO_SUFFIXES)}); expected {_LAYOUT}")
    notes: list[str] = []
    split_notes: list[str] = []
    if keywords is None:
        chosen = list(KEYWORDS) if all(word in clips for word in KEYWORDS) else sorted(clips)
    else:
        chosen = list(keywords)
        absent = [word for word in chosen if word not in clips]
        if allow_missing and absent and len(absent) < len(chosen):
            notes.append(f"keyword(s) without clips in {root}, not scored: {', '.join(absent)}")
            chosen = [word for word in chosen if word in clips]
        for word in chosen:
            if word not in clips:
                where = f"{root / word} holds no audio clips" if (root / word).is_dir() else f"{root} has no folder {word}/"
                raise DataError(f"keyword {word!r} has no clips: {where}; folders with clips: {', '.join(sorted(clips))}")
    if empty:
        notes.append(f"ignored {len(empty)} folder(s) without audio clips: {', '.join(empty)}")
    unknown = tuple(sorted(word for word in clips if word not in chosen))
    background = ()
    if (root / BACKGROUND).is_dir():
        background = tuple(path for path in sorted((root / BACKGROUND).iterdir()) if path.is_file() and is_audio_file(path))
    for path in background:
        stat = path.stat()
        stats.append(f"{BACKGROUND}/{path.name}\t{stat.st_size}\t{stat.st_mtime_ns}")

    present = [name for name in LIST_FILES.values() if (root / name).is_file()]
    if len(present) == 1:
        missing = next(name for name in LIST_FILES.values() if name not in present)
        raise DataError(f"{root} has {present[0]} but no {missing}; add it, or remove both to split by speaker")
    split_of: dict[str, str] = {}
    if present:
        listed_total = absent = 0
        everything = {relative for relatives in clips.values() for relative in relatives}
        for split, name in LIST_FILES.items():
            entries = _read_list(root, name)
            listed_key = hashlib.sha256("\n".join(entries).encode("utf-8")).hexdigest()
            stats.append(f"{name}\t{listed_key}")
            for entry in entries:
                listed_total += 1
                if entry not in everything:
                    absent += 1
                else:
                    split_of.setdefault(entry, split)
        if absent:
            split_notes.append(f"{absent} of {listed_total} clips named in {' and '.join(LIST_FILES.values())} are not in {root} (a partial copy); skipped")
    everything = [relative for word in sorted(clips) for relative in clips[word]]
    rule = "lists" if present else "speaker hash"
    if not present:
        split_of = {relative: hash_split(relative) for relative in everything}
        if len(set(split_of.values())) < len(SPLITS):
            split_of, line = speaker_rank_split(everything, root, split_of)
            split_notes.append(line)
            rule = "speaker rank"
    files: dict[str, list[str]] = {split: [] for split in SPLITS}
    for relative in everything:
        files[split_of.get(relative, "train")].append(relative)
    content_key = hashlib.sha256("\n".join(sorted(stats)).encode("utf-8")).hexdigest()
    return FolderLayout(
        root=root,
        keywords=tuple(chosen),
        unknown_words=unknown,
        files=files,
        background=background,
        split_rule=rule,
        content_key=content_key,
        notes=tuple(notes),
        split_notes=tuple(split_notes),
    )

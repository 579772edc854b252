"""The Speech Commands loader on a small copy of its layout written by the test."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from search.data import KEYWORDS, SILENCE, UNKNOWN
from search.data import load_kws_data
from search._errors import DataError
from search.data._speech_commands import V2_WORDS, read_wav, scan_layout
from search.data import load_speech_commands

UNKNOWN_FOLDERS = ("bed", "cat", "dog")


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.clip(samples * 32767, -32768, 32767).astype("<i2").tobytes())


def make_copy(root: Path, words: tuple[str, ...], per_word: dict[str, int], background: bool = True) -> Path:
    """Word folders with clips from speakers s0.., the last two speakers in val / test lists."""
    rng = np.random.default_rng(0)
    validation, testing = [], []
    for word in words:
        count = per_word.get(word, 5)
        for speaker in range(count):
            # Lengths vary: short clips are padded, long ones cut to 1 s.
            length = int(rng.integers(9000, 17000))
            tone = 0.3 * np.sin(2 * np.pi * (200 + 40 * len(word)) * np.arange(length) / 16000)
            relative = f"{word}/s{speaker}_nohash_0.wav"
            write_wav(root / relative, tone + 0.01 * rng.standard_normal(length))
            if speaker == count - 2:
                validation.append(relative)
            elif speaker == count - 1:
                testing.append(relative)
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    if background:
        write_wav(root / "_background_noise_" / "white_noise.wav", 0.2 * rng.standard_normal(3 * 16000))
    return root


@pytest.fixture()
def v1_copy(tmp_path: Path) -> Path:
    # Keywords: 5 clips (3 train, 1 validation, 1 test); unknown words: 8 (6, 1, 1).
    return make_copy(tmp_path / "sc", KEYWORDS + UNKNOWN_FOLDERS, {word: 8 for word in UNKNOWN_FOLDERS})


def test_twelve_class_counts_per_split_and_class(v1_copy: Path, tmp_path: Path) -> None:
    data = load_speech_commands(v1_copy, "mfcc10", cache_dir=tmp_path / "cache", progress=False)
    assert data.class_names == (*KEYWORDS, SILENCE, UNKNOWN)
    expected_known = {"train": 3, "validation": 1, "test": 1}
    for split, known in expected_known.items():
        labels = data.splits[split].labels
        counts = torch.bincount(labels, minlength=12).tolist()
        keyword_clips = known * len(KEYWORDS)
        extra = math.ceil(0.1 * keyword_clips)  # silence and unknown: 10 % of keyword clips
        assert counts[:10] == [known] * 10, split
        assert counts[10] == extra and counts[11] == extra, split
        assert data.splits[split].features.shape == (keyword_clips + 2 * extra, 49, 10)
    # Unknown clips come from the other words; the validation list decides the split.
    unknown = [word for word, label in zip(data.splits["train"].words, data.splits["train"].labels.tolist()) if label == 11]
    assert all(path.split("/")[0] in UNKNOWN_FOLDERS for path in unknown)
    validation_files = set((v1_copy / "validation_list.txt").read_text().split())
    assert {w for w in data.splits["validation"].words if w} <= validation_files
    assert not {w for w in data.splits["train"].words if w} & validation_files


def test_features_are_cached_and_normalised_with_training_statistics(v1_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_kws_data("mfcc10", data_dir=v1_copy, cache_dir=cache, progress=False)
    assert first.cache_path is not None and first.cache_path.is_file()
    second = load_kws_data("mfcc10", data_dir=v1_copy, cache_dir=cache, progress=False)
    assert torch.equal(first.train.features, second.train.features)
    frames = first.train.features.reshape(-1, 10)
    torch.testing.assert_close(frames.mean(dim=0), torch.zeros(10), atol=1e-4, rtol=0)
    torch.testing.assert_close(frames.std(dim=0), torch.ones(10), atol=1e-3, rtol=0)
    assert first.num_classes == 12 and first.source.startswith("speech-commands:")


def test_thirty_five_class_setup(tmp_path: Path) -> None:
    root = make_copy(tmp_path / "v2", V2_WORDS, {}, background=False)
    data = load_speech_commands(root, "logmel40", setup="35", cache_dir=tmp_path / "cache", progress=False)
    assert data.class_names == V2_WORDS
    for split, per_word in {"train": 3, "validation": 1, "test": 1}.items():
        assert torch.bincount(data.splits[split].labels, minlength=35).tolist() == [per_word] * 35
        assert data.splits[split].features.shape[1:] == (49, 40)


def test_thirty_five_classes_need_version_two(v1_copy: Path) -> None:
    with pytest.raises(DataError, match="needs Speech Commands v2"):
        scan_layout(v1_copy, "35")


def test_read_wav_gives_float_samples(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", np.full(100, 0.5))
    audio = read_wav(tmp_path / "a.wav")
    assert audio.dtype == np.float32 and len(audio) == 100
    assert float(audio[0]) == pytest.approx(0.5, abs=1e-4)


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_directory_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        load_kws_data(data_dir=tmp_path / "nowhere", cache_dir=tmp_path / "cache", progress=False)
    message = _one_line(error)
    assert "does not exist" in message and "validation_list.txt" in message


def test_malformed_copies_are_data_errors(v1_copy: Path, tmp_path: Path) -> None:
    (v1_copy / "testing_list.txt").rename(v1_copy / "moved.txt")
    with pytest.raises(DataError, match="no testing_list.txt") as error:
        scan_layout(v1_copy)
    _one_line(error)
    (v1_copy / "moved.txt").rename(v1_copy / "testing_list.txt")

    with (v1_copy / "validation_list.txt").open("a") as handle:
        handle.write("yes/ghost_nohash_0.wav\n")
    with pytest.raises(DataError, match="names yes/ghost_nohash_0.wav"):
        scan_layout(v1_copy)


def test_missing_keyword_folder_and_background_are_data_errors(tmp_path: Path) -> None:
    partial = make_copy(tmp_path / "partial", KEYWORDS[:8], {})
    with pytest.raises(DataError, match="lacks the word folder\\(s\\) stop, go"):
        scan_layout(partial)
    quiet = make_copy(tmp_path / "quiet", KEYWORDS, {}, background=False)
    with pytest.raises(DataError, match="_background_noise_"):
        scan_layout(quiet)


def test_wrong_sample_rate_is_a_data_error(v1_copy: Path, tmp_path: Path) -> None:
    write_wav(v1_copy / "yes" / "s0_nohash_0.wav", np.zeros(8000), rate=8000)
    with pytest.raises(DataError, match="8000 Hz") as error:
        load_speech_commands(v1_copy, cache_dir=tmp_path / "cache", progress=False)
    _one_line(error)

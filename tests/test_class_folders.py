"""--data-dir: class-folder datasets the tests write (Speech Commands layout, own words, any WAV format)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from search._errors import DataError
from search.cli import main
from search.data import (
    KEYWORDS,
    SILENCE,
    UNKNOWN,
    hash_split,
    load_folder_dataset,
    load_kws_data,
    read_audio,
    scan_folders,
)

UNKNOWN_FOLDERS = ("bed", "cat", "dog")
V2_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on",
    "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up",
    "visual", "wow", "yes", "zero",
)  # fmt: skip


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.clip(samples, -1, 1), rate, subtype=subtype)


def tone(word: str, length: int, rng: np.random.Generator) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * (200 + 40 * len(word)) * np.arange(length) / 16000) + 0.01 * rng.standard_normal(length)


def make_copy(root: Path, words: tuple[str, ...], per_word: dict[str, int], background: bool = True, lists: bool = True) -> Path:
    """Word folders with clips from speakers s0.., the last two speakers in val / test lists."""
    rng = np.random.default_rng(0)
    validation, testing = [], []
    for word in words:
        count = per_word.get(word, 5)
        for speaker in range(count):
            # Lengths vary: short clips are padded, long ones cut to 1 s.
            relative = f"{word}/s{speaker}_nohash_0.wav"
            write_wav(root / relative, tone(word, int(rng.integers(9000, 17000)), rng))
            if speaker == count - 2:
                validation.append(relative)
            elif speaker == count - 1:
                testing.append(relative)
    if lists:
        (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
        (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    if background:
        write_wav(root / "_background_noise_" / "white_noise.wav", 0.2 * rng.standard_normal(3 * 16000))
    return root


def make_digits(root: Path, words=("zero", "one", "two", "three"), speakers: int = 30) -> Path:
    """Own words without list files: hashed speaker ids, two clips each."""
    rng = np.random.default_rng(1)
    for word in words:
        for speaker in range(speakers):
            for take in range(2):
                write_wav(root / word / f"spk{speaker:03d}_nohash_{take}.wav", tone(word, 16000, rng))
    return root


@pytest.fixture()
def v1_copy(tmp_path: Path) -> Path:
    # Keywords: 5 clips (3 train, 1 validation, 1 test); unknown words: 8 (6, 1, 1).
    return make_copy(tmp_path / "sc", KEYWORDS + UNKNOWN_FOLDERS, {word: 8 for word in UNKNOWN_FOLDERS})


def test_twelve_class_counts_per_split_and_class(v1_copy: Path, tmp_path: Path) -> None:
    data = load_folder_dataset(v1_copy, "mfcc10", cache_dir=tmp_path / "cache", progress=False)
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
    assert any("1 recording(s) of _background_noise_/" in note for note in data.notes)


def test_features_are_cached_by_content_and_normalised_with_training_statistics(v1_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_kws_data("mfcc10", data_dir=v1_copy, cache_dir=cache, progress=False)
    assert first.cache_path is not None and first.cache_path.is_file()
    written = first.cache_path.stat().st_mtime_ns
    second = load_kws_data("mfcc10", data_dir=v1_copy, cache_dir=cache, progress=False)
    assert second.cache_path == first.cache_path and first.cache_path.stat().st_mtime_ns == written  # read, not rebuilt
    assert torch.equal(first.train.features, second.train.features)
    frames = first.train.features.reshape(-1, 10)
    torch.testing.assert_close(frames.mean(dim=0), torch.zeros(10), atol=1e-4, rtol=0)
    torch.testing.assert_close(frames.std(dim=0), torch.ones(10), atol=1e-3, rtol=0)
    assert first.num_classes == 12 and first.source.startswith("class-folders:")
    # A changed clip is new content: a new cache file.
    write_wav(v1_copy / "yes" / "s0_nohash_0.wav", np.zeros(16000))
    third = load_kws_data("mfcc10", data_dir=v1_copy, cache_dir=cache, progress=False)
    assert third.cache_path != first.cache_path


def test_every_word_as_its_own_class(tmp_path: Path) -> None:
    root = make_copy(tmp_path / "v2", V2_WORDS, {}, background=False)
    data = load_folder_dataset(root, "logmel40", keywords=V2_WORDS, cache_dir=tmp_path / "cache", progress=False)
    assert data.class_names == (*V2_WORDS, SILENCE)  # no other words: no unknown class
    for split, per_word in {"train": 3, "validation": 1, "test": 1}.items():
        counts = torch.bincount(data.splits[split].labels, minlength=36).tolist()
        assert counts[:35] == [per_word] * 35 and counts[35] == math.ceil(0.1 * 35 * per_word)
        assert data.splits[split].features.shape[1:] == (49, 40)
    assert any("synthetic white/pink/brown noise" in note for note in data.notes)


def test_partial_copy_skips_and_counts_listed_clips_that_are_absent(v1_copy: Path, tmp_path: Path) -> None:
    for relative in ("yes/s3_nohash_0.wav", "no/s4_nohash_0.wav", "bed/s6_nohash_0.wav"):  # listed ones
        (v1_copy / relative).unlink()
    for word in ("left", "right"):  # whole folders missing
        for path in (v1_copy / word).iterdir():
            path.unlink()
        (v1_copy / word).rmdir()
    data = load_kws_data("mfcc10", data_dir=v1_copy, keywords=["yes", "no", "up", "down"], cache_dir=tmp_path / "cache", progress=False)
    assert data.class_names == ("yes", "no", "up", "down", SILENCE, UNKNOWN)
    assert "7 of 26 clips named in validation_list.txt and testing_list.txt are not in" in " ".join(data.notes)
    assert torch.bincount(data.validation.labels, minlength=6).tolist()[:4] == [0, 1, 1, 1]
    assert torch.bincount(data.test.labels, minlength=6).tolist()[:4] == [1, 0, 1, 1]
    # Without --keywords the 10 Speech Commands words are not all there: every folder is a class.
    every = load_kws_data("mfcc10", data_dir=v1_copy, cache_dir=tmp_path / "cache", progress=False)
    assert every.class_names == tuple(sorted(set(KEYWORDS + UNKNOWN_FOLDERS) - {"left", "right"})) + (SILENCE,)


def test_own_words_split_by_speaker_hash(tmp_path: Path) -> None:
    root = make_digits(tmp_path / "digits")
    data = load_folder_dataset(root, "mfcc10", keywords=["one", "two"], cache_dir=tmp_path / "cache", progress=False)
    assert data.class_names == ("one", "two", SILENCE, UNKNOWN)
    speakers = {}
    for split in ("train", "validation", "test"):
        for relative in data.splits[split].words:
            if relative:
                assert hash_split(relative) == split
                speakers.setdefault(relative.split("/")[1].split("_nohash_")[0], set()).add(split)
        assert len(data.splits[split].labels) > 0
    assert all(len(splits) == 1 for splits in speakers.values())  # no speaker straddles splits
    unknown = [w for w, label in zip(data.splits["train"].words, data.splits["train"].labels.tolist()) if label == 3]
    assert unknown and {w.split("/")[0] for w in unknown} <= {"zero", "three"}
    assert "split by the speaker hash rule (no list files)" in data.notes[0]


def test_speaker_rank_split_when_the_hash_leaves_a_split_empty(tmp_path: Path) -> None:
    # Speakers whose ids all hash to train: the rule would leave validation and test empty.
    rng = np.random.default_rng(2)
    names = [f"p{number}" for number in range(200) if hash_split(f"p{number}_nohash_0.wav") == "train"][:10]
    for word in ("yes", "no"):
        for name in names:
            write_wav(tmp_path / "own" / word / f"{name}_nohash_0.wav", tone(word, 8000, rng))
    layout = scan_folders(tmp_path / "own")
    assert layout.split_rule == "speaker rank"
    assert [len(layout.files[split]) for split in ("train", "validation", "test")] == [16, 2, 2]
    assert "8/1/1 of 10 speakers" in layout.split_notes[-1]


@pytest.mark.parametrize(
    ("rate", "channels", "subtype"),
    [(8000, 1, "PCM_U8"), (44100, 2, "PCM_24"), (48000, 2, "PCM_24"), (22050, 1, "FLOAT"), (16000, 2, "PCM_32")],
)
def test_any_wav_format_becomes_mono_16k(tmp_path: Path, rate: int, channels: int, subtype: str) -> None:
    seconds = np.arange(rate) / rate
    sine = 0.5 * np.sin(2 * np.pi * 440 * seconds)
    samples = np.stack([sine, sine * 0.5], axis=1) if channels == 2 else sine  # stereo: mono is the mean
    write_wav(tmp_path / "a.wav", samples, rate, subtype)
    audio = read_audio(tmp_path / "a.wav")
    assert audio.dtype == np.float32 and len(audio) == 16000
    expected = (0.375 if channels == 2 else 0.5) * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    middle = slice(800, 15200)  # the resampler's edges aside
    assert np.max(np.abs(audio[middle] - expected[middle])) < (0.01 if subtype != "PCM_U8" else 0.02)
    spectrum = np.abs(np.fft.rfft(audio))
    assert int(np.argmax(spectrum)) == 440  # 1 Hz bins


def test_mixed_formats_and_clip_length_in_one_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    root = tmp_path / "mixed"
    formats = [(8000, "PCM_16"), (44100, "PCM_24"), (48000, "PCM_24")]
    for word in ("hey", "stop"):
        for speaker in range(12):
            rate, subtype = formats[speaker % 3]
            stereo = np.stack([tone(word, rate, rng)] * 2, axis=1)
            write_wav(root / word / f"u{speaker}_nohash_0.wav", stereo, rate, subtype)
    data = load_kws_data("mfcc10", data_dir=root, clip_seconds=1.5, cache_dir=tmp_path / "cache", progress=False)
    assert data.class_names == ("hey", "stop", SILENCE)
    assert data.train.features.shape[1:] == (1 + (24000 - 640) // 320, 10)


def test_empty_folder_is_ignored_and_one_class_folder_works(tmp_path: Path) -> None:
    root = make_digits(tmp_path / "one", words=("marvin",), speakers=12)
    (root / "empty").mkdir()
    data = load_kws_data("mfcc10", data_dir=root, cache_dir=tmp_path / "cache", progress=False)
    assert data.class_names == ("marvin", SILENCE)
    assert any("ignored 1 folder(s) without audio clips: empty" in note for note in data.notes)
    with pytest.raises(DataError, match=r"keyword 'empty' has no clips: .*empty holds no audio clips"):
        load_kws_data("mfcc10", data_dir=root, keywords=["marvin", "empty"], cache_dir=tmp_path / "cache", progress=False)


def _refused(args: list[str], out: Path, capsys) -> str:
    """Runs the CLI, expects exit 2 with one error line and no run folder left behind."""
    code = main(["run", "--device", "cortex-m7", "--budget", "50KB", "--trials", "1", "--space", "kws-small", "--epochs", "1", "--workers", "1", "--out", str(out), "--no-progress", *args])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.count("\n") == 0 and error.startswith("search: error: "), error
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    return error


def test_bad_folders_are_refused_before_any_study_exists(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs"
    (tmp_path / "nothing" / "notes").mkdir(parents=True)
    (tmp_path / "nothing" / "notes" / "readme.txt").write_text("x")
    assert "has no class folders with audio clips" in _refused(["--data-dir", str(tmp_path / "nothing")], out, capsys)

    root = make_digits(tmp_path / "digits", speakers=12)
    assert "keyword 'eleven' has no clips" in _refused(["--data-dir", str(root), "--keywords", "one,eleven"], out, capsys)
    assert "is not a word folder name" in _refused(["--data-dir", str(root), "--keywords", "one,_silence_"], out, capsys)

    (root / "validation_list.txt").write_text("one/spk000_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("../elsewhere/x.wav\n")
    assert "testing_list.txt line 1 names ../elsewhere/x.wav, outside" in _refused(["--data-dir", str(root)], out, capsys)
    (root / "testing_list.txt").unlink()
    assert "has validation_list.txt but no testing_list.txt" in _refused(["--data-dir", str(root)], out, capsys)
    (root / "validation_list.txt").unlink()

    (root / "two" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    assert "broken.wav is not a readable audio file" in _refused(["--data-dir", str(root)], out, capsys)
    assert "need --data-dir" in _refused(["--keywords", "yes,no"], out, capsys)


def test_partial_speech_commands_copy_runs_a_search(v1_copy: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """A refused run leaves nothing, so the corrected command starts a fresh study."""
    import optuna

    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs"
    (v1_copy / "up" / "s0_nohash_0.wav").write_bytes(b"broken")
    args = ["--data-dir", str(v1_copy), "--keywords", "yes,no,up", "--study", "own"]
    _refused(args, out, capsys)
    write_wav(v1_copy / "up" / "s0_nohash_0.wav", np.zeros(16000))
    (v1_copy / "down" / "s3_nohash_0.wav").unlink()  # listed in validation_list.txt
    code = main(["run", "--device", "cortex-m7", "--budget", "50KB", "--trials", "1", "--space", "kws-small", "--epochs", "1", "--workers", "1", "--out", str(out), *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "5 classes (yes, no, up, _silence_, _unknown_)" in captured.out
    assert "1 of 26 clips named in validation_list.txt and testing_list.txt are not in" in captured.out
    study = optuna.load_study(study_name="own", storage=f"sqlite:///{out / 'own' / 'study.db'}")
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE" and trial.user_attrs["config"]["classes"] == 5
    assert (out / "own" / "report.html").is_file()

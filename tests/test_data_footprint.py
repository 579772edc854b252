"""Data that memory or the cache disk cannot hold is refused in one line before it is
made: the option, the estimate, what the machine has, and the largest value that fits."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import search
from search._errors import DataError
from search.cli._main import main
from search.data import CorpusConfig, SeConfig
from search.data._corpus import MIX_BATCH, corpus_clips, corpus_generation_bytes
from search.data._footprint import (
    CACHED_LOAD_FACTOR,
    PROCESS_BYTES,
    available_memory,
    check_disk,
    kws_cache_bytes,
    kws_generation_bytes,
    se_generation_bytes,
)
from test_class_folders import make_digits

MFCC10_BYTES = 4 * 10 * 49  # one clip's features


def kws_needs(utterances: int) -> int:
    return corpus_generation_bytes(CorpusConfig(utterances_per_class=utterances), MFCC10_BYTES)


def available() -> int:
    memory = available_memory()
    if memory is None:
        pytest.skip("this system tells no available memory (/proc/meminfo or sysconf)")
    return memory.available_bytes


def refusal(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_the_default_corpus_estimate_in_numbers():
    # 12 classes x (1000 + 200 + 200) clips; one mixing batch of 1024 one-second clips at
    # 32 bytes per sample, then 36 kB of words and 3 copies of the 1960-byte features per clip.
    assert corpus_clips(CorpusConfig()) == 16_800
    own = 1024 * 16000 * 32 + 16_800 * (36_000 + 3 * 1960)
    assert kws_generation_bytes(16_800, 16000, MFCC10_BYTES, MIX_BATCH, words=True) == own == 1_227_872_000
    # Two mixing helpers (search.data._mixing) each hold a batch and the words as well.
    assert kws_generation_bytes(16_800, 16000, MFCC10_BYTES, MIX_BATCH, words=True, helpers=2) == own + 2 * (1024 * 16000 * 32 + 16_800 * 36_000)
    assert kws_cache_bytes(16_800, MFCC10_BYTES) == 16_800 * (1960 + 64)  # 34 MB, as the corpus file is (33 MB measured)
    assert kws_needs(1_000_000) > 600e9  # what --utterances-per-class 1000000 asked for, unchecked
    assert se_generation_bytes(500 + 2 * 100, 16000) == 700 * 16000 * 42


@pytest.mark.slow
def test_generation_and_loading_estimates_match_the_real_peak_memory(tmp_path):
    """The loader itself, in a fresh process: its peak resident memory against the estimate."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs /proc/self/status (Linux) for the process's own peak memory")
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so a probe started by a large test
    # process would start at that process's peak and seem to need nothing.
    probe = (
        "import json, re, sys\n"
        "from pathlib import Path\n"
        "from search.data import load_kws_data\n"
        "def peak(): return int(re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text()).group(1)) * 1024\n"
        "before = peak()\n"
        "data = load_kws_data(utterances_per_class=20, cache_dir=sys.argv[1], progress=False)\n"
        "print(json.dumps({'peak': peak() - before, 'file': data.cache_path.stat().st_size}))\n"
    )
    runs = [json.loads(subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, check=True, timeout=300).stdout) for _ in range(2)]
    made, loaded = runs
    # benchmarks/data_footprint.py: x0.95 to x1.10 of this process's peak at 20-100 per
    # class (the synthesis helpers, ~280 MB at this size, are outside the estimate).
    assert 0.75 <= kws_needs(20) / made["peak"] <= 1.33, (kws_needs(20), made)
    assert loaded["peak"] <= CACHED_LOAD_FACTOR * loaded["file"] + 16e6, loaded


def test_a_corpus_too_big_for_memory_is_refused_before_any_study(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    limit = available()
    if kws_needs(1_000_000) <= limit:
        pytest.skip("this machine could hold a million utterances per class")
    out = tmp_path / "runs"
    line = refusal(capsys, ["run", "--device", "cortex-m7", "--budget", "100KB", "--utterances-per-class", "1000000", "--out", str(out)])
    assert line.startswith("search: error: --utterances-per-class 1000000: generating the synthetic corpus (16,800,000 clips) needs about ")
    shown = float(re.search(r"needs about ([\d.]+) GB of memory", line).group(1))
    assert shown == pytest.approx(kws_needs(1_000_000) / 1e9, abs=0.1)
    assert re.search(r"and [\d.]+ GB is available \(MemAvailable in /proc/meminfo\)", line), line
    fits = int(re.search(r"use --utterances-per-class (\d+) or less$", line).group(1))
    assert kws_needs(fits) <= limit * 1.05 and kws_needs(2 * fits) > limit * 0.95  # the largest, within memory that moved meanwhile
    assert not out.exists() or not any(out.iterdir())  # no study holds the size that was refused

    line = refusal(capsys, ["run", "--task", "se", "--device", "cortex-m7", "--budget", "200KB", "--utterances-per-class", "1000000", "--out", str(out)])
    assert "--utterances-per-class 1000000: generating the SE mixtures (1,000,200 clips) needs about 672.1 GB of memory" in line


def test_more_workers_than_memory_holds_are_refused_before_they_start(tmp_path, cache_dir, monkeypatch):
    from search.training import Fidelity

    monkeypatch.setenv("GHOSTRNN_CACHE", str(cache_dir))
    if 256 * PROCESS_BYTES <= available():
        pytest.skip("this machine could hold 256 workers")
    with pytest.raises(DataError, match=r"^--workers 256: 256 worker processes, each holding the training data \(0\.3 GB each\), needs about 7\d\.\d GB of memory, .* use --workers \d+ or less$"):
        search.run(device="cortex-m7", budget="100KB", space="kws-small", trials=4, utterances_per_class=20, fidelity=Fidelity(epochs=1), workers=256, out=tmp_path, progress=False)


def test_clips_too_long_for_memory_are_refused_naming_clip_seconds(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    available()
    root = make_digits(tmp_path / "digits", speakers=12)
    line = refusal(capsys, ["run", "--device", "cortex-m7", "--budget", "100KB", "--space", "kws-small", "--workers", "1", "--data-dir", str(root), "--clip-seconds", "100000", "--out", str(tmp_path / "runs")])
    assert re.match(rf"search: error: --clip-seconds 100000: reading \d+ clips of {re.escape(str(root))} needs about [\d.]+ GB of memory", line), line
    assert re.search(r"use --clip-seconds [\d.e+]+ or less$", line), line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_cache_disk_without_room_is_refused(tmp_path):
    import shutil

    free = shutil.disk_usage(tmp_path).free
    check_disk(1, tmp_path, "caching", "free space")
    with pytest.raises(DataError, match=rf"^caching needs about [\d.]+ GB of disk in {re.escape(str(tmp_path))}, and [\d.]+ GB is free there; free space$"):
        check_disk(free + 10**9, tmp_path, "caching", "free space")


def test_se_defaults_fit_in_numbers():
    config = SeConfig()
    assert se_generation_bytes(config.train_clips + 2 * config.eval_clips, config.clip_samples) == 470_400_000

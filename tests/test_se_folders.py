"""SE --data-dir: clean/ and noise/ recordings the test writes, mixed at the configured SNRs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from search._errors import DataError
from search.cli import main
from search.data import hash_split, load_se_data


def write(path: Path, samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, rate, subtype=subtype)


def make_se_folder(root: Path, speakers: int = 30) -> Path:
    rng = np.random.default_rng(0)
    for speaker in range(speakers):
        rate = (16000, 44100, 48000)[speaker % 3]
        t = np.arange(int(1.2 * rate)) / rate
        voice = sum(np.sin(2 * np.pi * (120 + 5 * speaker) * k * t) / k for k in range(1, 8)) * 0.1
        samples = np.stack([voice, voice], axis=1) if rate != 16000 else voice
        write(root / "clean" / f"talker{speaker:02d}_nohash_0.wav", samples, rate, "PCM_24" if rate != 16000 else "PCM_16")
    write(root / "noise" / "fan.wav", 0.2 * rng.standard_normal((5 * 44100, 2)), 44100, "PCM_24")
    write(root / "noise" / "street.flac", 0.1 * rng.standard_normal(5 * 8000), 8000)
    return root


def test_mixtures_of_own_recordings(tmp_path: Path) -> None:
    root = make_se_folder(tmp_path / "se")
    data = load_se_data(data_dir=root, cache_dir=tmp_path / "cache", progress=False)
    counts = {split: sum(hash_split(f"talker{s:02d}_nohash_0.wav") == split for s in range(30)) for split in ("train", "validation", "test")}
    if min(counts.values()) == 0:  # the hash left a split empty: ranked speakers instead, 3 of 30 held out each
        counts = {"train": 24, "validation": 3, "test": 3}
    assert {split: len(data.split(split)) for split in counts} == counts
    for split in ("train", "validation", "test"):
        part = data.split(split)
        assert part.clean.shape[1] == 16000 and part.inputs.shape[1:] == (126, 129)
        for clean, noisy, snr in zip(part.clean, part.noisy, part.snr_db):
            noise = (noisy - clean).double()
            measured = 10 * torch.log10(clean.double().square().sum() / noise.square().sum())
            assert abs(float(measured) - float(snr)) < 0.2  # 16-bit rounding aside
            assert -5.0 <= float(snr) <= 15.0
            assert torch.equal(torch.round(noisy * 32768), noisy * 32768)  # on the 16-bit grid
    again = load_se_data(data_dir=root, cache_dir=tmp_path / "cache", progress=False)
    assert again.cache_path == data.cache_path and torch.equal(again.train.inputs, data.train.inputs)


def test_se_folder_problems(tmp_path: Path, capsys, monkeypatch) -> None:
    root = make_se_folder(tmp_path / "se", speakers=6)
    for path in (root / "noise").iterdir():
        path.unlink()
    with pytest.raises(DataError, match="has no noise recordings"):
        load_se_data(data_dir=root, cache_dir=tmp_path / "cache", progress=False)
    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs"
    code = main(["run", "--task", "se", "--device", "cortex-m55", "--budget", "200KB", "--trials", "1", "--out", str(out), "--data-dir", str(root), "--no-progress"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error and "has no noise recordings" in error
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_se_search_and_evaluate_on_own_recordings(tmp_path: Path, monkeypatch, capsys) -> None:
    """The test-split SI-SNRi of search evaluate equals the search's own evaluation of that split."""
    import json

    import search
    from search.results import export_run, open_run
    from search.training import Fidelity, evaluate_exported, evaluate_se
    from spaces import build_model, load_config

    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    root = make_se_folder(tmp_path / "se")
    result = search.run(task="se", device="cortex-m55", budget="200KB", trials=1, data_dir=str(root), out=tmp_path / "runs", progress=False, fidelity=Fidelity(epochs=1))
    model_yaml = export_run(open_run(result.run_dir), to=tmp_path / "exported", onnx=False, progress=False).files.model_yaml
    scored = evaluate_exported(model_yaml, root, split="test", progress=False)
    model = build_model(load_config(model_yaml))
    model.load_state_dict(torch.load(model_yaml.parent / "weights.pt", weights_only=True))
    torch.set_num_threads(1)
    data = load_se_data(data_dir=root, progress=False)
    assert scored.si_snri_db == pytest.approx(evaluate_se(model, data.test), abs=1e-4)
    capsys.readouterr()
    assert main(["evaluate", str(model_yaml), "--data-dir", str(root), "--precision", "int8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clips"] == 30 and report["split"] == "all" and sum(band["clips"] for band in report["by_input_snr"]) == 30
    assert abs(report["si_snri_db"] - evaluate_exported(model_yaml, root, progress=False).si_snri_db) < 1.0  # int8 near float

"""`search evaluate`: an exported design scored on class folders, float and int8; and the real clips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import search
from search.cli import main
from search.data import KEYWORDS, SILENCE, UNKNOWN, hash_split, load_kws_data
from search.results import export_run, open_run
from search.training import Fidelity, evaluate_exported, evaluate_kws
from spaces import build_model, load_config

from test_class_folders import UNKNOWN_FOLDERS, make_copy, make_digits

# Relative to the repository root, as the project's shared folder sits beside it; an
# environment variable points elsewhere (e.g. from a second checkout).
REAL_DEV = Path(os.environ.get("GHOSTRNN_REAL_DEV", Path(__file__).resolve().parents[1] / ".." / "shared" / "real-dev"))
needs_real_dev = pytest.mark.skipif(not REAL_DEV.is_dir(), reason=f"real clips not present at {REAL_DEV} (measurement only, not shipped)")
TINY = {"device": "cortex-m7", "budget": "50KB", "space": "kws-small", "progress": False, "fidelity": Fidelity(epochs=1)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A design searched on a written Speech Commands-style copy, exported: (model.yaml, data folder, cache)."""
    root = tmp_path_factory.mktemp("evaluate")
    cache = root / "cache"
    os.environ["GHOSTRNN_CACHE"] = str(cache)
    try:
        data_dir = make_copy(root / "sc", KEYWORDS + UNKNOWN_FOLDERS, {word: 8 for word in KEYWORDS + UNKNOWN_FOLDERS})
        result = search.run(trials=1, data_dir=str(data_dir), out=root / "runs", **TINY)
        export = export_run(open_run(result.run_dir), trial="best", to=root / "exported", onnx=False, progress=False)
    finally:
        del os.environ["GHOSTRNN_CACHE"]
    return export.files.model_yaml, data_dir, cache


def test_test_split_score_equals_the_searchs_own_evaluation(exported) -> None:
    model_yaml, data_dir, cache = exported
    result = evaluate_exported(model_yaml, data_dir, cache_dir=cache, progress=False)
    assert result.split == "test"  # list files: their test split by default
    data = load_kws_data("mfcc10", data_dir=data_dir, cache_dir=cache, progress=False)
    model = build_model(load_config(model_yaml))
    model.load_state_dict(torch.load(model_yaml.parent / "weights.pt", weights_only=True))
    torch.set_num_threads(1)
    assert result.accuracy == pytest.approx(evaluate_kws(model, data.test), abs=1e-9)
    assert torch.equal(result.labels, data.test.labels)
    assert result.confusion.sum(dim=1).tolist() == torch.bincount(data.test.labels, minlength=12).tolist()
    everything = evaluate_exported(model_yaml, data_dir, split="all", cache_dir=cache, progress=False)
    assert everything.clips == sum(len(data.split(name)) for name in ("train", "validation", "test"))


def test_int8_scores_the_same_clips_and_mostly_agrees(exported) -> None:
    model_yaml, data_dir, cache = exported
    floating = evaluate_exported(model_yaml, data_dir, split="all", cache_dir=cache, progress=False)
    integer = evaluate_exported(model_yaml, data_dir, split="all", precision="int8", cache_dir=cache, progress=False)
    assert torch.equal(floating.labels, integer.labels)
    agreement = float((floating.predictions == integer.predictions).float().mean())
    assert agreement > 0.8, agreement
    assert integer.precision == "int8" and abs(integer.accuracy - floating.accuracy) < 0.15


def test_cli_scores_a_folder_with_only_some_of_the_words(exported, tmp_path: Path, capsys, monkeypatch) -> None:
    model_yaml, _, cache = exported
    monkeypatch.setenv("GHOSTRNN_CACHE", str(cache))
    own = make_digits(tmp_path / "own", words=("yes", "no", "seven"), speakers=6)
    assert main(["evaluate", str(model_yaml), "--data-dir", str(own), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "all" and report["classes"][-2:] == [SILENCE, UNKNOWN]
    # 12 clips each of yes and no; seven is an unknown word (10 % of keyword clips per split).
    confusion = np.array(report["confusion"])
    assert confusion.sum(axis=1)[:2].tolist() == [12, 12] and confusion.sum(axis=1)[2:10].tolist() == [0] * 8
    assert report["class_accuracy"]["up"] is None
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert main(["evaluate", str(model_yaml), "--data-dir", str(own), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "keyword(s) without clips" in text and "confusion matrix" in text and "accuracy" in text.splitlines()[-1]


def test_cli_refusals_are_one_line(exported, tmp_path: Path, capsys) -> None:
    model_yaml, data_dir, _ = exported
    assert main(["evaluate", str(model_yaml), "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert main(["evaluate", str(model_yaml), "--data-dir", str(data_dir), "--weights", str(tmp_path / "none.pt")]) == 2
    assert main(["evaluate", str(tmp_path / "model.yaml"), "--data-dir", str(data_dir)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("search: error: ") for line in errors)
    assert "does not exist" in errors[0] and "none.pt does not exist" in errors[1]


@needs_real_dev
def test_real_clips_hash_to_the_speech_commands_test_split() -> None:
    """The real clips are Speech Commands test files, which Google chose by the same hash rule."""
    from search.data import scan_folders

    clips = [f"{path.parent.name}/{path.name}" for path in REAL_DEV.glob("*/*.wav")]
    assert len(clips) > 500 and {hash_split(clip) for clip in clips} == {"test"}
    layout = scan_folders(REAL_DEV)
    assert layout.split_rule == "speaker rank" and all(layout.files[split] for split in ("train", "validation", "test"))
    speakers = {split: {clip.split("/")[1].split("_nohash_")[0] for clip in layout.files[split]} for split in layout.files}
    assert not (speakers["train"] & speakers["validation"]) and not (speakers["train"] & speakers["test"])


@needs_real_dev
@pytest.mark.slow
def test_real_clips_as_data_dir_search_and_evaluation(tmp_path: Path, capsys, monkeypatch) -> None:
    """Measurement only: a tiny search reads the real folder; a synthetic-corpus design is scored on it."""
    monkeypatch.setenv("GHOSTRNN_CACHE", str(tmp_path / "cache"))
    common = ["--device", "cortex-m7", "--budget", "50KB", "--trials", "2", "--space", "kws-small", "--epochs", "1", "--out", str(tmp_path / "runs"), "--no-progress", "--workers", "1"]
    assert main(["run", *common, "--data-dir", str(REAL_DEV), "--study", "real"]) == 0
    assert main(["run", *common, "--data-dir", str(REAL_DEV), "--keywords", "yes,no,up,down", "--study", "real4"]) == 0
    capsys.readouterr()
    for name, classes in (("real", 12), ("real4", 6)):
        assert (tmp_path / "runs" / name / "report.html").is_file()
        assert load_config_classes(tmp_path / "runs" / name) == classes
    assert main(["run", *common, "--utterances-per-class", "20", "--study", "synthetic"]) == 0
    assert main(["export", str(tmp_path / "runs" / "synthetic"), "--to", str(tmp_path / "exported"), "--no-onnx", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "exported" / "model.yaml"), "--data-dir", str(REAL_DEV), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    keyword_clips = sum(len(list((REAL_DEV / word).glob("*.wav"))) for word in KEYWORDS)
    assert report["split"] == "all" and report["clips"] > keyword_clips and 0.0 <= report["accuracy"] <= 1.0


def load_config_classes(run_dir: Path) -> int:
    import optuna

    study = optuna.load_study(study_name=run_dir.name, storage=f"sqlite:///{run_dir / 'study.db'}")
    return {trial.user_attrs["config"]["classes"] for trial in study.trials if "config" in trial.user_attrs}.pop()

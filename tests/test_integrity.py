"""Files the tool writes and later trusts carry checksums: damage is found, reported in
one line, and caches are rebuilt or weights refused, never silently used."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path

import optuna
import pytest
import torch

from cost_models._diskcache import JsonCache
from search.data import load_kws_data
from search.data._cache import load_tensors, save_tensors
from search.results._export import load_trial_weights
from search.storage import StudyError, open_storage
from search.storage._storage import repair_journal
from search.study._study import file_sha256, save_weights
from spaces import ArchConfig, build_model


def flip_bytes(path: Path, count: int = 400, seed: int = 0) -> None:
    """Change ``count`` bytes in the middle of a file (each to a different value)."""
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    middle = len(data) // 4
    for index in rng.sample(range(middle, middle + len(data) // 2), count):
        data[index] ^= 0x5A
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- tensor cache


def test_tensor_cache_round_trips_and_refuses_every_kind_of_damage(tmp_path, capsys):
    path = tmp_path / "features.pt"
    payload = {"features": torch.arange(20000, dtype=torch.float32).reshape(100, 200), "recipe": "r"}
    save_tensors(path, payload)
    assert torch.equal(load_tensors(path)["features"], payload["features"])
    assert capsys.readouterr().err == ""

    flip_bytes(path)
    assert load_tensors(path) is None
    assert capsys.readouterr().err.strip() == f"search: cache file {path} is damaged (its checksum does not match its content); rebuilding it"

    path.write_bytes(os.urandom(5000))
    assert load_tensors(path) is None
    assert "has no checksum" in capsys.readouterr().err

    torch.save(payload, path)  # a file of an older version: no checksum line
    assert load_tensors(path) is None
    assert "has no checksum" in capsys.readouterr().err

    save_tensors(path, payload)
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    assert load_tensors(path) is None
    assert "is damaged" in capsys.readouterr().err


def test_damaged_corpus_cache_is_rebuilt_to_the_same_data(tmp_path, capsys):
    first = load_kws_data(utterances_per_class=4, cache_dir=tmp_path, progress=False)
    (cached,) = list(tmp_path.glob("kws-synthetic-*.pt"))
    flip_bytes(cached)
    capsys.readouterr()
    second = load_kws_data(utterances_per_class=4, cache_dir=tmp_path, progress=False)
    err = capsys.readouterr().err
    assert f"cache file {cached} is damaged" in err and len(err.strip().splitlines()) == 1
    assert torch.equal(first.train.features, second.train.features)
    assert torch.equal(first.validation.labels, second.validation.labels)
    third = load_kws_data(utterances_per_class=4, cache_dir=tmp_path, progress=False)  # the rebuilt file is good
    assert capsys.readouterr().err == "" and torch.equal(first.train.features, third.train.features)


# ---------------------------------------------------------------- measured-cost cache


def test_measured_cost_cache_refuses_changed_and_old_files(tmp_path, capsys):
    cache = JsonCache("measured", tmp_path)
    key = cache.key({"hidden": 64})
    cache.put(key, {"instructions": 123456, "flash": 2048})
    assert cache.get(key) == {"instructions": 123456, "flash": 2048}
    record = json.loads(cache.path(key).read_text())
    record["value"]["instructions"] = 12345  # a plausible but wrong figure
    cache.path(key).write_text(json.dumps(record))
    assert cache.get(key) is None
    assert "is damaged (its checksum does not match its content); measuring again" in capsys.readouterr().err
    cache.path(key).write_text(json.dumps({"instructions": 1}))
    assert cache.get(key) is None and "has no checksum" in capsys.readouterr().err
    cache.path(key).write_bytes(b"\x00\xff" * 40)
    assert cache.get(key) is None and "is not readable JSON" in capsys.readouterr().err


# ---------------------------------------------------------------- trial weights


def trained_trial(tmp_path: Path, with_checksum: bool = True):
    torch.manual_seed(0)
    model = build_model(ArchConfig(hidden=16, ghost_ratio=2.0))
    path = save_weights(tmp_path / "weights", "abc", model.state_dict())
    attrs = {"weights": str(path)}
    if with_checksum:
        attrs["weights_sha256"] = file_sha256(path)
    trial = optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, values=[0.5], user_attrs=attrs)
    trial.number = 7
    return model, path, trial


def test_trial_weights_load_when_intact(tmp_path):
    model, path, trial = trained_trial(tmp_path)
    loaded = load_trial_weights(path, trial)
    assert all(torch.equal(loaded[name], value) for name, value in model.state_dict().items())


def test_weights_changed_in_400_bytes_are_refused_naming_the_trial(tmp_path):
    _, path, trial = trained_trial(tmp_path)
    flip_bytes(path)
    with pytest.raises(StudyError, match=r"the weights of trial 7 \(.*abc.pt\) are damaged: the file differs from the one the trial saved"):
        load_trial_weights(path, trial)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]), "are not a readable weights file"),
        (lambda path: path.write_bytes(b""), "are not a readable weights file"),
        (lambda path: path.write_text("these are not weights\n"), "are not a readable weights file"),
        (lambda path: torch.save([1, 2, 3], path), "hold no state dict of tensors"),
        (lambda path: torch.save({"w": torch.tensor([1.0, float("nan")])}, path), "hold non-finite values (in w)"),
    ],
    ids=["truncated", "empty", "text", "not a dict", "nan"],
)
def test_unreadable_weights_without_a_recorded_checksum_are_refused(tmp_path, damage, message):
    """Studies of older versions recorded no checksum: the file itself is still checked."""
    _, path, trial = trained_trial(tmp_path, with_checksum=False)
    damage(path)
    with pytest.raises(StudyError) as error:
        load_trial_weights(path, trial)
    assert str(error.value).startswith("the weights of trial 7") and message in str(error.value)


# ---------------------------------------------------------------- study storage


def make_study(url: str, trials: int = 30) -> None:
    storage = open_storage(url)
    study = optuna.create_study(study_name="s", storage=storage, load_if_exists=True)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1) + trial.suggest_float("y", 0, 1), n_trials=trials)


def test_sqlite_study_with_scrambled_middle_pages_is_refused(tmp_path):
    database = tmp_path / "study.db"
    make_study(f"sqlite:///{database}")
    with sqlite3.connect(database) as connection:
        page = connection.execute("pragma page_size").fetchone()[0]
    data = bytearray(database.read_bytes())
    pages = len(data) // page
    for index in range(pages // 3 * page, 2 * pages // 3 * page):
        data[index] = (data[index] * 7 + 13) % 256
    database.write_bytes(bytes(data))
    with pytest.raises(StudyError) as error:
        open_storage(f"sqlite:///{database}")
    assert str(database) in str(error.value) and ".recover" in str(error.value)


def test_journal_cut_mid_record_is_repaired_and_stays_readable(tmp_path, capsys):
    journal = tmp_path / "study.journal"
    make_study(f"journal:{journal}", trials=3)
    whole = journal.read_bytes()
    journal.write_bytes(whole[:-40])  # a writer killed mid-record
    make_study(f"journal:{journal}", trials=2)  # appends after the fragment
    assert "removed a record cut short at its end" in capsys.readouterr().err
    study = optuna.load_study(study_name="s", storage=open_storage(f"journal:{journal}"))
    assert len(study.trials) == 5

    # A fragment already glued to the next record (written by a version without repair).
    lines = journal.read_bytes().split(b"\n")
    lines[4] = lines[4][:15] + lines[5]
    del lines[5]
    journal.write_bytes(b"\n".join(lines))
    message = repair_journal(journal)
    assert message is not None and "glued to line(s) 5" in message
    assert (tmp_path / "study.journal.damaged").is_file()
    optuna.load_study(study_name="s", storage=open_storage(f"journal:{journal}"))

    lines = journal.read_bytes().split(b"\n")
    lines[2] = b"garbage"
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(StudyError, match=r"study.journal is damaged at line 3 \(not a journal record\); keep a copy, then delete that line"):
        open_storage(f"journal:{journal}")

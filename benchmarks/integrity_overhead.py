"""What the integrity checks cost: checksummed cache loads, the study-file checks at open.

Compares ``load_tensors`` (SHA-256 checked) with a plain ``torch.load`` of the same
payload, the size of the default corpus (1000 utterances per class, mfcc10), and times
the checks ``open_storage`` runs on a SQLite study (``pragma quick_check``) and on a
journal (cut-record repair scan) of ``--trials`` trials. Medians of ``--repeats`` runs,
one torch thread. Writes ``integrity_overhead.json`` beside this script.

    python benchmarks/integrity_overhead.py --repeats 7 --trials 500
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import torch

from search.data._cache import load_tensors, save_tensors
from search.storage._storage import _check_sqlite_file, repair_journal


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def make_study(url: str, trials: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if url.startswith("journal:"):
        path = url[len("journal:") :]
        backend = optuna.storages.journal.JournalFileBackend(path)
        storage = optuna.storages.JournalStorage(backend)
    else:
        storage = url
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.optimize(lambda trial: (trial.suggest_float("x", 0, 1), trial.suggest_int("h", 16, 256)), n_trials=trials)
    for trial in study.get_trials(deepcopy=False)[:1]:
        assert trial.state.name == "COMPLETE"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--trials", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp())

    # The default corpus: 12 classes x 1000 training + 2 x 200 evaluation clips of 49 x 10 features.
    generator = torch.Generator().manual_seed(0)
    payload = {
        "splits": {
            name: {"features": torch.randn(12 * count, 49, 10, generator=generator), "labels": torch.arange(12 * count) % 12}
            for name, count in (("train", 1000), ("validation", 200), ("test", 200))
        }
    }
    checked, plain = folder / "checked.pt", folder / "plain.pt"
    save_tensors(checked, payload)
    torch.save(payload, plain)
    checked_s = median_seconds(lambda: load_tensors(checked), args.repeats)
    plain_s = median_seconds(lambda: torch.load(plain, map_location="cpu", weights_only=True), args.repeats)

    database, journal = folder / "study.db", folder / "study.journal"
    make_study(f"sqlite:///{database}", args.trials)
    make_study(f"journal:{journal}", args.trials)
    sqlite_s = median_seconds(lambda: _check_sqlite_file(database), args.repeats)
    journal_s = median_seconds(lambda: repair_journal(journal), args.repeats)

    results = {
        "load_average_1min": round(load, 2),
        "cache_file_mb": round(checked.stat().st_size / 1e6, 1),
        "cache_load_checked_s": round(checked_s, 4),
        "cache_load_plain_s": round(plain_s, 4),
        "cache_load_ratio": round(checked_s / plain_s, 2),
        "trials": args.trials,
        "sqlite_mb": round(database.stat().st_size / 1e6, 2),
        "sqlite_check_s": round(sqlite_s, 4),
        "journal_mb": round(journal.stat().st_size / 1e6, 2),
        "journal_scan_s": round(journal_s, 4),
        "repeats": args.repeats,
    }
    for key, value in results.items():
        print(f"{key:24s} {value}")
    (Path(__file__).with_name("integrity_overhead.json")).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

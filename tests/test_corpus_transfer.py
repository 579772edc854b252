"""``benchmarks/corpus_transfer.py`` end to end on a tiny corpus, scored on real recordings.

The real clips are a folder in Speech Commands layout kept outside the repository
(``../shared/real-dev`` beside the checkout, or ``$GHOSTRNN_REAL_DEV``); the test skips
when it is absent. The clips are only scored, never trained on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
REAL_DIR = Path(os.environ.get("GHOSTRNN_REAL_DEV", REPOSITORY.parent / "shared" / "real-dev"))


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DIR.is_dir(), reason=f"no real keyword recordings at {REAL_DIR} (set GHOSTRNN_REAL_DEV)")
def test_corpus_transfer_scores_two_recipes_on_real_clips(tmp_path: Path) -> None:
    out = tmp_path / "transfer.json"
    command = [
        sys.executable, str(REPOSITORY / "benchmarks" / "corpus_transfer.py"), "--real-dir", str(REAL_DIR),
        "--utterances", "20", "--epochs", "1", "--designs", "gru 1x32", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
    ]  # fmt: skip
    for ideas in ("today", "default"):  # two runs: the second must keep the first one's rows
        completed = subprocess.run([*command, "--ideas", ideas], capture_output=True, text=True, cwd=REPOSITORY, timeout=600)
        assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = {row["idea"]: row for row in report["rows"]}
    assert set(rows) == {"today", "default"}
    for row in rows.values():
        assert row["design"] == "gru 1x32" and row["epochs"] == 1 and row["within_budget"]
        for key in ("synthetic_validation", "real_12way", "real_keywords10", "real_called_silence", "real_keyword_called_unknown"):
            assert 0.0 <= row[key] <= 1.0
    # The two recipes are different corpora, so the two models differ.
    assert report["corpora"]["today"]["config"]["snr_db"] == [0.0, 20.0]
    assert report["corpora"]["default"]["config"]["mic_probability"] > 0
    assert rows["today"]["synthetic_validation"] != rows["default"]["synthetic_validation"]

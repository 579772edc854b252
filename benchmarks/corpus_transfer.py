"""Corpus transfer: do designs trained on the synthetic corpus recognise real human speech?

A fixed set of designs (GRU 1x32 / 1x64 / 1x128 / 1x160, GhostGRU 1x128 r2, LSTM 1x64) is
trained on the embedded synthetic corpus at the search's proxy fidelity (3 epochs) and,
with ``--long-factor``, 5x longer, and each model is scored on a folder of real keyword
recordings in Speech Commands layout (``WORD/SPEAKER_nohash_N.wav``; words other than
the 10 keywords count as "unknown"). The recordings are only ever scored, never trained
on: the corpus, the normalisation statistics and the weights come from the synthetic
corpus alone.

Each *idea* is a corpus recipe: ``today`` is the version-1 recipe (every augmentation
off, SNR 0-20 dB), ``default`` is :class:`search.data.CorpusConfig` as shipped, and the
other names switch one augmentation on over ``today`` (``a+b`` combines ideas). The
real clips are featurised exactly as the corpus is (``compute_features`` of the 1 s
waveform, zero-padded at the end, then the corpus's training mean and std).

Reported per idea and design: validation accuracy on the synthetic corpus, accuracy on
the real clips over all 12 classes (a clip of another word must be called "unknown";
the silence class is never right) and over the keyword clips choosing among the 10
keywords only. Results are merged into the JSON file, so ideas can be run one at a time.

    python benchmarks/corpus_transfer.py --real-dir ../shared/real-dev
    python benchmarks/corpus_transfer.py --real-dir ../shared/real-dev --ideas today,default --long-factor 5
    python benchmarks/corpus_transfer.py --real-dir ../shared/real-dev --ideas reverb --designs "gru 1x64"

Writes ``benchmarks/corpus_transfer.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import BENCHMARKS, machine, markdown_table, write_json

from cost_models import Limits, analytic_cost, load_device
from search.data import (
    CLASS_NAMES,
    KEYWORDS,
    SILENCE,
    UNKNOWN,
    CorpusConfig,
    KwsData,
    KwsSplit,
    compute_features,
    feature_statistics,
    load_synthetic_corpus,
    normalise,
    read_audio,
)
from search.training import Fidelity, train_proxy
from spaces import ArchConfig, build_model

DESIGNS = {
    "gru 1x32": ArchConfig(cell="gru", hidden=32, ghost_ratio=1),
    "gru 1x64": ArchConfig(cell="gru", hidden=64, ghost_ratio=1),
    "gru 1x128": ArchConfig(cell="gru", hidden=128, ghost_ratio=1),
    # The widest one-layer GRU within 100 KB on cortex-m7 (88.8 kB).
    "gru 1x160": ArchConfig(cell="gru", hidden=160, ghost_ratio=1),
    "ghostgru 1x128 r2": ArchConfig(cell="gru", hidden=128, ghost_ratio=2),
    "lstm 1x64": ArchConfig(cell="lstm", hidden=64, ghost_ratio=1),
}
# The version-1 recipe: what every idea is measured against.
TODAY = {
    "snr_db": (0.0, 20.0),
    "warp": (1.0, 1.0),
    "reverb_probability": 0.0,
    "mic_probability": 0.0,
}
IDEAS: dict[str, dict[str, Any]] = {
    "today": {},
    "snr": {"snr_db": (5.0, 40.0)},
    "clean": {"snr_db": (10.0, 50.0)},
    "warp": {"warp": (0.85, 1.15)},
    "reverb": {"reverb_probability": 0.6},
    "mic": {"mic_probability": 0.8},
    # Neural voices (version 3): half the spoken words by Piper "joe" alone, by Piper and
    # Kokoro blends (30 % of takes), or by Kokoro alone.
    "piper": {"neural_share": 0.5, "kokoro_share": 0.0},
    "neural": {"neural_share": 0.5, "kokoro_share": 0.3},
    "neural80": {"neural_share": 0.8, "kokoro_share": 0.3},
    "kokoro": {"neural_share": 0.5, "kokoro_share": 1.0},
    "nowarp": {"warp": (1.0, 1.0)},
    # Four times the neural takes of each keyword (64 per 1000 clips): more distinct
    # neural speakers, at about four times the synthesis.
    "takes64": {"neural_takes_per_word": 64},
    # Every spoken clip a neural take: no eSpeak voice left.
    "neural100": {"neural_share": 1.0},
    "neural30": {"neural_share": 0.3},
    # Speakers' vocal tracts further apart: 0.8-1.25x instead of 0.85-1.15x.
    "warpwide": {"warp": (0.8, 1.25)},
    # Breaths next to half the words and clicks in a fifth of the clips.
    "breath": {"breath_probability": 0.5, "click_probability": 0.2},
}
# Not a corpus field: SpecAugment-style masking while training (Fidelity.spec_augment).
SPEC_AUGMENT = "specaug"
BUDGET_BYTES = 100_000
DEVICE = "cortex-m7"


def idea_config(idea: str, utterances: int, seed: int) -> CorpusConfig:
    """The corpus recipe of an idea name.

    ``default`` is the shipped recipe; other ideas join with ``+`` on top of ``today``
    (version 1), or on top of the default when the name starts with ``default+``.
    ``specaug`` is no corpus field (see :func:`idea_fidelity`) and changes nothing here.
    """
    base = CorpusConfig(utterances_per_class=utterances, seed=seed)
    parts = [part for part in idea.split("+") if part != SPEC_AUGMENT]
    if parts == ["default"]:
        return base
    overrides = {} if parts[:1] == ["default"] else dict(TODAY)
    for part in parts[1:] if parts[:1] == ["default"] else parts:
        if part not in IDEAS:
            raise SystemExit(f"unknown idea {part!r}; valid: default, {', '.join(IDEAS)}")
        overrides.update(IDEAS[part])
    return replace(base, **overrides)


def idea_fidelity(idea: str, epochs: int) -> Fidelity:
    """The proxy's fidelity for an idea: ``+specaug`` switches masking on, anything else leaves the default."""
    # No time limit: the result must not depend on how busy the machine is.
    return Fidelity(epochs=epochs, max_seconds=1e9, spec_augment=SPEC_AUGMENT in idea.split("+"))


def load_real_clips(root: Path, feature_name: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Raw features [N, frames, dims], 12-class labels [N] and the words of every clip under ``root``."""
    if not root.is_dir():
        raise SystemExit(f"{root} is not a folder; point --real-dir at real clips in Speech Commands layout (WORD/*.wav)")
    waveforms, labels, words = [], [], []
    for folder in sorted(entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("_")):
        for path in sorted(folder.glob("*.wav")):
            clip = read_audio(path)
            window = np.zeros(16000, dtype=np.float32)
            window[: min(16000, len(clip))] = clip[:16000]
            waveforms.append(window)
            words.append(folder.name)
            labels.append(CLASS_NAMES.index(folder.name) if folder.name in KEYWORDS else CLASS_NAMES.index(UNKNOWN))
    if not waveforms:
        raise SystemExit(f"{root} holds no WORD/*.wav clips")
    features = compute_features(torch.from_numpy(np.stack(waveforms)), feature_name)
    return features, torch.tensor(labels), words


@torch.no_grad()
def real_scores(model: torch.nn.Module, features: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """12-way accuracy, and accuracy on the keyword clips among the 10 keywords alone."""
    model.eval()
    logits = model(features)
    keyword = labels < len(KEYWORDS)
    closed = logits[keyword][:, : len(KEYWORDS)].argmax(dim=1)
    predicted = logits.argmax(dim=1)
    return {
        "real_12way": float((predicted == labels).float().mean()),
        "real_keywords10": float((closed == labels[keyword]).float().mean()),
        # Where the errors go: a real clip called silence, or a keyword called unknown.
        "real_called_silence": float((predicted == CLASS_NAMES.index(SILENCE)).float().mean()),
        "real_keyword_called_unknown": float((predicted[keyword] == CLASS_NAMES.index(UNKNOWN)).float().mean()),
    }


def corpus_data(config: CorpusConfig, feature_name: str, cache_dir: Path) -> tuple[KwsData, dict[str, Any]]:
    """The corpus as training data, and how long it took to make and how big its cache is."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    corpus = load_synthetic_corpus(config, feature_name, cache_dir=cache_dir, progress=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds do not depend on load: the calling process mixes and featurises, the
    # helper processes synthesise (two at a time), so on 2 idle cores the wall time is
    # about calling + helpers / 2.
    calling, helpers = ((end.ru_utime + end.ru_stime) - (start.ru_utime + start.ru_stime) for start, end in zip(before, after))
    mean, std = feature_statistics(corpus.splits["train"].features)
    splits = {name: KwsSplit(normalise(split.features, mean, std), split.labels) for name, split in corpus.splits.items()}
    data = KwsData(splits["train"], splits["validation"], splits["test"], corpus.class_names, feature_name, mean, std, "synthetic")
    size = corpus.cache_path.stat().st_size if corpus.cache_path else 0
    return data, {"load_seconds": round(seconds, 1), "calling_cpu_s": round(calling, 1), "helper_cpu_s": round(helpers, 1), "cache_mb": round(size / 1e6, 1)}


def row_key(row: dict[str, Any]) -> tuple:
    return (row["idea"], row["design"], row["epochs"], row["utterances"])


def merged(path: Path, report: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """``report`` with ``row`` added, over the rows on disk (another run may have added some)."""
    on_disk = json.loads(path.read_text()) if path.is_file() else {"rows": [], "corpora": {}}
    rows = {row_key(old): old for old in on_disk["rows"] + report["rows"]}
    rows[row_key(row)] = row
    return {**report, "rows": list(rows.values()), "corpora": {**on_disk.get("corpora", {}), **report["corpora"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-dir", required=True, help="real clips in Speech Commands layout (scored, never trained on)")
    parser.add_argument("--ideas", default="today,default", help="comma-separated corpus recipes: default, " + ", ".join(IDEAS) + " (join with +)")
    parser.add_argument("--designs", default=",".join(DESIGNS), help="comma-separated: " + ", ".join(DESIGNS))
    parser.add_argument("--epochs", type=int, default=Fidelity().epochs, help="proxy epochs")
    parser.add_argument("--long-factor", type=int, default=0, help="also train factor x the proxy's epochs (0: proxy only)")
    parser.add_argument("--utterances", type=int, default=1000, help="training clips per class")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (training seed is the proxy's)")
    parser.add_argument("--features", default="mfcc10")
    parser.add_argument("--cache-dir", default=None, help="corpus cache (default: the project's cache)")
    parser.add_argument("--out", default=str(BENCHMARKS / "corpus_transfer.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    designs = [name.strip() for name in args.designs.split(",") if name.strip()]
    unknown = [name for name in designs if name not in DESIGNS]
    if unknown:
        raise SystemExit(f"unknown design(s) {unknown}; valid: {', '.join(DESIGNS)}")
    real_raw, real_labels, _ = load_real_clips(Path(args.real_dir), args.features)
    print(f"{len(real_labels)} real clips; designs: {', '.join(designs)}")
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.is_file() else {"benchmark": "corpus_transfer", "rows": [], "corpora": {}}
    report["machine"] = machine()
    profile = load_device(DEVICE)
    epoch_counts = [args.epochs] + ([args.epochs * args.long_factor] if args.long_factor > 1 else [])
    cache_dir = Path(args.cache_dir) if args.cache_dir else None
    for idea in [name.strip() for name in args.ideas.split(",") if name.strip()]:
        config = idea_config(idea, args.utterances, args.seed)
        data, made = corpus_data(config, args.features, cache_dir)
        report["corpora"][idea] = {**made, "config": asdict(config)}
        print(f"[{idea}] corpus {made['load_seconds']} s (CPU: {made['calling_cpu_s']} s calling, {made['helper_cpu_s']} s helpers), {made['cache_mb']} MB", flush=True)
        real = normalise(real_raw, data.mean, data.std)
        for name in designs:
            design = replace(DESIGNS[name], features=args.features)
            cost = analytic_cost(design, profile, Limits(memory_bytes=BUDGET_BYTES))
            for epochs in epoch_counts:
                result = train_proxy(design, data, idea_fidelity(idea, epochs))
                model = build_model(design)
                model.load_state_dict(result.state_dict)
                row = {
                    "idea": idea,
                    "design": name,
                    "epochs": epochs,
                    "utterances": args.utterances,
                    "params": result.params,
                    "memory_kb": round(cost.memory_bytes / 1000, 1),
                    "within_budget": cost.fits,
                    "synthetic_validation": result.metric,
                    **real_scores(model, real, real_labels),
                    "train_seconds": result.wall_seconds,
                }
                report = merged(out, report, row)
                print(
                    f"  {name:18s} {epochs:2d} ep  synthetic {100 * row['synthetic_validation']:5.1f} %  "
                    f"real 12-way {100 * row['real_12way']:5.1f} %  10 keywords {100 * row['real_keywords10']:5.1f} %  ({row['train_seconds']:.0f} s)",
                    flush=True,
                )
                write_json(out, report)
    print()
    print(markdown_table(report["rows"], ["idea", "design", "epochs", "synthetic_validation", "real_12way", "real_keywords10"]))


if __name__ == "__main__":
    main()

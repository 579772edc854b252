"""Seconds per proxy trial: the current layers, the layers before the speed work, and a
hand-written ``nn.GRU`` training loop, side by side in one run.

    python benchmarks/trial_speed.py [--epochs 3] [--out benchmarks/trial_speed.json]

Each row is one ``train_proxy`` call on the default synthetic KWS corpus (1000
utterances per class, cached after the first run) at the default fidelity (Adam 5e-3,
batch 64, clip 1.0, one thread), so a trial's validation accuracy is given too. The
layers before the speed work come from ``_layers_before.py`` through the model
registry; the hand-written loop is what a user would write with ``nn.GRU`` + ``nn.Linear``
for the same epochs, batches, optimiser and per-epoch validation. The designs run
round-robin (current, before, hand-written) so that load drifts hit all alike. A
trial's share of one core's matmul peak counts its useful FLOPs: 6 x MACs per training
clip and 2 x MACs per validation clip.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import _layers_before as before  # noqa: E402
from cost_models import analytic_cost, load_device  # noqa: E402
from search.data import load_kws_data  # noqa: E402
from search.training import Fidelity, evaluate_kws, train_proxy  # noqa: E402
from spaces import RNN_CELLS, ArchConfig  # noqa: E402

DESIGNS = [
    ArchConfig(hidden=64, ghost_ratio=1),
    ArchConfig(hidden=128, ghost_ratio=1),
    ArchConfig(hidden=128, ghost_ratio=2),
    ArchConfig(cell="lstm", hidden=128, ghost_ratio=2),
]


class HandWrittenGRU(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.rnn = nn.GRU(10, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, 12)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.rnn(features)[0][:, -1])


def hand_written_trial(hidden: int, data, fidelity: Fidelity) -> tuple[float, float]:
    """(seconds, validation accuracy) of a plain nn.GRU loop with the same recipe."""
    started = time.perf_counter()
    torch.manual_seed(fidelity.seed)
    generator = torch.Generator().manual_seed(fidelity.seed)
    model = HandWrittenGRU(hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=fidelity.learning_rate)
    features, labels = data.train.features, data.train.labels
    accuracy = 0.0
    for _ in range(fidelity.epochs):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            loss = nn.functional.cross_entropy(model(features[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), fidelity.grad_clip)
            optimizer.step()
        accuracy = evaluate_kws(model, data.validation)
    return time.perf_counter() - started, accuracy


def layers_trial(layers: str, config: ArchConfig, data, fidelity: Fidelity) -> tuple[float, float]:
    """(seconds, validation accuracy) of ``train_proxy`` with the current or the earlier layers."""
    saved = dict(RNN_CELLS)
    if layers == "before":
        RNN_CELLS.update(gru=before.GhostGRU, lstm=before.GhostLSTM)
    try:
        result = train_proxy(config, data, fidelity)
    finally:
        RNN_CELLS.update(saved)
    return result.wall_seconds, result.metric


def matmul_peak() -> float:
    """One core's float32 matmul rate (FLOP/s), median of 5 products of 1024^3."""
    big = torch.randn(1024, 1024)
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        torch.mm(big, big)
        samples.append(time.perf_counter() - start)
    return 2 * 1024**3 / statistics.median(samples[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=Fidelity().epochs)
    parser.add_argument("--utterances-per-class", type=int, default=1000)
    parser.add_argument("--out", default=str(Path(__file__).with_name("trial_speed.json")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_kws_data("mfcc10", utterances_per_class=args.utterances_per_class, progress=True)
    fidelity = Fidelity(epochs=args.epochs, max_seconds=3600)
    load_at_start = os.getloadavg()[0]
    peaks = [matmul_peak()]
    rows = []
    print(f"one torch thread, {args.epochs} epoch(s), {len(data.train)} training clips; load average {load_at_start:.2f}")
    print(f"  {'design':30s} {'current s':>10s} {'before s':>10s} {'x before':>9s} {'hand nn.GRU s':>14s} {'x hand':>7s} {'% peak':>7s}  accuracy now / before")
    for config in DESIGNS:
        current_seconds, current_metric = layers_trial("current", config, data, fidelity)
        before_seconds, before_metric = layers_trial("before", config, data, fidelity)
        hand = hand_written_trial(config.hidden, data, fidelity) if config.is_baseline and config.cell == "gru" else None
        peaks.append(matmul_peak())
        macs = analytic_cost(config, load_device("cortex-m7")).macs
        flops = args.epochs * (6 * macs * len(data.train) + 2 * macs * len(data.validation))
        row = {
            "design": config.describe(),
            "current_seconds": current_seconds,
            "before_seconds": before_seconds,
            "ratio_to_before": current_seconds / before_seconds,
            "current_accuracy": current_metric,
            "before_accuracy": before_metric,
            "hand_written_seconds": hand[0] if hand else None,
            "hand_written_accuracy": hand[1] if hand else None,
            "ratio_to_hand_written": current_seconds / hand[0] if hand else None,
            "useful_flops": flops,
        }
        rows.append(row)
        hand_text = f"{hand[0]:14.1f} {current_seconds / hand[0]:7.2f}" if hand else f"{'':14s} {'':7s}"
        print(f"  {config.describe():30s} {current_seconds:10.1f} {before_seconds:10.1f} {current_seconds / before_seconds:9.2f} {hand_text} "
              f"{100 * flops / current_seconds / statistics.median(peaks):6.1f}%  {current_metric:.3f} / {before_metric:.3f}", flush=True)
    peak = statistics.median(peaks)
    for row in rows:
        row["share_of_peak"] = row["useful_flops"] / row["current_seconds"] / peak
    load_at_end = os.getloadavg()[0]
    print(f"one core's matmul peak (1024^3 float32, median of {len(peaks)} checks): {peak / 1e9:.1f} GFLOP/s; load average {load_at_start:.2f} -> {load_at_end:.2f}")
    payload = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": 1,
        "load_average": [load_at_start, load_at_end],
        "epochs": args.epochs,
        "training_clips": len(data.train),
        "matmul_peak_gflops": peak / 1e9,
        "trials": rows,
    }
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

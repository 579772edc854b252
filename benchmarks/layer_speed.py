"""Forward + backward time of GhostGRU/GhostLSTM against nn.GRU/nn.LSTM, one thread.

    python benchmarks/layer_speed.py [--repeats 30] [--out benchmarks/layer_speed.json]

H = 128, T = 49, batch 64, input 10 (the Hello Edge MFCC front end), one torch thread
(as training runs). In one process, interleaved round by round so that load drifts hit
all alike, it times:
- each layer's forward + backward (loss = sum of all outputs), the current layers next
  to the layers before the speed work (``_layers_before.py``) and to PyTorch's;
- one KWS training step (forward, backward, gradient clipping, Adam) at batch 64 of
  the H = 128 models, the inner loop of a proxy trial;
- one core's matmul peak: a 1024^3 float32 matmul.
Each layer and training step is also given as a share of that peak, counting only the
design's useful MACs (6 x MACs x batch FLOPs for forward plus backward). Medians are
printed and written to a JSON file with the load average.
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
from typing import Callable

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import _layers_before as before  # noqa: E402
from cost_models import analytic_cost, load_device  # noqa: E402
from spaces import RNN_CELLS, ArchConfig, GhostGRU, GhostLSTM, build_model  # noqa: E402


class LiteralGhostGRU(nn.Module):
    """DESIGN.md's equations written out per step, for comparison: per-step input
    projection, per-step concatenation of [h, g], one matmul per gate."""

    def __init__(self, reference: GhostGRU):
        super().__init__()
        self.layer = reference.layers[0]

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, None]:
        layer = self.layer
        m = layer.intrinsic_size
        w_ir, w_iz, w_ic = layer.weight_ih.split(m)
        b_ir, b_iz, b_ic = layer.bias_ih.split(m)
        w_hr, w_hz, w_hc_full = layer.weight_hh.split(m)
        b_hr, b_hz, b_hc = layer.bias_hh.split(m)
        h = inputs.new_zeros(inputs.shape[0], m)
        g = inputs.new_zeros(inputs.shape[0], layer.ghost_size)
        outputs = []
        for x in inputs.unbind(1):
            state = torch.cat([h, g], dim=1)
            r = torch.sigmoid(x @ w_ir.T + b_ir + state @ w_hr.T + b_hr)
            z = torch.sigmoid(x @ w_iz.T + b_iz + state @ w_hz.T + b_hz)
            c = torch.tanh(x @ w_ic.T + b_ic + r * (h @ w_hc_full[:, :m].T + b_hc) + g @ w_hc_full[:, m:].T)
            h = (1 - z) * c + z * h
            g = layer.ghost(h)
            outputs.append(torch.cat([h, g], dim=1))
        return torch.stack(outputs, dim=1), None


def layer_macs(cell: str, hidden: int, ratio: float, cheap_op: str, frames: int, inputs: int = 10) -> int:
    """Useful MACs of one layer over one sequence (the analytic model's count)."""
    config = ArchConfig(cell=cell, hidden=hidden, ghost_ratio=ratio, cheap_op=cheap_op, frames=frames)
    head = hidden * config.output_size
    return analytic_cost(config, load_device("cortex-m7")).macs - head


def time_layer(module: nn.Module, inputs: torch.Tensor, repeats: int, warmup: int = 3) -> float:
    """Median seconds of forward, sum, backward."""
    samples = []
    for index in range(warmup + repeats):
        module.zero_grad(set_to_none=True)
        start = time.perf_counter()
        outputs, _ = module(inputs)
        outputs.sum().backward()
        if index >= warmup:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def training_step(model: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """One proxy-training step as ``search.training`` runs it."""
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)

    def step() -> None:
        loss = nn.functional.cross_entropy(model(features), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def time_calls(function: Callable[[], None], repeats: int, warmup: int = 3) -> float:
    samples = []
    for index in range(warmup + repeats):
        start = time.perf_counter()
        function()
        if index >= warmup:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def build_with(layers: str, config: ArchConfig) -> nn.Module:
    """``build_model(config)`` with the current layers or those before the speed work."""
    if layers == "current":
        return build_model(config)
    saved = dict(RNN_CELLS)
    RNN_CELLS.update(gru=before.GhostGRU, lstm=before.GhostLSTM)
    try:
        return build_model(config)
    finally:
        RNN_CELLS.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", default=str(Path(__file__).with_name("layer_speed.json")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_at_start = os.getloadavg()[0]

    torch.manual_seed(0)
    H = args.hidden
    inputs = torch.randn(args.batch, args.frames, 10)
    layers: dict[str, tuple[nn.Module, tuple[str, float, str]]] = {
        "nn.GRU": (nn.GRU(10, H, batch_first=True), ("gru", 1, "linear")),
        "GhostGRU r=1": (GhostGRU(10, H, ghost_ratio=1), ("gru", 1, "linear")),
        "GhostGRU r=1, before": (before.GhostGRU(10, H, ghost_ratio=1), ("gru", 1, "linear")),
        "GhostGRU r=2 linear": (GhostGRU(10, H, ghost_ratio=2, cheap_op="linear"), ("gru", 2, "linear")),
        "GhostGRU r=2 linear, before": (before.GhostGRU(10, H, ghost_ratio=2, cheap_op="linear"), ("gru", 2, "linear")),
        "literal equations r=2 linear": (
            LiteralGhostGRU(GhostGRU(10, H, ghost_ratio=2, cheap_op="linear")), ("gru", 2, "linear")),
        "GhostGRU r=2 channelwise": (GhostGRU(10, H, ghost_ratio=2, cheap_op="channelwise"), ("gru", 2, "channelwise")),
        "GhostGRU r=4 linear": (GhostGRU(10, H, ghost_ratio=4, cheap_op="linear"), ("gru", 4, "linear")),
        "nn.LSTM": (nn.LSTM(10, H, batch_first=True), ("lstm", 1, "linear")),
        "GhostLSTM r=1": (GhostLSTM(10, H, ghost_ratio=1), ("lstm", 1, "linear")),
        "GhostLSTM r=2 linear": (GhostLSTM(10, H, ghost_ratio=2, cheap_op="linear"), ("lstm", 2, "linear")),
        "GhostLSTM r=2 linear, before": (before.GhostLSTM(10, H, ghost_ratio=2, cheap_op="linear"), ("lstm", 2, "linear")),
    }
    step_designs = {
        f"KWS step GRU H={H}": ArchConfig(hidden=H, ghost_ratio=1),
        f"KWS step GhostGRU H={H} r=2": ArchConfig(hidden=H, ghost_ratio=2),
        f"KWS step GhostLSTM H={H} r=2": ArchConfig(cell="lstm", hidden=H, ghost_ratio=2),
    }
    features = torch.randn(args.batch, 49, 10)
    labels = torch.randint(0, 12, (args.batch,))
    steps: dict[str, tuple[Callable[[], None], int]] = {}
    for name, config in step_designs.items():
        for code in ("current", "before"):
            torch.manual_seed(0)
            label = name if code == "current" else f"{name}, before"
            macs = analytic_cost(config, load_device("cortex-m7")).macs
            steps[label] = (training_step(build_with(code, config), features, labels), macs)
    big = torch.randn(1024, 1024)

    def matmul() -> None:
        torch.mm(big, big)

    # Interleave everything round by round so that drifts in machine load hit all alike.
    rounds = 3
    per_round = max(1, args.repeats // rounds)
    samples: dict[str, list[float]] = {name: [] for name in [*layers, *steps, "matmul 1024^3"]}
    for _ in range(rounds):
        samples["matmul 1024^3"].append(time_calls(matmul, per_round))
        for name, (module, _) in layers.items():
            samples[name].append(time_layer(module, inputs, per_round))
        for name, (step, _) in steps.items():
            samples[name].append(time_calls(step, per_round))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    peak = 2 * 1024**3 / medians["matmul 1024^3"]
    load_at_end = os.getloadavg()[0]

    print(f"one torch thread, H={H}, T={args.frames}, batch={args.batch}; load average {load_at_start:.2f} -> {load_at_end:.2f}")
    print(f"one core's matmul peak (1024^3 float32): {peak / 1e9:.1f} GFLOP/s")
    print(f"  {'forward+backward':34s} {'ms':>8s} {'x torch':>8s} {'% of peak':>10s}")
    results = []
    for name, (_, (cell, ratio, cheap_op)) in layers.items():
        seconds = medians[name]
        baseline = medians["nn.LSTM" if cell == "lstm" else "nn.GRU"]
        flops = 6 * layer_macs(cell, H, ratio, cheap_op, args.frames) * args.batch
        share = flops / seconds / peak
        results.append({"module": name, "median_ms": 1000 * seconds, "ratio_to_torch": seconds / baseline, "share_of_peak": share})
        print(f"  {name:34s} {1000 * seconds:8.2f} {seconds / baseline:8.2f} {100 * share:9.1f} %")
    print(f"  {'training step (batch ' + str(args.batch) + ')':34s} {'ms':>8s} {'x before':>8s} {'% of peak':>10s}")
    training = []
    for name, (_, macs) in steps.items():
        seconds = medians[name]
        share = 6 * macs * args.batch / seconds / peak
        ratio = seconds / medians[f"{name}, before"] if not name.endswith("before") else 1.0
        training.append({"step": name, "median_ms": 1000 * seconds, "ratio_to_before": ratio, "share_of_peak": share})
        print(f"  {name:34s} {1000 * seconds:8.2f} {ratio:8.2f} {100 * share:9.1f} %")
    ghost, gru = medians["GhostGRU r=2 linear"], medians["nn.GRU"]
    ghost_step = {entry["step"]: entry for entry in training}[f"KWS step GhostGRU H={H} r=2"]
    print(f"GhostGRU r=2 / nn.GRU forward+backward: {ghost / gru:.2f}x (target <= 0.8x); "
          f"KWS step GhostGRU r=2 at {100 * ghost_step['share_of_peak']:.1f} % of peak (target >= 25 %)")
    payload = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": [load_at_start, load_at_end],
        "hidden": H,
        "frames": args.frames,
        "batch": args.batch,
        "repeats": args.repeats,
        "matmul_peak_gflops": peak / 1e9,
        "layers": results,
        "training_steps": training,
    }
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

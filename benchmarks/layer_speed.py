"""Forward + backward time of GhostGRU against nn.GRU on this CPU.

    python benchmarks/layer_speed.py [--repeats 30] [--out benchmarks/layer_speed.json]

H = 128, T = 49, batch 64, input 10 (the Hello Edge MFCC front end). Each timing is
the median of ``--repeats`` runs after warm-up, all in one process so the ratios are
comparable; the figures are printed and written to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from spaces import GhostGRU, GhostLSTM


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
        for step in range(inputs.shape[1]):
            x = inputs[:, step]
            state = torch.cat([h, g], dim=1)
            r = torch.sigmoid(x @ w_ir.T + b_ir + state @ w_hr.T + b_hr)
            z = torch.sigmoid(x @ w_iz.T + b_iz + state @ w_hz.T + b_hz)
            c = torch.tanh(x @ w_ic.T + b_ic + r * (h @ w_hc_full[:, :m].T + b_hc) + g @ w_hc_full[:, m:].T)
            h = (1 - z) * c + z * h
            g = layer.ghost(h)
            outputs.append(torch.cat([h, g], dim=1))
        return torch.stack(outputs, dim=1), None


def time_forward_backward(module: nn.Module, inputs: torch.Tensor, repeats: int, warmup: int = 5) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", default=str(Path(__file__).with_name("layer_speed.json")))
    args = parser.parse_args()

    torch.manual_seed(0)
    inputs = torch.randn(args.batch, args.frames, 10)
    candidates: dict[str, nn.Module] = {
        "nn.GRU": nn.GRU(10, args.hidden, batch_first=True),
        "GhostGRU r=1": GhostGRU(10, args.hidden, ghost_ratio=1),
        "GhostGRU r=2 linear": GhostGRU(10, args.hidden, ghost_ratio=2, cheap_op="linear"),
        "literal equations r=2 linear": LiteralGhostGRU(GhostGRU(10, args.hidden, ghost_ratio=2, cheap_op="linear")),
        "GhostGRU r=2 channelwise": GhostGRU(10, args.hidden, ghost_ratio=2, cheap_op="channelwise"),
        "GhostGRU r=4 linear": GhostGRU(10, args.hidden, ghost_ratio=4, cheap_op="linear"),
        "nn.LSTM": nn.LSTM(10, args.hidden, batch_first=True),
        "GhostLSTM r=2 linear": GhostLSTM(10, args.hidden, ghost_ratio=2, cheap_op="linear"),
    }
    # Interleave the candidates round by round so that drifts in machine load hit all alike.
    rounds = 3
    per_round = max(1, args.repeats // rounds)
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, module in candidates.items():
            samples[name].append(time_forward_backward(module, inputs, per_round))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    reference = {"GRU": medians["nn.GRU"], "LSTM": medians["nn.LSTM"]}
    results = []
    print(f"forward+backward, H={args.hidden}, T={args.frames}, batch={args.batch}, torch threads={torch.get_num_threads()}")
    for name, seconds in medians.items():
        baseline = reference["LSTM" if "LSTM" in name else "GRU"]
        results.append({"module": name, "median_ms": 1000 * seconds, "ratio_to_torch": seconds / baseline})
        print(f"  {name:28s} {1000 * seconds:8.2f} ms   x{seconds / baseline:.2f} of torch")
    payload = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "hidden": args.hidden,
        "frames": args.frames,
        "batch": args.batch,
        "repeats": args.repeats,
        "results": results,
    }
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

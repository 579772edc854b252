"""Speed of the bit-exact integer simulation on a validation-sized batch, by chunk size.

``cost_models.deploy.simulate`` runs clips in chunks of ``SIMULATION_CHUNK``; this script
times it on 2,400 clips of 49 frames (the default KWS validation split) for a few
designs and chunk sizes, beside the float32 PyTorch forward pass of the same model,
one torch thread, median of ``--repeats`` interleaved rounds. Every chunk size gives
the same integers (checked).

    python benchmarks/int8_simulation.py

Writes ``benchmarks/int8_simulation.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from _common import BENCHMARKS, machine, markdown_table, write_json

import cost_models.deploy._quantize as quantize_module
from cost_models.deploy import quantize_model, simulate
from spaces import ArchConfig, build_model

DESIGNS = [ArchConfig(hidden=64, ghost_ratio=2.0), ArchConfig(hidden=128, ghost_ratio=2.0), ArchConfig(hidden=128, ghost_ratio=1.0), ArchConfig(cell="lstm", hidden=64, ghost_ratio=2.0, layers=2)]
CHUNKS = (64, 256, 1024, 4096)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(BENCHMARKS / "int8_simulation.json"))
    args = parser.parse_args()
    record = {"machine": machine(), "clips": args.clips, "default_chunk": quantize_module.SIMULATION_CHUNK, "rows": []}
    torch.set_num_threads(1)
    default_chunk = quantize_module.SIMULATION_CHUNK
    for config in DESIGNS:
        torch.manual_seed(0)
        model = build_model(config).eval()
        frames = torch.randn(args.clips, config.frames, config.input_size)
        quantized = quantize_model(model, config, calibration=frames)
        inputs = quantized.quantize_input(frames)
        times: dict[str, list[float]] = {}
        outputs = {}
        for _ in range(args.repeats):
            for chunk in CHUNKS:
                quantize_module.SIMULATION_CHUNK = chunk
                started = time.perf_counter()
                outputs[chunk] = simulate(quantized, inputs)
                times.setdefault(f"chunk {chunk}", []).append(time.perf_counter() - started)
            started = time.perf_counter()
            with torch.no_grad():
                model(frames)
            times.setdefault("float forward", []).append(time.perf_counter() - started)
        quantize_module.SIMULATION_CHUNK = default_chunk
        assert all(torch.equal(outputs[chunk], outputs[CHUNKS[0]]) for chunk in CHUNKS), "chunk sizes disagree"
        row = {"design": config.describe(), **{name: round(statistics.median(values), 3) for name, values in times.items()}}
        record["rows"].append(row)
        print(row, flush=True)
    print()
    print(markdown_table(record["rows"], ["design", *(f"chunk {chunk}" for chunk in CHUNKS), "float forward"]))
    write_json(__import__("pathlib").Path(args.out), record)


if __name__ == "__main__":
    main()

"""The synthetic corpus's mixing, spread over helper processes.

Mixing (placing each word, noise, rooms, microphones, then the features) is a third of a
cold corpus build, and in the calling process it runs on one core while the others wait.
Chunks of clips draw from their own random streams (``search.data._corpus._mix_chunk``),
so any process may mix any chunk: each helper gets the word pools of the splits once,
mixes a fixed share of the chunks (the i-th helper every n-th chunk) and sends each
chunk's features back as soon as it is done. The features are the same whatever the
number of helpers. Helpers run with one BLAS/OpenMP thread: on a busy machine NumPy's
multi-threaded BLAS made the mixing's small products about 3x slower.

Example:
    >>> from search.data._mixing import mixing_helpers
    >>> mixing_helpers(chunks=18) in (1, 2)
    True
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from search.data._espeak import _THREAD_VARIABLES, _decode, _encode, helper_processes

# Below this many chunks the calling process mixes them itself: a helper's start (it
# imports torch) costs more than it saves on a small corpus.
MIN_CHUNKS_FOR_HELPERS = 6

# One chunk of a split: (split, chunk number, the pool position of each clip's word or -1).
Chunk = tuple[str, int, list[int]]


def mixing_helpers(chunks: int, workers: Optional[int] = None) -> int:
    """How many helper processes mix ``chunks`` chunks (1: the calling process does)."""
    if chunks < MIN_CHUNKS_FOR_HELPERS:
        return 1
    return max(1, min(helper_processes(workers), chunks))


def _helper_environment() -> dict[str, str]:
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(part for part in (package_root, os.environ.get("PYTHONPATH", "")) if part)
    return {**os.environ, **{name: "1" for name in _THREAD_VARIABLES}, "PYTHONPATH": path}


def _run_helper(request: dict[str, Any], on_chunk: Callable[[str, int, np.ndarray], None]) -> None:
    with tempfile.TemporaryFile() as errors:
        helper = subprocess.Popen(
            [sys.executable, "-m", "search.data._mixing"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=_helper_environment(),
        )  # fmt: skip
        assert helper.stdin is not None and helper.stdout is not None
        try:
            helper.stdin.write(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
            helper.stdin.close()
            for _ in request["chunks"]:
                split, chunk, features = pickle.load(helper.stdout)
                on_chunk(split, chunk, features)
        except (EOFError, BrokenPipeError, pickle.UnpicklingError):
            pass  # the helper died; its exit status and last words say why
        finally:
            returncode = helper.wait()
        if returncode != 0:
            errors.seek(0)
            lines = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError("mixing the synthetic corpus failed: " + (lines[-1] if lines else f"exit {returncode}"))


def mix_in_helpers(
    config: Any, feature_name: str, pools: dict[str, list[np.ndarray]], chunks: Sequence[Chunk], helpers: int,
    progress: Optional[Callable[[int], None]] = None,
) -> dict[tuple[str, int], np.ndarray]:  # fmt: skip
    """Every chunk's features, ``{(split, chunk): features}``, mixed by ``helpers`` processes."""
    encoded = {split: _encode(pool) for split, pool in pools.items()}
    results: dict[tuple[str, int], np.ndarray] = {}
    lock = threading.Lock()

    def received(split: str, chunk: int, features: np.ndarray) -> None:
        with lock:
            results[(split, chunk)] = features
            if progress is not None:
                progress(len(features))

    requests = []
    for helper in range(helpers):
        share = list(chunks[helper::helpers])
        splits = sorted({split for split, _, _ in share})
        requests.append({"config": config, "feature_name": feature_name, "pools": {split: encoded[split] for split in splits}, "chunks": share})
    with ThreadPoolExecutor(max_workers=helpers) as pool:
        for future in [pool.submit(_run_helper, request, received) for request in requests if request["chunks"]]:
            future.result()
    return results


def _serve() -> None:
    """Helper process: a request on stdin; each chunk's (split, chunk, features) on stdout."""
    import torch

    from search.data._corpus import _mix_chunk

    torch.set_num_threads(1)
    request = pickle.loads(sys.stdin.buffer.read())
    pools = {split: _decode(payload) for split, payload in request["pools"].items()}
    for split, chunk, positions in request["chunks"]:
        features = _mix_chunk(request["config"], split, chunk, pools[split], positions, request["feature_name"])
        pickle.dump((split, chunk, features.numpy()), sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve()

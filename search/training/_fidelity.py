"""How much training a proxy gets (:class:`Fidelity`), and the training defaults.

Kept apart from the trainer (which needs torch) so that the command line can show the
defaults in ``--help`` without loading torch.

Example:
    >>> Fidelity(epochs=1).to_dict()["epochs"], Fidelity().batch_size_for("se")
    (1, 16)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional

# Epochs of ``search train`` (full training of an exported design).
DEFAULT_EPOCHS = 20

# An SE clip is 126 frames and the SE set is small: smaller batches give it enough steps
# (3 epochs at 64 reached 4.1 dB SI-SNRi, at 16 5.8 dB on 200 clips).
DEFAULT_BATCH_SIZES = {"kws": 64, "se": 16}


@dataclass(frozen=True)
class Fidelity:
    """How much training a proxy gets.

    ``data_fraction`` is the share of the training split used (stratified by class for
    KWS); ``batch_size`` None means the task's default (64 for KWS, 16 for SE); Adam's
    ``learning_rate`` of 5e-3 reached 67 % on the default corpus in 3 epochs where 3e-3
    reached 56 % (GhostGRU H=64, r=2); ``max_seconds`` optionally bounds the training wall
    time (None, the default: no limit; a wall-clock limit cuts trials short by how busy the
    machine is, and which trials are scored would then depend on the load); ``grad_clip`` bounds the
    gradient norm (without it one prototype run collapsed from 85 % to 49 %);
    ``threads`` is the torch thread count while training. One thread is the default:
    these models are too small for a second thread to pay, and on a busy 2-core machine
    two threads ran an epoch 3x slower than one; run two search workers to use both
    cores. Results do not depend on it. ``spec_augment`` masks bands of frames and
    feature dimensions of each KWS training clip (SE is never masked).
    """

    epochs: int = 3
    data_fraction: float = 1.0
    max_seconds: Optional[float] = None
    batch_size: Optional[int] = None
    learning_rate: float = 5e-3
    seed: int = 0
    grad_clip: float = 1.0
    threads: int = 1
    # SpecAugment-style time and frequency masks on the KWS training features
    # (search.training._augment); seeded like the rest, off by default.
    spec_augment: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not 0 < self.data_fraction <= 1:
            raise ValueError(f"data_fraction must be in (0, 1], got {self.data_fraction}")
        if self.max_seconds is not None and not (math.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise ValueError(f"max_seconds must be None (no limit) or a finite number > 0, got {self.max_seconds}")
        if (self.batch_size is not None and self.batch_size < 1) or self.threads < 1:
            raise ValueError("batch_size and threads must be >= 1")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")

    def batch_size_for(self, task: str) -> int:
        """The batch size used for a task: ``batch_size``, or the task's default."""
        return self.batch_size if self.batch_size is not None else DEFAULT_BATCH_SIZES[task]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fidelity":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fidelity key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(**data)

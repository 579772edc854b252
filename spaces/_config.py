"""The architecture of one design: a dataclass that every other part reads.

An :class:`ArchConfig` names everything needed to build a model and to cost it.
It round-trips through YAML so an exported design can be rebuilt elsewhere.

Example:
    >>> from spaces import ArchConfig
    >>> config = ArchConfig(task="kws", cell="gru", hidden=128, ghost_ratio=2.0)
    >>> config.intrinsic_size, config.ghost_size
    (64, 64)
    >>> ArchConfig.from_yaml(config.to_yaml()) == config
    True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import yaml

def describe_yaml_error(error: yaml.YAMLError) -> str:
    r"""PyYAML's problem with its line and column (1-based), in one line.

    Example:
        >>> try:
        ...     yaml.safe_load("hidden: 64\ncell: [gru\n")
        ... except yaml.YAMLError as error:
        ...     print(describe_yaml_error(error))
        expected ',' or ']', but got '<stream end>' at line 3, column 1 (in the flow sequence that starts at line 2, column 7)
    """
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem is None or mark is None:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    text = f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None:
        text += f" ({context.replace('while parsing a ', 'in the ')} that starts at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return text


TASKS = ("kws", "se")
CELLS = ("gru", "lstm")


@dataclass(frozen=True)
class FeatureFrontEnd:
    """Shape of a feature front end as the model sees it.

    The front end itself (``torch.stft`` + mel + DCT) lives with the data code;
    the model only needs its width and frame rate.
    """

    name: str
    dims: int  # features per frame
    window_samples: int
    hop_samples: int
    sample_rate: int = 16000

    @property
    def hop_ms(self) -> float:
        return 1000.0 * self.hop_samples / self.sample_rate

    def frames_for(self, samples: int) -> int:
        """Frames produced for ``samples`` of audio (no padding, Hello Edge convention)."""
        return 1 + (samples - self.window_samples) // self.hop_samples


FEATURE_FRONT_ENDS: dict[str, FeatureFrontEnd] = {
    # Hello Edge: 40 ms window, 20 ms stride, 10 MFCC -> 49 x 10 for 1 s.
    "mfcc10": FeatureFrontEnd("mfcc10", dims=10, window_samples=640, hop_samples=320),
    "logmel40": FeatureFrontEnd("logmel40", dims=40, window_samples=640, hop_samples=320),
    # SE: 16 ms Hann window with 50 % overlap (COLA, so the mask can be resynthesised);
    # 129 bins keep the input layer small enough for a microcontroller.
    "stft129": FeatureFrontEnd("stft129", dims=129, window_samples=256, hop_samples=128),
}


def intrinsic_size_for(hidden_size: int, ghost_ratio: float) -> int:
    """m = ceil(H / r); the epsilon keeps 120 / 1.2 from rounding up to 101."""
    if ghost_ratio < 1:
        raise ValueError(f"ghost_ratio must be >= 1, got {ghost_ratio}")
    return max(1, math.ceil(hidden_size / ghost_ratio - 1e-9))


@dataclass(frozen=True)
class ArchConfig:
    """One point of the GhostRNN design space.

    ``hidden`` is the width H the next layer sees; ``ghost_ratio`` r gives the
    intrinsic width m = ceil(H / r) computed by a real GRU/LSTM and the ghost width
    G = H - m made by ``cheap_op``. ``ghost_ratio=1`` is the plain GRU/LSTM.
    """

    task: str = "kws"
    cell: str = "gru"
    layers: int = 1
    hidden: int = 64
    ghost_ratio: float = 2.0
    cheap_op: str = "linear"
    activation: str = "tanh"
    groups: int = 2  # only read by the ``grouped`` cheap op
    features: str = "mfcc10"
    frames: int = 49  # frames per inference (KWS); SE is costed per frame
    classes: int = 12  # KWS output classes; SE outputs one mask value per bin

    def __post_init__(self) -> None:
        from spaces._cheap_ops import ACTIVATIONS, CHEAP_OPS  # avoid an import cycle

        _check_choice("task", self.task, TASKS)
        _check_choice("cell", self.cell, CELLS)
        _check_choice("cheap_op", self.cheap_op, tuple(CHEAP_OPS))
        _check_choice("activation", self.activation, tuple(ACTIVATIONS))
        _check_choice("features", self.features, tuple(FEATURE_FRONT_ENDS))
        for name in ("layers", "hidden", "groups", "frames", "classes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.ghost_ratio >= 1:
            raise ValueError(f"ghost_ratio must be >= 1, got {self.ghost_ratio!r}")
        # Normalise so that 2 and 2.0 give equal configs (and equal YAML).
        object.__setattr__(self, "ghost_ratio", float(self.ghost_ratio))

    @property
    def front_end(self) -> FeatureFrontEnd:
        return FEATURE_FRONT_ENDS[self.features]

    @property
    def input_size(self) -> int:
        return self.front_end.dims

    @property
    def output_size(self) -> int:
        """Classes for KWS; one mask value per input bin for SE."""
        return self.classes if self.task == "kws" else self.input_size

    @property
    def intrinsic_size(self) -> int:
        return intrinsic_size_for(self.hidden, self.ghost_ratio)

    @property
    def ghost_size(self) -> int:
        return self.hidden - self.intrinsic_size

    @property
    def is_baseline(self) -> bool:
        """True for the plain GRU/LSTM (no ghost states)."""
        return self.ghost_size == 0

    def canonical(self) -> "ArchConfig":
        """The same model with unused knobs at their defaults.

        A plain RNN has no cheap op, only ``grouped`` reads ``groups`` and the
        ``identity`` op applies no activation; configs that build the same model must
        compare equal so that a search never trains one design twice.
        """
        defaults = ArchConfig()
        changes: dict[str, Any] = {}
        if self.is_baseline:
            changes.update(cheap_op=defaults.cheap_op, activation=defaults.activation, groups=defaults.groups)
        else:
            if self.cheap_op != "grouped":
                changes["groups"] = defaults.groups
            if self.cheap_op == "identity":
                changes["activation"] = defaults.activation
        if self.task == "se":
            changes["frames"] = defaults.frames  # SE is costed and run per frame
            changes["classes"] = defaults.classes
        return dataclasses.replace(self, **changes) if changes else self

    def replace(self, **changes: Any) -> "ArchConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ArchConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown architecture key(s) {', '.join(unknown)}; "
                f"valid keys: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> "ArchConfig":
        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError("an architecture YAML must be a mapping of keys to values")
        # An exported model.yaml nests the architecture under `architecture:`.
        if "architecture" in data and isinstance(data["architecture"], dict):
            data = data["architecture"]
        return cls.from_dict(data)

    def describe(self) -> str:
        """A short human label, e.g. ``gru 2x128 r2 linear/tanh``."""
        if self.is_baseline:
            return f"{self.cell} {self.layers}x{self.hidden} (plain)"
        op = self.cheap_op + (f"{self.groups}" if self.cheap_op == "grouped" else "")
        return f"{self.cell} {self.layers}x{self.hidden} r{self.ghost_ratio:g} {op}/{self.activation}"


def load_config(path: str) -> ArchConfig:
    """Read an :class:`ArchConfig` from a YAML file (plain or an exported ``model.yaml``)."""
    with open(path, encoding="utf-8") as handle:
        return ArchConfig.from_yaml(handle.read())


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")

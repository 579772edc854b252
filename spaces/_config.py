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

from spaces._schema import Number, SchemaError, check_value, read_yaml_file, require_mapping

TASKS = ("kws", "se")
CELLS = ("gru", "lstm")


@dataclass(frozen=True)
class FeatureFrontEnd:
    """Shape of a feature front end as the model sees it.

    The model only needs its width and frame rate; the signal processing behind it
    (recipe, mel filterbank, DCT) is ``spaces.FEATURE_RECIPES`` and its companions,
    and the torch feature code is ``search.data.compute_features``.
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


# What a design may be: wide enough to mean something, small enough to build on a
# workstation (a 16-layer, 4096-wide GRU is far past any microcontroller already).
SIZE_RULES = {
    "layers": Number(low=1, high=16, integer=True),
    "hidden": Number(low=1, high=4096, integer=True),
    "groups": Number(low=1, high=4096, integer=True),
    "frames": Number(low=1, high=10000, integer=True),
    # A keyword spotter chooses between classes: one class has nothing to learn.
    "classes": Number(low=2, high=10000, integer=True),
}
GHOST_RATIO = Number(low=1, high=64)


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
        for name, rule in SIZE_RULES.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} = {value!r} is not an integer; accepted: {rule.accepted()}")
            check_value(value, rule, "", name, ValueError)
        if isinstance(self.ghost_ratio, bool) or not isinstance(self.ghost_ratio, (int, float)) or not GHOST_RATIO.low <= self.ghost_ratio <= GHOST_RATIO.high:
            raise ValueError(f"ghost_ratio must be >= 1 and <= {GHOST_RATIO.high:g}, got {self.ghost_ratio!r}")
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
    """Read an :class:`ArchConfig` from a YAML file (plain or an exported ``model.yaml``).

    Raises :class:`spaces.SchemaError` naming the file and the key for a file that is
    missing, binary, not YAML, or holds a value outside what a design may be.
    """
    data = require_mapping(read_yaml_file(path, "a design YAML (e.g. an exported model.yaml)"), str(path), "a design YAML")
    if "architecture" in data:
        data = require_mapping(data["architecture"], str(path), "its 'architecture' section")
    try:
        return ArchConfig.from_dict(data)
    except (TypeError, ValueError) as error:
        raise SchemaError(f"{path}: {str(error).splitlines()[0]}") from None


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")

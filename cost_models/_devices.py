"""Device profiles: the figures of a target that the cost models need, read from YAML.

The shipped profiles live in ``cost_models/devices/*.yaml`` with the source of every
figure next to it. A user adds a board by writing one such file and passing its path
(``--device path/to/board.yaml``).

Example:
    >>> from cost_models import load_device
    >>> device = load_device("cortex-m7")
    >>> device.clock_hz, device.sram_bytes, device.weight_dtype
    (216000000, 327680, 'int8')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from spaces import Choice, Number, Text, check_mapping, check_value, read_yaml_file

from cost_models._sizes import ACCEPTED_FORMS, SizeError, parse_size

DEVICES_DIR = Path(__file__).parent / "devices"

DTYPE_BYTES = {"int8": 1, "int16": 2, "int32": 4, "float16": 2, "float32": 4}


class DeviceError(ValueError):
    """Unknown device name or a profile file that cannot be used."""


@dataclass(frozen=True)
class CycleCosts:
    """Cycles the target spends per unit of work; latency = sum(work x cycles) / clock."""

    mac: float
    activation: float
    elementwise: float
    layer_call: float


@dataclass(frozen=True)
class FrontEndCycles:
    """Cycles per unit of feature front-end work (single-precision float), per hop.

    The units are ``cost_models._front_end.FrontEndWork``'s: a window sample, an FFT
    point, a radix-2 butterfly, a float multiply-accumulate, a log, a square root and
    an output feature.
    """

    samples: float
    fft_points: float
    butterflies: float
    macs: float
    logs: float
    roots: float
    outputs: float


@dataclass(frozen=True)
class CodeBytes:
    """Flash of the deployed code (the exported C library compiled for the core), in bytes.

    ``model``: the int8 kernels and model API of a one-layer keyword spotter; ``layer``:
    each further recurrent layer; ``ghost``: each layer with a cheap operation;
    ``unaligned``: each layer whose intrinsic width is not a multiple of 4 (the kernels'
    leftover rows); ``mask``: a speech-enhancement model's per-frame mask head instead of
    the classifier; ``mfcc``, ``logmel``, ``magnitude``: the feature front end's code by
    kind. 0 where not modelled (float deployments run the model in a framework whose code
    is not the design's).
    """

    model: int = 0
    layer: int = 0
    ghost: int = 0
    unaligned: int = 0
    mask: int = 0
    mfcc: int = 0
    logmel: int = 0
    magnitude: int = 0

    def front_end(self, kind: str) -> int:
        return int(getattr(self, kind, 0))


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    clock_hz: int
    sram_bytes: int
    flash_bytes: int
    weight_dtype: str
    activation_dtype: str
    bias_dtype: str
    cycles: CycleCosts
    sources: dict[str, str] = field(default_factory=dict)
    path: str = ""
    # Measured cost model (cost_models._measured): the instruction set the generated C is
    # built for ("cortex-m7", ...; empty: none), and the average cycles per executed
    # instruction that turns emulated instruction counts into latency.
    isa: str = ""
    cycles_per_instruction: Optional[float] = None
    # Provenance of fitted cycle figures (date, design grid, residuals), if calibrated.
    calibration: dict[str, Any] = field(default_factory=dict)
    # The feature front end's cycles per unit of work (None: borrowed from the shipped
    # profile of the same isa, see cost_models._front_end) and the code's flash.
    front_end_cycles: Optional[FrontEndCycles] = None
    code_bytes: CodeBytes = field(default_factory=CodeBytes)

    @property
    def weight_bytes(self) -> int:
        return DTYPE_BYTES[self.weight_dtype]

    @property
    def activation_bytes(self) -> int:
        return DTYPE_BYTES[self.activation_dtype]

    @property
    def bias_bytes(self) -> int:
        return DTYPE_BYTES[self.bias_dtype]

    @property
    def is_quantized(self) -> bool:
        """Integer weights carry one float32 scale per weight tensor."""
        return not self.weight_dtype.startswith("float")

    def to_dict(self) -> dict[str, Any]:
        """The profile in its YAML form (sizes in bytes); ``device_from_dict`` reads it back."""
        return {
            "name": self.name,
            "description": self.description,
            "clock_mhz": self.clock_hz / 1e6,
            "sram": self.sram_bytes,
            "flash": self.flash_bytes,
            "weight_dtype": self.weight_dtype,
            "activation_dtype": self.activation_dtype,
            "bias_dtype": self.bias_dtype,
            "cycles": dataclasses.asdict(self.cycles),
            "sources": dict(self.sources),
            **({"isa": self.isa} if self.isa else {}),
            **({"cycles_per_instruction": self.cycles_per_instruction} if self.cycles_per_instruction is not None else {}),
            **({"calibration": dict(self.calibration)} if self.calibration else {}),
            **({"front_end_cycles": dataclasses.asdict(self.front_end_cycles)} if self.front_end_cycles is not None else {}),
            **({"code_bytes": dataclasses.asdict(self.code_bytes)} if self.code_bytes != CodeBytes() else {}),
        }


_REQUIRED = ("name", "clock_mhz", "sram", "flash", "weight_dtype", "cycles")
_CYCLE_KEYS = tuple(f.name for f in dataclasses.fields(CycleCosts))


def list_devices() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(path.stem for path in DEVICES_DIR.glob("*.yaml"))


def load_device(name_or_path: str) -> DeviceProfile:
    """A shipped profile by name, or a user's profile from a YAML path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise DeviceError(f"device profile file {name_or_path} not found; pass a shipped name ({', '.join(list_devices())}) or a YAML file path")
    else:
        path = DEVICES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise DeviceError(f"unknown device {name_or_path!r}; valid: {', '.join(list_devices())} (or a path to a profile YAML)")
    data = read_yaml_file(path, "a device profile", DeviceError)
    return device_from_dict(data, str(path))


# What a device profile may say. The ranges keep out what no microcontroller (or
# workstation) has, so a typo such as a negative clock or a cost of 1e400 cycles is
# refused before any trial records a negative or infinite latency.
MAX_MEMORY_BYTES = 2**40  # 1 TiB
_PROFILE_RULES = {
    "name": Text(),
    "clock_mhz": Number(low=0.001, high=100_000),  # 1 kHz to 100 GHz
    "weight_dtype": Choice(tuple(DTYPE_BYTES)),
    "activation_dtype": Choice(tuple(DTYPE_BYTES)),
    "bias_dtype": Choice(tuple(DTYPE_BYTES)),
    "cycles_per_instruction": Number(low=0, high=1000, low_open=True),
}
_CYCLE_RULES = {
    "mac": Number(low=0, high=1e6, low_open=True),  # every MAC costs something
    "activation": Number(low=0, high=1e6),
    "elementwise": Number(low=0, high=1e6),
    "layer_call": Number(low=0, high=1e9),
}
_SIZE_RULE = Number(low=1, high=MAX_MEMORY_BYTES, integer=True)
_FRONT_END_CYCLE_KEYS = tuple(f.name for f in dataclasses.fields(FrontEndCycles))
_FRONT_END_CYCLE_RULES = {key: Number(low=0, high=1e6) for key in _FRONT_END_CYCLE_KEYS}
_CODE_RULES = {f.name: Number(low=0, high=MAX_MEMORY_BYTES, integer=True) for f in dataclasses.fields(CodeBytes)}


def _optional_section(data: dict[str, Any], key: str, rules: dict, origin: str, required: bool) -> Optional[dict[str, Any]]:
    """An optional mapping of the profile, checked key by key (all keys when ``required``)."""
    section = data.get(key)
    if section is None:
        return None
    if not isinstance(section, dict):
        raise DeviceError(f"device profile {origin}: '{key}' must be a mapping with keys {', '.join(rules)}")
    unknown = sorted(set(section) - set(rules))
    if unknown:
        raise DeviceError(f"device profile {origin}: '{key}' has unknown keys {', '.join(map(str, unknown))}; accepted: {', '.join(rules)}")
    optional = () if required else tuple(rules)
    checked = check_mapping(section, rules, f"device profile {origin}", DeviceError, optional=optional, prefix=f"{key}.")
    return {name: checked[name] for name in rules if checked.get(name) is not None}


def _memory_bytes(data: dict[str, Any], key: str, origin: str) -> int:
    try:
        size = parse_size(data[key])
    except (SizeError, TypeError, ValueError, OverflowError):
        raise DeviceError(f"device profile {origin}: {key} = {data[key]!r} is not a size; accepted: {ACCEPTED_FORMS}") from None
    return check_value(size, _SIZE_RULE, f"device profile {origin}", key, DeviceError)


def device_from_dict(data: Any, origin: str = "<dict>") -> DeviceProfile:
    if not isinstance(data, dict):
        raise DeviceError(f"device profile {origin} must be a mapping with keys {', '.join(_REQUIRED)}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise DeviceError(f"device profile {origin} lacks {', '.join(missing)} (required: {', '.join(_REQUIRED)})")
    cycles = data["cycles"]
    if not isinstance(cycles, dict) or any(key not in cycles for key in _CYCLE_KEYS):
        raise DeviceError(f"device profile {origin}: 'cycles' needs {', '.join(_CYCLE_KEYS)}")
    where = f"device profile {origin}"
    defaults = {"activation_dtype": "int16", "bias_dtype": "int32"}
    checked = check_mapping(defaults | data, _PROFILE_RULES, where, DeviceError, optional=("cycles_per_instruction",))
    cycle_costs = check_mapping(cycles, _CYCLE_RULES, where, DeviceError, prefix="cycles.")
    dtypes = {key: checked[key] for key in ("weight_dtype", "activation_dtype", "bias_dtype")}
    cpi = checked.get("cycles_per_instruction")
    calibration = data.get("calibration") or {}
    if not isinstance(calibration, dict):
        raise DeviceError(f"device profile {origin}: 'calibration' must be a mapping")
    sources = data.get("sources") or {}
    if not isinstance(sources, dict):
        raise DeviceError(f"device profile {origin}: 'sources' must be a mapping of a figure to where it comes from")
    front_end_cycles = _optional_section(data, "front_end_cycles", _FRONT_END_CYCLE_RULES, origin, required=True)
    code_bytes = _optional_section(data, "code_bytes", _CODE_RULES, origin, required=False) or {}
    return DeviceProfile(
        name=checked["name"],
        description=str(data.get("description", "")),
        clock_hz=int(round(checked["clock_mhz"] * 1e6)),
        sram_bytes=_memory_bytes(data, "sram", origin),
        flash_bytes=_memory_bytes(data, "flash", origin),
        cycles=CycleCosts(**{key: cycle_costs[key] for key in _CYCLE_KEYS}),
        sources={str(k): str(v) for k, v in sources.items()},
        path=origin,
        isa=str(data.get("isa") or ""),
        cycles_per_instruction=cpi,
        calibration=calibration,
        front_end_cycles=FrontEndCycles(**front_end_cycles) if front_end_cycles is not None else None,
        code_bytes=CodeBytes(**{name: int(value) for name, value in code_bytes.items()}),
        **dtypes,
    )

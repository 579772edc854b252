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

import yaml

from spaces import describe_yaml_error

from cost_models._sizes import SizeError, parse_size

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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DeviceError(f"device profile {path} is not valid YAML: {describe_yaml_error(error)}") from None
    return device_from_dict(data, str(path))


def device_from_dict(data: Any, origin: str = "<dict>") -> DeviceProfile:
    if not isinstance(data, dict):
        raise DeviceError(f"device profile {origin} must be a mapping with keys {', '.join(_REQUIRED)}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise DeviceError(f"device profile {origin} lacks {', '.join(missing)} (required: {', '.join(_REQUIRED)})")
    cycles = data["cycles"]
    if not isinstance(cycles, dict) or any(key not in cycles for key in _CYCLE_KEYS):
        raise DeviceError(f"device profile {origin}: 'cycles' needs {', '.join(_CYCLE_KEYS)}")
    dtypes = {key: data.get(key, default) for key, default in (("weight_dtype", "int8"), ("activation_dtype", "int16"), ("bias_dtype", "int32"))}
    for key, value in dtypes.items():
        if value not in DTYPE_BYTES:
            raise DeviceError(f"device profile {origin}: {key} {value!r} is not one of {', '.join(DTYPE_BYTES)}")
    cpi = data.get("cycles_per_instruction")
    if cpi is not None and (not isinstance(cpi, (int, float)) or isinstance(cpi, bool) or cpi <= 0):
        raise DeviceError(f"device profile {origin}: cycles_per_instruction must be a positive number, got {cpi!r}")
    calibration = data.get("calibration") or {}
    if not isinstance(calibration, dict):
        raise DeviceError(f"device profile {origin}: 'calibration' must be a mapping")
    try:
        return DeviceProfile(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            clock_hz=int(round(float(data["clock_mhz"]) * 1e6)),
            sram_bytes=parse_size(data["sram"]),
            flash_bytes=parse_size(data["flash"]),
            cycles=CycleCosts(**{key: float(cycles[key]) for key in _CYCLE_KEYS}),
            sources={str(k): str(v) for k, v in (data.get("sources") or {}).items()},
            path=origin,
            isa=str(data.get("isa") or ""),
            cycles_per_instruction=None if cpi is None else float(cpi),
            calibration=calibration,
            **dtypes,
        )
    except (SizeError, TypeError, ValueError) as error:
        raise DeviceError(f"device profile {origin}: {error}") from None

"""Cost models of GhostRNN designs on target devices.

* analytic: closed-form params, MACs, flash, RAM and latency (used inside the search);
* counted: fvcore and FlopCounterMode on the real module (checks the analytic MACs);
* device profiles: YAML files with the figures of each target and their sources;
* measured: the design quantised to int8 (bit-exact PyTorch simulation), generated as
  C, cross-compiled for a Cortex-M and executed in an emulator (instructions, ELF
  flash/RAM, latency = instructions x cycles per instruction / clock); needs the
  ``isa`` extra (``pip install ghostrnn-search[isa]``).

Example:
    >>> from spaces import ArchConfig
    >>> from cost_models import Limits, analytic_cost, load_device, parse_size
    >>> cost = analytic_cost(ArchConfig(hidden=64), load_device("cortex-m7"), Limits(memory_bytes=parse_size("100KB")))
    >>> cost.fits
    True
"""

from cost_models._analytic import CostReport, LayerCost, Limits, analytic_cost, check_limits, realtime_ms
from cost_models._counted import CountedCost, counted_macs, example_input
from cost_models._devices import DTYPE_BYTES, CycleCosts, DeviceError, DeviceProfile, device_from_dict, list_devices, load_device
from cost_models._calibrate import CALIBRATION_GRIDS, CalibrationResult, calibrate_device, fit_cycles, write_calibration
from cost_models.deploy import GENERATOR_VERSION, CSource, generate_c, generate_c_float
from cost_models._diskcache import cache_root
from cost_models.deploy import ElfSizes, EmulationResult, elf_sizes, emulator_available, run_elf
from cost_models._measured import MeasuredCost, measure_cost, measurement_available
from cost_models.deploy import QuantizationError, QuantizedModel, quantize_model, simulate
from cost_models._sizes import ACCEPTED_FORMS, SIZE_UNITS, SizeError, canonical_size, format_size, parse_size, size_units
from cost_models.deploy import INSTALL_HINT, TARGETS, Target, ToolchainError, build_elf, build_host_library, run_host, target_for

__all__ = [
    "ACCEPTED_FORMS",
    "SIZE_UNITS",
    "CALIBRATION_GRIDS",
    "CalibrationResult",
    "calibrate_device",
    "fit_cycles",
    "write_calibration",
    "DTYPE_BYTES",
    "GENERATOR_VERSION",
    "INSTALL_HINT",
    "TARGETS",
    "CSource",
    "ElfSizes",
    "EmulationResult",
    "MeasuredCost",
    "QuantizationError",
    "QuantizedModel",
    "Target",
    "ToolchainError",
    "build_elf",
    "build_host_library",
    "cache_root",
    "elf_sizes",
    "emulator_available",
    "generate_c",
    "generate_c_float",
    "measure_cost",
    "measurement_available",
    "quantize_model",
    "run_elf",
    "run_host",
    "simulate",
    "target_for",
    "CostReport",
    "CountedCost",
    "CycleCosts",
    "DeviceError",
    "DeviceProfile",
    "LayerCost",
    "Limits",
    "SizeError",
    "analytic_cost",
    "check_limits",
    "counted_macs",
    "device_from_dict",
    "example_input",
    "canonical_size",
    "format_size",
    "list_devices",
    "load_device",
    "parse_size",
    "size_units",
    "realtime_ms",
]

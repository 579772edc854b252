"""Cost models of GhostRNN designs on target devices.

* analytic: closed-form params, MACs, flash, RAM and latency (used inside the search);
* front end: the feature front end's tables, code, RAM and time per hop, part of every
  analytic cost (the device computes the features too);
* counted: fvcore and FlopCounterMode on the real module (checks the analytic MACs);
* device profiles: YAML files with the figures of each target and their sources;
* measured: the design quantised to int8 (bit-exact PyTorch simulation), generated as
  C, cross-compiled for a Cortex-M and executed in an emulator (instructions, ELF
  flash/RAM, latency = instructions x cycles per instruction / clock); needs the
  ``isa`` extra (``pip install ".[isa]"`` in the checkout).

Example:
    >>> from spaces import ArchConfig
    >>> from cost_models import Limits, analytic_cost, load_device, parse_size
    >>> cost = analytic_cost(ArchConfig(hidden=64), load_device("cortex-m7"), Limits(memory_bytes=parse_size("100KB")))
    >>> cost.fits
    True
"""

from typing import TYPE_CHECKING

from spaces import lazy_exports

# Each name is imported from its module on first use, so that `search --help` does not
# wait for torch, plotly and Optuna; the imports below are what the names are.
if TYPE_CHECKING:
    from cost_models._analytic import CostReport, LayerCost, Limits, analytic_cost, check_limits, realtime_ms
    from cost_models._counted import CountedCost, counted_macs, example_input
    from cost_models._front_end import FrontEndCost, FrontEndLayout, FrontEndWork, front_end_cost, layout_of
    from cost_models._devices import DTYPE_BYTES, CodeBytes, CycleCosts, FrontEndCycles, DeviceError, DeviceProfile, device_from_dict, list_devices, load_device
    from cost_models._calibrate import CALIBRATION_GRIDS, CalibrationResult, calibrate_device, fit_cycles, write_calibration
    from cost_models.deploy import GENERATOR_VERSION, CSource, generate_c, generate_c_float
    from cost_models._diskcache import cache_root
    from cost_models.deploy import ElfSizes, EmulationResult, elf_sizes, emulator_available, run_elf
    from cost_models._measured import MeasuredCost, measure_cost, measurement_available
    from cost_models.deploy import QuantizationError, QuantizedModel, quantize_model, simulate
    from cost_models._sizes import ACCEPTED_FORMS, SIZE_UNITS, SizeError, canonical_size, format_size, parse_size, size_units
    from cost_models.deploy import INSTALL_HINT, TARGETS, Target, ToolchainError, build_elf, build_host_library, run_host, target_for

_EXPORTS = {
    "CostReport": "cost_models._analytic",
    "LayerCost": "cost_models._analytic",
    "Limits": "cost_models._analytic",
    "analytic_cost": "cost_models._analytic",
    "check_limits": "cost_models._analytic",
    "realtime_ms": "cost_models._analytic",
    "CountedCost": "cost_models._counted",
    "counted_macs": "cost_models._counted",
    "example_input": "cost_models._counted",
    "DTYPE_BYTES": "cost_models._devices",
    "CodeBytes": "cost_models._devices",
    "CycleCosts": "cost_models._devices",
    "FrontEndCycles": "cost_models._devices",
    "FrontEndCost": "cost_models._front_end",
    "FrontEndLayout": "cost_models._front_end",
    "FrontEndWork": "cost_models._front_end",
    "front_end_cost": "cost_models._front_end",
    "layout_of": "cost_models._front_end",
    "DeviceError": "cost_models._devices",
    "DeviceProfile": "cost_models._devices",
    "device_from_dict": "cost_models._devices",
    "list_devices": "cost_models._devices",
    "load_device": "cost_models._devices",
    "CALIBRATION_GRIDS": "cost_models._calibrate",
    "CalibrationResult": "cost_models._calibrate",
    "calibrate_device": "cost_models._calibrate",
    "fit_cycles": "cost_models._calibrate",
    "write_calibration": "cost_models._calibrate",
    "GENERATOR_VERSION": "cost_models.deploy",
    "CSource": "cost_models.deploy",
    "generate_c": "cost_models.deploy",
    "generate_c_float": "cost_models.deploy",
    "cache_root": "cost_models._diskcache",
    "ElfSizes": "cost_models.deploy",
    "EmulationResult": "cost_models.deploy",
    "elf_sizes": "cost_models.deploy",
    "emulator_available": "cost_models.deploy",
    "run_elf": "cost_models.deploy",
    "MeasuredCost": "cost_models._measured",
    "measure_cost": "cost_models._measured",
    "measurement_available": "cost_models._measured",
    "QuantizationError": "cost_models.deploy",
    "QuantizedModel": "cost_models.deploy",
    "quantize_model": "cost_models.deploy",
    "simulate": "cost_models.deploy",
    "ACCEPTED_FORMS": "cost_models._sizes",
    "SIZE_UNITS": "cost_models._sizes",
    "SizeError": "cost_models._sizes",
    "canonical_size": "cost_models._sizes",
    "format_size": "cost_models._sizes",
    "parse_size": "cost_models._sizes",
    "size_units": "cost_models._sizes",
    "INSTALL_HINT": "cost_models.deploy",
    "TARGETS": "cost_models.deploy",
    "Target": "cost_models.deploy",
    "ToolchainError": "cost_models.deploy",
    "build_elf": "cost_models.deploy",
    "build_host_library": "cost_models.deploy",
    "run_host": "cost_models.deploy",
    "target_for": "cost_models.deploy",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


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
    "CodeBytes",
    "CycleCosts",
    "FrontEndCycles",
    "FrontEndCost",
    "FrontEndLayout",
    "FrontEndWork",
    "front_end_cost",
    "layout_of",
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

"""Cost models of GhostRNN designs on target devices.

* analytic: closed-form params, MACs, flash, RAM and latency (used inside the search);
* counted: fvcore and FlopCounterMode on the real module (checks the analytic MACs);
* device profiles: YAML files with the figures of each target and their sources.

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
from cost_models._sizes import ACCEPTED_FORMS, SizeError, format_size, parse_size

__all__ = [
    "ACCEPTED_FORMS",
    "DTYPE_BYTES",
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
    "format_size",
    "list_devices",
    "load_device",
    "parse_size",
    "realtime_ms",
]

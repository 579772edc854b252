"""What a worker may say about the study it joins.

``search worker`` takes its settings from the study, so it needs no options beyond
the storage and the study name. A user may still state what they expect (``--device
cortex-m4``, ``--budget 64KB``, ...): each stated value is compared with the stored
one, and any difference stops the worker before it trains anything, since its trials
would not be comparable with the others'.

Example:
    >>> from search._settings import RunSettings
    >>> stored = RunSettings(task="kws", space={"name": "s"}, space_fingerprint="f", device={"name": "cortex-m7"}, budget_bytes=100_000)
    >>> join_conflicts(stored, device="cortex-m7", budget="100KB")
    []
"""

from __future__ import annotations

from typing import Any, Optional, Union

from cost_models import load_device, parse_size
from spaces import load_space

from search._settings import RunSettings, parse_objectives


def join_conflicts(
    stored: RunSettings,
    *,
    device: Optional[str] = None,
    budget: Optional[Union[str, int]] = None,
    ram_budget: Optional[Union[str, int]] = None,
    latency_budget: Optional[float] = None,
    task: Optional[str] = None,
    space: Optional[str] = None,
    objectives: Optional[str] = None,
    sampler: Optional[str] = None,
    seed: Optional[int] = None,
    epochs: Optional[int] = None,
    data_fraction: Optional[float] = None,
    utterances_per_class: Optional[int] = None,
    precision: Optional[str] = None,
) -> list[str]:
    """One line per stated setting that differs from the study's; None means not stated."""
    lines: list[str] = []

    def check(name: str, stated: Any, theirs: Any) -> None:
        if stated is not None and stated != theirs:
            lines.append(f"{name}: study has {theirs!r}, this worker was given {stated!r}")

    # Devices and spaces may be given by name or by YAML path: compare what they load to.
    check("device", load_device(device).name if device is not None else None, stored.device.get("name"))
    if space is not None:
        loaded = load_space(space)
        if loaded.fingerprint() != stored.space_fingerprint:
            lines.append(f"space: study has {stored.space.get('name')!r}, this worker was given {loaded.name!r} (a different design space)")
    check("budget", parse_size(budget) if budget is not None else None, stored.budget_bytes)
    check("ram_budget", parse_size(ram_budget) if ram_budget is not None else None, stored.ram_budget_bytes)
    check("latency_budget", latency_budget, stored.latency_budget_ms)
    check("task", task, stored.task)
    check("objectives", parse_objectives(objectives) if objectives is not None else None, stored.objectives)
    check("sampler", sampler, stored.sampler)
    check("seed", seed, stored.seed)
    check("epochs", epochs, stored.fidelity.get("epochs"))
    check("data_fraction", data_fraction, stored.fidelity.get("data_fraction"))
    check("utterances_per_class", utterances_per_class, stored.utterances_per_class)
    check("precision", precision, stored.precision)
    return lines

"""The settings of a search run, stored inside the study so it can be resumed or joined.

Everything that decides what a trial's numbers mean (task, space, device, budgets,
objectives, fidelity) is fixed for the life of a study: resuming or joining with a
different value is refused, because the old and new trials would not be comparable.

Example:
    >>> settings = RunSettings(task="kws", space={"name": "s"}, space_fingerprint="abc", device={"name": "cortex-m7"})
    >>> RunSettings.from_json(settings.to_json()) == settings
    True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from cost_models import Limits


# What a design is scored at: as deployed (int8, the bit-exact simulation of its C code)
# or as trained (the float32 PyTorch model).
PRECISIONS = ("int8", "float")
DEFAULT_PRECISION = "int8"
# What `search evaluate` scores: the list files' test split, or every clip.
EVALUATION_SPLITS = ("test", "all")

# The study user attribute that holds a run's settings (JSON).
SETTINGS_ATTR = "ghostrnn_settings"

# Keys whose change would make old and new trials incomparable.
BINDING_KEYS = (
    "task",
    "space_fingerprint",
    "device",
    "budget_bytes",
    "ram_budget_bytes",
    "latency_budget_ms",
    "objectives",
    "fidelity",
    "data_dir",
    "keywords",
    "clip_seconds",
    "utterances_per_class",
    "latency_model",
    "precision",
    "cost_model",
)
# Fidelity keys a resumed study may change (the latest command's value is kept).
UNBOUND_FIDELITY_KEYS = ("max_seconds",)
# Studies made before the int8 score was added scored designs in float32.
PRECISION_OF_OLD_STUDIES = "float"
# What the costs of a study's trials count. 1: the model's weights and buffers; 2: also the
# feature front end (tables, code, audio buffers, time per hop) and the model's code.
COST_MODEL_VERSION = 2
COST_MODEL_OF_OLD_STUDIES = 1

# Optuna's samplers and numpy take seeds of 32 bits.
MAX_SEED = 2**32 - 1

METRIC_NAMES = {"kws": "accuracy", "se": "si_snri_db"}
OBJECTIVE_DIRECTIONS = {
    "metric": "maximize",
    "memory": "minimize",
    "latency": "minimize",
    "macs": "minimize",
    "flash": "minimize",
    "ram": "minimize",
    "params": "minimize",
}
# What a user may type for the task metric.
METRIC_ALIASES = ("metric", "accuracy", "si-snri", "si_snri")


def parse_objectives(text: str) -> list[str]:
    """``accuracy,memory,latency`` -> ``["metric", "memory", "latency"]``."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    result = []
    for name in names:
        canonical = "metric" if name in METRIC_ALIASES else name
        if canonical not in OBJECTIVE_DIRECTIONS:
            valid = ", ".join(("accuracy (or si-snri)",) + tuple(OBJECTIVE_DIRECTIONS)[1:])
            raise ValueError(f"unknown objective {name!r}; valid: {valid}")
        if canonical in result:
            raise ValueError(f"objective {name!r} is listed twice")
        result.append(canonical)
    if "metric" not in result:
        raise ValueError("the objectives must include the task metric (accuracy for kws, si-snri for se)")
    if len(result) < 2:
        raise ValueError("give the metric and at least one cost, e.g. accuracy,memory")
    return result


@dataclass(frozen=True)
class RunSettings:
    task: str
    space: dict[str, Any]  # the space's content, so a worker needs no file
    space_fingerprint: str
    device: dict[str, Any]  # the device profile's content, likewise
    budget_bytes: Optional[int] = None
    ram_budget_bytes: Optional[int] = None
    latency_budget_ms: Optional[float] = None
    objectives: list[str] = field(default_factory=lambda: ["metric", "memory", "latency"])
    sampler: str = "tpe"
    seed: int = 0
    fidelity: dict[str, Any] = field(default_factory=dict)
    data_dir: Optional[str] = None
    keywords: Optional[list[str]] = None  # --keywords; None: the folder's default words
    clip_seconds: float = 1.0
    utterances_per_class: Optional[int] = None
    latency_model: str = "analytic"
    precision: str = "int8"  # the metric objective: "int8" (as deployed) or "float" (as trained)
    command: str = ""
    # How sizes are shown ("si": KB, "iec": KiB): the system the budget was typed in.
    size_units: str = "iec"
    cost_model: int = COST_MODEL_VERSION

    @property
    def metric_name(self) -> str:
        return METRIC_NAMES[self.task]

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVE_DIRECTIONS[name] for name in self.objectives]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunSettings":
        data = json.loads(text)
        data.setdefault("precision", PRECISION_OF_OLD_STUDIES)
        data.setdefault("cost_model", COST_MODEL_OF_OLD_STUDIES)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def conflicts_with(self, stored: "RunSettings") -> list[str]:
        """Human lines for every binding setting that differs from the stored one."""
        lines = []
        for key in BINDING_KEYS:
            mine, theirs = getattr(self, key), getattr(stored, key)
            if key == "device":
                mine, theirs = mine.get("name"), theirs.get("name")
            if key == "cost_model" and mine != theirs:
                lines.append(f"its costs leave out the feature front end and the code (cost model {theirs}; this version counts them, {mine})")
                continue
            if key == "fidelity":
                # The time limit decides only whether a trial is cut short, and a cut-short
                # trial is never scored: what a score means does not depend on it.
                mine, theirs = ({k: v for k, v in side.items() if k not in UNBOUND_FIDELITY_KEYS} for side in (mine, theirs))
            if mine != theirs:
                lines.append(f"{key}: study has {theirs!r}, this command asks for {mine!r}")
        return lines


def limits_of(settings: RunSettings) -> "Limits":
    """The hard limits of a run's designs: budget, RAM budget, latency budget."""
    from cost_models import Limits

    return Limits(memory_bytes=settings.budget_bytes, ram_bytes=settings.ram_budget_bytes, latency_ms=settings.latency_budget_ms, units=settings.size_units)

"""``search export``: pick a trial of a run and write it out for a training repository.

The chosen design's proxy-trained weights are loaded into ``spaces.build_model``,
checked against the validation scores the search recorded (float32, and int8 as
deployed: the integer simulation at the stored input scale), and written with a
``model.yaml`` (architecture, front end and normalisation, training recipe, costs on
the device, provenance) and an ONNX graph checked against PyTorch.

Example (after ``search run ... --out runs``):

    >>> from search.results._report import open_run
    >>> from search.results._export import export_run
    >>> result = export_run(open_run("runs/kws-cortex-m7-100KB"), trial="best", pick="knee", to="exported")  # doctest: +SKIP
    >>> result.files.model_yaml  # doctest: +SKIP
    PosixPath('exported/model.yaml')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Union

import torch
from optuna.trial import FrozenTrial, TrialState

from cost_models import DeviceProfile, analytic_cost, device_from_dict, list_devices, load_device
from reports import PICKS, ExportedFiles, onnx_difference, pick_index, write_export
from spaces import ArchConfig, build_model

from search._errors import StudyError, UsageError
from search.results._c_export import c_library_summary
from search.results._report import OpenedRun, tool_version
from search._settings import RunSettings, limits_of
from search.storage import mask_url
from search.training import Fidelity, deployed_score, state_dict_from_bytes

# The exported weights must reproduce the validation score the search recorded.
EXPORT_FORMATS = ("all", "onnx", "c")
METRIC_TOLERANCE = 1e-6
ONNX_TOLERANCE = 1e-5


@dataclass
class ExportResult:
    """What ``search export`` wrote and checked."""

    files: Optional[ExportedFiles]  # None for --format c
    trial: int
    design: str
    metric_name: str
    recorded_metric: float  # float32 validation metric the search recorded
    recomputed_metric: Optional[float]
    onnx_max_difference: Optional[float]
    document: dict[str, Any]
    c_library: Any = None  # search.results._c_export.CLibraryExport, when the C library was written
    # int8 (as deployed): recorded by the search (None for a study from before int8
    # scores) and recomputed from the exported weights at the recorded input scale.
    recorded_int8: Optional[float] = None
    recomputed_int8: Optional[float] = None
    precision: str = "float"  # which of the two the search scored the design with


def select_trial(run: OpenedRun, trial: Union[str, int] = "best", pick: str = "accuracy") -> FrozenTrial:
    """The trial ``--trial``/``--pick`` name, or a one-line error saying why it cannot be exported."""
    if pick not in PICKS:
        raise UsageError(f"unknown --pick {pick!r}; valid: {', '.join(PICKS)}")
    trials = {t.number: t for t in run.study.get_trials(deepcopy=False)}
    name = run.study.study_name
    front_numbers = ", ".join(str(int(n)) for n in run.pareto["number"]) if len(run.pareto) else "none yet"
    if str(trial) == "best":
        if run.pareto.empty:
            raise StudyError(f"study {name!r} has no feasible trained design yet; run more trials, or export one with --trial N")
        number = int(run.pareto.loc[pick_index(run.pareto, run.objectives, pick), "number"])
    else:
        try:
            number = int(str(trial))
        except ValueError:
            raise UsageError(f"--trial must be 'best' or a trial number, got {trial!r}") from None
    if number not in trials:
        span = f"trials 0-{max(trials)}" if trials else "no trials yet"
        raise StudyError(f"trial {number} does not exist in study {name!r} ({span}); Pareto-optimal: {front_numbers}")
    chosen = trials[number]
    attrs = chosen.user_attrs
    design = attrs.get("design", "?")
    if chosen.state == TrialState.FAIL:
        reason = attrs.get("train_reason") or "its process stopped or raised"
        raise StudyError(f"trial {number} ({design}) failed ({reason}) and has no model to export; Pareto-optimal: {front_numbers}")
    if chosen.state != TrialState.COMPLETE:
        raise StudyError(f"trial {number} ({design}) is {chosen.state.name.lower()}, not finished; wait for it or pick another (Pareto-optimal: {front_numbers})")
    if not attrs.get("feasible", False):
        why = "; ".join(attrs.get("violations", [])) or "over a limit"
        raise StudyError(f"trial {number} ({design}) is infeasible ({why}) and was never trained; Pareto-optimal: {front_numbers}")
    if not attrs.get("trained", False):
        raise StudyError(f"trial {number} ({design}) was not trained ({attrs.get('train_status', 'no result')}); Pareto-optimal: {front_numbers}")
    return chosen


def weights_path(run: OpenedRun, trial: FrozenTrial) -> Path:
    """Where the trial's proxy-trained weights are (the run folder wins over the stored path)."""
    candidates = []
    if run.run_dir is not None and trial.user_attrs.get("design_key"):
        candidates.append(run.run_dir / "weights" / f"{trial.user_attrs['design_key']}.pt")
    if trial.user_attrs.get("weights"):
        candidates.append(Path(trial.user_attrs["weights"]))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    shown = ", ".join(str(c) for c in candidates) or "none recorded"
    raise StudyError(
        f"the proxy-trained weights of trial {trial.number} are missing ({shown}); they stay on the machine that trained "
        "them: export there, or copy its runs/<study>/weights folder here"
    )


def load_trial_weights(path: Path, trial: FrozenTrial) -> dict[str, torch.Tensor]:
    """The state dict in ``path``, refused (naming the trial) unless it is the one trained.

    The file must match the SHA-256 the trial recorded when it saved its weights (older
    studies recorded none), load as a state dict of tensors, and hold only finite values.
    """
    import hashlib

    where = f"the weights of trial {trial.number} ({path})"
    fix = "re-run its design in a new study, or export another trial"
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise StudyError(f"{where} cannot be read ({error.strerror}); {fix}") from None
    expected = trial.user_attrs.get("weights_sha256")
    if expected is not None and hashlib.sha256(raw).hexdigest() != expected:
        raise StudyError(f"{where} are damaged: the file differs from the one the trial saved (checksum mismatch); {fix}")
    return state_dict_from_bytes(raw, where, fix, StudyError)


def _device_section(settings: RunSettings, device: DeviceProfile, directory: Path) -> tuple[str, dict[str, Any]]:
    """How to name the device on a command line: a shipped profile by name, else a device.yaml beside."""
    if device.name in list_devices() and load_device(device.name).to_dict() == device.to_dict():
        return device.name, {"name": device.name, "profile": device.name}
    import yaml

    path = directory / "device.yaml"
    path.write_text(yaml.safe_dump(settings.device, sort_keys=False), encoding="utf-8")
    return str(path), {"name": device.name, "profile": "device.yaml"}


def _cost_command(device_arg: str, settings: RunSettings) -> str:
    parts = ["search", "cost", "--config", "model.yaml", "--device", device_arg]
    if settings.budget_bytes is not None:
        parts += ["--budget", str(settings.budget_bytes)]
    if settings.ram_budget_bytes is not None:
        parts += ["--ram-budget", str(settings.ram_budget_bytes)]
    if settings.latency_budget_ms is not None:
        parts += ["--latency-budget", repr(settings.latency_budget_ms)]
    return " ".join(parts + ["--json"])


def _load_data(settings: RunSettings, progress: bool):
    from search.data import load_task_data

    return load_task_data(settings, progress=progress)


def _features_section(config: ArchConfig, data: Any) -> dict[str, Any]:
    front = config.front_end
    section: dict[str, Any] = {
        "name": front.name,
        "dims": front.dims,
        "sample_rate": front.sample_rate,
        "window_samples": front.window_samples,
        "hop_samples": front.hop_samples,
    }
    if config.task == "kws":
        section["frames"] = config.frames
        section["computed_by"] = "search.data.compute_features(waveforms, name)"
        section["input"] = "(features - mean) / std, shape [batch, frames, dims]"
    else:
        section["computed_by"] = "search.data.log_magnitude(waveforms)"
        section["input"] = "(log magnitudes - mean) / std, shape [batch, frames, bins]; the model outputs a [0, 1] mask"
    section["normalization"] = {"mean": [round(float(v), 7) for v in data.mean], "std": [round(float(v), 7) for v in data.std]}
    return section


def _training_section(settings: RunSettings, trial: FrozenTrial, data: Any) -> dict[str, Any]:
    fidelity = Fidelity.from_dict(trial.user_attrs.get("fidelity") or settings.fidelity)
    recipe = fidelity.to_dict()
    recipe["batch_size"] = fidelity.batch_size_for(settings.task)
    recipe["optimizer"] = "adam"
    recipe["loss"] = "cross_entropy" if settings.task == "kws" else "negative SI-SNR of the resynthesised estimate"
    source = {"task": settings.task, "seed": settings.seed, "data_dir": settings.data_dir, "utterances_per_class": settings.utterances_per_class}
    if settings.data_dir is not None:
        source |= {"keywords": settings.keywords, "clip_seconds": settings.clip_seconds}
    if settings.task == "kws":
        source["description"] = data.source
        source["classes"] = list(data.class_names)
    attrs = trial.user_attrs
    name = settings.metric_name
    result = {
        "metric_name": name,
        "validation_metric": attrs.get("metric"),
        "precision": settings.precision,
        "validation_metric_float": attrs.get(f"{name}_float", attrs.get("metric") if settings.precision == "float" else None),
        "validation_metric_int8": attrs.get(f"{name}_int8"),
        "int8_drop": attrs.get(f"{name}_drop"),
        "int8_input_scale": attrs.get("int8_input_scale"),
        "status": attrs.get("train_status"),
        "seconds": attrs.get("train_seconds"),
        "curve": attrs.get("curve", []),
    }
    return {"recipe": recipe, "data": source, "proxy_result": result, "full_training": "search train model.yaml --epochs N"}


def _example_input(config: ArchConfig, data: Any) -> torch.Tensor:
    """A real input of the validation split (batch 2), fixing the ONNX graph's frame count."""
    split = data.validation
    inputs = split.features if config.task == "kws" else split.inputs
    return inputs[:2].clone()


def _recompute_metric(model: torch.nn.Module, data: Any, task: str) -> float:
    from search.training import evaluate_kws, evaluate_se

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # proxy training evaluated on one thread; keep the same arithmetic
    try:
        return evaluate_kws(model, data.validation) if task == "kws" else evaluate_se(model, data.validation)
    finally:
        torch.set_num_threads(threads)


def recorded_float_metric(settings: RunSettings, attrs: dict[str, Any]) -> float:
    """The float32 validation metric a trial recorded (``metric`` itself in a float study)."""
    value = attrs.get(f"{settings.metric_name}_float")
    return float(attrs["metric"] if value is None else value)


def _recompute_int8(config: ArchConfig, model: torch.nn.Module, data: Any, attrs: dict[str, Any]) -> Optional[float]:
    """The int8 score of the exported weights, at the trial's recorded input scale when it has one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return deployed_score(config, model, data, input_scale=attrs.get("int8_input_scale")).metric
    finally:
        torch.set_num_threads(threads)


def export_run(
    run: OpenedRun,
    trial: Union[str, int] = "best",
    pick: str = "accuracy",
    to: Union[str, Path, None] = None,
    onnx: bool = True,
    progress: bool = True,
    formats: str = "all",
) -> ExportResult:
    """Export one trial of ``run`` to ``to`` (default ``exported/<study>-trial<N>``).

    ``formats``: ``onnx`` (model.yaml, weights.pt, model.onnx), ``c`` (the C library
    alone, in ``to``) or ``all`` (both; the C library in ``to/c``).
    """
    if formats not in EXPORT_FORMATS:
        raise UsageError(f"unknown --format {formats!r}; valid: {', '.join(EXPORT_FORMATS)}")
    chosen = select_trial(run, trial, pick)
    settings = run.settings
    attrs = chosen.user_attrs
    config = ArchConfig.from_dict(attrs["config"])
    path = weights_path(run, chosen)
    state_dict = load_trial_weights(path, chosen)
    model = build_model(config)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise StudyError(f"the weights in {path} do not fit trial {chosen.number}'s design ({str(error).splitlines()[0]})") from None
    model.eval()
    directory = Path(to) if to is not None else Path("exported") / f"{run.study.study_name}-trial{chosen.number}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {directory} ({error.strerror}); pass a writable --to") from None

    data = _load_data(settings, progress)
    recomputed = _recompute_metric(model, data, settings.task)
    recomputed_int8 = _recompute_int8(config, model, data, attrs)
    device = device_from_dict(settings.device, origin=f"device {settings.device.get('name')}")
    device_arg, device_section = _device_section(settings, device, directory)
    cost = analytic_cost(config, device, limits_of(settings)).to_dict()
    cost.pop("config")
    limits = {"budget_bytes": settings.budget_bytes, "ram_budget_bytes": settings.ram_budget_bytes, "latency_budget_ms": settings.latency_budget_ms}
    example = _example_input(config, data)
    document: dict[str, Any] = {
        "architecture": config.to_dict(),
        "design": config.describe(),
        "features": _features_section(config, data),
        "training": _training_section(settings, chosen, data),
        "cost": {"profile": device_section["profile"], "limits": limits, "command": _cost_command(device_arg, settings), **cost},
        "files": {"weights": "weights.pt", "onnx": "model.onnx" if onnx else None},
        "onnx": {
            "input": "features",
            "output": "output",
            "input_shape": ["batch", "frames", int(example.shape[2])],
            "note": f"any batch size and any number of frames (the search used {int(example.shape[1])}): the recurrent step runs in an ONNX Scan",
        }
        if onnx
        else None,
        "provenance": {
            "study": run.study.study_name,
            "storage": mask_url(run.storage_url),
            "run_dir": str(run.run_dir.resolve()) if run.run_dir is not None else None,
            "trial": chosen.number,
            "selected_by": f"--trial {trial}" + (f" --pick {pick}" if str(trial) == "best" else ""),
            "duplicate_of": attrs.get("duplicate_of"),
            "design_key": attrs.get("design_key"),
            "weights_source": str(path.resolve()),
            "search_command": settings.command,
            "exported_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "tool": f"ghostrnn-search {tool_version()}",
            "versions": attrs.get("versions", {}),
        },
    }
    c_library = None
    if formats in ("c", "all"):
        from search.results._c_export import export_c_library

        c_library = export_c_library(directory if formats == "c" else directory / "c", model, config, data, f"trial {chosen.number} of {run.study.study_name}: {config.describe()}")
        document["files"]["c_library"] = "." if formats == "c" else "c/"
    if formats == "c":
        return ExportResult(None, chosen.number, config.describe(), settings.metric_name, float(attrs["metric"]), recomputed, None, document, c_library)
    files = write_export(directory, document, model.state_dict(), model if onnx else None, example if onnx else None)
    difference = None
    if files.onnx is not None:
        # Also at another length: the graph's frames axis is free.
        half = example[:, : max(1, example.shape[1] // 2)]
        differences = [onnx_difference(files.onnx, model, inputs) for inputs in (example, half)]
        difference = None if None in differences else max(differences)  # type: ignore[type-var]
    if difference is not None and difference > ONNX_TOLERANCE:
        raise StudyError(f"ONNX Runtime differs from PyTorch by {difference:.3g} (> {ONNX_TOLERANCE:g}) on trial {chosen.number}; model.onnx is not trustworthy")
    return ExportResult(
        files=files,
        trial=chosen.number,
        design=config.describe(),
        metric_name=settings.metric_name,
        recorded_metric=recorded_float_metric(settings, attrs),
        recomputed_metric=recomputed,
        onnx_max_difference=difference,
        document=document,
        c_library=c_library,
        recorded_int8=attrs.get(f"{settings.metric_name}_int8"),
        recomputed_int8=recomputed_int8,
        precision=settings.precision,
    )


def export_summary(result: ExportResult) -> str:
    """What ``search export`` prints."""
    metric = result.metric_name
    shown = (lambda v: f"{100 * v:.2f} % accuracy") if metric == "accuracy" else (lambda v: f"{v:.2f} dB SI-SNRi")
    same = result.recomputed_metric is not None and abs(result.recomputed_metric - result.recorded_metric) <= METRIC_TOLERANCE
    lines = [
        f"exported trial {result.trial}: {result.design}",
        f"  validation {shown(result.recorded_metric)} float32 (proxy training)"
        + (", reproduced by the exported weights" if same else f"; the exported weights give {shown(result.recomputed_metric or 0.0)}"),
    ]
    if result.recorded_int8 is not None:
        same_int8 = result.recomputed_int8 is not None and abs(result.recomputed_int8 - result.recorded_int8) <= METRIC_TOLERANCE
        lines.append(
            f"  validation {shown(result.recorded_int8)} int8 as deployed"
            + (", reproduced by the exported int8 model" if same_int8 else f"; the exported int8 model gives {shown(result.recomputed_int8) if result.recomputed_int8 is not None else 'no score (no integer form)'}")
        )
    elif result.recomputed_int8 is not None:
        lines.append(f"  validation {shown(result.recomputed_int8)} int8 as deployed (not recorded by this older study)")
    lines[-1] += f"; the search scored {result.precision}"
    cost = result.document["cost"]
    lines.append(f"  {cost['memory_bytes']:,} bytes memory, {cost['latency_ms']:.3f} ms on {cost['device']}, {cost['macs']:,} MACs")
    for path in (result.files.model_yaml, result.files.weights, result.files.onnx) if result.files is not None else ():
        if path is not None:
            lines.append(f"wrote {path}")
    if result.onnx_max_difference is not None:
        lines.append(f"  ONNX Runtime matches PyTorch within {result.onnx_max_difference:.2g}")
    if result.c_library is not None:
        lines += c_library_summary(result.c_library)
    if result.files is not None:
        lines.append(f"\nnext: search train {result.files.model_yaml} --epochs 20   (full-fidelity training of this design)")
    return "\n".join(lines)

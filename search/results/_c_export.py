"""``search export --format c``: the trained design as a C99 library with its front end, checked.

The design's weights are quantised (input scale from the training features, the range
the deployed front end produces), written by ``cost_models.deploy.write_c_library``
with the front end the search trained on (``search.data``'s recipe: mel filterbank,
DCT or STFT magnitudes, and the training mean/std), then compiled with the host C
compiler and run on the validation split: its int32 logits (KWS) or int16 masks (SE)
must equal the integer simulation bit for bit.

Example (after ``search run ... --out runs``):

    >>> from search.results._report import open_run
    >>> from search.results import export_run
    >>> export_run(open_run("runs/kws-cortex-m7-100KB"), trial="best", to="exported", formats="c")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from cost_models.deploy import (
    FrontEndSpec,
    LibraryError,
    ToolchainError,
    build_library_driver,
    host_compiler,
    quantize_model,
    run_library_driver,
    simulate,
    write_c_library,
)
from spaces import ArchConfig

from search._errors import StudyError, UsageError

CHECK_CLIPS = 64  # validation clips the compiled library is checked on


@dataclass
class CLibraryExport:
    """What the C export wrote and how it was checked."""

    files: list[Path]
    checked_clips: int  # validation clips run through the compiled library (0: no host compiler)
    mismatched_clips: int
    int8_accuracy: Optional[float]  # KWS: validation accuracy of the integer model (simulation)
    note: str = ""
    int8_si_snr_improvement_db: Optional[float] = None  # SE: of the integer model's masks (simulation)


def front_end_spec(config: ArchConfig, mean: torch.Tensor, std: torch.Tensor) -> FrontEndSpec:
    """The numbers of a front end as ``search.data`` computes it (KWS features, SE log magnitudes)."""
    from search.data import FEATURE_RECIPES, dct_matrix, mel_filterbank

    front = config.front_end
    recipe = FEATURE_RECIPES[front.name]
    kinds = ("mfcc", "logmel") if config.task == "kws" else ("magnitude",)
    if recipe.kind not in kinds:
        raise UsageError(f"--format c exports {config.task} front ends of kind {', '.join(kinds)}; {front.name} is {recipe.kind}: use --format onnx")
    mel = recipe.kind in ("mfcc", "logmel")
    filterbank = mel_filterbank(recipe.mel_bands, recipe.n_fft, front.sample_rate, recipe.f_min, recipe.f_max) if mel else None
    dct = dct_matrix(recipe.mel_bands, front.dims) if recipe.kind == "mfcc" else None
    return FrontEndSpec(
        name=front.name, kind=recipe.kind, sample_rate=front.sample_rate, window_samples=front.window_samples,
        hop_samples=front.hop_samples, n_fft=recipe.n_fft, filterbank=filterbank, dct=dct, log_floor=recipe.log_floor,
        mean=torch.as_tensor(mean, dtype=torch.float32), std=torch.as_tensor(std, dtype=torch.float32),
    )


def export_c_library(directory: Path, model: torch.nn.Module, config: ArchConfig, data: Any, description: str) -> CLibraryExport:
    """Write and check the C library of a trained design (``data``: its ``KwsData`` or ``SeData``)."""
    speech_enhancer = config.task == "se"
    features = data.validation.inputs if speech_enhancer else data.validation.features
    quantized = quantize_model(model, config, calibration=data.train.inputs if speech_enhancer else data.train.features)
    class_names = [] if speech_enhancer else list(data.class_names)
    try:
        files = write_c_library(directory, quantized, front_end_spec(config, data.mean, data.std), class_names, description)
    except LibraryError as error:
        raise UsageError(f"cannot export trial as C: {error}") from None
    inputs = quantized.quantize_input(features)
    expected = simulate(quantized, inputs)
    accuracy = si_snr_gain = None
    if len(features) and speech_enhancer:
        from search.data import apply_mask, si_snr_improvement

        noisy = data.validation.noisy
        si_snr_gain = float(si_snr_improvement(apply_mask(expected.float() / 32768, noisy), noisy, data.validation.clean).mean())
    elif len(features):
        accuracy = float((expected.argmax(dim=1) == data.validation.labels).double().mean())
    if host_compiler() is None:
        return CLibraryExport(files, 0, 0, accuracy, "no host C compiler: the library was not compiled or checked here", si_snr_gain)
    clips = min(CHECK_CLIPS, len(features))
    try:
        driver = build_library_driver(directory)
        produced = run_library_driver(driver, "model", inputs[:clips].numpy())
    except ToolchainError as error:
        raise StudyError(f"the exported C library does not build or run: {error}") from None
    finally:
        for leftover in directory.glob("check_driver*"):
            leftover.unlink()
    produced = torch.from_numpy(produced.copy()).long().reshape(expected[:clips].shape)
    mismatched = int((produced != expected[:clips]).reshape(clips, -1).any(dim=1).sum())
    if mismatched:
        raise StudyError(f"the exported C library differs from the integer simulation on {mismatched} of {clips} validation clips")
    return CLibraryExport(files, clips, 0, accuracy, int8_si_snr_improvement_db=si_snr_gain)


def c_library_summary(export: CLibraryExport) -> list[str]:
    """The lines ``search export`` prints about the C library."""
    folder = export.files[0].parent
    lines = [f"wrote the C library to {folder}/ ({', '.join(path.name for path in export.files)})"]
    if export.checked_clips:
        lines.append(f"  compiled with the host C compiler: bit-identical to the int8 simulation on {export.checked_clips} validation clips")
    if export.int8_accuracy is not None:
        lines.append(f"  int8 validation accuracy {100 * export.int8_accuracy:.2f} %")
    if export.int8_si_snr_improvement_db is not None:
        lines.append(f"  int8 validation SI-SNR improvement {export.int8_si_snr_improvement_db:.2f} dB")
    if export.note:
        lines.append(f"  {export.note}")
    lines.append(f"  build: make -C {folder}   (see README.md, 'Deploy to a microcontroller')")
    return lines

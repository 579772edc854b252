"""``search export --format c``: the trained design as a C99 library with its front end, checked.

The design's weights are quantised (input scale from the training features, the range
the deployed front end produces), written by ``cost_models.deploy.write_c_library``
with the front end the search trained on (``search.data``'s recipe, mel filterbank,
DCT and the training mean/std), then compiled with the host C compiler and run on the
validation split: its int32 logits must equal the integer simulation bit for bit.

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
    int8_accuracy: Optional[float]  # validation accuracy of the integer model (simulation)
    note: str = ""


def front_end_spec(config: ArchConfig, mean: torch.Tensor, std: torch.Tensor) -> FrontEndSpec:
    """The numbers of a KWS front end as ``search.data.compute_features`` computes it."""
    from search.data import FEATURE_RECIPES, dct_matrix, mel_filterbank

    front = config.front_end
    recipe = FEATURE_RECIPES[front.name]
    if recipe.kind not in ("mfcc", "logmel"):
        raise UsageError(f"--format c exports keyword-spotting front ends (mfcc, logmel); {front.name} is {recipe.kind}: use --format onnx")
    filterbank = mel_filterbank(recipe.mel_bands, recipe.n_fft, front.sample_rate, recipe.f_min, recipe.f_max)
    dct = dct_matrix(recipe.mel_bands, front.dims) if recipe.kind == "mfcc" else None
    return FrontEndSpec(
        name=front.name, kind=recipe.kind, sample_rate=front.sample_rate, window_samples=front.window_samples,
        hop_samples=front.hop_samples, n_fft=recipe.n_fft, filterbank=filterbank, dct=dct, log_floor=recipe.log_floor,
        mean=torch.as_tensor(mean, dtype=torch.float32), std=torch.as_tensor(std, dtype=torch.float32),
    )


def export_c_library(directory: Path, model: torch.nn.Module, config: ArchConfig, data: Any, description: str) -> CLibraryExport:
    """Write and check the C library of a trained KWS design (``data``: its ``KwsData``)."""
    if config.task != "kws":
        raise UsageError("--format c exports keyword-spotting designs; export speech-enhancement designs with --format onnx")
    quantized = quantize_model(model, config, calibration=data.train.features)
    try:
        files = write_c_library(directory, quantized, front_end_spec(config, data.mean, data.std), list(data.class_names), description)
    except LibraryError as error:
        raise UsageError(f"cannot export trial as C: {error}") from None
    features = data.validation.features
    inputs = quantized.quantize_input(features)
    expected = simulate(quantized, inputs)
    accuracy = float((expected.argmax(dim=1) == data.validation.labels).double().mean()) if len(features) else None
    if host_compiler() is None:
        return CLibraryExport(files, 0, 0, accuracy, "no host C compiler: the library was not compiled or checked here")
    clips = min(CHECK_CLIPS, len(features))
    try:
        driver = build_library_driver(directory)
        produced = run_library_driver(driver, "model", inputs[:clips].numpy())
    except ToolchainError as error:
        raise StudyError(f"the exported C library does not build or run: {error}") from None
    finally:
        for leftover in directory.glob("check_driver*"):
            leftover.unlink()
    mismatched = int((torch.from_numpy(produced.copy()).long() != expected[:clips]).any(dim=1).sum())
    if mismatched:
        raise StudyError(f"the exported C library differs from the integer simulation on {mismatched} of {clips} validation clips")
    return CLibraryExport(files, clips, 0, accuracy)


def c_library_summary(export: CLibraryExport) -> list[str]:
    """The lines ``search export`` prints about the C library."""
    folder = export.files[0].parent
    lines = [f"wrote the C library to {folder}/ ({', '.join(path.name for path in export.files)})"]
    if export.checked_clips:
        lines.append(f"  compiled with the host C compiler: bit-identical to the int8 simulation on {export.checked_clips} validation clips")
    if export.int8_accuracy is not None:
        lines.append(f"  int8 validation accuracy {100 * export.int8_accuracy:.2f} %")
    if export.note:
        lines.append(f"  {export.note}")
    lines.append(f"  build: make -C {folder}   (see README.md, 'Deploy to a microcontroller')")
    return lines

"""Write an exported design: ``model.yaml``, ``weights.pt`` and ``model.onnx``.

``model.yaml`` nests the architecture under ``architecture:`` so that
``spaces.load_config`` reads it directly, and keeps beside it everything a training
repository needs to reproduce or deploy the design (front end and normalisation,
training recipe, costs on the device, provenance). The ONNX graph is exported for a
fixed number of frames (the model's time loop is unrolled) with a free batch axis.

Example:
    >>> import tempfile, torch
    >>> from spaces import ArchConfig, build_model, load_config
    >>> config = ArchConfig(hidden=16, ghost_ratio=2)
    >>> model = build_model(config)
    >>> folder = tempfile.mkdtemp()
    >>> files = write_export(folder, {"architecture": config.to_dict()}, model.state_dict())
    >>> rebuilt = build_model(load_config(files.model_yaml))
    >>> rebuilt.load_state_dict(torch.load(files.weights))
    <All keys matched successfully>
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
import yaml
from torch import nn

from spaces import ArchConfig, Number, SchemaError, Text, check_mapping, read_yaml_file, require_mapping

MODEL_FORMAT = "ghostrnn-search-model/1"
ONNX_OPSET = 17
INPUT_NAME = "features"
OUTPUT_NAME = "output"

YAML_HEADER = """\
# A GhostRNN design exported by ghostrnn-search.
# Rebuild it in any project that has `pip install ghostrnn-search`:
#   import torch
#   from spaces import build_model, load_config
#   model = build_model(load_config("model.yaml"))
#   model.load_state_dict(torch.load("weights.pt"))
# Costs: `search cost --config model.yaml --device <device> --json` (see cost.command).
"""


@dataclass(frozen=True)
class ExportedFiles:
    """Paths of an export; ``onnx`` is None when it was not written."""

    directory: Path
    model_yaml: Path
    weights: Path
    onnx: Optional[Path]


def export_onnx(model: nn.Module, example: torch.Tensor, path: Union[str, Path]) -> Path:
    """Export ``model`` for inputs shaped like ``example`` [batch, frames, dims], batch free.

    Uses the TorchScript-based exporter (``dynamo=False``): it traces the Python time
    loop into a fixed number of steps and needs no extra package, where the dynamo
    exporter needs ``onnxscript``.
    """
    path = Path(path)
    model = model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The exporter warns that it is the legacy one; tracing a fixed loop is what we want.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                model,
                (example,),
                buffer,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=ONNX_OPSET,
            )
    path.write_bytes(buffer.getvalue())
    return path


def onnx_difference(path: Union[str, Path], model: nn.Module, inputs: torch.Tensor) -> Optional[float]:
    """Largest absolute difference between ONNX Runtime and PyTorch on ``inputs``.

    None when ``onnxruntime`` is not installed.
    """
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_output,) = session.run(None, {INPUT_NAME: inputs.numpy()})
    with torch.no_grad():
        torch_output = model.eval()(inputs).numpy()
    return float(abs(onnx_output - torch_output).max())


def write_model_yaml(path: Union[str, Path], document: Mapping[str, Any]) -> Path:
    """``document`` as YAML in the order given, under a header that says how to use it."""
    path = Path(path)
    body = yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=None, width=120)
    path.write_text(YAML_HEADER + body, encoding="utf-8")
    return path


def write_export(
    directory: Union[str, Path],
    document: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    onnx_model: Optional[nn.Module] = None,
    onnx_example: Optional[torch.Tensor] = None,
) -> ExportedFiles:
    """Write ``model.yaml``, ``weights.pt`` and (given a model and an example input) ``model.onnx``.

    ``document`` must hold ``architecture`` (an ``ArchConfig`` dict); the caller fills
    in the other sections. The weights are saved as a plain ``state_dict``.
    """
    if "architecture" not in document:
        raise ValueError("the model document needs an 'architecture' section")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / "weights.pt"
    torch.save({name: tensor.detach().clone() for name, tensor in state_dict.items()}, weights)
    onnx_path = None
    if onnx_model is not None and onnx_example is not None:
        onnx_path = export_onnx(onnx_model, onnx_example, directory / "model.onnx")
    model_yaml = write_model_yaml(directory / "model.yaml", {"format": MODEL_FORMAT, **document})
    return ExportedFiles(directory=directory, model_yaml=model_yaml, weights=weights, onnx=onnx_path)


# The parts of ``training.data`` that ``search train`` acts on.
_DATA_RULES = {
    "seed": Number(low=0, high=2**32 - 1, integer=True),
    "utterances_per_class": Number(low=1, high=1_000_000, integer=True),
    "data_dir": Text(),
}


def read_model_yaml(path: Union[str, Path]) -> dict[str, Any]:
    """The exported document (all sections) of a ``model.yaml``, checked.

    Raises :class:`spaces.SchemaError` naming the file, the key and the accepted values
    for a file that is not an exported model.yaml or holds a value no design or
    training run can have.
    """
    origin = str(path)
    data = require_mapping(read_yaml_file(path, "an exported model.yaml"), origin, "an exported model.yaml")
    if "architecture" not in data:
        raise SchemaError(f"{origin} is not an exported model.yaml (no 'architecture' section)")
    try:
        ArchConfig.from_dict(require_mapping(data["architecture"], origin, "its 'architecture' section"))
    except (TypeError, ValueError) as error:
        if isinstance(error, SchemaError):
            raise
        raise SchemaError(f"{origin}: architecture: {str(error).splitlines()[0]}") from None
    # Empty sections become empty mappings, so readers can chain .get().
    training = data["training"] = require_mapping(data.get("training") or {}, origin, "its 'training' section")
    for section in ("data", "recipe"):
        training[section] = require_mapping(training.get(section) or {}, origin, f"its 'training.{section}' section")
    check_mapping(training["data"], _DATA_RULES, origin, optional=tuple(_DATA_RULES), prefix="training.data.")
    return data

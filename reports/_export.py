"""Write an exported design: ``model.yaml``, ``weights.pt`` and ``model.onnx``.

``model.yaml`` nests the architecture under ``architecture:`` so that
``spaces.load_config`` reads it directly, and keeps beside it everything a training
repository needs to reproduce or deploy the design (front end and normalisation,
training recipe, costs on the device, provenance). The ONNX graph takes any batch size
and any number of frames: the recurrent step runs in an ONNX ``Scan``.

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

from spaces import ArchConfig, GhostLSTM, Number, SchemaError, Text, check_mapping, read_yaml_file, require_mapping

MODEL_FORMAT = "ghostrnn-search-model/1"
ONNX_OPSET = 17
INPUT_NAME = "features"
OUTPUT_NAME = "output"

YAML_HEADER = """\
# A GhostRNN design exported by ghostrnn-search.
# Rebuild it in any project where ghostrnn-search is installed (pip install from its
# checkout or a wheel built from it, e.g. `pip install /path/to/ghostrnn-search`):
#   import torch
#   from spaces import build_model, load_config
#   model = build_model(load_config("model.yaml"))
#   model.load_state_dict(torch.load("weights.pt"))
# Costs: `search cost --config model.yaml --device <device> --json` (see cost.command).
"""


# Files an export folder may hold from an earlier export (weights-trained.pt is written
# by `search train`): a re-export removes those it does not write, so that no file of
# another design is left beside the new model.yaml.
EXPORT_FILES = ("model.yaml", "weights.pt", "model.onnx", "weights-trained.pt")


@dataclass(frozen=True)
class ExportedFiles:
    """Paths of an export; ``onnx`` is None when it was not written."""

    directory: Path
    model_yaml: Path
    weights: Path
    onnx: Optional[Path]


class _Step(nn.Module):
    """One time step of a searched model: (states..., frame) -> (next states..., output).

    The ONNX graph runs this step in a ``Scan`` over the frames axis, so the graph takes
    any number of frames (the model's own time loop would be unrolled by tracing).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.layers = model.rnn.layers
        self.lstm = isinstance(model.rnn, GhostLSTM)

    def state_sizes(self) -> list[int]:
        sizes = []
        for layer in self.layers:
            sizes.append(layer.hidden_size)
            if self.lstm:
                sizes.append(layer.intrinsic_size)  # the cell state
        return sizes

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        *states, frame = tensors
        inputs = frame.unsqueeze(1)
        next_states: list[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            if self.lstm:
                inputs, (hidden, cell) = layer(inputs, (states[2 * index], states[2 * index + 1]))
                next_states += [hidden, cell]
            else:
                inputs, hidden = layer(inputs, states[index])
                next_states.append(hidden)
        step_output = inputs[:, 0]
        if hasattr(self.model, "classifier"):
            output = self.model.classifier(step_output)
        else:
            output = torch.sigmoid(self.model.projection(step_output))
        return (*next_states, output)


def _step_graph(step: _Step, batch: int, features: int) -> "onnx.GraphProto":
    """The traced step as an ONNX graph (batch axis free) to serve as a ``Scan`` body."""
    import onnx

    states = [torch.zeros(batch, size) for size in step.state_sizes()]
    frame = torch.zeros(batch, features)
    state_names = [f"state_{index}" for index in range(len(states))]
    output_names = [f"next_state_{index}" for index in range(len(states))] + ["step_output"]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                step,
                (*states, frame),
                buffer,
                dynamo=False,
                input_names=state_names + ["frame"],
                output_names=output_names,
                dynamic_axes={name: {0: "batch"} for name in state_names + ["frame"] + output_names},
                opset_version=ONNX_OPSET,
            )
    return onnx.load_from_string(buffer.getvalue()).graph


def export_onnx(model: nn.Module, example: torch.Tensor, path: Union[str, Path]) -> Path:
    """Export ``model`` for inputs [batch, frames, dims]: batch and frames both free.

    The recurrent step is traced once (TorchScript-based exporter, ``dynamo=False``: no
    extra package) and run over the frames by an ONNX ``Scan`` from zero states; a
    keyword spotter outputs the logits after the last frame, a mask estimator one mask
    per frame, as in PyTorch.
    """
    import onnx
    from onnx import TensorProto, helper

    path = Path(path)
    model = model.eval()
    step = _Step(model).eval()
    features = int(example.shape[2])
    body = _step_graph(step, int(example.shape[0]), features)
    body.name = "step"
    sizes = step.state_sizes()
    nodes = [
        helper.make_node("Shape", [INPUT_NAME], ["input_shape"]),
        helper.make_node("Slice", ["input_shape", "zero", "one"], ["batch_size"]),
    ]
    initializers = [
        helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
    ]
    initial = []
    for index, size in enumerate(sizes):
        initializers.append(helper.make_tensor(f"state_width_{index}", TensorProto.INT64, [1], [size]))
        nodes.append(helper.make_node("Concat", ["batch_size", f"state_width_{index}"], [f"state_shape_{index}"], axis=0))
        nodes.append(
            helper.make_node("ConstantOfShape", [f"state_shape_{index}"], [f"initial_state_{index}"], value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0]))
        )
        initial.append(f"initial_state_{index}")
    per_frame = "per_frame_output"
    nodes.append(
        helper.make_node(
            "Scan",
            initial + [INPUT_NAME],
            [f"final_state_{index}" for index in range(len(sizes))] + [per_frame],
            body=body,
            num_scan_inputs=1,
            scan_input_axes=[1],
            scan_output_axes=[1],
        )
    )
    keyword_spotter = hasattr(model, "classifier")
    if keyword_spotter:
        initializers.append(helper.make_tensor("last", TensorProto.INT64, [], [-1]))
        nodes.append(helper.make_node("Gather", [per_frame, "last"], [OUTPUT_NAME], axis=1))
        output_shape: list[Any] = ["batch", int(model.classifier.out_features)]
    else:
        nodes.append(helper.make_node("Identity", [per_frame], [OUTPUT_NAME]))
        output_shape = ["batch", "frames", int(model.projection.out_features)]
    graph = helper.make_graph(
        nodes,
        "ghostrnn",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", "frames", features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, output_shape)],
        initializer=initializers,
    )
    document = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="ghostrnn-search")
    document.ir_version = min(document.ir_version, onnx.IR_VERSION)
    onnx.checker.check_model(document)
    path.write_bytes(document.SerializeToString())
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
    for name in EXPORT_FILES:
        (directory / name).unlink(missing_ok=True)
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

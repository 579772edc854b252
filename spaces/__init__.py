"""GhostRNN layers, the cheap-op registry, model builders and the design spaces.

This package depends on torch (and PyYAML for configs) only, so a training repository
can ``pip install ghostrnn-search`` and rebuild an exported design:

    >>> from spaces import ArchConfig, build_model
    >>> model = build_model(ArchConfig(cell="gru", hidden=64, ghost_ratio=2, cheap_op="linear"))
    >>> sum(p.numel() for p in model.parameters())
    9132
"""

from spaces._cheap_ops import ACTIVATIONS, CHEAP_OPS, ChannelwiseGhost, CheapOp, CheapOpCost, GroupedGhost, IdentityGhost, LinearGhost, create_cheap_op
from spaces._config import (
    CELLS,
    FEATURE_FRONT_ENDS,
    TASKS,
    ArchConfig,
    FeatureFrontEnd,
    intrinsic_size_for,
    load_config,
)
from spaces._ghost_rnn import GhostGRU, GhostGRULayer, GhostLSTM, GhostLSTMLayer
from spaces._schema import Choice, Number, SchemaError, Text, check_mapping, check_value, read_yaml_file, require_mapping
from spaces._space import DesignSpace, SpaceError, list_spaces, load_space, parse_space
from spaces._models import RNN_CELLS, TASK_MODELS, KeywordSpotter, MaskEstimator, build_model, create_rnn

__all__ = [
    "ACTIVATIONS",
    "CELLS",
    "CHEAP_OPS",
    "FEATURE_FRONT_ENDS",
    "RNN_CELLS",
    "TASKS",
    "TASK_MODELS",
    "ArchConfig",
    "Choice",
    "Number",
    "SchemaError",
    "Text",
    "check_mapping",
    "check_value",
    "read_yaml_file",
    "require_mapping",
    "ChannelwiseGhost",
    "CheapOp",
    "CheapOpCost",
    "DesignSpace",
    "SpaceError",
    "FeatureFrontEnd",
    "GhostGRU",
    "GroupedGhost",
    "IdentityGhost",
    "LinearGhost",
    "GhostGRULayer",
    "GhostLSTM",
    "GhostLSTMLayer",
    "KeywordSpotter",
    "MaskEstimator",
    "build_model",
    "create_cheap_op",
    "create_rnn",
    "intrinsic_size_for",
    "list_spaces",
    "load_space",
    "parse_space",
    "load_config",
]

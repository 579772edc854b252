"""GhostRNN layers, the cheap-op registry, model builders and the design spaces.

This package depends on torch (and PyYAML for configs) only, so a training repository
can ``pip install ghostrnn-search`` and rebuild an exported design:

    >>> from spaces import ArchConfig, build_model
    >>> model = build_model(ArchConfig(cell="gru", hidden=64, ghost_ratio=2, cheap_op="linear"))
    >>> sum(p.numel() for p in model.parameters())
    9132
"""

from typing import TYPE_CHECKING

from spaces._lazy import lazy_exports

# Each name is imported from its module on first use, so that `search --help` does not
# wait for torch, plotly and Optuna; the imports below are what the names are.
if TYPE_CHECKING:
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
    from spaces._front_end import FEATURE_RECIPES, FeatureRecipe, dct_matrix, hz_to_mel, mel_filterbank, mel_to_hz
    from spaces._ghost_rnn import GhostGRU, GhostGRULayer, GhostLSTM, GhostLSTMLayer
    from spaces._schema import Choice, Number, SchemaError, Text, check_mapping, check_value, describe_yaml_error, read_yaml_file, require_mapping
    from spaces._space import DesignSpace, SpaceError, list_spaces, load_space, parse_space
    from spaces._models import RNN_CELLS, TASK_MODELS, KeywordSpotter, MaskEstimator, build_model, create_rnn

_EXPORTS = {
    "ACTIVATIONS": "spaces._cheap_ops",
    "CHEAP_OPS": "spaces._cheap_ops",
    "ChannelwiseGhost": "spaces._cheap_ops",
    "CheapOp": "spaces._cheap_ops",
    "CheapOpCost": "spaces._cheap_ops",
    "GroupedGhost": "spaces._cheap_ops",
    "IdentityGhost": "spaces._cheap_ops",
    "LinearGhost": "spaces._cheap_ops",
    "create_cheap_op": "spaces._cheap_ops",
    "CELLS": "spaces._config",
    "FEATURE_FRONT_ENDS": "spaces._config",
    "TASKS": "spaces._config",
    "ArchConfig": "spaces._config",
    "FeatureFrontEnd": "spaces._config",
    "intrinsic_size_for": "spaces._config",
    "load_config": "spaces._config",
    "FEATURE_RECIPES": "spaces._front_end",
    "FeatureRecipe": "spaces._front_end",
    "dct_matrix": "spaces._front_end",
    "hz_to_mel": "spaces._front_end",
    "mel_filterbank": "spaces._front_end",
    "mel_to_hz": "spaces._front_end",
    "GhostGRU": "spaces._ghost_rnn",
    "GhostGRULayer": "spaces._ghost_rnn",
    "GhostLSTM": "spaces._ghost_rnn",
    "GhostLSTMLayer": "spaces._ghost_rnn",
    "Choice": "spaces._schema",
    "Number": "spaces._schema",
    "SchemaError": "spaces._schema",
    "Text": "spaces._schema",
    "check_mapping": "spaces._schema",
    "check_value": "spaces._schema",
    "describe_yaml_error": "spaces._schema",
    "read_yaml_file": "spaces._schema",
    "require_mapping": "spaces._schema",
    "DesignSpace": "spaces._space",
    "SpaceError": "spaces._space",
    "list_spaces": "spaces._space",
    "load_space": "spaces._space",
    "parse_space": "spaces._space",
    "RNN_CELLS": "spaces._models",
    "TASK_MODELS": "spaces._models",
    "KeywordSpotter": "spaces._models",
    "MaskEstimator": "spaces._models",
    "build_model": "spaces._models",
    "create_rnn": "spaces._models",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "lazy_exports",
    "ACTIVATIONS",
    "CELLS",
    "CHEAP_OPS",
    "FEATURE_FRONT_ENDS",
    "FEATURE_RECIPES",
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
    "FeatureRecipe",
    "dct_matrix",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
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
    "describe_yaml_error",
    "intrinsic_size_for",
    "list_spaces",
    "load_space",
    "parse_space",
    "load_config",
]

"""The model registry: a name from params / CLI -> a built torch module for a dataset."""
from __future__ import annotations

import torch.nn as nn

from ..dataset import CLASS_SEQ, REGRESSION_SEQ
from .recurrent import CELLS, FIXED_FORGET_BIAS, RecurrentNet
from .numpy_backed import NUMPY_REFERENCE
from .unrolled import ABLATIONS

MODEL_NAMES = (*CELLS, *FIXED_FORGET_BIAS, *ABLATIONS, *NUMPY_REFERENCE)


def build_model(config, dataset) -> nn.Module:
    """config: ModelConfig; dataset: the Dataset the model will be trained on."""
    return RecurrentNet(
        cell=config.name, input_size=dataset.input_size, hidden_size=config.hidden_size,
        num_layers=config.num_layers, output_size=dataset.output_size,
        per_step=dataset.output_kind in (CLASS_SEQ, REGRESSION_SEQ), forget_bias=config.forget_bias,
    )


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

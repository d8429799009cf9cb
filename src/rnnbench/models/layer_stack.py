"""A stack of recurrent layers that each have a parallel form and a step-by-step form, behind
nn.RNN's call convention: the models trained by a scan (minGRU, minLSTM, LRU) and IndRNN.

Training runs every layer's `forward(x) -> out` (the scan); the diagnostics run the earlier layers
the same way and the last layer's `unroll(x, trace) -> Unrolled`, the step-by-step form whose h_t
are graph nodes (a scan never materialises them one by one). The two forms compute the same
function (tests/test_models.py), so the gradients measured through the step form are the trained
model's.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .unrolled import Unrolled


class LayerStack(nn.Module):
    memory_law = ""  # the per-unit factor the model's memory follows, for the report ("prod (1 - z_t)")

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor):
        for layer in self.layers:
            x = layer(x)
        return x, None

    def unroll(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        for layer in self.layers[:-1]:
            x = layer(x)
        return self.layers[-1].unroll(x, trace)

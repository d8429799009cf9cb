"""A stack of recurrent layers that each have a parallel form and a step-by-step form, behind
nn.RNN's call convention: the models trained by a scan (minGRU, minLSTM, LRU) and IndRNN.

Each layer has `forward(x) -> out` (the parallel scan) and `unroll(x, trace) -> Unrolled` (the
step-by-step form, whose h_t are graph nodes for the diagnostics). The two compute the same
function and gradients (tests/test_modern_models.py), so which one trains is a matter of speed:
the scan on a GPU, where its few large operations pay; the step loop on a CPU, where the scan was
measured 2.8-5x slower than the loop at T = 100-1000 (one thread, batch 64, hidden 64:
`python benchmarks/scan_speed.py`, benchmarks/results.md) -- logcumsumexp and the doubling scan's
log2(T) full-size copies cost more than T small steps there.
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
        scan = x.device.type != "cpu"
        for layer in self.layers:
            x = layer(x) if scan else layer.unroll(x).output
        return x, None

    def unroll(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        for layer in self.layers[:-1]:
            x = layer(x)
        return self.layers[-1].unroll(x, trace)

"""IndRNN (Li et al. 2018, "Independently Recurrent Neural Network", arXiv:1803.04831).

    h_t = relu(W x_t + u * h_{t-1} + b)       u: one recurrent weight per unit

Each unit sees only its own past, so its memory law is |u|^t (times the relu's 0/1 derivative,
which the law leaves out and the measurement includes). The paper bounds |u| so that the gradient
can grow at most gamma-fold over the sequence: |u| <= gamma^(1/T); gamma is the option
`gradient_growth` (default 2) and T the cell's sequence length, applied as a clamp in the
forward pass (a unit past the bound gets no gradient pushing it further). u starts uniform in
[0, 1]: every unit holds without exploding. The relu makes the recurrence nonlinear, so there
is no scan: a step loop, in training too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..config import require_positive
from .layer_stack import LayerStack
from .network import MODELS
from .unrolled import Unrolled


@dataclass(frozen=True)
class IndRNNOptions:
    gradient_growth: float = 2.0  # gamma: the most the gradient may grow over the sequence

    def __post_init__(self) -> None:  # runs when params are parsed, before any work
        require_positive("model.options.gradient_growth", self.gradient_growth, integer=False)


class IndRNNLayer(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, max_length: int, gradient_growth: float):
        super().__init__()
        self.linear = nn.Linear(input_size, hidden_size)
        self.u = nn.Parameter(torch.rand(hidden_size))
        self.bound = gradient_growth ** (1.0 / max(max_length, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unroll(x).output

    def unroll(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        u = self.u.clamp(-self.bound, self.bound)
        h, hidden = None, []
        for xw in self.linear(x).unbind(1):
            h = torch.relu(xw if h is None else xw + u * h)
            hidden.append(h)
        output = torch.stack(hidden, 1)
        retention = u.detach().abs().expand_as(output) if trace else None
        gates = {"active": (output > 0).detach().to(output.dtype)} if trace else {}
        return Unrolled(output, hidden, gates=gates, retention=retention)


@MODELS.register("indrnn")
class IndRNN(LayerStack):
    memory_law = "abs(u)^t"
    Options = IndRNNOptions

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, max_length: int = 100,
                 gradient_growth: float = IndRNNOptions.gradient_growth):
        super().__init__([IndRNNLayer(input_size if k == 0 else hidden_size, hidden_size, max_length, gradient_growth)
                          for k in range(num_layers)])

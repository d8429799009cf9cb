"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?", arXiv:2410.01201).

    z_t = sigmoid(W_z x_t),   h~_t = g(W_h x_t),   h_t = (1 - z_t) * h_{t-1} + z_t * h~_t

with g(x) = x + 0.5 for x >= 0, sigmoid(x) below (positive, so the recurrence runs in log space).
Neither the gate nor the candidate sees h_{t-1}: the recurrence is linear and diagonal, trained by
the log-space parallel scan. Memory law: dh_t/dh_{t-1} = diag(1 - z_t) exactly, so the gradient
reaching h_t is dL/dh_T * prod_{k>t} (1 - z_k) with nothing on top.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layer_stack import LayerStack
from .network import MODELS
from .scan import log_space_scan
from .unrolled import Unrolled


def g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    # relu inside the log: torch.where differentiates both branches, and log(x + 0.5) is nan below -0.5.
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


class MinGRULayer(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(input_size, 2 * hidden_size)  # gate, candidate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, candidate = self.linear(x).chunk(2, dim=-1)
        # log(1 - z) = -softplus(k), log z = -softplus(-k)
        return log_space_scan(-F.softplus(k), -F.softplus(-k) + log_g(candidate))

    def unroll(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        k, candidate = self.linear(x).chunk(2, dim=-1)
        z, h_tilde = torch.sigmoid(k), g(candidate)
        h, hidden = x.new_zeros(z[:, 0].shape), []
        for z_t, h_tilde_t in zip(z.unbind(1), h_tilde.unbind(1)):
            h = (1 - z_t) * h + z_t * h_tilde_t
            hidden.append(h)
        gates = {"z": z.detach(), "h_tilde": h_tilde.detach()} if trace else {}
        return Unrolled(torch.stack(hidden, 1), hidden, gates=gates, retention=(1 - z).detach() if trace else None)


@MODELS.register("mingru")
class MinGRU(LayerStack):
    memory_law = "prod (1 - z_t)"
    memory_law_exact = True  # a diagonal recurrence whose factor depends on the input only: the law IS the gradient

    def __init__(self, input_size: int, hidden_size: int, num_layers: int):
        super().__init__([MinGRULayer(input_size if k == 0 else hidden_size, hidden_size) for k in range(num_layers)])

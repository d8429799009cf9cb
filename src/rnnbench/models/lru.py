"""LRU, the Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks
for Long Sequences", arXiv:2303.06349).

    h_t = lambda * h_{t-1} + gamma * (B x_t)      lambda, h: complex, diagonal, N = hidden_size
    y_t = Re(C h_t) + D x_t,    out_t = GLU(y_t) = (W_a y_t) * sigmoid(W_b y_t)

lambda = exp(-exp(nu) + i exp(theta)) keeps |lambda| < 1 for any nu; at initialisation |lambda| is
uniform on the ring [R_MIN, R_MAX] (by area) and the phase in [0, MAX_PHASE] (the paper's setting
for long-range tasks); gamma = sqrt(1 - |lambda|^2) normalises the state's scale, learnt in log
form. The recurrence is linear, trained by the doubling scan (complex values: the log-space scan
needs positive ones). Memory law: |lambda|^t, exactly (a unit's rotation keeps its modulus).

One layer is a linear filter read through a pointwise GLU: a product of two inputs far apart in
time (the adding problem's value x marker) is out of its reach; the paper stacks layers, and
params can too (`per_model: {lru: {model: {num_layers: 2}}}`).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layer_stack import LayerStack
from .network import MODELS
from .scan import doubling_scan
from .unrolled import Unrolled

R_MIN, R_MAX, MAX_PHASE = 0.9, 0.999, math.pi / 10


class LRULayer(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        n = hidden_size
        radius_sq = torch.rand(n) * (R_MAX**2 - R_MIN**2) + R_MIN**2
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(radius_sq)))
        self.theta_log = nn.Parameter(torch.log(torch.rand(n) * MAX_PHASE))
        self.gamma_log = nn.Parameter(0.5 * torch.log(1 - radius_sq))
        self.b_re = nn.Parameter(torch.randn(n, input_size) / math.sqrt(2 * input_size))
        self.b_im = nn.Parameter(torch.randn(n, input_size) / math.sqrt(2 * input_size))
        self.c_re = nn.Parameter(torch.randn(hidden_size, n) / math.sqrt(n))
        self.c_im = nn.Parameter(torch.randn(hidden_size, n) / math.sqrt(n))
        self.skip = nn.Linear(input_size, hidden_size, bias=False)  # D
        self.glu = nn.Linear(hidden_size, 2 * hidden_size)

    def eigenvalues(self) -> torch.Tensor:
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def driven(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.exp(self.gamma_log)
        return torch.complex(F.linear(x, self.b_re) * scale, F.linear(x, self.b_im) * scale)

    def read(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(h.real, self.c_re) - F.linear(h.imag, self.c_im) + self.skip(x)
        return F.glu(self.glu(y), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.read(doubling_scan(self.eigenvalues(), self.driven(x)), x)

    def unroll(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        lam, h, hidden = self.eigenvalues(), None, []
        for b_t in self.driven(x).unbind(1):
            h = b_t if h is None else lam * h + b_t
            hidden.append(h)
        states = torch.stack(hidden, 1)
        retention = lam.detach().abs().expand(states.shape) if trace else None
        return Unrolled(self.read(states, x), hidden, retention=retention)


@MODELS.register("lru")
class LRU(LayerStack):
    memory_law = "abs(lambda)^t"
    memory_law_exact = True  # a diagonal recurrence whose factor depends on the input only: the law IS the gradient

    def __init__(self, input_size: int, hidden_size: int, num_layers: int):
        super().__init__([LRULayer(input_size if k == 0 else hidden_size, hidden_size) for k in range(num_layers)])

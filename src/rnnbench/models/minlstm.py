"""minLSTM (Feng et al. 2024, arXiv:2410.01201).

    f_t = sigmoid(W_f x_t),  i_t = sigmoid(W_i x_t),  h~_t = g(W_h x_t)
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t),   h_t = f'_t * h_{t-1} + i'_t * h~_t

The normalised gates make the state's scale independent of time (the paper's time-independence
argument); no gate sees h_{t-1}, so the log-space scan trains it, with log f' = -softplus(d),
log i' = -softplus(-d), d = softplus(-k_f) - softplus(-k_i). Memory law: prod f'_t, exactly.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layer_stack import LayerStack
from .mingru import g, log_g
from .network import MODELS
from .scan import log_space_scan
from .unrolled import Unrolled


class MinLSTMLayer(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(input_size, 3 * hidden_size)  # forget, input, candidate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k_f, k_i, candidate = self.linear(x).chunk(3, dim=-1)
        d = F.softplus(-k_f) - F.softplus(-k_i)  # log(i / f)
        return log_space_scan(-F.softplus(d), -F.softplus(-d) + log_g(candidate))

    def unroll(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        k_f, k_i, candidate = self.linear(x).chunk(3, dim=-1)
        f, i, h_tilde = torch.sigmoid(k_f), torch.sigmoid(k_i), g(candidate)
        f, i = f / (f + i), i / (f + i)
        h, hidden = x.new_zeros(f[:, 0].shape), []
        for f_t, i_t, h_tilde_t in zip(f.unbind(1), i.unbind(1), h_tilde.unbind(1)):
            h = f_t * h + i_t * h_tilde_t
            hidden.append(h)
        gates = {"f": f.detach(), "i": i.detach(), "h_tilde": h_tilde.detach()} if trace else {}
        return Unrolled(torch.stack(hidden, 1), hidden, gates=gates, retention=f.detach() if trace else None)


@MODELS.register("minlstm")
class MinLSTM(LayerStack):
    memory_law = "prod f'_t"
    memory_law_exact = True  # a diagonal recurrence whose factor depends on the input only: the law IS the gradient

    def __init__(self, input_size: int, hidden_size: int, num_layers: int):
        super().__init__([MinLSTMLayer(input_size if k == 0 else hidden_size, hidden_size) for k in range(num_layers)])

"""The LSTM with chrono initialisation (Tallec & Ollivier 2018, "Can recurrent neural networks
warp time?", arXiv:1804.11188).

    b_f ~ log(U(1, T_max - 1)),   b_i = -b_f

so that at initialisation the forget gates' characteristic times 1/(1 - f) spread over [1, T_max]:
some units forget fast, some hold across the whole sequence. T_max is the cell's sequence length
(the points in params: `adding-750` gives 750; copy's input length T + 2S), passed by the network
builder. Everything else is the fused LSTM.
"""
from __future__ import annotations

import torch

from .fused import LSTM
from .network import MODELS


@MODELS.register("lstm-chrono")
class LSTMChrono(LSTM):
    Options = None  # chrono sets every gate bias itself: the LSTM's forget_bias does not apply
    def __init__(self, input_size: int, hidden_size: int, num_layers: int, max_length: int = 100):
        super().__init__(input_size, hidden_size, num_layers, forget_bias=0.0)
        t_max = max(max_length, 3)  # U(1, T_max - 1) needs T_max > 2
        h = hidden_size
        with torch.no_grad():
            for k in range(num_layers):
                forget = torch.log(torch.empty(h).uniform_(1, t_max - 1))
                bias_ih, bias_hh = getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")
                bias_ih[:h], bias_ih[h : 2 * h] = -forget, forget  # gates i, f, g, o
                bias_hh[: 2 * h].zero_()

"""One statement of each fused cell's state update, from its gate pre-activations.

xw = W_ih x_t + b_ih and hw = W_hh h_{t-1} + b_hh, each [..., G*H] with the gates in PyTorch's
order (rnn: h; gru: r z n; lstm: i f g o). Every line is elementwise over the leading axes, so the
unrolled layers ([B, ...], models/unrolled.py) and the stacked engine ([S, B, ...],
training/stacked.py) run these same lines, and both are tested against torch's fused kernels.
Part of the shared training core: the stacked engine trains with them.
"""
from __future__ import annotations

import torch


def rnn_step(xw: torch.Tensor, hw: torch.Tensor) -> torch.Tensor:
    """Elman's tanh RNN: h_t."""
    return torch.tanh(xw + hw)


def gru_step(xw: torch.Tensor, hw: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cho et al.'s GRU as torch computes it (the reset gate scales W_hn h + b_hn): h_t and its gates."""
    xr, xz, xn = xw.chunk(3, -1)
    hr, hz, hn = hw.chunk(3, -1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h, {"r": r, "z": z, "n": n}


def lstm_step(xw: torch.Tensor, hw: torch.Tensor, c: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The LSTM with a forget gate (Gers et al. 2000), as torch computes it: h_t, c_t and its gates."""
    i, f, g, o = (xw + hw).chunk(4, -1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * torch.tanh(c), c, {"i": i, "f": f, "g": g, "o": o, "c": c}

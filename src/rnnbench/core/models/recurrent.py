"""Recurrent networks on torch's fused modules (cuDNN on GPU, oneDNN / native on CPU) with a head
matched to the task: one output read at the last step, or one per step."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .numpy_backed import NUMPY_REFERENCE, NumpyBackedStack
from .unrolled import ABLATIONS, UnrolledStack

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# Jozefowicz et al. 2015: the same LSTM with PyTorch's default forget bias 0, whatever the param says.
FIXED_FORGET_BIAS = {"lstm-fb0": ("lstm", 0.0)}


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Give every layer's forget gate a total bias of `value`.

    PyTorch adds two biases (b_ih + b_hh), gates ordered i, f, g, o: put `value` in b_ih and 0 in
    b_hh, so the sum is `value` (filling both, as many tutorials do, silently doubles it).
    """
    h = lstm.hidden_size
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            if name.startswith("bias_ih"):
                param[h : 2 * h].fill_(value)
            elif name.startswith("bias_hh"):
                param[h : 2 * h].zero_()


class RecurrentNet(nn.Module):
    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int,
                 output_size: int, per_step: bool, forget_bias: float = 1.0):
        super().__init__()
        self.cell = cell
        self.input_size = input_size
        self.per_step = per_step
        self.output_size = output_size
        if cell in FIXED_FORGET_BIAS:
            cell, forget_bias = FIXED_FORGET_BIAS[cell]
        if cell in ABLATIONS:  # no fused kernel exists for these: the step-by-step cell is the model
            self.rnn = UnrolledStack(cell, input_size, hidden_size, num_layers, forget_bias)
        else:
            if cell in NUMPY_REFERENCE:
                cell = NUMPY_REFERENCE[cell]
                self.rnn = NumpyBackedStack(cell, input_size, hidden_size, num_layers)
            else:
                kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
                self.rnn = CELLS[cell](input_size, hidden_size, num_layers, batch_first=True, **kwargs)
            if cell == "lstm":
                set_forget_bias(self.rnn, forget_bias)
        self.kind = cell
        self.head = nn.Linear(hidden_size, output_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        # Symbol tasks store integer codes; one-hot here keeps datasets small on disk.
        return F.one_hot(x, self.input_size).to(self.head.weight.dtype) if not x.is_floating_point() else x

    def read_out(self, hidden: torch.Tensor) -> torch.Tensor:
        if not self.per_step:
            hidden = hidden[:, -1]
        out = self.head(hidden)
        return out.squeeze(-1) if self.output_size == 1 else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.encode(x))
        return self.read_out(hidden)

    def unrolled(self) -> "RecurrentNet":
        """The same network on step-by-step cells (same weights), exposing gates and every h_t."""
        if isinstance(self.rnn, UnrolledStack):
            return self
        twin = copy.deepcopy(self)
        fused = self.rnn
        twin.rnn = UnrolledStack(self.kind, fused.input_size, fused.hidden_size, fused.num_layers).to(
            next(fused.parameters()).device).load_fused(fused)
        return twin

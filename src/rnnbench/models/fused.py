"""rnn, lstm and gru on torch's fused modules (cuDNN on a GPU, oneDNN / native on a CPU), and
lstm-fb0 (the LSTM with its forget_bias option fixed at 0). Their diagnostics run the same weights
through the step-by-step twin in `unrolled`."""
from __future__ import annotations

import torch
import torch.nn as nn

from .network import MODELS
from .unrolled import LSTMOptions, Unrolled, UnrolledStack


def set_forget_bias(lstm: nn.Module, value: float) -> None:
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


class FusedUnroll:
    """`unroll` for a module with nn.RNN's parameter names: the step-by-step twin, built on each
    call in the module's own dtype and device, with these weights."""

    kind: str

    def unroll(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        weight = self.weight_ih_l0
        twin = UnrolledStack(self.kind, self.input_size, self.hidden_size, self.num_layers)
        return twin.to(device=weight.device, dtype=weight.dtype).load_fused(self).unroll(x, trace)


@MODELS.register("rnn")
class RNN(FusedUnroll, nn.RNN):
    kind = "rnn"
    memory_law = ""  # dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh: a full matrix, no per-unit law

    def __init__(self, input_size: int, hidden_size: int, num_layers: int):
        super().__init__(input_size, hidden_size, num_layers, batch_first=True, nonlinearity="tanh")


@MODELS.register("lstm")
class LSTM(FusedUnroll, nn.LSTM):
    kind = "lstm"
    memory_law = "prod f_t (cell state)"  # the constant error carousel; the paths through h_t come on top
    Options = LSTMOptions

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, forget_bias: float = 1.0):
        super().__init__(input_size, hidden_size, num_layers, batch_first=True)
        set_forget_bias(self, forget_bias)


@MODELS.register("gru")
class GRU(FusedUnroll, nn.GRU):
    kind = "gru"
    memory_law = "prod z_t (direct path)"  # h_t = (1 - z) n + z h_{t-1}; the paths through r and n come on top

    def __init__(self, input_size: int, hidden_size: int, num_layers: int):
        super().__init__(input_size, hidden_size, num_layers, batch_first=True)


# Jozefowicz et al. 2015: the LSTM with PyTorch's default forget bias 0. A name, not a class: the
# variant differs from `lstm` by one option, fixed here (params that set it otherwise are refused).
MODELS.register("lstm-fb0", forget_bias=0.0)(LSTM)

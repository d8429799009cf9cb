"""Step-by-step recurrent cells with every gate visible.

They use PyTorch's weight layout (weight_ih [G*H, I], weight_hh [G*H, H], bias_ih, bias_hh, gates
stacked in PyTorch's order), so the weights of a trained fused nn.LSTM / nn.GRU / nn.RNN load
directly and the outputs match it to float tolerance. They serve three purposes: gate traces,
gradients with respect to every hidden state h_t (the fused kernels never expose them), and the
LSTM ablations of Greff et al. 2017, which no fused kernel implements (registered here).

LSTM variants (gate list in weight order):
    lstm           i f g o      c = f*c + i*g,   h = o*tanh(c)
    lstm-nfg       i g o        no forget gate: f = 1
    lstm-nog       i f g        no output gate: o = 1
    lstm-cifg      i g o        coupled input/forget gate: f = 1 - i
    lstm-peephole  i f g o      + diagonal peepholes: i,f see c_{t-1}; o sees c_t
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .cell_steps import gru_step, lstm_step, rnn_step
from .network import MODELS

LSTM_GATES = {
    "lstm": ("i", "f", "g", "o"),
    "lstm-nfg": ("i", "g", "o"),
    "lstm-nog": ("i", "f", "g"),
    "lstm-cifg": ("i", "g", "o"),
    "lstm-peephole": ("i", "f", "g", "o"),
}
GATES = {**LSTM_GATES, "gru": ("r", "z", "n"), "rnn": ("h",)}


@dataclass
class Unrolled:
    """What one pass returns: outputs [B, T, H], and per step the graph nodes h_t (and c_t for
    LSTMs) of the last layer, plus, when traced, gate activations [B, T, H] and the retention.

    retention [B, T, N]: the factor r_t by which the model's analytic memory law carries the state
    it is measured on (c_t for an LSTM, else h_t) from step t-1 to t, so that the law predicts
    dL/ds_t = dL/ds_T * prod_{k>t} r_k: the forget gate f_t of an LSTM, the update gate z_t of a
    GRU (its direct path only). None for a cell without such a law (the tanh RNN)."""
    output: torch.Tensor
    hidden: list[torch.Tensor]
    cell: list[torch.Tensor] = field(default_factory=list)
    gates: dict[str, torch.Tensor] = field(default_factory=dict)
    retention: torch.Tensor | None = None


@dataclass(frozen=True)
class LSTMOptions:
    """The LSTM family's own option. Hochreiter/Gers: a positive forget bias keeps the cell state
    at init (1.0); 0.0 is PyTorch's default (Jozefowicz et al. 2015 measure the difference)."""
    forget_bias: float = 1.0


class UnrolledLayer(nn.Module):
    def __init__(self, kind: str, input_size: int, hidden_size: int, forget_bias: float = 1.0):
        super().__init__()
        self.kind, self.hidden_size = kind, hidden_size
        self.gate_names = GATES[kind]
        g = len(self.gate_names)
        self.weight_ih = nn.Parameter(torch.empty(g * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(g * hidden_size))
        if kind == "lstm-peephole":
            self.peephole = nn.Parameter(torch.empty(3, hidden_size))  # i, f, o
        bound = hidden_size ** -0.5  # PyTorch's own init for its recurrent modules
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        self.set_forget_bias(forget_bias)

    def set_forget_bias(self, value: float) -> None:
        """Total forget-gate bias = value (for CIFG, f = 1 - i, so the input gate's bias = -value)."""
        names, h = self.gate_names, self.hidden_size
        target = "f" if "f" in names else ("i" if self.kind == "lstm-cifg" else None)
        if target is None or not self.kind.startswith("lstm"):
            return
        k = names.index(target)
        with torch.no_grad():
            self.bias_ih[k * h : (k + 1) * h].fill_(value if target == "f" else -value)
            self.bias_hh[k * h : (k + 1) * h].zero_()

    def forward(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        batch, h = x.shape[0], self.hidden_size
        state = x.new_zeros(batch, h)
        c = x.new_zeros(batch, h)
        projected = torch.nn.functional.linear(x, self.weight_ih, self.bias_ih)  # all steps at once
        lstm = self.kind.startswith("lstm")
        # Every LSTM variant reports all of i f g o c (a removed gate shows its constant value);
        # the tanh RNN has no gate.
        hidden, cells, traces = [], [], {name: [] for name in (("i", "f", "g", "o", "c") if lstm else self.gate_names)}
        for xw in projected.unbind(1):  # unbind, not x[:, t]: indexing costs a full zero tensor in backward
            hw = torch.nn.functional.linear(state, self.weight_hh, self.bias_hh)
            if lstm:
                state, c, gates = self.lstm_step(xw, hw, c)
                cells.append(c)
            elif self.kind == "gru":
                state, gates = gru_step(xw, hw, state)
            else:
                state, gates = rnn_step(xw, hw), {}
            hidden.append(state)
            if trace:
                for name, value in gates.items():
                    traces[name].append(value.detach())
        stacked = {k: torch.stack(v, 1) for k, v in traces.items() if v} if trace else {}
        retention = stacked.get("f" if lstm else "z")
        return Unrolled(torch.stack(hidden, 1), hidden, cells, stacked, retention)

    def lstm_step(self, xw, hw, c):
        """The plain LSTM's step is cell_steps.lstm_step (one statement, shared with the stacked
        engine); the ablations remove or couple its gates here."""
        if self.kind == "lstm":
            return lstm_step(xw, hw, c)
        a = dict(zip(self.gate_names, (xw + hw).chunk(len(self.gate_names), -1)))
        one = torch.ones_like(c)
        if self.kind == "lstm-peephole":
            a["i"] = a["i"] + self.peephole[0] * c
            a["f"] = a["f"] + self.peephole[1] * c
        i = torch.sigmoid(a["i"])
        if self.kind == "lstm-nfg":
            f = one
        elif self.kind == "lstm-cifg":
            f = 1 - i
        else:
            f = torch.sigmoid(a["f"])
        g = torch.tanh(a["g"])
        c = f * c + i * g
        if self.kind == "lstm-nog":
            o = one
        elif self.kind == "lstm-peephole":
            o = torch.sigmoid(a["o"] + self.peephole[2] * c)
        else:
            o = torch.sigmoid(a["o"])
        return o * torch.tanh(c), c, {"i": i, "f": f, "g": g, "o": o, "c": c}


class UnrolledStack(nn.Module):
    """Layers of UnrolledLayer with nn.RNN's call convention: forward(x) -> (output, None)."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int, forget_bias: float = 1.0):
        super().__init__()
        self.kind, self.hidden_size, self.num_layers = kind, hidden_size, num_layers
        self.layers = nn.ModuleList(
            UnrolledLayer(kind, input_size if k == 0 else hidden_size, hidden_size, forget_bias) for k in range(num_layers)
        )

    def unroll(self, x: torch.Tensor, trace: bool = False) -> Unrolled:
        result = None
        for layer in self.layers:
            result = layer(x, trace)
            x = result.output
        return result

    def forward(self, x: torch.Tensor):
        return self.unroll(x).output, None

    @torch.no_grad()
    def load_fused(self, fused: nn.RNNBase) -> "UnrolledStack":
        for k, layer in enumerate(self.layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(layer, name).copy_(getattr(fused, f"{name}_l{k}"))
        return self


def register_ablation(kind: str) -> type[UnrolledStack]:
    def __init__(self, input_size: int, hidden_size: int, num_layers: int, forget_bias: float = 1.0):
        UnrolledStack.__init__(self, kind, input_size, hidden_size, num_layers, forget_bias)

    # A variant with no forget gate (nfg) has no forget bias to set: it takes no options.
    options = LSTMOptions if "f" in LSTM_GATES[kind] or kind == "lstm-cifg" else None
    cls = type(f"Unrolled_{kind.replace('-', '_')}", (UnrolledStack,),
               {"__init__": __init__, "memory_law": "prod f_t (cell state)", "Options": options})
    return MODELS.register(kind)(cls)


ABLATIONS = tuple(kind for kind in LSTM_GATES if kind != "lstm")
for _kind in ABLATIONS:
    register_ablation(_kind)

"""The model registry and the network every model trains in: the task's input encoding, a
recurrent cell, and a linear head read at the last step or at every step.

The cell contract (what `models: [mypkg.cells.MyCell]` must satisfy):
    cell = MyCell(input_size, hidden_size, num_layers)    # + forget_bias=..., max_length=..., if it takes them
    out, state = cell(x)     # x [B, T, input_size] float -> out [B, T, hidden_size]; state unused
the call convention of `nn.RNN(..., batch_first=True)`. Optional capability, for the diagnostics
(gradient flow through time, gate activity):
    unrolled = cell.unroll(x, trace=False)    # -> rnnbench.models.unrolled.Unrolled
with the output, every step's hidden state as a graph node (and the LSTM cell state), and with
trace=True the gate activations [B, T, H] by name. A cell without it trains the same; its runs
record that diagnostics are not available.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelConfig
from ..registry import Registry

MODELS: Registry[nn.Module] = Registry("model", nn.Module, "model")


class Network(nn.Module):
    def __init__(self, cell: nn.Module, input_size: int, hidden_size: int, output_size: int, per_step: bool):
        super().__init__()
        self.input_size, self.output_size, self.per_step = input_size, output_size, per_step
        self.rnn = cell
        self.head = nn.Linear(hidden_size, output_size)

    @property
    def can_unroll(self) -> bool:
        return callable(getattr(self.rnn, "unroll", None))

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


def build_cell(config: ModelConfig, input_size: int, max_length: int | None = None) -> nn.Module:
    """max_length: the sequence length the cell will see, for cells whose initialisation depends on
    it (chrono's T_max, IndRNN's bound); None when a network is only rebuilt to load its weights."""
    cls = MODELS.resolve(config.name, "model.name")
    accepts = inspect.signature(cls).parameters
    kwargs = {"forget_bias": config.forget_bias} if "forget_bias" in accepts else {}
    if max_length is not None and "max_length" in accepts:
        kwargs["max_length"] = max_length
    return cls(input_size, config.hidden_size, config.num_layers, **kwargs)


def build_network(config: ModelConfig, input_size: int, output_size: int, per_step: bool,
                  max_length: int | None = None) -> Network:
    """The cell first, then the head: under one seed the initial weights depend on this order."""
    cell = build_cell(config, input_size, max_length)
    return Network(cell, input_size, config.hidden_size, output_size, per_step)


def memory_law(name: str) -> str:
    """The per-unit factor a model's memory follows by its equations ("prod (1 - z_t)"), "" when none."""
    return getattr(MODELS.resolve(name), "memory_law", "")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

"""The model registry and the network every model trains in: the task's input encoding, a
recurrent cell, and a linear head read at the last step or at every step.

The cell contract (what `models: [mypkg.cells.MyCell]` must satisfy):
    cell = MyCell(input_size, hidden_size, num_layers, **options)    # + max_length=..., if it takes it
    out, state = cell(x)     # x [B, T, input_size] float -> out [B, T, hidden_size]; state unused
the call convention of `nn.RNN(..., batch_first=True)`. Optional capability, for the diagnostics
(gradient flow through time, gate activity):
    unrolled = cell.unroll(x, trace=False)    # -> rnnbench.models.unrolled.Unrolled
with the output, every step's hidden state as a graph node (and the LSTM cell state), and with
trace=True the gate activations [B, T, H] by name. A cell without it trains the same; its runs
record that diagnostics are not available.

A model's own settings are its class's `Options`, a frozen dataclass whose fields are keyword
arguments of its constructor (the LSTM family's `forget_bias`); params set them per model
(`per_model.<m>.model.options`), and every run config records all of them, defaults filled in. A
registry name may fix some of them (`lstm-fb0` is the LSTM with forget_bias 0).
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ConfigError, ModelConfig, from_mapping
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


def model_options(name: str, values: Mapping[str, Any] | None = None, key: str = "model.options") -> dict[str, Any]:
    """The model's options, validated, every default filled in and the values its registry name
    fixes applied: what a run config records and the constructor receives."""
    cls = MODELS.resolve(name, "model.name")
    fixed = MODELS.fixed_options.get(name, {})
    values = dict(values or {})
    for option, value in fixed.items():
        if option in values and values[option] != value:
            raise ConfigError(f"{key}.{option}: {name} fixes it at {value!r}; name another model to set it")
    options_class = getattr(cls, "Options", None)
    if options_class is None:
        if values:
            raise ConfigError(f"{key}.{sorted(values)[0]}: unknown key; {name} has no options")
        return {}
    return dataclasses.asdict(from_mapping(options_class, {**values, **fixed}, key))


def build_cell(config: ModelConfig, input_size: int, max_length: int | None = None) -> nn.Module:
    """max_length: the sequence length the cell will see, for cells whose initialisation depends on
    it (chrono's T_max, IndRNN's bound); None when a network is only rebuilt to load its weights."""
    cls = MODELS.resolve(config.name, "model.name")
    kwargs = model_options(config.name, config.options)
    if max_length is not None and "max_length" in inspect.signature(cls).parameters:
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

"""Runs that share data and length trained as one stacked ensemble: the GPU engine.

The seeds of a cell (and the lr x seed runs of a tuning length) train as the members of one loop,
the trainer's own (`trainer.train_members`: the same batches, losses, clipping, Adam, evaluations,
early stop and records as each run alone). What is stacked is only the forward pass: the members'
weights are stacked on a leading axis [S, ...] at each step, so that a time step of all of them is
one batched matrix product (torch.baddbmm) instead of S small ones, which is what a small recurrent
model needs to fill a GPU. The state updates are models/cell_steps.py's, the lines the unrolled
cells run. The members never mix, so each is its own run, equal to its separate run to float
tolerance, not bit for bit: its time steps are computed by these lines, not by the fused kernels
(tests/test_stacked.py). A member that stops leaves the stack; elapsed_s and wall_s are the loop's.

Only torch's own one-layer rnn / lstm / gru (registry rnn, lstm, gru, lstm-fb0) stack; every
other model trains on its own (`stacking_problem` says why).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
import torch.nn as nn

from ..config import RunConfig, TrainConfig
from ..models import Network
from ..models.cell_steps import gru_step, lstm_step, rnn_step
from ..tasks import Dataset
from .trainer import EvalCallback, Member, Probe, RunResult, flushing_subnormals, initial_model, train_members

KINDS = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}


def fused_kind(cell: nn.Module) -> str | None:
    """'rnn', 'lstm' or 'gru' for torch's fused module of one layer (or a subclass that keeps its
    forward, as the registry's do), with the settings the stacked step computes; else None."""
    for base, kind in KINDS.items():
        if isinstance(cell, base) and type(cell).forward is base.forward:
            plain = (cell.num_layers == 1 and cell.bias and cell.batch_first and not cell.bidirectional
                     and getattr(cell, "proj_size", 0) == 0 and getattr(cell, "nonlinearity", "tanh") == "tanh")
            return kind if plain else None
    return None


def stacking_problem(configs: Sequence[RunConfig], network: Network) -> str:
    """Why these runs cannot train as one stack ('' when they can): they must differ only in seed
    and lr (one loop runs them all), and their model must be a fused one-layer rnn / lstm / gru
    (`network`, any one of them)."""
    if not configs:
        return "no runs"
    first = configs[0]
    shared = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "lr"]
    for config in configs[1:]:
        if (config.task, config.model, config.data) != (first.task, first.model, first.data):
            return "the runs differ in task, model or data"
        differ = [name for name in shared if getattr(config.train, name) != getattr(first.train, name)]
        if differ:
            return f"the runs differ in train.{differ[0]}: only lr may differ within a stack"
    if fused_kind(network.rnn) is None:
        return f"{first.model.name} is not one of torch's fused one-layer rnn / lstm / gru"
    return ""


def stacked_forward(models: Sequence[Network], x: torch.Tensor) -> torch.Tensor:
    """What each of `models` (fused one-layer cells of one kind, with their linear heads) gives on
    its own batch of x [S, B, T, I] (or integer codes [S, B, T]), as one batched pass: [S, ...]."""
    first = models[0]
    kind = fused_kind(first.rnn)

    def stack(get) -> torch.Tensor:
        return torch.stack([get(m) for m in models])

    if not x.is_floating_point():
        x = nn.functional.one_hot(x, first.input_size).to(first.head.weight.dtype)
    weight_ih, weight_hh = stack(lambda m: m.rnn.weight_ih_l0), stack(lambda m: m.rnn.weight_hh_l0)  # [S, G*H, .]
    bias_ih, bias_hh = stack(lambda m: m.rnn.bias_ih_l0), stack(lambda m: m.rnn.bias_hh_l0)          # [S, G*H]
    s, b, t, _ = x.shape
    # Every step's input projection at once: [S, B*T, G*H].
    xw = torch.baddbmm(bias_ih.unsqueeze(1), x.reshape(s, b * t, -1), weight_ih.transpose(1, 2))
    w_hh, b_hh = weight_hh.transpose(1, 2), bias_hh.unsqueeze(1)
    h = c = x.new_zeros(s, b, weight_hh.shape[2])
    outputs = []
    for step in xw.view(s, b, t, -1).unbind(2):
        hw = torch.baddbmm(b_hh, h, w_hh)
        if kind == "lstm":
            h, c, _ = lstm_step(step, hw, c)
        elif kind == "gru":
            h, _ = gru_step(step, hw, h)
        else:
            h = rnn_step(step, hw)
        outputs.append(h)
    hs = torch.stack(outputs, 2) if first.per_step else outputs[-1].unsqueeze(2)  # [S, B, T', H]
    out = torch.einsum("sbth,soh->sbto", hs, stack(lambda m: m.head.weight)) \
        + stack(lambda m: m.head.bias)[:, None, None, :]
    out = out if first.per_step else out[:, :, 0]
    return out.squeeze(-1) if first.output_size == 1 else out


@flushing_subnormals
def train_stacked(configs: Sequence[RunConfig], dataset: Dataset, on_eval: Sequence[EvalCallback] | None = None,
                  probes: Sequence[Probe | None] | None = None) -> list[RunResult]:
    """Each config's RunResult, as `trainer.train` gives it, from one stacked training.
    on_eval / probes: one per config (or None)."""
    members = [Member(config, initial_model(config, dataset), on_eval[i] if on_eval else None,
                      probes[i] if probes else None) for i, config in enumerate(configs)]
    problem = stacking_problem(configs, members[0].model)
    if problem:
        raise ValueError(f"these runs cannot train stacked: {problem}")
    return train_members(members, dataset, stacked_forward, engine="stacked")

"""Runs that share data and length trained as one stacked ensemble: the GPU engine.

The seeds of a cell (and the lr x seed runs of a tuning length) train as S members of one model
whose weights have a leading member axis [S, ...]; a time step of all of them is one batched
matrix product (torch.baddbmm) instead of S small ones, which is what a small recurrent model needs
to fill a GPU. The members never mix, so each is its own run:
- member s's loss is its own task loss on its own batch, and the ensemble minimises their sum, so
  member s's gradient is exactly the gradient of its own loss;
- clipping is per member: each member's global norm is taken over its own slices only;
- Adam is elementwise, so one Adam over stacked tensors is S independent Adams (StackedAdam takes
  one lr per member, for a tuning sweep);
- each member has its own seeded initial weights and batch order, its own evaluations, probe,
  early stop and final record, built by the same functions as `trainer.train`'s.
A member's run equals its separate run to float tolerance, not bit for bit: its time steps are
computed by these few lines, not by the fused kernels (tests/test_stacked.py). A member that stops
early keeps the weights it stopped with; the stack runs on until every member has stopped. Times
are the stack's: elapsed_s and wall_s are shared by all members.

Only torch's own one-layer rnn / lstm / gru (registry rnn, lstm, gru, lstm-fb0) stack; every
other model trains on its own (`stacking_problem` says why).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Sequence

import torch
import torch.nn as nn

from ..config import RunConfig, TrainConfig
from ..models import Network
from ..tasks import Dataset, resolve_task
from .trainer import (EvalCallback, Probe, RunResult, batch_order, eval_record, evaluate, final_record,
                      flushing_subnormals, initial_model, judge, resolve_device, to_device)

KINDS = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# The train settings train_stacked computes. A TrainConfig field not named here (a new one, say weight
# decay) is refused unless it is at its default, so a setting never silently escapes the engine;
# every field but lr must be equal across members (derived from TrainConfig, not listed).
COMPUTED_TRAIN = ("steps", "batch_size", "lr", "beta1", "beta2", "clip_norm", "eval_every", "eval_batch_size",
                  "early_stop", "device")


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
    and lr, and their model must be a fused one-layer rnn / lstm / gru (`network`, any one of them)."""
    if not configs:
        return "no runs"
    first = configs[0]
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    default = TrainConfig()
    unknown = [name for name in names if name not in COMPUTED_TRAIN and getattr(first.train, name) != getattr(default, name)]
    if unknown:
        return f"train.{unknown[0]} is not computed by the stacked engine (it computes {', '.join(COMPUTED_TRAIN)})"
    shared = [name for name in names if name != "lr"]
    for config in configs[1:]:
        if (config.task, config.model, config.data) != (first.task, first.model, first.data):
            return "the runs differ in task, model or data"
        differ = [name for name in shared if getattr(config.train, name) != getattr(first.train, name)]
        if differ:
            return f"the runs differ in train.{differ[0]}: only lr may differ within a stack"
    if fused_kind(network.rnn) is None:
        return f"{first.model.name} is not one of torch's fused one-layer rnn / lstm / gru"
    return ""


class StackedRecurrent(nn.Module):
    """S networks of one fused one-layer cell with a linear head, weights stacked on a leading member axis."""

    def __init__(self, members: Sequence[Network]):
        super().__init__()
        first = members[0]
        self.kind = fused_kind(first.rnn)
        if self.kind is None:
            raise ValueError(f"{type(first.rnn).__qualname__} does not stack: one-layer rnn, lstm and gru only")
        self.per_step, self.input_size, self.output_size = first.per_step, first.input_size, first.output_size

        def stack(get) -> nn.Parameter:
            return nn.Parameter(torch.stack([get(m).detach().clone() for m in members]))

        self.weight_ih = stack(lambda m: m.rnn.weight_ih_l0)   # [S, G*H, I]
        self.weight_hh = stack(lambda m: m.rnn.weight_hh_l0)   # [S, G*H, H]
        self.bias_ih = stack(lambda m: m.rnn.bias_ih_l0)       # [S, G*H]
        self.bias_hh = stack(lambda m: m.rnn.bias_hh_l0)
        self.head_weight = stack(lambda m: m.head.weight)      # [S, O, H]
        self.head_bias = stack(lambda m: m.head.bias)          # [S, O]

    @torch.no_grad()
    def copy_into(self, member: int, network: Network) -> Network:
        """Write member `member`'s weights into `network` (built like the members); returns it."""
        rnn = network.rnn
        for mine, theirs in ((self.weight_ih, rnn.weight_ih_l0), (self.weight_hh, rnn.weight_hh_l0),
                             (self.bias_ih, rnn.bias_ih_l0), (self.bias_hh, rnn.bias_hh_l0),
                             (self.head_weight, network.head.weight), (self.head_bias, network.head.bias)):
            theirs.copy_(mine[member])
        return network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [S, B, T, I] (or integer codes [S, B, T]) -> what each member's Network gives, stacked [S, ...]."""
        if not x.is_floating_point():
            x = nn.functional.one_hot(x, self.input_size).to(self.weight_ih.dtype)
        s, b, t, _ = x.shape
        hidden = self.weight_hh.shape[2]
        # Every step's input projection at once: [S, B*T, G*H].
        xw = torch.baddbmm(self.bias_ih.unsqueeze(1), x.reshape(s, b * t, -1), self.weight_ih.transpose(1, 2))
        w_hh, b_hh = self.weight_hh.transpose(1, 2), self.bias_hh.unsqueeze(1)
        h = c = x.new_zeros(s, b, hidden)
        outputs = []
        for step in xw.view(s, b, t, -1).unbind(2):
            hw = torch.baddbmm(b_hh, h, w_hh)
            if self.kind == "lstm":  # gates in torch's order i, f, g, o
                i, f, g, o = (step + hw).chunk(4, -1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            elif self.kind == "gru":  # r, z, n; the reset gate scales W_hn h + b_hn, as torch's GRU
                xr, xz, xn = step.chunk(3, -1)
                hr, hz, hn = hw.chunk(3, -1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            else:
                h = torch.tanh(step + hw)
            outputs.append(h)
        hs = torch.stack(outputs, 2) if self.per_step else outputs[-1].unsqueeze(2)  # [S, B, T', H]
        out = torch.einsum("sbth,soh->sbto", hs, self.head_weight) + self.head_bias[:, None, None, :]
        out = out if self.per_step else out[:, :, 0]
        return out.squeeze(-1) if self.output_size == 1 else out


@torch.no_grad()
def clip_per_member(params: Sequence[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale each member's gradients so that its own global norm is at most max_norm, as
    clip_grad_norm_ does for one model (inf: measure, never clip). Returns the [S] norms before."""
    norms = torch.sqrt(sum(p.grad.pow(2).flatten(1).sum(1) for p in params))
    if math.isfinite(max_norm):
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(scale.view(-1, *([1] * (p.grad.dim() - 1))))
    return norms


class StackedAdam:
    """torch.optim.Adam's update (no weight decay, no amsgrad) with one lr per member."""

    def __init__(self, params: Sequence[nn.Parameter], lrs: Sequence[float], betas: tuple[float, float],
                 eps: float = 1e-8):
        self.params, self.lrs, self.betas, self.eps = list(params), list(lrs), betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        first = self.params[0]
        # Python floats, as torch computes its step size, then one per member.
        step_size = torch.tensor([lr / (1 - beta1 ** self.steps) for lr in self.lrs], dtype=first.dtype,
                                 device=first.device)
        root = (1 - beta2 ** self.steps) ** 0.5
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denom = (v.sqrt() / root).add_(self.eps)
            p.sub_(step_size.view(-1, *([1] * (p.dim() - 1))) * (m / denom))


@flushing_subnormals
def train_stacked(configs: Sequence[RunConfig], dataset: Dataset, on_eval: Sequence[EvalCallback] | None = None,
                  probes: Sequence[Probe | None] | None = None) -> list[RunResult]:
    """Each config's RunResult, as `trainer.train` gives it, from one stacked training.
    on_eval / probes: one per config (or None)."""
    first = configs[0]
    members = [initial_model(config, dataset) for config in configs]  # each run's own start, and its eval copy
    problem = stacking_problem(configs, members[0])
    if problem:
        raise ValueError(f"these runs cannot train stacked: {problem}")
    cfg = first.train
    device = resolve_device(cfg.device)
    task = resolve_task(first.task.name)
    solved = task.solved_rule(first.task.options)
    stack = StackedRecurrent(members).to(device)
    params = list(stack.parameters())
    optimizer = StackedAdam(params, [config.train.lr for config in configs], (cfg.beta1, cfg.beta2))
    max_norm = cfg.clip_norm if cfg.clip_norm > 0 else math.inf

    x_train, y_train = to_device(dataset.splits["train"], device)
    x_val, y_val = to_device(dataset.splits["val"], device)
    orders = torch.stack([batch_order(x_train.shape[0], cfg.steps, cfg.batch_size,
                                      torch.Generator().manual_seed(config.seed)) for config in configs], 1)
    orders = orders.to(device)  # [steps, S, B]

    n = len(configs)
    histories: list[list[dict]] = [[] for _ in configs]
    solved_steps: list[int | None] = [None] * n
    results: list[RunResult | None] = [None] * n
    sums = torch.zeros(3, n, device=device)  # loss sum, norm sum, norm max since the last evaluation
    since_eval = 0
    start = last_eval_time = time.perf_counter()
    stack.train()
    for step in range(1, cfg.steps + 1):
        idx = orders[step - 1]
        out = stack(x_train[idx])
        y = y_train[idx]
        losses = torch.stack([task.loss(out[s], y[s]) for s in range(n)])
        optimizer.zero_grad()
        losses.sum().backward()
        norms = clip_per_member(params, max_norm)
        optimizer.step()
        sums[0] += losses.detach()
        sums[1] += norms
        sums[2] = torch.maximum(sums[2], norms)
        since_eval += 1
        if step % cfg.eval_every and step != cfg.steps:
            continue

        figures = (sums / torch.tensor([since_eval, since_eval, 1.0], device=device).unsqueeze(1)).T.tolist()
        active = [s for s in range(n) if results[s] is None]
        vals = {s: evaluate(stack.copy_into(s, members[s]), task, x_val, y_val, cfg.eval_batch_size) for s in active}
        now = time.perf_counter()
        for s in active:
            record = eval_record(step, *figures[s], vals[s], now - start, since_eval / max(now - last_eval_time, 1e-9))
            if probes and probes[s]:
                record.update(probes[s](members[s]))
            histories[s].append(record)
            if on_eval and on_eval[s]:
                on_eval[s](record, cfg.steps)
            diverged, solved_steps[s], stop = judge(record, vals[s], solved, solved_steps[s], cfg.early_stop)
            if stop or step == cfg.steps:
                model = copy.deepcopy(members[s])  # members[s] is overwritten at the next evaluation
                final = final_record(configs[s], task, dataset, model, histories[s], vals[s], solved_steps[s],
                                     diverged, step, now - start, device, engine="stacked")
                results[s] = RunResult(history=histories[s], final=final, model=model)
        sums.zero_()
        since_eval, last_eval_time = 0, time.perf_counter()
        if all(result is not None for result in results):
            break
    return results

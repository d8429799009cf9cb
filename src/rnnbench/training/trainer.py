"""The training loop: a RunConfig and its Dataset in, a history and a final record out.

No tracking and no files here. The loop keeps data on the device, draws the whole batch order up
front from a seeded CPU generator (so CPU runs are bit-for-bit repeatable), and reads values back
to the host only at evaluation points: per-step losses and gradient norms accumulate on the device.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..config import ModelConfig, RunConfig
from ..models import Network, build_network, parameter_count
from ..tasks import Dataset, Task, resolve_task
from ..tasks.base import PER_STEP
from ..tasks.dataset import SolvedRule


@dataclass
class RunResult:
    history: list[dict[str, float]]
    final: dict[str, object]
    model: nn.Module = field(repr=False)
    optimizer_state: dict | None = field(default=None, repr=False)  # where the run can be continued


@dataclass(frozen=True)
class Resume:
    """A run that spent a smaller budget unsolved, to be continued to a larger one: its state after
    `step` steps (the model's and the optimiser's) and its history so far. The batch order of the
    larger budget begins with the smaller one's (batch_order), so the continued run is the run a
    fresh start with the larger budget trains, step for step, on the CPU."""
    step: int
    history: list[dict[str, float]]
    model_state: dict = field(repr=False)
    optimizer_state: dict = field(repr=False)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device: 'cuda' was asked for but torch sees no GPU; use 'auto' or 'cpu'")
    return torch.device(name)


def to_device(split: tuple[np.ndarray, np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in split)


@torch.no_grad()
def evaluate(model: nn.Module, task: Task, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> dict[str, float]:
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        for name, value in task.evaluate(model(xb), yb).items():
            totals[name] = totals.get(name, 0.0) + value * xb.shape[0]
    model.train(was_training)
    names = list(totals)
    values = (torch.stack([totals[n] for n in names]) / x.shape[0]).tolist()  # one host sync
    return dict(zip(names, values))


@torch.no_grad()
def by_position(model: nn.Module, task: Task, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> list[float]:
    """Task.by_position over the whole split (accuracy or MSE at each step); [] for last-step tasks."""
    was_training = model.training
    model.eval()
    total = None
    for start in range(0, x.shape[0], batch_size):
        part = task.by_position(model(x[start : start + batch_size]), y[start : start + batch_size])
        if part is None:
            return []
        total = part if total is None else total + part
    model.train(was_training)
    return [] if total is None else (total / x.shape[0]).tolist()


def batch_order(n: int, steps: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """[steps, batch_size] sample indices: successive shuffled epochs, drawn once."""
    epochs = math.ceil(steps * batch_size / n)
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(epochs)])
    return order[: steps * batch_size].view(steps, batch_size)


EvalCallback = Callable[[dict[str, float], int], None]
Probe = Callable[[nn.Module], dict[str, float]]  # measured on the model at each evaluation, into the history


def network_for(config: ModelConfig, dataset: Dataset) -> Network:
    """The model of `config` shaped for `dataset`: its input and output sizes and output reading."""
    return build_network(config, dataset.input_size, dataset.output_size, dataset.output_kind in PER_STEP,
                         max_length=dataset.splits["train"][0].shape[1])


def initial_model(config: RunConfig, dataset: Dataset) -> Network:
    """The model exactly as a run with this config starts (seeded initialisation)."""
    torch.manual_seed(config.seed)
    return network_for(config.model, dataset).to(resolve_device(config.train.device))


def flushing_subnormals(function):
    """Run `function` with subnormal floats (float32: |x| < 1.2e-38) read and written as zero on the CPU.
    A saturated or vanishing network fills its tensors with them, and a CPU computes them ~10x
    slower: an LSTM at adding T=50 with lr 0.1 trained 16 steps/s without, 169 with, to the same
    validation loss (benchmarks/results.md). Training only; the diagnostics measure gradients far
    smaller than that on their own terms. Deterministic either way; a GPU is unaffected."""
    @functools.wraps(function)
    def flushed(*args, **kwargs):
        torch.set_flush_denormal(True)
        try:
            return function(*args, **kwargs)
        finally:
            torch.set_flush_denormal(False)
    return flushed


@dataclass
class Member:
    """One run of a training loop: its config, its model (trained in place), its callbacks, and what
    it has recorded so far."""
    config: RunConfig
    model: Network
    on_eval: EvalCallback | None = None
    probe: Probe | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    solved_step: int | None = None
    result: RunResult | None = None

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]


# forward(models, x) -> each model's output: x holds one batch per model, stacked on a leading axis.
Forward = Callable[[Sequence[nn.Module], torch.Tensor], Sequence[torch.Tensor]]


def each_alone(models: Sequence[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """Each model's own forward on its own batch: how a run trains alone."""
    return [model(batch) for model, batch in zip(models, x)]


@flushing_subnormals
def train(config: RunConfig, dataset: Dataset, on_eval: EvalCallback | None = None,
          probe: Probe | None = None, resume: Resume | None = None) -> RunResult:
    """Train `config` from its seeded start, or from `resume` (a shorter budget of the same run)."""
    member = Member(config, initial_model(config, dataset), on_eval, probe)
    return train_members([member], dataset, each_alone, resume=resume)[0]


def train_members(members: Sequence[Member], dataset: Dataset, forward: Forward, engine: str = "separate",
                  resume: Resume | None = None) -> list[RunResult]:
    """The training loop, for one run or for several that share their data and every train setting
    but lr (the stacked engine's members, `stacked`): each member draws its own batches, is judged,
    recorded and stopped on its own, and from then on drops out of `forward`. The members' losses
    are summed, so each one's gradient is exactly its own; each is clipped on its own norm and is
    one param group of one Adam with its own lr, which is elementwise: one Adam per member."""
    first = members[0].config
    cfg = first.train
    device = resolve_device(cfg.device)
    task = resolve_task(first.task.name)
    solved = task.solved_rule(first.task.options)  # from the config, not from the data folder
    stop_at = solved.tightened(cfg.stop_margin)
    optimizer = torch.optim.Adam([{"params": m.params, "lr": m.config.train.lr} for m in members],
                                 lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    max_norm = cfg.clip_norm if cfg.clip_norm > 0 else math.inf  # inf: measure the norm, never clip

    x_train, y_train = to_device(dataset.splits["train"], device)
    x_val, y_val = to_device(dataset.splits["val"], device)
    orders = torch.stack([batch_order(x_train.shape[0], cfg.steps, cfg.batch_size,
                                      torch.Generator().manual_seed(m.config.seed)) for m in members], 1)
    orders = orders.to(device)  # [steps, members, batch]

    first_step, offset = 1, 0.0
    if resume is not None:
        if not (len(members) == 1 and 0 < resume.step < cfg.steps and resume.step % cfg.eval_every == 0
                and resume.history and resume.history[-1]["step"] == resume.step):  # a fresh run evaluates there too
            raise ValueError(f"cannot continue a run of {resume.step} steps to {cfg.steps}")
        members[0].model.load_state_dict(resume.model_state)
        optimizer.load_state_dict(resume.optimizer_state)
        members[0].history = list(resume.history)
        members[0].solved_step = first_solved(resume.history, solved)  # met the rule short of the stop margin
        first_step, offset = resume.step + 1, float(resume.history[-1]["elapsed_s"])
    active = list(range(len(members)))
    at = torch.tensor(active, device=device)
    sums = torch.zeros(3, len(members), device=device)  # loss sum, norm sum, norm max since the last evaluation
    since_eval = 0
    start = last_eval_time = time.perf_counter()
    for member in members:
        member.model.train()
    for step in range(first_step, cfg.steps + 1):
        idx = orders[step - 1, at]
        outputs = forward([members[s].model for s in active], x_train[idx])
        losses = torch.stack([task.loss(out, y) for out, y in zip(outputs, y_train[idx])])
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        norms = torch.stack([nn.utils.clip_grad_norm_(members[s].params, max_norm) for s in active])
        optimizer.step()
        sums[0].index_add_(0, at, losses.detach())
        sums[1].index_add_(0, at, norms)
        sums[2].index_copy_(0, at, torch.maximum(sums[2, at], norms))
        since_eval += 1
        if step % cfg.eval_every and step != cfg.steps:
            continue

        figures = (sums / torch.tensor([since_eval, since_eval, 1.0], device=device).unsqueeze(1)).T.tolist()
        vals = {s: evaluate(members[s].model, task, x_val, y_val, cfg.eval_batch_size) for s in active}
        now = time.perf_counter()
        for s in active:
            member = members[s]
            record = eval_record(step, *figures[s], vals[s], offset + now - start,
                                 since_eval / max(now - last_eval_time, 1e-9))
            if member.probe:  # after the timing: a probe's cost is not training time
                record.update(member.probe(member.model))
            member.history.append(record)
            if member.on_eval:
                member.on_eval(record, cfg.steps)
            diverged, member.solved_step, stop = judge(record, vals[s], solved, member.solved_step,
                                                            stop_at if cfg.early_stop else None)
            if stop or step == cfg.steps:
                final = final_record(member.config, task, dataset, member.model, member.history, vals[s],
                                     member.solved_step, diverged, step, time.perf_counter() - start, device,
                                     engine=engine, resumed_from=first_step - 1, stopped_early=stop and not diverged)
                member.result = RunResult(member.history, final, member.model,
                                          optimizer.state_dict() if len(members) == 1 else None)
        sums.zero_()
        since_eval, last_eval_time = 0, time.perf_counter()  # after the probes and callbacks: not training time
        if any(members[s].result is not None for s in active):
            active = [s for s in active if members[s].result is None]
            if not active:
                break
            at = torch.tensor(active, device=device)
    return [member.result for member in members]


def eval_record(step: int, train_loss: float, mean_norm: float, peak_norm: float, val: dict[str, float],
                elapsed: float, steps_per_s: float) -> dict[str, float]:
    """One row of a run's history: training figures since the last evaluation, then validation."""
    return {"step": step, "train_loss": train_loss, "grad_norm": mean_norm, "grad_norm_max": peak_norm,
            **{f"val_{k}": v for k, v in val.items()}, "elapsed_s": elapsed, "steps_per_s": steps_per_s}


def judge(record: dict[str, float], val: dict[str, float], solved: SolvedRule, solved_step: int | None,
          stop_at: SolvedRule | None) -> tuple[bool, int | None, bool]:
    """After an evaluation: (diverged, solved_step, stop). A non-finite loss ends the run (never the
    sweep); the first solved evaluation sets solved_step; the run ends at the first evaluation that
    meets `stop_at` (the rule tightened by train.stop_margin; None: no early stopping)."""
    if not (math.isfinite(record["train_loss"]) and math.isfinite(val["loss"])):
        return True, solved_step, True
    if solved_step is None and solved.is_solved(val):
        solved_step = record["step"]
    return False, solved_step, solved_step is not None and stop_at is not None and stop_at.is_solved(val)


def first_solved(history: Sequence[dict], solved: SolvedRule) -> int | None:
    """The step of the first evaluation in `history` whose validation met the rule."""
    return next((int(r["step"]) for r in history if solved.is_solved({solved.metric: r.get(f"val_{solved.metric}")})),
                None)


def final_record(config: RunConfig, task: Task, dataset: Dataset, model: nn.Module, history: list[dict],
                 val: dict[str, float], solved_step: int | None, diverged: bool, steps: int, wall: float,
                 device: torch.device, engine: str = "separate", resumed_from: int = 0,
                 stopped_early: bool = False) -> dict[str, object]:
    """A finished run's record: the test split read once, at the end (NaN when it diverged).
    engine: "separate" (the run trained alone) or "stacked" (as a member of a stack, `stacked`).
    resumed_from: the steps a shorter budget of this run had trained (0: trained from its start);
    wall_s and steps_per_s count this process's steps only. stopped_early: early stopping ended it
    (validation met the rule tightened by train.stop_margin), so a larger budget would not go on."""
    batch = config.train.eval_batch_size
    solved = task.solved_rule(config.task.options)
    x_test, y_test = to_device(dataset.splits["test"], device)
    test = {k: math.nan for k in val} if diverged else evaluate(model, task, x_test, y_test, batch)
    return {
        "task": config.task.name, "model": config.model.name, "length": config.task.length, "seed": config.seed,
        "metric": task.headline.name, "test_metric": test[task.headline.name],
        **{f"test_{k}": v for k, v in test.items()},
        "baseline": dataset.baseline, "baseline_split": task.constant_baseline(dataset.splits["test"][1]),
        # One definition of solved: the test split meets the rule. val_solved: validation met it
        # (what early stopping and tuning judge); the report shows runs where the two differ.
        "solved": (not diverged) and solved.is_solved(test), "val_solved": solved_step is not None,
        "val_metric": history[-1][f"val_{task.headline.name}"] if history else math.nan,
        "solved_step": solved_step, "diverged": diverged, "steps": steps, "stopped_early": stopped_early,
        "wall_s": wall, "steps_per_s": (steps - resumed_from) / wall if wall > 0 else math.nan,
        "resumed_from": resumed_from,
        "device": str(device), "engine": engine, "n_params": parameter_count(model),
        "test_by_position": [] if diverged else by_position(model, task, x_test, y_test, batch),
    }

"""A controlled speed benchmark of the study's models, for the report's speed claims.

The study's own runs cannot measure speed: its seeds share the cores with each other and with
whatever else runs (the same committed study read rnn/lstm 1.45x once and 0.98x on a rerun). Here
each model trains alone, one torch thread, a fixed number of steps at one task length with the
study's settings for it (median of `repeats`), next to the host calibration (a fixed reference
workload timed the same way), and beside each model's architectural cost: its recurrent cell's
multiply-adds per time step and sample (its weight-matrix entries), which no kernel changes.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import torch

import json

from .config import CONFIGS, ConfigError, RunConfig, read_json, write_if_changed
from .study import Cell, Study
from .tasks import resolve_task
from .training.sweep import one_torch_thread
from .training.trainer import initial_model, train

SPEED_CONFIGS = CONFIGS / "speed.json"      # written by configure: the only settings the speed stage reads
SPEED_FILE = Path("reports") / "speed.csv"  # the speed stage's output (dvc.yaml passes both)
# The benchmark's setting, one for every study: the tutorials' adding T=100, 100 steps ending in one
# evaluation, each model with the study's own size and batch. The lr is fixed: it is no result here
# (subnormals are flushed, so a saturating lr does not slow a run), and a retuned lr reruns nothing.
TASK, LENGTH, STEPS, REPEATS, LR = "adding", 100, 100, 3, 0.001
SPEED_COLUMNS = ["model", "task", "length", "hidden_size", "batch_size", "steps", "repeats", "steps_per_s",
                 "macs_per_step", "calibration_s", "torch", "device"]


def reference_workload(steps: int = 300) -> float:
    """The host calibration: an LSTM (hidden 64) on adding-shaped batches (64 x T=50 x 2), forward,
    backward and Adam, `steps` steps, fixed seed; seconds."""
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(2, 64, batch_first=True), torch.nn.Linear(64, 1)
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = torch.randn(64, 50, 2), torch.randn(64, 1)
    start = time.perf_counter()
    for _ in range(steps):
        out, _ = lstm(x)
        loss = torch.nn.functional.mse_loss(head(out[:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def calibration(repeats: int = 3) -> float:
    """Median seconds of the reference workload, one thread."""
    with one_torch_thread():
        return statistics.median(reference_workload() for _ in range(repeats))


def macs_per_step(model: torch.nn.Module) -> int:
    """Multiply-adds of the recurrent cell per time step and sample: its weight-matrix entries (a
    matrix-vector product uses each once); biases and the output head are left out."""
    return sum(p.numel() for p in model.rnn.parameters() if p.dim() > 1)


def speed_configs(study: Study, task: str = TASK, length: int = LENGTH, steps: int = STEPS) -> list[RunConfig]:
    """The benchmark's run config per model of `models` (none when the study has no `task`)."""
    if task not in study.task_names():
        return []
    configs = []
    for model in study.models:
        config = study.run_config(Cell(task, model, length), 0)
        configs.append(dataclasses.replace(config, train=dataclasses.replace(
            config.train, steps=steps, eval_every=steps, early_stop=False, device="cpu", lr=LR)))
    return configs


def write_speed_configs(study: Study, root: Path = Path(".")) -> bool:
    """configs/speed.json: one run config per model (a cell's configs file holds one model's seeds;
    this one a seed of every model), rewritten only when it changes."""
    configs = [config.to_dict() for config in speed_configs(study)]
    return write_if_changed(Path(root) / SPEED_CONFIGS, json.dumps(configs, indent=1, sort_keys=True) + "\n")


def read_speed_configs(path: Path) -> list[RunConfig]:
    try:
        values = read_json(path)
    except (OSError, ValueError) as err:
        raise ConfigError(f"config: cannot read {str(path)!r} ({err}); the configure stage writes it") from None
    if not isinstance(values, list):
        raise ConfigError(f"config: {str(path)!r} is not a list of run configs; the configure stage writes it")
    return [RunConfig.from_dict(value, f"{path}[{i}]") for i, value in enumerate(values)]


def measure_speed(configs: list[RunConfig], repeats: int = REPEATS) -> list[dict]:
    """One row per config: its median steps/s alone on one thread, and its arithmetic per step."""
    rows = []
    calibration_s = calibration()
    for config in configs:
        dataset = resolve_task(config.task.name).build(config.task.length, config.data, config.task.options)
        with one_torch_thread():
            rates = [config.train.steps / train(config, dataset).final["wall_s"] for _ in range(repeats)]
        rows.append({"model": config.model.name, "task": config.task.name, "length": config.task.length,
                     "hidden_size": config.model.hidden_size, "batch_size": config.train.batch_size,
                     "steps": config.train.steps, "repeats": repeats, "steps_per_s": statistics.median(rates),
                     "macs_per_step": macs_per_step(initial_model(config, dataset)), "calibration_s": calibration_s,
                     "torch": torch.__version__, "device": "cpu"})
    return rows

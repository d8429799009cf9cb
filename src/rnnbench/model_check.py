"""`rnnbench check-model`: whether a model, by registry name or import path, can be trained by
rnnbench: shapes, a forward and backward pass, a short smoke training on adding T=10 in the study's
own loop, its parameter count and its diagnostics. Any failure is one ConfigError line naming what
the model did."""
from __future__ import annotations

import math
import time

import torch

from .config import ConfigError, DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from .models import MODELS, build_network, parameter_count
from .tasks import resolve_task
from .training.diagnostics.diagnose import diagnose
from .training.sweep import one_torch_thread
from .training.trainer import train


def check_model(model: str, hidden_size: int, steps: int) -> str:
    """Shapes, a forward and backward pass, a short smoke training on adding T=10, the parameter
    count and the diagnostics, for a registry name or an import path."""
    name = MODELS.canonical(model, "model")
    try:
        cls = MODELS.resolve(name, "model")
    except ConfigError:
        raise
    except (Exception, SystemExit) as err:  # noqa: BLE001 -- the user's module: a syntax error, a raise, an exit
        raise ConfigError(f"model: importing {name} raised {type(err).__name__}: {err}") from None
    config = RunConfig(task=TaskConfig("adding", 10, resolve_task("adding").resolved_options({}, "task.options")),
                       model=ModelConfig(name, hidden_size=hidden_size),
                       train=TrainConfig(steps=steps, eval_every=max(1, steps // 3), device="cpu",
                                         early_stop=False),
                       data=DataConfig(n_train=2048, n_val=256, n_test=256)).validate()
    torch.manual_seed(0)
    try:
        network = build_network(config.model, 2, 1, per_step=False, max_length=10)
    except (Exception, SystemExit) as err:  # noqa: BLE001 -- the user's constructor: say what it raised
        raise ConfigError(f"model: {name}(input_size, hidden_size, num_layers) raised {type(err).__name__}: {err}") from None
    x = torch.rand(4, 7, 2)
    try:
        out, _ = network.rnn(x)
    except Exception as err:  # noqa: BLE001
        raise ConfigError(f"model: {name}(x) with x [4, 7, 2] raised {type(err).__name__}: {err}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, 7, hidden_size):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"model: {name} returned output {shape}; expected [batch, time, hidden] = (4, 7, {hidden_size})")
    network(x).sum().backward()
    grads = [p.grad for p in network.rnn.parameters() if p.requires_grad]
    reached = sum(g is not None for g in grads)
    if not reached:
        raise ConfigError(f"model: no gradient reaches {name}'s parameters")
    if not all(torch.isfinite(g).all() for g in grads if g is not None):
        raise ConfigError(f"model: {name}'s gradients are not finite on a random batch")
    task = resolve_task("adding")
    dataset = task.build(10, config.data, config.task.options)
    start = time.perf_counter()
    try:
        with one_torch_thread():
            result = train(config, dataset)
    except (Exception, SystemExit) as err:  # noqa: BLE001 -- the user's model, in the study's own loop
        raise ConfigError(f"model: {name} raised {type(err).__name__} in the smoke training: {err}") from None
    if result.final["diverged"]:
        raise ConfigError(f"model: {name} diverged in the smoke training (non-finite loss); lower its lr or check it")
    first, last = result.history[0]["val_mse"], result.final["test_mse"]
    try:
        diagnosis = diagnose(task, dataset, network, result.model)
    except (Exception, SystemExit) as err:  # noqa: BLE001 -- a broken unroll: the diagnostics would fail the same way
        raise ConfigError(f"model: {name}'s diagnostics (its unroll) raised {type(err).__name__}: {err}") from None
    unroll = diagnosis.metrics.get("diagnostics", "available: gradient flow through time"
                                   + (", gate traces " + " ".join(k for k in diagnosis.traces if k != "x")
                                      if diagnosis.traces else ""))
    if network.can_unroll:
        with torch.no_grad():
            gap = (network.rnn.unroll(x).output - network.rnn(x)[0]).abs().max().item()
        if not gap <= 1e-4:
            raise ConfigError(f"model: {name}.unroll(x) differs from {name}(x) by {gap:.3g}; they must compute the same")
        unroll += f" (unroll matches forward to {gap:.1g})"
    return "\n".join([
        f"model {name}: {cls.__module__}.{cls.__qualname__}",
        f"  shapes        ok: x [4, 7, 2] -> out [4, 7, {hidden_size}]; backward reaches {reached} of "
        f"{len(grads)} parameter tensors of the cell",
        f"  parameters    {parameter_count(result.model)} with hidden size {hidden_size} on adding (2 in, 1 out)",
        f"  smoke train   adding T=10, {steps} steps, lr {config.train.lr}: val MSE {first:.4g} at step "
        f"{result.history[0]['step']} -> test MSE {last:.4g} (baseline 1/6 = 0.1667) in {time.perf_counter() - start:.1f} s",
        f"  diagnostics   {unroll}",
        f"verdict: {name} can be trained by rnnbench" + ("" if math.isfinite(last) and last < 1 / 6
                                                        else " (it did not beat the baseline in this short run)"),
    ])

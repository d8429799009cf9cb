"""Gradient flow through time: ||dL/dh_t|| for every step t, with L the task loss at the end of the
sequence, averaged over a fixed batch.

This is the quantity behind the vanishing-gradient argument (dL/dh_t = dL/dh_T * prod dh_k/dh_{k-1});
the gradient of the parameters after one backward pass does not show decay through time. The fused
kernels never expose h_t: a model's cell provides them through its optional `unroll` (for the fused
cells, the same weights in the step-by-step twin; rnnbench.models.network).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from ...models import Network
from ...tasks import Task
from ...tasks.base import PER_STEP


def state_gradient_norms(loss: torch.Tensor, states: list[torch.Tensor]) -> np.ndarray:
    """||dL/ds_t|| per step: the norm over the state's features, averaged over the batch."""
    grads = torch.autograd.grad(loss, states, allow_unused=True, retain_graph=True)
    norms = [torch.zeros(()) if g is None else g.norm(dim=-1).mean() for g in grads]
    return torch.stack(norms).double().cpu().numpy()


def decay_fit(norms: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope of ln||dL/dh_t|| against t, the gradient half-life ln2/slope in steps (how
    many steps back in time the gradient takes to halve; inf when it does not decay), and the fit's
    R² (how exponential the decay is: a curve that drops and then flattens fits badly).
    Steps whose gradient underflowed to 0 are left out of the fit."""
    t = np.arange(norms.size, dtype=float)
    ok = np.isfinite(norms) & (norms > 0)
    if ok.sum() < 2:
        return math.nan, math.nan, math.nan
    log_norms = np.log(norms[ok])
    slope, intercept = np.polyfit(t[ok], log_norms, 1)
    spread = float(np.sum((log_norms - log_norms.mean()) ** 2))
    residual = float(np.sum((log_norms - (slope * t[ok] + intercept)) ** 2))
    r2 = 1.0 - residual / spread if spread > 0 else 1.0  # a flat curve is fitted exactly by slope 0
    return float(slope), (math.log(2) / slope if slope > 0 else math.inf), r2


def law_norms(last_gradient: torch.Tensor, retention: torch.Tensor) -> np.ndarray:
    """What a memory law predicts for ||dL/ds_t||: the measured gradient at the last step carried
    back by the law's per-unit factors only, dL/ds_t = dL/ds_T * prod_{k>t} r_k, norm over units,
    mean over the batch. last_gradient [B, N] (complex for a complex state), retention [B, T, N]."""
    later = torch.cat([retention[:, 1:], torch.ones_like(retention[:, :1])], dim=1)
    carried = later.flip(1).cumprod(1).flip(1)  # [:, t] = prod over k > t
    return (last_gradient.abs().unsqueeze(1) * carried).norm(dim=-1).mean(0).double().cpu().numpy()


@dataclass
class GradientFlow:
    """norm_h: ||dL/dh_t||; norm_c: ||dL/dc_t|| (nan without a cell state); norm_law: the model's
    memory law for the state it governs (c for an LSTM, else h), nan for a model without one."""
    norm_h: np.ndarray  # [T]
    norm_c: np.ndarray  # [T]
    norm_law: np.ndarray  # [T]

    def summary(self) -> dict[str, float]:
        slope, half_life, r2 = decay_fit(self.norm_h)
        last = self.norm_h[-1]
        result = {"decay_rate": slope, "half_life": half_life, "fit_r2": r2,
                  "ratio_first_last": float(self.norm_h[0] / last) if last > 0 else math.nan}
        if np.isfinite(self.norm_law).any():
            # Law against measurement on the same state, fitted the same way.
            state = self.norm_c if np.isfinite(self.norm_c).any() else self.norm_h
            result["state_decay_rate"] = decay_fit(state)[0]
            result["law_decay_rate"] = decay_fit(self.norm_law)[0]
        return result


def final_step_loss(task: Task, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The task loss at the end of the sequence (per-step tasks: the last step's loss only)."""
    if task.output_kind in PER_STEP:
        out, y = out[:, -1], y[:, -1]
    return task.loss(out, y)


def gradient_flow(model: Network, task: Task, x: torch.Tensor, y: torch.Tensor) -> GradientFlow:
    """model: a Network whose cell can unroll; x, y: a fixed batch on the model's device.
    Measured in float64 on a copy: a vanilla RNN's gradient at t=0 underflows float32 by T=100."""
    net = copy.deepcopy(model).double()
    if x.is_floating_point():
        x = x.double()
    if y.is_floating_point():
        y = y.double()
    with torch.enable_grad():
        unrolled = net.rnn.unroll(net.encode(x), trace=True)
        loss = final_step_loss(task, net.read_out(unrolled.output), y)
        norm_h = state_gradient_norms(loss, unrolled.hidden)
        norm_c = state_gradient_norms(loss, unrolled.cell) if unrolled.cell else np.full_like(norm_h, np.nan)
        norm_law = np.full_like(norm_h, np.nan)
        if unrolled.retention is not None:
            last = (unrolled.cell or unrolled.hidden)[-1]
            norm_law = law_norms(torch.autograd.grad(loss, last, retain_graph=True)[0], unrolled.retention)
    return GradientFlow(norm_h, norm_c, norm_law)

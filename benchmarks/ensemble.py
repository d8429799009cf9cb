"""S independent models of one cell trained as one batched ensemble.

Every weight gets a leading member axis [S, ...]; one step runs S models with one batched matrix
product per time step (torch.baddbmm) instead of S small ones. The members never mix:
- each member's loss is its own batch mean, and the ensemble minimises their sum, so member s's
  gradient is exactly the gradient of its own loss;
- Adam is elementwise, so one Adam over stacked tensors is S independent Adams;
- clipping is per member: each member's global norm is taken over its own slices only.
So member s follows the trajectory of a separate run with the same initial weights and batches
(tested against the step-by-step cell to float tolerance). Meant for small models on a GPU, where
one model alone cannot fill the device; on a CPU, separate fused runs measured faster
(benchmarks/results.md).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from rnnbench.models import Network

CELLS = ("rnn", "lstm", "gru")


class StackedRecurrent(nn.Module):
    """S single-layer recurrent nets with a head, weights stacked on a leading member axis."""

    def __init__(self, members: list[Network]):
        super().__init__()
        first = members[0]
        kind = getattr(first.rnn, "kind", None)
        if kind not in CELLS or first.rnn.num_layers != 1:
            raise ValueError("the ensemble path implements one-layer rnn, lstm and gru")
        self.kind, self.per_step, self.input_size = kind, first.per_step, first.input_size
        self.output_size = first.output_size
        stack = lambda name: nn.Parameter(torch.stack([getattr(m.rnn, name).detach().clone() for m in members]))  # noqa: E731
        self.weight_ih = stack("weight_ih_l0")   # [S, G*H, I]
        self.weight_hh = stack("weight_hh_l0")   # [S, G*H, H]
        self.bias_ih = stack("bias_ih_l0")       # [S, G*H]
        self.bias_hh = stack("bias_hh_l0")
        self.head_weight = nn.Parameter(torch.stack([m.head.weight.detach().clone() for m in members]))  # [S, O, H]
        self.head_bias = nn.Parameter(torch.stack([m.head.bias.detach().clone() for m in members]))      # [S, O]

    @property
    def members(self) -> int:
        return self.weight_ih.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [S, B, T, I] (or integer codes [S, B, T]) -> outputs [S, B, (T,) O]."""
        if not x.is_floating_point():
            x = nn.functional.one_hot(x, self.input_size).to(self.weight_ih.dtype)
        s, b, t, _ = x.shape
        hidden = self.weight_hh.shape[2]
        # Input projections of all steps at once: [S, B*T, G*H].
        xw = torch.baddbmm(self.bias_ih.unsqueeze(1), x.reshape(s, b * t, -1), self.weight_ih.transpose(1, 2))
        xw = xw.view(s, b, t, -1)
        w_hh = self.weight_hh.transpose(1, 2)
        b_hh = self.bias_hh.unsqueeze(1)
        h = x.new_zeros(s, b, hidden)
        c = x.new_zeros(s, b, hidden)
        outputs = []
        for step in xw.unbind(2):
            hw = torch.baddbmm(b_hh, h, w_hh)
            if self.kind == "lstm":
                i, f, g, o = (step + hw).chunk(4, -1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            elif self.kind == "gru":
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


def member_losses(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[S] losses, each member's own batch mean (as Task.loss for one model)."""
    if y.is_floating_point():
        return ((out - y) ** 2).flatten(1).mean(1)
    classes = out.shape[-1]
    per_item = nn.functional.cross_entropy(out.reshape(-1, classes), y.reshape(-1), reduction="none")
    return per_item.view(out.shape[0], -1).mean(1)


@torch.no_grad()
def clip_per_member(params: list[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale each member's gradients so that its own global norm is at most max_norm, as
    clip_grad_norm_ does for one model. Returns the [S] norms before clipping."""
    norms = torch.sqrt(sum(p.grad.pow(2).flatten(1).sum(1) for p in params))
    if math.isfinite(max_norm):
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(scale.view(-1, *([1] * (p.grad.dim() - 1))))
    return norms


def ensemble_step(model: StackedRecurrent, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                  max_norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step of every member; returns ([S] losses, [S] gradient norms), on the device."""
    losses = member_losses(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    norms = clip_per_member(list(model.parameters()), max_norm)
    optimizer.step()
    return losses.detach(), norms

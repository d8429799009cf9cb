"""Global-norm gradient clipping and Adam in NumPy, with the exact arithmetic of
torch.nn.utils.clip_grad_norm_ and torch.optim.Adam, so a reference run and a torch run on the
same weights take the same steps (tested)."""
from __future__ import annotations

import math

import numpy as np

Params = dict[str, np.ndarray]


def clip_global_norm(grads: Params, max_norm: float) -> float:
    """Scale all gradients in place so their joint L2 norm is at most max_norm; return the norm
    before clipping. One norm over every parameter, not one per tensor: clipping each tensor
    separately would change the update's direction."""
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    scale = max_norm / (norm + 1e-6)  # torch's epsilon
    if scale < 1.0:
        for g in grads.values():
            g *= scale
    return norm


class Adam:
    """Kingma & Ba 2015, bias-corrected, one (m, v) pair per parameter."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self.steps = 0

    def step(self, params: Params, grads: Params) -> None:
        """Update params in place."""
        beta1, beta2 = self.betas
        self.steps += 1
        correction1 = 1 - beta1 ** self.steps
        correction2 = 1 - beta2 ** self.steps
        for name, p in params.items():
            g = grads[name]
            self.m[name] = beta1 * self.m[name] + (1 - beta1) * g          # running mean of the gradient
            self.v[name] = beta2 * self.v[name] + (1 - beta2) * g * g      # running mean of its square
            denom = np.sqrt(self.v[name]) / math.sqrt(correction2) + self.eps
            p -= (self.lr / correction1) * self.m[name] / denom

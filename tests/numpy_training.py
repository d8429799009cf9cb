"""The NumPy reference's training loop, the tutorials' way: BPTT through the reference cells,
global-norm clipping and Adam with the exact arithmetic of torch.nn.utils.clip_grad_norm_ and
torch.optim.Adam, so a NumPy run and a torch run on the same weights take the same steps. Test
code: the study trains the NumPy models with torch's optimiser (rnnbench.models.numpy_backed)."""
from __future__ import annotations

import math

import numpy as np

from rnnbench.models.reference import cells
from rnnbench.models.reference.network import ReferenceNet, softmax

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


def loss_and_grads(net: ReferenceNet, codes: np.ndarray, targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy over every position (as F.cross_entropy) and its gradients."""
    logits, (top, caches) = net.forward(codes)
    probs = softmax(logits)
    batch, steps = targets.shape
    picked = np.take_along_axis(probs, targets[..., None], -1)[..., 0]
    loss = float(-np.log(picked).mean())
    dlogits = probs
    np.add.at(dlogits, (np.arange(batch)[:, None], np.arange(steps)[None, :], targets), -1.0)
    dlogits /= batch * steps
    grads = {"head.weight": np.einsum("btv,bth->vh", dlogits, top), "head.bias": dlogits.sum((0, 1))}
    dh = dlogits @ net.head_weight
    for k in reversed(range(len(net.layers))):
        layer_grads, dh = cells.backward(net.kind, net.layers[k], caches[k], dh)
        grads.update({f"l{k}.{name}": g for name, g in layer_grads.items()})
    return loss, grads

def train_step(net: ReferenceNet, codes: np.ndarray, targets: np.ndarray, optimizer: Adam, clip_norm: float) -> tuple[float, float]:
    """One step: BPTT, clip (0 = off), Adam. Returns (loss, gradient norm before clipping)."""
    loss, grads = loss_and_grads(net, codes, targets)
    norm = clip_global_norm(grads, clip_norm if clip_norm > 0 else float("inf"))
    optimizer.step(net.params(), grads)
    return loss, norm

"""The NumPy reference as a torch module, so the trainer runs it like any other model.

Each layer is one torch.autograd.Function whose forward and backward are the reference's own
NumPy forward and BPTT (in float64): torch's autograd only chains layers and head, and the
trainer's clipping and Adam see the reference's gradients. Parameters start from the fused
module's own initialisation under the same seed, so `lstm-numpy` and `lstm` begin from the same
weights and see the same batches: their learning curves should coincide to float tolerance.
CPU-bound by design (NumPy); meant for short sequences and small hidden sizes.
"""
from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn as nn

from .fused import FusedUnroll, set_forget_bias
from .unrolled import LSTMOptions
from .network import MODELS
from .reference import cells


@functools.lru_cache(maxsize=1)
def blas_controller():
    """Found once: scanning the loaded libraries costs 0.23 ms, a call on the found ones 0.007 ms."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded_blas():
    """The reference's matrices are tiny: BLAS threads only fight torch's own threads for the
    cores (measured 45 vs 128 steps/s on 2 cores, adding T=10, H=64)."""
    try:
        controller = blas_controller()
    except ImportError:  # optional: the core runs on torch + numpy alone
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def as_numpy(t: torch.Tensor):
    return t.detach().cpu().double().numpy()


class ReferenceLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kind, x, weight_ih, weight_hh, bias_ih, bias_hh):
        weights = dict(zip(cells.WEIGHT_NAMES, map(as_numpy, (weight_ih, weight_hh, bias_ih, bias_hh))))
        with single_threaded_blas():
            out, cache = cells.forward(kind, weights, as_numpy(x))
        ctx.kind, ctx.weights, ctx.cache = kind, weights, cache
        ctx.like = (x, weight_ih)  # device and dtype to return gradients in
        return torch.from_numpy(out).to(x.device, x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        with single_threaded_blas():
            grads, dx = cells.backward(ctx.kind, ctx.weights, ctx.cache, as_numpy(grad_out))
        x, w = ctx.like
        back = lambda a, like: torch.from_numpy(a).to(like.device, like.dtype)  # noqa: E731
        return (None, back(dx, x), *(back(grads[name], w) for name in cells.WEIGHT_NAMES))


class NumpyBackedStack(FusedUnroll, nn.Module):
    """Layers of the NumPy reference with nn.RNN's parameter names and call convention."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int):
        super().__init__()
        self.kind, self.input_size, self.hidden_size, self.num_layers = kind, input_size, hidden_size, num_layers
        fused_class = nn.LSTM if kind == "lstm" else nn.RNN
        fused = fused_class(input_size, hidden_size, num_layers, batch_first=True)  # for its initialisation only
        for name, param in fused.named_parameters():
            self.register_parameter(name, nn.Parameter(param.detach().clone()))

    def forward(self, x: torch.Tensor):
        for k in range(self.num_layers):
            x = ReferenceLayer.apply(self.kind, x, *(getattr(self, f"{name}_l{k}") for name in cells.WEIGHT_NAMES))
        return x, None


@MODELS.register("rnn-numpy")
class RNNNumpy(NumpyBackedStack):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int):
        super().__init__("rnn", input_size, hidden_size, num_layers)


@MODELS.register("lstm-numpy")
class LSTMNumpy(NumpyBackedStack):
    memory_law = "prod f_t (cell state)"
    Options = LSTMOptions

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, forget_bias: float = 1.0):
        super().__init__("lstm", input_size, hidden_size, num_layers)
        set_forget_bias(self, forget_bias)

"""Vanilla RNN and LSTM layers in NumPy: forward and backpropagation through time (BPTT).

Shapes: x [B, T, I], hidden states [B, T, H]. Weights are a dict in PyTorch's layout and names
(weight_ih [G*H, I], weight_hh [G*H, H], bias_ih, bias_hh; LSTM gates stacked i, f, g, o), so a
trained nn.LSTM's weights drop in unchanged.

    RNN:   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    LSTM:  i_t = sigma(.)   f_t = sigma(.)   g_t = tanh(.)   o_t = sigma(.)
           c_t = f_t * c_{t-1} + i_t * g_t
           h_t = o_t * tanh(c_t)

Backward takes dL/dh_t for every t (zero where the loss does not read h_t) and returns the weight
gradients, dL/dx and the gradient reaching the initial state. The vanishing gradient is visible in
the two recurrences below: the RNN multiplies by W_hh^T diag(1 - h_t^2) every step, while the LSTM's
cell path multiplies only by f_t.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Weights = dict[str, np.ndarray]
WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
GATE_COUNT = {"rnn": 1, "lstm": 4}


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # the tanh form never overflows in exp


def init_weights(kind: str, input_size: int, hidden_size: int, rng: np.random.Generator,
                 forget_bias: float = 1.0) -> Weights:
    """PyTorch's initialisation, U(-1/sqrt(H), 1/sqrt(H)), with the LSTM forget bias set in b_ih."""
    rows, bound = GATE_COUNT[kind] * hidden_size, hidden_size ** -0.5
    shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size), "bias_ih": (rows,), "bias_hh": (rows,)}
    weights = {name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}
    if kind == "lstm":
        weights["bias_ih"][hidden_size : 2 * hidden_size] = forget_bias
        weights["bias_hh"][hidden_size : 2 * hidden_size] = 0.0
    return weights


@dataclass
class RNNCache:
    x: np.ndarray          # [B, T, I]
    h: np.ndarray          # [B, T+1, H], h[:, 0] the initial state


@dataclass
class LSTMCache:
    x: np.ndarray          # [B, T, I]
    h: np.ndarray          # [B, T+1, H]
    c: np.ndarray          # [B, T+1, H]
    i: np.ndarray          # gates, each [B, T, H]
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray


def zeros_state(x: np.ndarray, hidden_size: int) -> np.ndarray:
    return np.zeros((x.shape[0], hidden_size), dtype=x.dtype)


def rnn_forward(w: Weights, x: np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, RNNCache]:
    batch, steps, _ = x.shape
    hidden = w["weight_hh"].shape[1]
    h = np.empty((batch, steps + 1, hidden), dtype=x.dtype)
    h[:, 0] = zeros_state(x, hidden) if h0 is None else h0
    for t in range(steps):
        h[:, t + 1] = np.tanh(x[:, t] @ w["weight_ih"].T + w["bias_ih"] + h[:, t] @ w["weight_hh"].T + w["bias_hh"])
    return h[:, 1:], RNNCache(x, h)


def rnn_backward(w: Weights, cache: RNNCache, dh_out: np.ndarray) -> tuple[Weights, np.ndarray, np.ndarray]:
    """dh_out [B, T, H] = dL/dh_t from the layer above -> (weight grads, dL/dx, dL/dh_0)."""
    grads = {name: np.zeros_like(w[name]) for name in WEIGHT_NAMES}
    dx = np.empty_like(cache.x)
    dh_next = np.zeros_like(cache.h[:, 0])  # dL/dh_t arriving from step t+1
    for t in reversed(range(cache.x.shape[1])):
        dh = dh_out[:, t] + dh_next
        da = dh * (1.0 - cache.h[:, t + 1] ** 2)       # through tanh
        grads["weight_ih"] += da.T @ cache.x[:, t]
        grads["weight_hh"] += da.T @ cache.h[:, t]
        grads["bias_ih"] += da.sum(0)
        dx[:, t] = da @ w["weight_ih"]
        dh_next = da @ w["weight_hh"]                   # the repeated factor that vanishes or explodes
    grads["bias_hh"] = grads["bias_ih"].copy()          # both biases enter the sum the same way
    return grads, dx, dh_next


def lstm_forward(w: Weights, x: np.ndarray, h0: np.ndarray | None = None,
                 c0: np.ndarray | None = None) -> tuple[np.ndarray, LSTMCache]:
    batch, steps, _ = x.shape
    hidden = w["weight_hh"].shape[1]
    h = np.empty((batch, steps + 1, hidden), dtype=x.dtype)
    c = np.empty_like(h)
    h[:, 0] = zeros_state(x, hidden) if h0 is None else h0
    c[:, 0] = zeros_state(x, hidden) if c0 is None else c0
    i, f, g, o = (np.empty((batch, steps, hidden), dtype=x.dtype) for _ in range(4))
    for t in range(steps):
        a = x[:, t] @ w["weight_ih"].T + w["bias_ih"] + h[:, t] @ w["weight_hh"].T + w["bias_hh"]
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i[:, t] = sigmoid(a_i)                    # input gate: how much of the candidate to write
        f[:, t] = sigmoid(a_f)                    # forget gate: how much of the old cell to keep
        g[:, t] = np.tanh(a_g)                    # candidate values
        o[:, t] = sigmoid(a_o)                    # output gate: how much of the cell to show
        c[:, t + 1] = f[:, t] * c[:, t] + i[:, t] * g[:, t]
        h[:, t + 1] = o[:, t] * np.tanh(c[:, t + 1])
    return h[:, 1:], LSTMCache(x, h, c, i, f, g, o)


def lstm_backward(w: Weights, cache: LSTMCache, dh_out: np.ndarray,
                  ) -> tuple[Weights, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """dh_out [B, T, H] = dL/dh_t from the layer above -> (weight grads, dL/dx, (dL/dh_0, dL/dc_0))."""
    grads = {name: np.zeros_like(w[name]) for name in WEIGHT_NAMES}
    dx = np.empty_like(cache.x)
    dh_next = np.zeros_like(cache.h[:, 0])
    dc_next = np.zeros_like(cache.c[:, 0])
    for t in reversed(range(cache.x.shape[1])):
        i, f, g, o = cache.i[:, t], cache.f[:, t], cache.g[:, t], cache.o[:, t]
        tanh_c = np.tanh(cache.c[:, t + 1])
        dh = dh_out[:, t] + dh_next
        do = dh * tanh_c
        dc = dc_next + dh * o * (1.0 - tanh_c ** 2)
        di = dc * g
        df = dc * cache.c[:, t]
        dg = dc * i
        dc_next = dc * f                              # the cell path: scaled by the forget gate only
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
        grads["weight_ih"] += da.T @ cache.x[:, t]
        grads["weight_hh"] += da.T @ cache.h[:, t]
        grads["bias_ih"] += da.sum(0)
        dx[:, t] = da @ w["weight_ih"]
        dh_next = da @ w["weight_hh"]
    grads["bias_hh"] = grads["bias_ih"].copy()
    return grads, dx, (dh_next, dc_next)


def forward(kind: str, w: Weights, x: np.ndarray):
    """The layer's outputs [B, T, H] from a zero initial state, and the cache its backward needs."""
    return (lstm_forward if kind == "lstm" else rnn_forward)(w, x)


def backward(kind: str, w: Weights, cache, dh_out: np.ndarray) -> tuple[Weights, np.ndarray]:
    grads, dx, _ = (lstm_backward if kind == "lstm" else rnn_backward)(w, cache, dh_out)
    return grads, dx

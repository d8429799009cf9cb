"""A whole character-level model in NumPy: recurrent layers, a softmax head read at every step,
and sampling with a temperature. (Its training loop, written the tutorials' way with NumPy Adam and
clipping, lives beside the tests that check it against torch: tests/numpy_training.py.)

`ReferenceNet.from_torch` loads the weights of a trained `RecurrentNet` (rnn or lstm, any depth),
so text can be sampled from the study's own charlm runs without torch's graph machinery.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import cells


def one_hot(codes: np.ndarray, size: int) -> np.ndarray:
    return np.eye(size)[codes]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


@dataclass
class ReferenceNet:
    kind: str                      # "rnn" or "lstm"
    layers: list[cells.Weights]
    head_weight: np.ndarray        # [V, H]
    head_bias: np.ndarray          # [V]

    @classmethod
    def initial(cls, kind: str, vocab_size: int, hidden_size: int, num_layers: int = 1, seed: int = 0,
                forget_bias: float = 1.0) -> "ReferenceNet":
        rng = np.random.default_rng(seed)
        layers = [cells.init_weights(kind, vocab_size if k == 0 else hidden_size, hidden_size, rng, forget_bias)
                  for k in range(num_layers)]
        bound = hidden_size ** -0.5
        return cls(kind, layers, rng.uniform(-bound, bound, (vocab_size, hidden_size)), rng.uniform(-bound, bound, vocab_size))

    @classmethod
    def from_torch(cls, net) -> "ReferenceNet":
        """net: a models.Network whose cell has nn.RNN's parameter names and a `kind` of rnn or lstm
        (rnn, lstm, rnn-numpy, lstm-numpy), with a per-step head."""
        kind = getattr(net.rnn, "kind", None)
        if kind not in cells.GATE_COUNT:
            raise ValueError(f"the NumPy reference implements rnn and lstm, not {kind!r}")
        fused = net.rnn
        layers = [{name: getattr(fused, f"{name}_l{k}").detach().cpu().double().numpy().copy()
                   for name in cells.WEIGHT_NAMES} for k in range(fused.num_layers)]
        return cls(kind, layers, net.head.weight.detach().cpu().double().numpy().copy(),
                   net.head.bias.detach().cpu().double().numpy().copy())

    @property
    def vocab_size(self) -> int:
        return self.head_bias.shape[0]

    def params(self) -> dict[str, np.ndarray]:
        """Every parameter by name, as views: updating these updates the net."""
        named = {f"l{k}.{name}": w[name] for k, w in enumerate(self.layers) for name in cells.WEIGHT_NAMES}
        return {**named, "head.weight": self.head_weight, "head.bias": self.head_bias}

    def forward(self, codes: np.ndarray):
        """codes [B, T] -> logits [B, T, V] and what backward needs."""
        x = one_hot(codes, self.vocab_size)
        caches = []
        for w in self.layers:
            x, cache = cells.forward(self.kind, w, x)
            caches.append(cache)
        return x @ self.head_weight.T + self.head_bias, (x, caches)

    def sample(self, prime: list[int], length: int, temperature: float, rng: np.random.Generator) -> list[int]:
        """Feed `prime`, then draw `length` codes one at a time from softmax(logits / temperature):
        below 1 sharpens towards the most likely character, above 1 flattens towards uniform."""
        if temperature <= 0:
            raise ValueError(f"temperature: must be > 0, got {temperature!r}")
        if not prime:
            raise ValueError("prime: needs at least one character")
        states = [None] * len(self.layers)
        out, code = [], None
        for position in range(len(prime) + length - 1):
            code = prime[position] if position < len(prime) else code
            x = one_hot(np.array([[code]]), self.vocab_size)
            for k, w in enumerate(self.layers):
                x, states[k] = self.step(w, x, states[k])
            if position >= len(prime) - 1:
                logits = (x[0, -1] @ self.head_weight.T + self.head_bias) / temperature
                code = int(rng.choice(self.vocab_size, p=softmax(logits)))
                out.append(code)
        return out

    def step(self, w: cells.Weights, x: np.ndarray, state):
        if self.kind == "lstm":
            h, cache = cells.lstm_forward(w, x, *(state or (None, None)))
            return h, (cache.h[:, -1], cache.c[:, -1])
        h, cache = cells.rnn_forward(w, x, state)
        return h, cache.h[:, -1]

"""Gate activations of a run's model on fixed test sequences: traces and saturation statistics."""
from __future__ import annotations

import numpy as np
import torch

SIGMOID_GATES = {"i", "f", "o", "r", "z"}  # saturation below 0.1 / above 0.9 is meaningful for these


@torch.no_grad()
def gate_traces(model: torch.nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Every gate the cell reports (LSTM: i f g o and the cell state c; GRU: r z n; the tanh RNN
    none) as [B, T, H] arrays. model: a Network whose cell can unroll."""
    traced = model.rnn.unroll(model.encode(x), trace=True)
    return {name: value.cpu().numpy() for name, value in traced.gates.items()}


def gate_statistics(traces: dict[str, np.ndarray]) -> dict[str, float]:
    stats = {}
    for name, value in traces.items():
        if name not in SIGMOID_GATES:
            continue
        stats[f"gate_{name}_mean"] = float(value.mean())
        stats[f"gate_{name}_below_0.1"] = float((value < 0.1).mean())
        stats[f"gate_{name}_above_0.9"] = float((value > 0.9).mean())
    return stats

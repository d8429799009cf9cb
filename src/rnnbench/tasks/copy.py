"""Copy memory (Arjovsky, Shah & Bengio 2016).

Input (length T+20): 10 symbols from categories 1..8, T-1 blanks (0), the delimiter (9), 10 blanks.
Target: T+10 blanks, then the 10 symbols. A memoryless model can at best output blanks and then a
uniform guess over 8 symbols: cross-entropy 10*ln(8)/(T+20) averaged over all steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..config import require_unit_interval
from .base import CLASS_SEQ, TASKS, Metric, Task

N_SYMBOLS = 10
N_CATEGORIES = 8
BLANK = 0
DELIMITER = N_CATEGORIES + 1
VOCAB = N_CATEGORIES + 2  # blank, 8 symbols, delimiter


def memoryless_cross_entropy(length: int) -> float:
    return N_SYMBOLS * math.log(N_CATEGORIES) / (length + 2 * N_SYMBOLS)


@dataclass(frozen=True)
class CopyOptions:
    solved_recall_accuracy: float = 0.99


@TASKS.register("copy")
class CopyMemory(Task):
    output_kind = CLASS_SEQ
    min_length = 1
    metrics = (Metric("cross_entropy", higher_is_better=False, label="cross-entropy (nats)", log_scale=True),
               Metric("recall_accuracy", higher_is_better=True, label="recall accuracy (last 10 steps)"))
    Options = CopyOptions
    solved_option = "solved_recall_accuracy"
    solved_by = "recall_accuracy"

    def validate_options(self, options, key):
        require_unit_interval(f"{key}.solved_recall_accuracy", options.solved_recall_accuracy)

    def generate(self, n, length, rng, options):
        total = length + 2 * N_SYMBOLS
        symbols = rng.integers(1, N_CATEGORIES + 1, (n, N_SYMBOLS))
        x = np.full((n, total), BLANK, dtype=np.int64)
        x[:, :N_SYMBOLS] = symbols
        x[:, length + N_SYMBOLS - 1] = DELIMITER
        y = np.full((n, total), BLANK, dtype=np.int64)
        y[:, -N_SYMBOLS:] = symbols
        return x, y

    def describe(self, length, options, splits):
        # Outputs cover blank + 8 symbols; the delimiter is never a target.
        return dict(input_size=VOCAB, output_size=N_CATEGORIES + 1, baseline=memoryless_cross_entropy(length),
                    extra={"recall_steps": N_SYMBOLS})

    def evaluate(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        result = super().evaluate(out, y)
        result["recall_accuracy"] = (out.argmax(-1) == y).float()[:, -N_SYMBOLS:].mean()
        return result

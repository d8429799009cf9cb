"""Copy memory (Arjovsky, Shah & Bengio 2016).

Input (length T+2S, S = `symbols`, 10 by convention): S symbols from categories 1..8, T-1 blanks (0),
the delimiter (9), S blanks. Target: T+S blanks, then the S symbols. A memoryless model can at best
output blanks and then a uniform guess over 8 symbols: cross-entropy S*ln(8)/(T+2S) averaged over
all steps.

The recall phase feeds blanks after the one delimiter, as in Arjovsky et al. and Henaff et al. 2016;
the TCN paper's variant (Bai et al. 2018) feeds the delimiter at every recall step instead. With
blanks, the model itself must count the S recall steps since the delimiter, so the reading includes
that counting; the delimiter variant hands the model a "recall now" signal at every step. We keep the
original convention because the published LSTM/RNN numbers we compare with use it.
`symbols` below 10 makes the same task shorter to learn (fewer bits to hold), not a different one.

Selective copy (`selective: true`; the S4 and Mamba papers, Gu et al. 2022 and Gu & Dao 2023):
the S symbols sit at random positions, in order, among the T+S-1 steps before the delimiter,
instead of at the start; the target is the same. A model must decide from the input which steps
to keep: the skill input-dependent gates (minGRU, minLSTM, Mamba's selection) are built for and a
time-invariant linear recurrence (the LRU's) lacks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..config import require_positive, require_unit_interval
from .base import CLASS_SEQ, TASKS, Metric, Task

N_CATEGORIES = 8
BLANK = 0
DELIMITER = N_CATEGORIES + 1
VOCAB = N_CATEGORIES + 2  # blank, 8 symbols, delimiter


def memoryless_cross_entropy(length: int, symbols: int = 10) -> float:
    return symbols * math.log(N_CATEGORIES) / (length + 2 * symbols)


@dataclass(frozen=True)
class CopyOptions:
    symbols: int = 10  # how many symbols to hold and recall
    selective: bool = False  # symbols scattered over the delay instead of at the start
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
        require_positive(f"{key}.symbols", options.symbols)
        require_unit_interval(f"{key}.solved_recall_accuracy", options.solved_recall_accuracy)

    def generate(self, n, length, rng, options):
        held = options.symbols
        symbols = rng.integers(1, N_CATEGORIES + 1, (n, held))
        x = np.full((n, length + 2 * held), BLANK, dtype=np.int64)
        if options.selective:  # drawn after the symbols: the plain task's data stay as they were
            positions = np.sort(rng.random((n, length + held - 1)).argsort(axis=1)[:, :held], axis=1)
            np.put_along_axis(x, positions, symbols, axis=1)
        else:
            x[:, :held] = symbols
        x[:, length + held - 1] = DELIMITER
        y = np.full((n, length + 2 * held), BLANK, dtype=np.int64)
        y[:, -held:] = symbols
        return x, y

    def describe(self, length, options, splits):
        # Outputs cover blank + 8 symbols; the delimiter is never a target.
        return dict(input_size=VOCAB, output_size=N_CATEGORIES + 1,
                    baseline=memoryless_cross_entropy(length, options.symbols), extra={"recall_steps": options.symbols})

    def evaluate(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        result = super().evaluate(out, y)
        # The recall phase is where the targets are symbols (>= 1); every earlier target is a blank.
        recall = recall_mask(y)
        result["recall_accuracy"] = ((out.argmax(-1) == y) & recall).sum() / recall.sum()
        return result


def recall_mask(y: torch.Tensor) -> torch.Tensor:
    """The recall steps of each sequence: its last S steps, S read off the targets (symbols are >= 1)."""
    held = int((y[0] != BLANK).sum())
    mask = torch.zeros_like(y, dtype=torch.bool)
    mask[:, y.shape[1] - held:] = True
    return mask


@dataclass(frozen=True)
class SelectiveCopyOptions(CopyOptions):
    selective: bool = True


@TASKS.register("selective-copy")
class SelectiveCopy(CopyMemory):
    """Copy memory with `selective: true` by default: its own name, so that one study holds both
    (points `copy-200` and `selective-copy-200`)."""
    Options = SelectiveCopyOptions

"""The adding problem (Hochreiter & Schmidhuber 1997).

Channel 0 holds values U[0,1), channel 1 marks exactly two distinct steps; the target is the sum of
the two marked values. Predicting the mean 1.0 always gives MSE = Var(U1 + U2) = 2/12 = 1/6.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import require_positive
from .base import REGRESSION_LAST, SolvedRule, Task

BASELINE_MSE = 1.0 / 6.0


@dataclass(frozen=True)
class AddingOptions:
    # Stricter variant: first marker in the first half, second in the second half.
    strict_markers: bool = False
    solved_mse: float = 0.01


class AddingProblem(Task):
    name = "adding"
    output_kind = REGRESSION_LAST
    min_length = 2
    metric = "mse"
    higher_is_better = False
    Options = AddingOptions

    def validate_options(self, options, key):
        super().validate_options(options, key)
        require_positive(f"{key}.solved_mse", options.solved_mse, integer=False)

    def generate(self, n, length, rng, options):
        values = rng.random((n, length), dtype=np.float32)
        if options.strict_markers:
            half = length // 2
            first = rng.integers(0, half, n)
            second = rng.integers(half, length, n)
        else:
            # Two distinct positions, uniformly over all ordered pairs: draw the second from the
            # length-1 remaining slots and shift it past the first.
            first = rng.integers(0, length, n)
            second = rng.integers(0, length - 1, n)
            second += second >= first
        rows = np.arange(n)
        markers = np.zeros((n, length), dtype=np.float32)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        x = np.stack([values, markers], axis=-1)
        y = values[rows, first] + values[rows, second]
        return x, y.astype(np.float32)

    def describe(self, length, options, splits):
        return dict(input_size=2, output_size=1, baseline=BASELINE_MSE,
                    solved=SolvedRule("mse", options.solved_mse, higher_is_better=False))

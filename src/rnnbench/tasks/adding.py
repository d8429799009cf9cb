"""The adding problem (Hochreiter & Schmidhuber 1997).

Channel 0 holds values U[0,1), channel 1 marks exactly two distinct steps; the target is the sum of
the two marked values. Predicting the mean 1.0 always gives MSE = Var(U1 + U2) = 2/12 = 1/6.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import require_positive
from .base import REGRESSION_LAST, TASKS, Metric, Task

BASELINE_MSE = 1.0 / 6.0


@dataclass(frozen=True)
class AddingOptions:
    # Stricter variant: first marker in the first half, second in the second half.
    strict_markers: bool = False
    solved_mse: float = 0.01


CHUNK_VALUES = 1 << 18  # 1 MB of float32: the draw buffer stays in cache


def draw_values_with_zero_markers(x: np.ndarray, rng: np.random.Generator) -> None:
    """Fill x[..., 0] with U[0,1) (the same stream as one rng.random((N, T)) call) and x[..., 1]
    with zeros, in one pass over x.

    Drawing the whole [N, T] block and stacking it with a marker array touches twice the memory;
    at N=10,000, T=100 that was 7 ms, mostly first-touch page faults. Here values go through a
    small reused buffer, and viewing each (value, marker) pair as one complex64 writes the value
    and a zero marker with a single assignment.
    """
    n, length, _ = x.shape
    pairs = x.view(np.complex64)[..., 0]
    rows_per_chunk = max(1, CHUNK_VALUES // length)
    buffer = np.empty((min(n, rows_per_chunk), length), dtype=np.float32)
    for start in range(0, n, rows_per_chunk):
        chunk = buffer[: min(rows_per_chunk, n - start)]
        rng.random(chunk.shape, dtype=np.float32, out=chunk)
        pairs[start : start + len(chunk)] = chunk


@TASKS.register("adding")
class AddingProblem(Task):
    output_kind = REGRESSION_LAST
    min_length = 2
    metrics = (Metric("mse", higher_is_better=False, label="MSE", log_scale=True),)
    Options = AddingOptions
    solved_option = "solved_mse"

    def validate_options(self, options, key):
        require_positive(f"{key}.solved_mse", options.solved_mse, integer=False)

    def generate(self, n, length, rng, options):
        x = np.empty((n, length, 2), dtype=np.float32)
        draw_values_with_zero_markers(x, rng)
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
        x[rows, first, 1] = 1.0
        x[rows, second, 1] = 1.0
        y = x[rows, first, 0] + x[rows, second, 0]
        return x, y

    def describe(self, length, options, splits):
        return dict(input_size=2, output_size=1, baseline=BASELINE_MSE)

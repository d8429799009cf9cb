"""Temporal XOR: the first and last elements are random bits, U[0,1) noise lies between.

The target is XOR(first, last), so the model must carry the first bit across the whole sequence;
any memoryless strategy is at chance, accuracy 0.5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import require_unit_interval
from .base import CLASS_LAST, TASKS, Metric, Task


@dataclass(frozen=True)
class XorOptions:
    solved_accuracy: float = 0.99


@TASKS.register("xor")
class TemporalXor(Task):
    output_kind = CLASS_LAST
    min_length = 2
    metrics = (Metric("accuracy", higher_is_better=True, label="accuracy"),)
    Options = XorOptions
    solved_option = "solved_accuracy"

    def validate_options(self, options, key):
        require_unit_interval(f"{key}.solved_accuracy", options.solved_accuracy)

    def generate(self, n, length, rng, options):
        x = rng.random((n, length, 1), dtype=np.float32)
        first = rng.integers(0, 2, n)
        last = rng.integers(0, 2, n)
        x[:, 0, 0] = first
        x[:, -1, 0] = last
        return x, (first ^ last).astype(np.int64)

    def describe(self, length, options, splits):
        return dict(input_size=1, output_size=2, baseline=0.5)

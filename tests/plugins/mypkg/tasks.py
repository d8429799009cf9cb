"""A task a user brings, named by import path: one file, everything declared on the class."""
from dataclasses import dataclass

import numpy as np

from rnnbench.config import require_unit_interval
from rnnbench.tasks import Metric, Task
from rnnbench.tasks.base import CLASS_LAST


@dataclass(frozen=True)
class FirstBitOptions:
    solved_accuracy: float = 0.99


class FirstBit(Task):
    """Recall the first of T random bits at the end: chance is 0.5."""

    output_kind = CLASS_LAST
    min_length = 2
    metrics = (Metric("accuracy", higher_is_better=True, label="accuracy"),)
    Options = FirstBitOptions
    solved_option = "solved_accuracy"

    def validate_options(self, options, key):
        require_unit_interval(f"{key}.solved_accuracy", options.solved_accuracy)

    def generate(self, n, length, rng, options):
        bits = rng.integers(0, 2, (n, length))
        return bits[..., None].astype(np.float32), bits[:, 0].astype(np.int64)

    def describe(self, length, options, splits):
        return dict(input_size=1, output_size=2, baseline=0.5)

"""What every task declares; the in-memory dataset they produce is rnnbench.core.dataset.

A task turns (length, split sizes, seed, options) into numpy arrays plus the facts the trainer and
the report need: input size, output kind and size, the chance baseline and the "solved" rule.
Generators are vectorised: one array operation per split, never a Python loop per sample.
"""
from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np

from ..config import ConfigError, DataConfig, from_mapping
from ..core.dataset import (CLASS_LAST, CLASS_SEQ, REGRESSION_LAST, REGRESSION_SEQ, SPLITS,  # noqa: F401 -- the tasks' vocabulary
                            Dataset, SolvedRule)


def split_rng(data: DataConfig, task: str, length: int, split: str) -> np.random.Generator:
    """An independent, reproducible stream per (data seed, task, length, split)."""
    task_id = int.from_bytes(hashlib.sha256(task.encode()).digest()[:4], "little")
    return np.random.default_rng([data.seed, task_id, length, SPLITS.index(split)])


class Task:
    """Base for a synthetic task: subclasses set the class attributes and implement `generate`."""

    name: str
    output_kind: str
    min_length: int
    metric: str
    higher_is_better: bool
    Options: type

    def parse_options(self, values: Mapping[str, Any] | None, key: str):
        options = from_mapping(self.Options, values, key)
        self.validate_options(options, key)
        return options

    def validate_options(self, options: Any, key: str) -> None:
        if not isinstance(options, self.Options):
            raise ConfigError(f"{key}: expected {self.Options.__name__} options for task {self.name}")

    def generate(self, n: int, length: int, rng: np.random.Generator, options) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def describe(self, length: int, options, splits) -> dict[str, Any]:
        """input_size, output_size, baseline, solved (and any extra facts) for this length."""
        raise NotImplementedError

    def build(self, length: int, data: DataConfig, options) -> Dataset:
        sizes = {"train": data.n_train, "val": data.n_val, "test": data.n_test}
        splits = {s: self.generate(sizes[s], length, split_rng(data, self.name, length, s), options) for s in SPLITS}
        return Dataset(
            task=self.name, length=length, output_kind=self.output_kind, metric=self.metric,
            higher_is_better=self.higher_is_better, splits=splits, **self.describe(length, options, splits),
        )

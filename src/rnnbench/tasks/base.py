"""What every task declares, and the in-memory dataset all tasks produce.

A task turns (length, split sizes, seed, options) into numpy arrays plus the facts the trainer and
the report need: input size, output kind and size, the chance baseline and the "solved" rule.
Generators are vectorised: one array operation per split, never a Python loop per sample.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..config import ConfigError, DataConfig, from_mapping

SPLITS = ("train", "val", "test")

# How a model's output is read: one value / class at the last step, or one per step.
REGRESSION_LAST = "regression_last"
CLASS_LAST = "class_last"
REGRESSION_SEQ = "regression_seq"
CLASS_SEQ = "class_seq"


@dataclass(frozen=True)
class SolvedRule:
    metric: str
    threshold: float
    higher_is_better: bool

    def is_solved(self, metrics: Mapping[str, float]) -> bool:
        value = metrics.get(self.metric)
        if value is None or not np.isfinite(value):
            return False
        return value >= self.threshold if self.higher_is_better else value <= self.threshold


@dataclass
class Dataset:
    task: str
    length: int
    output_kind: str
    input_size: int
    output_size: int
    metric: str  # the headline metric reported for this task
    higher_is_better: bool
    baseline: float  # chance / memoryless value of `metric`
    solved: SolvedRule
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    extra: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        meta = {k: v for k, v in dataclasses.asdict(self).items() if k != "splits"}
        meta["sizes"] = {name: int(x.shape[0]) for name, (x, _) in self.splits.items()}
        meta["checksum"] = self.checksum()
        return meta

    def checksum(self) -> str:
        digest = hashlib.sha256()
        for name in SPLITS:
            for array in self.splits[name]:
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, (x, y) in self.splits.items():
            np.savez(folder / f"{name}.npz", x=x, y=y)
        (folder / "meta.json").write_text(json.dumps(self.meta(), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "Dataset":
        meta = json.loads((Path(folder) / "meta.json").read_text())
        splits = {}
        for name in SPLITS:
            with np.load(Path(folder) / f"{name}.npz") as f:
                splits[name] = (f["x"], f["y"])
        meta.pop("sizes")
        meta.pop("checksum")
        meta["solved"] = SolvedRule(**meta["solved"])
        return cls(splits=splits, **meta)


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

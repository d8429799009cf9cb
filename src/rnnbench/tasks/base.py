"""What a task is: the arrays it generates and everything the rest of the code asks about it.

A task declares its input/output reading (`output_kind`), its metrics (name, direction, label,
axis scale; the first is the headline the report leads with), its options (a dataclass, with the
threshold of its default "solved" rule among them), its loss and its metrics on a batch. The
trainer, the report and the figures read these declarations and nothing task-specific of their
own, so a new task is one file here (or anywhere, by import path) plus a params block.
Generators are vectorised: one array operation per split, never a Python loop per sample.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ConfigError, DataConfig, from_mapping
from ..registry import Registry
from .dataset import SPLITS, Dataset, SolvedRule

# How a model's output is read: one value / class at the last step, or one per step.
REGRESSION_LAST = "regression_last"
CLASS_LAST = "class_last"
REGRESSION_SEQ = "regression_seq"
CLASS_SEQ = "class_seq"
PER_STEP = (REGRESSION_SEQ, CLASS_SEQ)


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    label: str  # axis and table label, e.g. "test MSE"
    log_scale: bool = False  # values span orders of magnitude: plot on a log axis


def split_rng(data: DataConfig, task: str, length: int, split: str) -> np.random.Generator:
    """An independent, reproducible stream per (data seed, task, length, split)."""
    task_id = int.from_bytes(hashlib.sha256(task.encode()).digest()[:4], "little")
    return np.random.default_rng([data.seed, task_id, length, SPLITS.index(split)])


class Task:
    """Base for a task: subclasses set the class attributes and implement `generate`, `describe`
    and `solved_metric`; tasks with extra metrics extend `evaluate`."""

    name: str  # set by the registry for built-ins; the import path otherwise
    output_kind: str
    min_length: int = 1
    metrics: tuple[Metric, ...]  # every reported metric besides the loss; the first is the headline
    Options: type  # a frozen dataclass of the task's options
    solved_option: str  # the Options field holding the default solved rule's threshold
    solved_by: str = ""  # the metric that rule reads; the headline when empty
    # Whether the task is a test of long memory: the report reads a critical length only for these.
    # Short-range prediction (sine) and language modelling (charlm) are measured, never given one.
    memory_task: bool = True

    @property
    def headline(self) -> Metric:
        return self.metrics[0]

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    # --- options -----------------------------------------------------------------------------
    def parse_options(self, values: Mapping[str, Any] | None, key: str):
        """A mapping (or an Options instance) -> validated Options, defaults filled in."""
        if isinstance(values, self.Options):
            values = dataclasses.asdict(values)
        options = from_mapping(self.Options, values, key)
        self.validate_options(options, key)
        return options

    def resolved_options(self, values: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
        """Every option with its default filled in, as JSON values: what a run config records."""
        return dataclasses.asdict(self.parse_options(values, key))

    def validate_options(self, options: Any, key: str) -> None:
        """Subclasses check ranges; each message names `key.<option>`."""

    def validate_length(self, length: Any, key: str) -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < self.min_length:
            raise ConfigError(f"{key}: {self.name} needs an integer length >= {self.min_length}, got {length!r}")

    def solved_rule(self, options: Mapping[str, Any]) -> SolvedRule:
        metric = self.metric(self.solved_by) if self.solved_by else self.headline
        return SolvedRule(metric.name, float(options[self.solved_option]), metric.higher_is_better)

    # --- data --------------------------------------------------------------------------------
    def generate(self, n: int, length: int, rng: np.random.Generator, options) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def describe(self, length: int, options, splits) -> dict[str, Any]:
        """input_size, output_size, baseline (the headline metric of a memoryless predictor), and
        optionally extra facts for the dataset's meta.json."""
        raise NotImplementedError

    def build(self, length: int, data: DataConfig, options: Mapping[str, Any]) -> Dataset:
        parsed = self.parse_options(options, "task.options")
        sizes = {"train": data.n_train, "val": data.n_val, "test": data.n_test}
        splits = {s: self.generate(sizes[s], length, split_rng(data, self.name, length, s), parsed) for s in SPLITS}
        return self.dataset(length, parsed, splits, **self.describe(length, parsed, splits))

    def dataset(self, length: int, options, splits, input_size: int, output_size: int, baseline: float,
                extra: dict[str, Any] | None = None) -> Dataset:
        headline = self.headline
        return Dataset(task=self.name, length=length, output_kind=self.output_kind, input_size=input_size,
                       output_size=output_size, metric=headline.name, higher_is_better=headline.higher_is_better,
                       baseline=baseline, solved=self.solved_rule(dataclasses.asdict(options)), splits=splits,
                       extra=extra or {})

    def constant_baseline(self, y: np.ndarray) -> float:
        """The headline metric of the best constant prediction on these targets themselves (their
        variance for MSE, the majority class's share for accuracy): a split's own chance level
        beside the analytic one. nan for a metric where no constant predictor is defined here."""
        if self.headline.name == "mse":
            return float(np.var(np.asarray(y, dtype=np.float64)))
        if self.headline.name == "accuracy":
            counts = np.bincount(np.asarray(y).reshape(-1).astype(np.int64))
            return float(counts.max() / counts.sum()) if counts.size else float("nan")
        return float("nan")

    # --- objectives: per-sample means, so a weighted mean over evaluation batches is exact ------
    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.output_kind in (REGRESSION_LAST, REGRESSION_SEQ):
            return F.mse_loss(out, y)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    def by_position(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Per-step tasks: the [T] sum over the batch of accuracy (classes) or squared error
        (regression) at each position, so sums over batches divided by N are exact; None otherwise."""
        if self.output_kind == CLASS_SEQ:
            return (out.argmax(-1) == y).float().sum(0)
        if self.output_kind == REGRESSION_SEQ:
            return ((out - y) ** 2).sum(0)
        return None

    def evaluate(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss and every metric of `metrics` on one batch, as 0-d tensors (no host sync)."""
        value = self.loss(out, y)
        if self.output_kind in (REGRESSION_LAST, REGRESSION_SEQ):
            return {"loss": value, "mse": value}
        result = {"loss": value, "accuracy": (out.argmax(-1) == y).float().mean()}
        if self.output_kind == CLASS_SEQ:
            result["cross_entropy"] = value
        return result


TASKS: Registry[Task] = Registry("task", Task, "task")


def resolve_task(spec: str, key: str = "task") -> Task:
    """A task instance by registry name or import path, named as the configs name it."""
    cls = TASKS.resolve(spec, key)
    task = cls()
    task.name = TASKS.canonical(spec, key)
    return task

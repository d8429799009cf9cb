"""The dataset a task produces: arrays per split and the facts recorded beside them in meta.json
(how the output is read, the headline metric, the memoryless baseline, the solved rule). The
checksum covers the arrays, so a run records exactly which data it saw."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..config import ConfigError, read_json

SPLITS = ("train", "val", "test")


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

    def tightened(self, margin: float) -> "SolvedRule":
        """The rule with its threshold moved `margin` of the way to perfect (1 for a score, which the
        rules' accuracies and recalls are, 0 for a loss or an error)."""
        perfect = 1.0 if self.higher_is_better else 0.0
        return dataclasses.replace(self, threshold=self.threshold + margin * (perfect - self.threshold))


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
    def load_checked(cls, folder: Path, task: str, length: int, key: str = "data",
                     options: Mapping[str, Any] | None = None) -> "Dataset":
        """A generated data folder, refused in one line unless it is readable, holds `task` at
        `length`, and its arrays match the checksum recorded when it was written. With `options`
        (the task's, from the run config) its arrays must also have the shapes and types the task
        generates at `length`: meta.json and its checksum can be rewritten, the arrays' form cannot
        lie about the length they hold."""
        folder = Path(folder)
        if not (folder / "meta.json").is_file():
            raise ConfigError(f"{key}: {str(folder)!r} holds no dataset (meta.json missing); run `rnnbench generate` first")
        try:
            dataset = cls.load(folder)
            recorded = read_json(folder / "meta.json")["checksum"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as err:
            raise ConfigError(f"{key}: {str(folder)!r} is not a readable dataset ({type(err).__name__}: {err}); "
                              "regenerate it") from None
        if (dataset.task, dataset.length) != (task, length):
            raise ConfigError(f"{key}: {str(folder)!r} holds {dataset.task} T={dataset.length}, not {task} T={length}")
        if dataset.checksum() != recorded:
            raise ConfigError(f"{key}: the arrays in {str(folder)!r} do not match its meta.json checksum; regenerate it")
        if options is not None:
            dataset.check_form(options, key, folder)
        return dataset

    def check_form(self, options: Mapping[str, Any], key: str, folder: Path) -> None:
        """Refuse a folder whose arrays (their shape past the sample axis, their type) or whose
        input and output sizes differ from what the task builds at this length (two samples per
        split, built here)."""
        from ..config import DataConfig
        from . import resolve_task  # the registry imports this module

        expected = resolve_task(self.task).build(self.length, DataConfig(2, 2, 2), options)
        for fact in ("output_kind", "input_size", "output_size"):
            if getattr(self, fact) != getattr(expected, fact):
                raise ConfigError(f"{key}: {str(folder)!r} says {fact} {getattr(self, fact)!r}; {self.task} "
                                  f"T={self.length} builds {getattr(expected, fact)!r}")
        for split, arrays in self.splits.items():
            for name, array, want in zip(("x", "y"), arrays, expected.splits[split]):
                if array.shape[1:] != want.shape[1:] or array.dtype != want.dtype:
                    raise ConfigError(
                        f"{key}: {str(folder)!r} {split}.{name} has shape {tuple(array.shape[1:])} {array.dtype} per "
                        f"sample; {self.task} T={self.length} builds {tuple(want.shape[1:])} {want.dtype}")

    @classmethod
    def load(cls, folder: Path) -> "Dataset":
        meta = read_json(Path(folder) / "meta.json")
        splits = {}
        for name in SPLITS:
            with np.load(Path(folder) / f"{name}.npz") as f:
                splits[name] = (f["x"], f["y"])
        meta.pop("sizes")
        meta.pop("checksum")
        meta["solved"] = SolvedRule(**meta["solved"])
        return cls(splits=splits, **meta)

"""The study: params.yaml parsed once into typed configs, and the grid of cells it defines.

Layering of hyperparameters for one cell (later wins):
    model / train            shared by every cell
    tasks.<task>.train       a task's own budget (e.g. more steps for longer sequences)
    per_model.<model>        one model's own hyperparameters (so changing it reruns only that model)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .config import (ConfigError, DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig, from_mapping,
                     require_choice)

TOP_LEVEL_KEYS = ("seeds", "models", "data", "model", "train", "tasks", "per_model")
TASK_KEYS = ("lengths", "options", "train")
PER_MODEL_KEYS = ("model", "train")


@dataclass(frozen=True)
class Cell:
    task: str
    model: str
    length: int

    @property
    def run_folder(self) -> Path:
        return Path("runs") / self.task / self.model / f"T{self.length}"

    @property
    def stage(self) -> str:
        return f"train-{self.task}@{self.model}-{self.length}"


def data_folder(task: str, length: int) -> Path:
    return Path("data") / task / f"T{length}"


def seed_folder(cell: Cell, seed: int) -> Path:
    return cell.run_folder / f"seed{seed}"


@dataclass(frozen=True)
class TaskPlan:
    lengths: tuple[int, ...]
    options: Any
    train: Mapping[str, Any]


@dataclass(frozen=True)
class Study:
    seeds: tuple[int, ...]
    models: tuple[str, ...]
    data: DataConfig
    model: Mapping[str, Any]
    train: Mapping[str, Any]
    tasks: Mapping[str, TaskPlan]
    per_model: Mapping[str, Mapping[str, Mapping[str, Any]]]

    def cells(self) -> list[Cell]:
        return [Cell(t, m, n) for t, plan in self.tasks.items() for m in self.models for n in plan.lengths]

    def run_config(self, cell: Cell, seed: int) -> RunConfig:
        own = self.per_model.get(cell.model, {})
        model = from_mapping(ModelConfig, {**self.model, **own.get("model", {}), "name": cell.model}, "model")
        train = from_mapping(TrainConfig, {**self.train, **self.tasks[cell.task].train, **own.get("train", {})}, "train")
        task = TaskConfig(cell.task, cell.length, self.tasks[cell.task].options)
        return RunConfig(task=task, model=model, train=train, data=self.data, seed=seed)


def require_mapping(key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a mapping, got {type(value).__name__}")
    return value


def require_keys(key: str, value: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for name in value:
        require_choice(f"{key}.{name}" if key else name, name, allowed)


def require_int_list(key: str, value: Any, minimum: int) -> tuple[int, ...]:
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in value):
        raise ConfigError(f"{key}: must be a list of integers >= {minimum}, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{key}: has duplicates: {value!r}")
    return tuple(value)


def parse_study(params: Any) -> Study:
    """Validate the whole study up front: every cell's config is built and checked here."""
    from .models import MODEL_NAMES
    from .tasks import TASKS

    params = require_mapping("params.yaml", params)
    require_keys("", params, TOP_LEVEL_KEYS)
    seeds = require_int_list("seeds", params.get("seeds", [0]), 0)
    if not seeds:
        raise ConfigError("seeds: needs at least one seed")
    models = params.get("models", list(MODEL_NAMES))
    if not isinstance(models, list) or not models:
        raise ConfigError(f"models: must be a non-empty list; allowed values: {', '.join(MODEL_NAMES)}")
    for i, name in enumerate(models):
        require_choice(f"models[{i}]", name, MODEL_NAMES)
    data = from_mapping(DataConfig, require_mapping("data", params.get("data")), "data")
    data.validate()

    tasks: dict[str, TaskPlan] = {}
    for name, plan in require_mapping("tasks", params.get("tasks")).items():
        require_choice("tasks", name, TASKS)
        key = f"tasks.{name}"
        plan = require_mapping(key, plan)
        require_keys(key, plan, TASK_KEYS)
        task = TASKS[name]
        lengths = require_int_list(f"{key}.lengths", plan.get("lengths", []), task.min_length)
        options = task.parse_options(require_mapping(f"{key}.options", plan.get("options")), f"{key}.options")
        tasks[name] = TaskPlan(lengths, options, dict(require_mapping(f"{key}.train", plan.get("train"))))

    per_model = {}
    for name, own in require_mapping("per_model", params.get("per_model")).items():
        require_choice("per_model", name, MODEL_NAMES)
        own = require_mapping(f"per_model.{name}", own)
        require_keys(f"per_model.{name}", own, PER_MODEL_KEYS)
        per_model[name] = {k: dict(require_mapping(f"per_model.{name}.{k}", v)) for k, v in own.items()}

    for name in models:
        if name not in per_model:
            # dvc.yaml's train stages depend on per_model.<model>; DVC refuses a missing key.
            raise ConfigError(f"per_model.{name}: missing; every model in `models` needs an entry (`{name}: {{}}` for none)")
    study = Study(seeds=seeds, models=tuple(models), data=data,
                  model=dict(require_mapping("model", params.get("model"))),
                  train=dict(require_mapping("train", params.get("train"))), tasks=tasks, per_model=per_model)
    for key, section in (("model", study.model), ("train", study.train)):
        if "name" in section:
            raise ConfigError(f"{key}.name: the model name comes from `models`, not from {key}")
    for cell in study.cells():
        study.run_config(cell, seeds[0]).validate()
    if not study.cells():
        raise ConfigError("tasks: no cells to run; give at least one task a non-empty `lengths` list")
    return study


def load_study(path: Path | str = "params.yaml") -> Study:
    import yaml

    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f"params: cannot read {str(path)!r} ({err.strerror})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"params: {str(path)!r} is not valid YAML{where}") from None
    return parse_study(params)

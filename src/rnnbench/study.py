"""The study: params.yaml parsed once into typed configs, and the grid of cells it defines.

Layering of hyperparameters for one cell (later wins):
    model / train            shared by every cell
    tasks.<task>.train       a task's own budget (e.g. more steps for longer sequences)
    per_model.<model>        one model's own hyperparameters (so changing it reruns only that model)

Besides the main grid (every model x every task length), two side grids each put a few models on
one task's lengths: `reference` (the NumPy rnn/lstm beside the fused ones on short sequences) and
`ablations` (the LSTM variants). Each has its own train stage in dvc.yaml.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .config import (ConfigError, DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig, from_mapping,
                     require_choice)

TOP_LEVEL_KEYS = ("seeds", "models", "data", "model", "train", "tasks", "per_model", "side_grids", "seed_processes")
TASK_KEYS = ("lengths", "options", "train")
PER_MODEL_KEYS = ("model", "train")
SIDE_GRIDS = ("reference", "ablations")  # dvc.yaml has a train-<name> stage for each
SIDE_GRID_KEYS = ("task", "lengths", "models")


@dataclass(frozen=True)
class Cell:
    task: str
    model: str
    length: int
    group: str = field(default="", compare=False)  # the side grid it belongs to, "" for the main grid

    @property
    def run_folder(self) -> Path:
        return Path("runs") / self.task / self.model / f"T{self.length}"

    @property
    def stage(self) -> str:
        return f"train-{self.group or self.task}@{self.model}-{self.length}"


def data_folder(task: str, length: int) -> Path:
    return Path("data") / task / f"T{length}"


def seed_folder(cell: Cell, seed: int) -> Path:
    return cell.run_folder / f"seed{seed}"


def config_file(cell: Cell) -> Path:
    """The cell's resolved run configs, written by the configure stage: a train stage depends on this
    file instead of on five params sections, so its dvc.lock entry stays short."""
    return Path("configs") / cell.task / cell.model / f"T{cell.length}.json"


@dataclass(frozen=True)
class TaskPlan:
    lengths: tuple[int, ...]
    options: Any
    train: Mapping[str, Any]


@dataclass(frozen=True)
class SideGrid:
    task: str
    lengths: tuple[int, ...]
    models: tuple[str, ...]


@dataclass(frozen=True)
class Study:
    seeds: tuple[int, ...]
    models: tuple[str, ...]
    data: DataConfig
    model: Mapping[str, Any]
    train: Mapping[str, Any]
    tasks: Mapping[str, TaskPlan]
    per_model: Mapping[str, Mapping[str, Mapping[str, Any]]]
    side_grids: Mapping[str, SideGrid] = field(default_factory=dict)
    # How a cell's seeds share the machine, not what they compute: histories are identical either way,
    # so no stage lists it as a param and changing it reruns nothing.
    seed_processes: int | str = "auto"

    def cells(self) -> list[Cell]:
        main = [Cell(t, m, n) for t, plan in self.tasks.items() for m in self.models for n in plan.lengths]
        side = [Cell(grid.task, m, n, name) for name, grid in self.side_grids.items()
                for m in grid.models for n in grid.lengths]
        return main + side

    def cell(self, task: str, model: str, length: int) -> Cell:
        """The study's own cell (with its group), or ConfigError when the study has no such cell."""
        for cell in self.cells():
            if cell == Cell(task, model, length):
                return cell
        raise ConfigError(f"tasks.{task}: cell {model} T={length} is not in the study's params.yaml")

    def resolved_configs(self, cell: Cell) -> list[dict[str, Any]]:
        """Every seed's full run config for `cell`, as JSON values: what decides the cell's results."""
        return json.loads(json.dumps([self.run_config(cell, seed).to_dict() for seed in self.seeds]))

    def write_configs(self, cell: Cell, root: Path = Path(".")) -> Path:
        path = root / config_file(cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.resolved_configs(cell), indent=1, sort_keys=True) + "\n")
        return path

    def require_current_configs(self, cell: Cell, root: Path = Path(".")) -> None:
        """A train stage trains what DVC tracks for it: its configs file, as params.yaml gives it now."""
        path = root / config_file(cell)
        if not path.is_file() or json.loads(path.read_text()) != self.resolved_configs(cell):
            raise ConfigError(f"{config_file(cell)}: missing or not what params.yaml gives for this cell; "
                              "run the configure stage first (dvc repro does)")

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


def parse_side_grid(name: str, grid: Any, tasks: Mapping[str, TaskPlan], models: list[str]) -> SideGrid:
    from .core.models import MODEL_NAMES

    key = f"side_grids.{name}"
    grid = require_mapping(key, grid)
    require_keys(key, grid, SIDE_GRID_KEYS)
    task = grid.get("task")
    require_choice(f"{key}.task", task, tasks)
    lengths = require_int_list(f"{key}.lengths", grid.get("lengths", []), 1)
    missing = sorted(set(lengths) - set(tasks[task].lengths))
    if missing:  # its data comes from the task's own generate stages
        raise ConfigError(f"{key}.lengths: {missing} not in tasks.{task}.lengths {list(tasks[task].lengths)}")
    chosen = grid.get("models", [])
    if not isinstance(chosen, list):
        raise ConfigError(f"{key}.models: must be a list; allowed values: {', '.join(MODEL_NAMES)}")
    for i, model in enumerate(chosen):
        require_choice(f"{key}.models[{i}]", model, MODEL_NAMES)
        if model in models:  # the main grid already trains it: two stages would write one folder
            raise ConfigError(f"{key}.models[{i}]: {model!r} is already in `models`")
    return SideGrid(task, lengths, tuple(chosen))


def parse_study(params: Any) -> Study:
    """Validate the whole study up front: every cell's config is built and checked here."""
    from .core.models import MODEL_NAMES
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

    grids = require_mapping("side_grids", params.get("side_grids"))
    require_keys("side_grids", grids, SIDE_GRIDS)
    for name in SIDE_GRIDS:
        if name not in grids:  # dvc.yaml's train-<name> stage reads it; DVC refuses a missing key
            raise ConfigError(f"side_grids.{name}: missing; give it task, lengths and models (`models: []` for none)")
    side_grids = {name: parse_side_grid(name, grid, tasks, models) for name, grid in grids.items()}
    seed_processes = params.get("seed_processes", "auto")
    if seed_processes != "auto" and (isinstance(seed_processes, bool) or not isinstance(seed_processes, int)
                                     or seed_processes < 1):
        raise ConfigError(f"seed_processes: must be 'auto' or a positive integer, got {seed_processes!r}")
    study = Study(seeds=seeds, models=tuple(models), data=data,
                  model=dict(require_mapping("model", params.get("model"))),
                  train=dict(require_mapping("train", params.get("train"))), tasks=tasks, per_model=per_model,
                  side_grids=side_grids, seed_processes=seed_processes)
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

"""The study: params.yaml parsed once into typed run configs, and the grid of cells it defines.

The grid is `models` x `points`, where a point is `<task>-<length>` (`adding-200`): one flat list,
so that dvc.yaml needs one train matrix (models x points) for every task. `side_grids` put a few
more models on a few points (the NumPy reference, the LSTM ablations), each as its own matrix.

Layering of hyperparameters for one cell (later wins):
    model / train            shared by every cell
    tasks.<task>.train       a task's own budget (e.g. more steps for longer sequences)
    per_model.<model>        one model's own hyperparameters (so changing it reruns only that model)
A task's options come from `tasks.<task>.options` over the task's defaults; a task with no block
runs with its defaults and the shared budget. Params list only the tasks they run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .config import (ConfigError, DataConfig, Execution, ModelConfig, RunConfig, TaskConfig, TrainConfig,
                     from_mapping, point_name, require_choice, seed_folder, write_run_configs)
from .models import MODELS
from .tasks import TASKS, Task, resolve_task

TOP_LEVEL_KEYS = ("seeds", "seed_processes", "models", "points", "data", "model", "train", "tasks", "per_model",
                  "side_grids")
TASK_KEYS = ("options", "train")
PER_MODEL_KEYS = ("model", "train")
SIDE_GRIDS = ("reference", "ablations")  # dvc.yaml has a train-<name> matrix for each
SIDE_GRID_KEYS = ("models", "points")
CONFIGS = Path("configs")
EXECUTION_FILE = CONFIGS / "execution.json"


@dataclass(frozen=True)
class Cell:
    task: str
    model: str
    length: int
    group: str = field(default="", compare=False)  # the side grid it belongs to, "" for the main grid

    @property
    def point(self) -> str:
        return point_name(self.task, self.length)

    @property
    def stage(self) -> str:
        return f"train{'-' + self.group if self.group else ''}@{self.model}-{self.point}"

    @property
    def run_folder(self) -> Path:
        return Path("runs") / self.point / self.model

    @property
    def data_folder(self) -> Path:
        return Path("data") / self.point

    @property
    def configs_file(self) -> Path:
        """The cell's resolved run configs, one per seed: the only settings its train stage reads."""
        return CONFIGS / self.point / f"{self.model}.json"

    def seed_folder(self, seed: int) -> Path:
        return seed_folder(self.run_folder, seed)


@dataclass(frozen=True)
class TaskPlan:
    options: Mapping[str, Any]  # every option, defaults filled in
    train: Mapping[str, Any]
    source_sha256: str = ""


@dataclass(frozen=True)
class SideGrid:
    models: tuple[str, ...]
    points: tuple[tuple[str, int], ...]

    @property
    def task(self) -> str | None:
        """The task of its first point: the report shows a side grid beside that task's models."""
        return self.points[0][0] if self.points else None

    @property
    def lengths(self) -> list[int]:
        return [n for t, n in self.points if t == self.task]


@dataclass(frozen=True)
class Study:
    seeds: tuple[int, ...]
    models: tuple[str, ...]
    points: tuple[tuple[str, int], ...]
    data: DataConfig
    model: Mapping[str, Any]
    train: Mapping[str, Any]
    tasks: Mapping[str, TaskPlan]
    per_model: Mapping[str, Mapping[str, Mapping[str, Any]]]
    side_grids: Mapping[str, SideGrid] = field(default_factory=dict)
    execution: Execution = field(default_factory=Execution)
    model_sources: Mapping[str, str] = field(default_factory=dict)  # import-path model -> source sha256

    def task_names(self) -> list[str]:
        """The main grid's tasks, in the order params.yaml first names them."""
        return list(dict.fromkeys(task for task, _ in self.points))

    def lengths(self, task: str) -> list[int]:
        return [n for t, n in self.points if t == task]

    def cells(self) -> list[Cell]:
        main = [Cell(t, m, n) for t in self.task_names() for m in self.models for n in self.lengths(t)]
        side = [Cell(t, m, n, name) for name, grid in self.side_grids.items()
                for m in grid.models for t, n in grid.points]
        return main + side

    def all_points(self) -> list[tuple[str, int]]:
        """Every (task, length) some cell trains on: what the generate stage writes."""
        return list(dict.fromkeys((cell.task, cell.length) for cell in self.cells()))

    def task_plan(self, task: str) -> TaskPlan:
        """The task's plan: its params block or its defaults (every task of the grid is planned once
        by parse_study; another, e.g. one the CLI names, is planned here)."""
        return self.tasks.get(task) or plan_task(task, {}, f"tasks.{task}")

    def run_config(self, cell: Cell, seed: int) -> RunConfig:
        own = self.per_model.get(cell.model, {})
        plan = self.task_plan(cell.task)
        model = from_mapping(ModelConfig, {**self.model, **own.get("model", {}), "name": cell.model,
                                           "source_sha256": self.model_sources.get(cell.model, "")}, "model")
        train = from_mapping(TrainConfig, {**self.train, **plan.train, **own.get("train", {})}, "train")
        task = TaskConfig(cell.task, cell.length, dict(plan.options), plan.source_sha256)
        return RunConfig(task=task, model=model, train=train, data=self.data, seed=seed)

    def resolved_configs(self, cell: Cell) -> list[RunConfig]:
        return [self.run_config(cell, seed) for seed in self.seeds]

    def write_configs(self, root: Path = Path(".")) -> int:
        """Every cell's configs file and the execution settings; returns how many cells."""
        for cell in self.cells():
            write_run_configs(root / cell.configs_file, self.resolved_configs(cell))
        self.execution.write(root / EXECUTION_FILE)
        return len(self.cells())


def require_mapping(key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a mapping, got {type(value).__name__}")
    return value


def require_keys(key: str, value: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for name in value:
        require_choice(f"{key}.{name}" if key else name, name, allowed)


def require_list(key: str, value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be a list of {what}, got {value!r}")
    if len(set(map(str, value))) != len(value):
        raise ConfigError(f"{key}: has duplicates: {value!r}")
    return value


def require_seeds(value: Any) -> tuple[int, ...]:
    seeds = require_list("seeds", value, "integers >= 0")
    if not seeds or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in seeds):
        raise ConfigError(f"seeds: must be a non-empty list of integers >= 0, got {value!r}")
    return tuple(seeds)


def model_name(key: str, spec: Any) -> str:
    """A model of the study: a registry name or a dotted import path (a `:` would end up in a
    folder and a DVC stage name, where it is not portable)."""
    if isinstance(spec, str) and ":" in spec:
        raise ConfigError(f"{key}: write the import path with dots ({spec.replace(':', '.')!r}): "
                          "the name becomes a folder and a DVC stage name")
    name = MODELS.canonical(spec, key)
    MODELS.resolve(name, key)  # importable, and a torch module: refused now, not in a train stage
    return name


def study_task(key: str, spec: Any) -> Task:
    """A task of the study, by registry name or dotted import path (as model_name)."""
    if isinstance(spec, str) and ":" in spec:
        raise ConfigError(f"{key}: write the import path with dots ({spec.replace(':', '.')!r})")
    return resolve_task(spec, key)


BYTES_PER_SAMPLE_STEP = 16  # the largest arrays a task makes: int64 inputs and targets (copy, charlm)


def require_fits_in_memory(key: str, samples: int, length: int) -> None:
    """Refuse a dataset that cannot fit in this machine's memory before allocating it (a length of
    10^9 would otherwise ask for tens of TiB and die on the allocation)."""
    need = samples * (length + 1) * BYTES_PER_SAMPLE_STEP
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
    if have and need > have:
        raise ConfigError(f"{key}: {samples} sequences of length {length} need about {need / 2**30:.0f} GiB, "
                          f"more than this machine's {have / 2**30:.0f} GiB of memory")


def parse_point(key: str, spec: Any) -> tuple[str, int]:
    """`adding-200` -> ("adding", 200), the task known and the length allowed for it."""
    task, _, length = spec.rpartition("-") if isinstance(spec, str) else ("", "", "")
    if not task or not length.isdigit():
        raise ConfigError(f"{key}: a point is <task>-<length>, e.g. adding-200; got {spec!r}")
    resolved = study_task(key, task)
    resolved.validate_length(int(length), key)
    return resolved.name, int(length)


def require_points_fit(study: "Study") -> None:
    samples = study.data.n_train + study.data.n_val + study.data.n_test
    for task, length in study.all_points():
        require_fits_in_memory(f"points: {point_name(task, length)}", samples, length)


def parse_points(key: str, value: Any) -> tuple[tuple[str, int], ...]:
    return tuple(parse_point(f"{key}[{i}]", spec) for i, spec in enumerate(require_list(key, value, "<task>-<length>")))


def plan_task(name: str, block: Mapping[str, Any], key: str) -> TaskPlan:
    block = require_mapping(key, block)
    require_keys(key, block, TASK_KEYS)
    task = resolve_task(name, key)
    options = task.resolved_options(require_mapping(f"{key}.options", block.get("options")), f"{key}.options")
    return TaskPlan(options, dict(require_mapping(f"{key}.train", block.get("train"))), TASKS.source_sha256(name, key))


def parse_side_grid(name: str, grid: Any, models: tuple[str, ...]) -> SideGrid:
    key = f"side_grids.{name}"
    grid = require_mapping(key, grid)
    require_keys(key, grid, SIDE_GRID_KEYS)
    chosen = require_list(f"{key}.models", grid.get("models", []), f"model names ({MODELS.allowed()})")
    names = []
    for i, spec in enumerate(chosen):
        model = model_name(f"{key}.models[{i}]", spec)
        if model in models:  # the main grid already trains it: two stages would write one folder
            raise ConfigError(f"{key}.models[{i}]: {model!r} is already in `models`")
        names.append(model)
    return SideGrid(tuple(names), parse_points(f"{key}.points", grid.get("points", [])))


def parse_study(params: Any) -> Study:
    """Validate the whole study up front: every cell's config is built and checked here."""
    params = require_mapping("params.yaml", params)
    require_keys("", params, TOP_LEVEL_KEYS)
    seeds = require_seeds(params.get("seeds", [0]))
    chosen = require_list("models", params.get("models"), f"model names ({MODELS.allowed()})")
    if not chosen:
        raise ConfigError(f"models: must be a non-empty list; allowed values: {MODELS.allowed()}")
    models = tuple(model_name(f"models[{i}]", spec) for i, spec in enumerate(chosen))
    points = parse_points("points", params.get("points", []))
    data = from_mapping(DataConfig, require_mapping("data", params.get("data")), "data")
    data.validate()

    tasks = {}
    for spec, block in require_mapping("tasks", params.get("tasks")).items():
        name = study_task(f"tasks.{spec}", spec).name
        tasks[name] = plan_task(name, block, f"tasks.{spec}")

    per_model = {}
    for spec, own in require_mapping("per_model", params.get("per_model")).items():
        name = model_name(f"per_model.{spec}", spec)
        own = require_mapping(f"per_model.{spec}", own)
        require_keys(f"per_model.{spec}", own, PER_MODEL_KEYS)
        per_model[name] = {k: dict(require_mapping(f"per_model.{spec}.{k}", v)) for k, v in own.items()}

    grids = require_mapping("side_grids", params.get("side_grids"))
    require_keys("side_grids", grids, SIDE_GRIDS)
    for name in SIDE_GRIDS:
        if name not in grids:  # dvc.yaml's train-<name> matrix reads it; DVC refuses a missing key
            raise ConfigError(f"side_grids.{name}: missing; give it models and points (`models: []` for none)")
    side_grids = {name: parse_side_grid(name, grids[name], models) for name in SIDE_GRIDS}
    execution = Execution(params.get("seed_processes", "auto")).validate()
    shared_model = dict(require_mapping("model", params.get("model")))
    shared_train = dict(require_mapping("train", params.get("train")))
    for key, section in (("model", shared_model), ("train", shared_train)):
        if "name" in section:
            raise ConfigError(f"{key}.name: the model name comes from `models`, not from {key}")
    used = dict.fromkeys([t for t, _ in points] + [t for grid in side_grids.values() for t, _ in grid.points])
    tasks.update({t: plan_task(t, {}, f"tasks.{t}") for t in used if t not in tasks})  # defaults, resolved once
    every_model = dict.fromkeys([*models, *(m for grid in side_grids.values() for m in grid.models)])
    sources = {m: digest for m in every_model if (digest := MODELS.source_sha256(m))}
    study = Study(seeds=seeds, models=models, points=points, data=data, model=shared_model, train=shared_train,
                  tasks=tasks, per_model=per_model, side_grids=side_grids, execution=execution, model_sources=sources)
    if not study.cells():
        raise ConfigError("points: no cells to run; list at least one <task>-<length> point")
    require_points_fit(study)
    for cell in study.cells():
        study.run_config(cell, seeds[0]).validate()
    return study


def load_study(path: Path | str = "params.yaml") -> Study:
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

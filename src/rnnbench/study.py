"""The study: params.yaml parsed once into typed run configs, and the grid of cells it defines.

The grid is `models` x `points`, where a point is `<task>-<length>` (`adding-200`): one flat list,
so that dvc.yaml needs one train matrix (models x points) for every task. `side_grids` (any number,
by name, `{}` for none) put a few more models on a few points, each read against the main-grid model
it names in `compares_to` (the NumPy reference against the fused models, the LSTM ablations against
the LSTM); dvc.yaml tunes and trains each grid in one stage of its own (tune-side@<grid>,
train-side@<grid>), whose files live under side/<grid>/ of configs/, tuning/ and runs/.

Layering of hyperparameters for one cell (later wins):
    model / train            shared by every cell
    tasks.<task>.train       a task's own budget (e.g. more steps for longer sequences)
    per_model.<model>        one model's own hyperparameters (so changing it reruns only that model)
A task's options come from `tasks.<task>.options` over the task's defaults; a task with no block
runs with its defaults and the shared budget. Params list only the tasks they run.

The learning rate of a (task, model) is chosen by the tuning protocol (`tune`: every model the same
sweep, judged on validation only; docs/architecture.md) unless params set it by hand
(`per_model.<m>.train.lr` or `tasks.<t>.train.lr`) or copy it (`per_model.<m>.lr_from`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .config import (CELL_LIST, CONFIGS, EXECUTION_FILE, FROM, HAND_SET, SHARED, TUNED, TUNING, ConfigError,
                     DataConfig, Execution, ModelConfig,
                     RunConfig, TaskConfig, TaskTuning, TrainConfig, from_mapping, point_name, read_tuning,
                     require_choice, require_positive, seed_folder, write_if_changed, write_run_configs,
                     write_tuning)
from .models import MODELS, model_options, parameter_count
from .registry import REGISTRY_NAME  # a grid's name obeys a registry name's rule: it becomes a folder and a stage name
from .models.network import build_network
from .tasks.base import PER_STEP
from .tasks import TASKS, Task, resolve_task

TOP_LEVEL_KEYS = ("seeds", "seed_processes", "engine", "models", "points", "data", "model", "train", "tasks", "per_model",
                  "side_grids", "tune", "search", "equal_parameters", "primary_contrasts", "smoke_test")
TASK_KEYS = ("options", "train")
PER_MODEL_KEYS = ("model", "train", "lr_from")
TUNE_KEYS = ("ladder", "lrs", "seeds", "points")
SIDE_GRID_KEYS = ("models", "points", "compares_to", "about", "figure")
SIDE_GRID_FIGURES = ("bars", "curves")  # final metric per model and length; validation curves beside the counterpart
SEARCH_KEYS = ("models", "tasks", "lengths", "start_lr", "tune_seeds", "resolution", "budget_factor", "budget_ceiling")
SEARCH_LENGTH_KEYS = ("start", "floor", "cap")
TUNING_PLANS = TUNING / "plans"
RUNS = Path("runs")
SIDE = "side"  # a side grid's files: configs/side/<grid>/, tuning/plans/side/<grid>/, tuning/side/<grid>/, runs/side/<grid>/


def side_folder(root: Path, grid: str) -> Path:
    """Where side grid `grid` keeps its files under `root` (CONFIGS, TUNING_PLANS, TUNING or RUNS)."""
    return Path(root) / SIDE / grid


def tuning_plan_file(model: str, grid: str = "") -> Path:
    """A model's tuning plan; `grid`: the side grid whose stage tunes it ("" for the main grid's tune@<model>)."""
    return (side_folder(TUNING_PLANS, grid) if grid else TUNING_PLANS) / f"{model}.json"


def tuning_result_file(model: str, grid: str = "") -> Path:
    return (side_folder(TUNING, grid) if grid else TUNING) / f"{model}.json"


@dataclass(frozen=True)
class Tuning:
    """The lr sweep every tuned model gets: `lrs` at each of a task's tuning lengths (`points`),
    on `seeds` disjoint from the study's, walked along `ladder` past a winning end (training/tuning.py).
    No lrs: nothing is tuned and train.lr is used. The search's per-length sweeps use the same ladder."""
    ladder: tuple[float, ...] = ()
    lrs: tuple[float, ...] = ()
    seeds: tuple[int, ...] = ()
    points: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # task -> tuning lengths


@dataclass(frozen=True)
class SearchSettings:
    """The critical-length search (params `search`; rnnbench/search/rule.py): per task of `tasks` x
    model of `models`, lengths between lengths.<task>.floor and .cap from .start, each with its own
    lr from a sweep over the ladder `tune.ladder` on `tune_seeds` (its ends are the stated bounds)."""
    models: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    lengths: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # task -> start, floor, cap
    start_lr: float = 0.003
    tune_seeds: tuple[int, ...] = ()
    resolution: float = 1.25
    budget_factor: int = 3
    budget_ceiling: int = 3  # the most a confirming budget may be, in base budgets (>= budget_factor)

    def pairs(self) -> list[tuple[str, str]]:
        """(task, model) of every search, in params order."""
        return [(task, model) for task in self.tasks for model in self.models]


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
        """Its DVC stage: a main-grid cell has its own, a side grid's cells share their grid's."""
        return f"train-{SIDE}@{self.group}" if self.group else f"train@{self.model}-{self.point}"

    @property
    def run_folder(self) -> Path:
        return (side_folder(RUNS, self.group) if self.group else RUNS) / self.point / self.model

    @property
    def data_folder(self) -> Path:
        return Path("data") / self.point

    @property
    def configs_file(self) -> Path:
        """The cell's resolved run configs, one per seed: the only settings its train stage reads."""
        return (side_folder(CONFIGS, self.group) if self.group else CONFIGS) / self.point / f"{self.model}.json"

    def seed_folder(self, seed: int) -> Path:
        return seed_folder(self.run_folder, seed)


@dataclass(frozen=True)
class TaskPlan:
    options: Mapping[str, Any]  # every option, defaults filled in
    train: Mapping[str, Any]
    source_sha256: str = ""


@dataclass(frozen=True)
class SideGrid:
    """A few more models on a few points, each read against a main-grid model (`compares_to`)."""
    models: tuple[str, ...]
    points: tuple[tuple[str, int], ...]
    compares_to: Mapping[str, str] = field(default_factory=dict)  # each model -> the main-grid model beside it
    about: str = ""                                                # what the report says above its table
    figure: str = "bars"                                           # one of SIDE_GRID_FIGURES

    def compared(self, main: tuple[str, ...]) -> list[str]:
        """The grid's counterparts in the main grid (in `main`'s order), then its own models."""
        theirs = set(self.compares_to.values())
        return [m for m in main if m in theirs] + list(self.models)

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
    tune: Tuning = field(default_factory=Tuning)
    lr_from: Mapping[str, str] = field(default_factory=dict)  # model -> the model whose tuned lr it takes
    search: SearchSettings = field(default_factory=SearchSettings)
    equal_parameters: int | None = None  # a target parameter count: each model's hidden size is chosen to meet it
    primary_contrasts: tuple[tuple[str, int, str, str], ...] = ()  # (task, length, a, b): the declared family
    smoke_test: bool = False  # a grid that checks the pipeline (CI's): the report says its numbers are no result
    source: str = "params.yaml"  # the file the study was read from, named in the report

    def task_names(self) -> list[str]:
        """The main grid's and the searches' tasks, in the order params.yaml first names them."""
        return list(dict.fromkeys([*(task for task, _ in self.points), *self.search.tasks]))

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

    def run_config(self, cell: Cell, seed: int, lr: float | None = None) -> RunConfig:
        """One seed's config; `lr`: the cell's tuned lr (a hand-set lr in params wins over it)."""
        own = self.per_model.get(cell.model, {})
        plan = self.task_plan(cell.task)
        key = f"per_model.{cell.model}.model"
        options = model_options(cell.model, own.get("model", {}).get("options"), f"{key}.options")
        model = from_mapping(ModelConfig, {**self.model, **own.get("model", {}), "name": cell.model, "options": options,
                                           "source_sha256": self.model_sources.get(cell.model, "")}, "model")
        if self.equal_parameters and "hidden_size" not in own.get("model", {}):  # a per-model hidden size wins
            model = dataclasses.replace(model, hidden_size=hidden_size_for_parameters(
                self.equal_parameters, json.dumps(dataclasses.asdict(model), sort_keys=True), cell.task, cell.length,
                json.dumps(dict(self.task_plan(cell.task).options), sort_keys=True)))
        tuned = {} if lr is None else {"lr": lr}
        train = from_mapping(TrainConfig, {**self.train, **tuned, **plan.train, **own.get("train", {})}, "train")
        task = TaskConfig(cell.task, cell.length, dict(plan.options), plan.source_sha256)
        return RunConfig(task=task, model=model, train=train, data=self.data, seed=seed)

    def resolved_configs(self, cell: Cell, lrs: Mapping[tuple[str, str], float] | None = None) -> list[RunConfig]:
        """The cell's configs, one per seed; `lrs`: (model, task) -> chosen lr (chosen_lrs)."""
        lr = (lrs or {}).get((cell.model, cell.task))
        return [self.run_config(cell, seed, lr) for seed in self.seeds]

    def write_configs(self, root: Path = Path(".")) -> int:
        """Every cell's configs file, with the tuning stages' chosen lrs, and the execution
        settings; returns how many cells."""
        lrs = self.chosen_lrs(root)
        for cell in self.cells():
            write_run_configs(root / cell.configs_file, self.resolved_configs(cell, lrs))
        self.execution.write(root / EXECUTION_FILE)
        listing = [{"task": c.task, "configs": c.configs_file.as_posix(), "runs": c.run_folder.as_posix()}
                   for c in self.cells()]
        write_if_changed(root / CELL_LIST, json.dumps(listing, indent=1) + "\n")
        current = {root / c.configs_file for c in self.cells()}
        side = root / CONFIGS / SIDE
        for stale in [*(root / CONFIGS).glob("*/*.json"), *side.glob("*/*/*.json")]:  # cells no longer in the study
            if stale not in current:
                stale.unlink()
        for name in self.side_grids:  # a grid's train stage depends on its folder, even when it has no cell
            side_folder(root / CONFIGS, name).mkdir(parents=True, exist_ok=True)
        for folder in [*side.glob("*/*/"), *(root / CONFIGS).glob("*/"), *side.glob("*/")]:
            if folder.is_dir() and not any(folder.iterdir()) and folder.name not in self.side_grids:
                folder.rmdir()
        return len(self.cells())

    # --- tuning ------------------------------------------------------------------------------
    def every_model(self) -> list[str]:
        """The models the grid trains (the ones the tune stages sweep)."""
        return list(dict.fromkeys([*self.models, *(m for grid in self.side_grids.values() for m in grid.models)]))

    def model_tasks(self, model: str) -> list[str]:
        """The tasks a model has cells of, in grid order: what it is tuned on."""
        return list(dict.fromkeys(cell.task for cell in self.cells() if cell.model == model))

    def lr_source(self, model: str, task: str) -> str:
        if "lr" in self.per_model.get(model, {}).get("train", {}) or "lr" in self.task_plan(task).train:
            return HAND_SET
        if model in self.lr_from:
            return FROM + self.lr_from[model]
        return TUNED if self.tune.lrs else SHARED

    def tuning_plan(self, model: str) -> list[TaskTuning]:
        """Per task of the model: where its lr comes from and, when tuned, every sweep run's config."""
        plans = []
        for task in self.model_tasks(model):
            source = self.lr_source(model, task)
            lengths = tuple(self.tune.points.get(task, ()))
            if source != TUNED:
                given = None if source.startswith(FROM) else self.run_config(Cell(task, model, 1), 0).train.lr
                plans.append(TaskTuning(task, source, lengths, lr=given))
                continue
            configs = tuple(self.run_config(Cell(task, model, length), seed, lr)
                            for length in lengths for lr in self.tune.lrs for seed in self.tune.seeds)
            plans.append(TaskTuning(task, source, lengths, self.tune.lrs, configs, ladder=self.tune.ladder))
        return plans

    def grid_of(self, model: str) -> str:
        """The side grid whose stages tune and train `model` ("" for the main grid or none)."""
        if model in self.models:
            return ""
        return next((name for name, grid in self.side_grids.items() if model in grid.models), "")

    def tune_stage(self, model: str) -> str:
        grid = self.grid_of(model)
        return f"tune-{SIDE}@{grid}" if grid else f"tune@{model}"

    def write_tuning_plans(self, root: Path = Path(".")) -> int:
        """Every model's tuning plan; each side grid's plan folder holds exactly its models' (a
        grid with no model to tune still has its folder: its tune stage depends on it)."""
        for model in self.every_model():
            write_tuning(root / tuning_plan_file(model, self.grid_of(model)), model, self.tuning_plan(model))
        for name, grid in self.side_grids.items():
            folder = root / side_folder(TUNING_PLANS, name)
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob("*.json"):
                if stale.stem not in grid.models:
                    stale.unlink()
        return len(self.every_model())

    def tuning_done(self, model: str, root: Path = Path(".")) -> bool:
        """Whether the model's result file holds a choice for each of its tuned tasks under these params."""
        try:
            return all(self.tuned_lr(model, task, root) is not None for task in self.model_tasks(model)
                       if self.lr_source(model, task) == TUNED)
        except ConfigError:
            return False

    def chosen_lrs(self, root: Path = Path(".")) -> dict[tuple[str, str], float]:
        """(model, task) -> the lr the tune stages chose, for every tuned or copied lr of the study."""
        return {(model, task): self.tuned_lr(model, task, root) for model in self.every_model()
                for task in self.model_tasks(model) if self.lr_source(model, task) not in (HAND_SET, SHARED)}

    def tuned_lr(self, model: str, task: str, root: Path = Path(".")) -> float:
        """The lr the tune stage chose for (model, task), or for the model it copies; ConfigError
        naming the file when the result is missing or was made for other settings than params'."""
        source = self.lr_source(model, task)
        if source.startswith(FROM):
            return self.tuned_lr(source[len(FROM):], task, root)
        path = root / tuning_result_file(model, self.grid_of(model))
        _, results = read_tuning(path)
        plan = next((p for p in self.tuning_plan(model) if p.task == task), None)
        if plan is None:
            raise ConfigError(f"tuning: {model} has no cells of {task} in the study, so no tuned lr")
        for result in results:
            if (result.task, result.source, result.lengths, result.lrs, result.ladder, result.configs) == \
                    (plan.task, plan.source, plan.lengths, plan.lrs, plan.ladder, plan.configs) and result.lr is not None:
                if not (isinstance(result.lr, float) and math.isfinite(result.lr) and result.lr > 0):
                    raise ConfigError(f"tuning: {str(path)!r} holds lr {result.lr!r} for {task}, not a positive "
                                      f"finite number (edited?); run `dvc repro` (stage {self.tune_stage(model)})")
                return result.lr
        raise ConfigError(f"tuning: {str(path)!r} has no lr for {task} under the current params; run `dvc repro` "
                          f"(stage {self.tune_stage(model)})")


@functools.lru_cache(maxsize=None)
def task_sizes(task: str, length: int, options_json: str) -> tuple[int, int, bool]:
    """(input size, output size, per-step output) of a task at a length, from a dataset of 2 samples."""
    tiny = DataConfig(n_train=2, n_val=2, n_test=2)
    data = resolve_task(task).build(length, tiny, json.loads(options_json))
    return data.input_size, data.output_size, data.output_kind in PER_STEP


@functools.lru_cache(maxsize=None)
def hidden_size_for_parameters(target: int, model_json: str, task: str, length: int, options_json: str) -> int:
    """The hidden size whose network (cell and head, for this task) has the parameter count nearest
    `target` (the smaller on a tie): models compared at an equal parameter count, not an equal width."""
    inputs, outputs, per_step = task_sizes(task, length, options_json)
    model = from_mapping(ModelConfig, json.loads(model_json), "model")

    def count(hidden: int) -> int:
        return parameter_count(build_network(dataclasses.replace(model, hidden_size=hidden), inputs, outputs, per_step,
                                             max_length=length))

    high = 1
    while count(high) < target:  # counts grow with the hidden size
        high *= 2
    low = max(high // 2, 1)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < target else (low, middle)
    return min((low, high), key=lambda h: (abs(count(h) - target), h))


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


SEED_LIMIT = 2 ** 32  # what every generator a run seeds (torch, numpy's legacy one) accepts


def require_finite(key: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value!r}")


def require_seeds(value: Any, key: str = "seeds") -> tuple[int, ...]:
    seeds = require_list(key, value, "integers >= 0")
    if not seeds or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < SEED_LIMIT for v in seeds):
        raise ConfigError(f"{key}: must be a non-empty list of integers in [0, 2^32), got {value!r}")
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
    if length != str(int(length)):  # one spelling per point: it names a folder and a stage
        raise ConfigError(f"{key}: write the length without leading zeros, {task}-{int(length)}; got {spec!r}")
    resolved = study_task(key, task)
    resolved.validate_length(int(length), key)
    return resolved.name, int(length)


def require_points_fit(study: "Study") -> None:
    samples = study.data.n_train + study.data.n_val + study.data.n_test
    for task, length in study.all_points():
        require_fits_in_memory(f"points: {point_name(task, length)}", samples, length)
    for task, lengths in study.tune.points.items():
        for length in lengths:
            require_fits_in_memory(f"tune.points: {point_name(task, length)}", samples, length)


def parse_points(key: str, value: Any) -> tuple[tuple[str, int], ...]:
    return tuple(parse_point(f"{key}[{i}]", spec) for i, spec in enumerate(require_list(key, value, "<task>-<length>")))


def plan_task(name: str, block: Mapping[str, Any], key: str) -> TaskPlan:
    block = require_mapping(key, block)
    require_keys(key, block, TASK_KEYS)
    task = resolve_task(name, key)
    options = task.resolved_options(require_mapping(f"{key}.options", block.get("options")), f"{key}.options")
    return TaskPlan(options, dict(require_mapping(f"{key}.train", block.get("train"))), TASKS.source_sha256(name, key))


CORPORA = Path("corpora")  # user corpora: a dependency in dvc.yaml of every stage that reads one


def require_watched_corpora(study: "Study") -> None:
    """A study's data may come only from files DVC watches: a corpus outside corpora/ could be
    edited under a clean `dvc status`, its cells never retrained. Checked by the study's first
    steps (generate, plan-tuning); one run (`rnnbench train --option corpus=...`) takes any file."""
    for task in dict.fromkeys([*(task for task, _ in study.all_points()), *study.search.tasks]):
        corpus = study.task_plan(task).options.get("corpus")
        if corpus:
            require_in_corpora(f"tasks.{task}.options.corpus", corpus)


def require_in_corpora(key: str, corpus: str) -> None:
    parts = Path(corpus).parts
    if Path(corpus).is_absolute() or ".." in parts or len(parts) < 2 or Path(*parts[:1]) != CORPORA:
        raise ConfigError(f"{key}: {corpus!r} is not a file under {CORPORA}/; put a user corpus there (the stages "
                          f"that read it depend on {CORPORA}/, so editing it reruns its cells) and name it as "
                          f"{CORPORA}/<file>, or give '' for the bundled Tiny Shakespeare")


def parse_side_grid(name: str, grid: Any, models: tuple[str, ...]) -> SideGrid:
    key = f"side_grids.{name}"
    if not isinstance(name, str) or not REGISTRY_NAME.fullmatch(name):  # it becomes a folder and a DVC stage name
        raise ConfigError(f"{key}: a grid's name must be lower-case letters, digits and '-' (e.g. 'ablations')")
    grid = require_mapping(key, grid)
    require_keys(key, grid, SIDE_GRID_KEYS)
    chosen = require_list(f"{key}.models", grid.get("models", []), f"model names ({MODELS.allowed()})")
    names = []
    for i, spec in enumerate(chosen):
        model = model_name(f"{key}.models[{i}]", spec)
        if model in models:  # the main grid already trains it: two stages would write one folder
            raise ConfigError(f"{key}.models[{i}]: {model!r} is already in `models`")
        names.append(model)
    compares = grid.get("compares_to")
    if names and compares is None:
        raise ConfigError(f"{key}.compares_to: missing; name the main-grid model the grid is read against "
                          f"(one of {', '.join(models)}), or map each of its models to one")
    if isinstance(compares, str):
        compares = {model: compares for model in names}
    compares = dict(require_mapping(f"{key}.compares_to", compares)) if names else {}  # `models: []` switches a grid off
    pairs = {}
    for spec, other in compares.items():
        model = model_name(f"{key}.compares_to", spec)
        if model not in names:
            raise ConfigError(f"{key}.compares_to.{spec}: not one of the grid's models ({', '.join(names)})")
        pairs[model] = model_name(f"{key}.compares_to.{spec}", other)
        require_choice(f"{key}.compares_to.{spec}", pairs[model], models)
    unpaired = [m for m in names if m not in pairs]
    if unpaired:
        raise ConfigError(f"{key}.compares_to: {unpaired[0]!r} has no main-grid model to be read against")
    about = grid.get("about", "")
    if not isinstance(about, str):
        raise ConfigError(f"{key}.about: must be text, got {about!r}")
    figure = grid.get("figure", "bars")
    require_choice(f"{key}.figure", figure, SIDE_GRID_FIGURES)
    return SideGrid(tuple(names), parse_points(f"{key}.points", grid.get("points", [])), pairs, about, figure)


def parse_lrs(key: str, value: Any) -> tuple[float, ...]:
    lrs = require_list(key, value, "learning rates")
    parsed = []
    for i, lr in enumerate(lrs):
        if isinstance(lr, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                lr = float(lr)
            except ValueError:
                pass
        require_positive(f"{key}[{i}]", lr, integer=False)
        require_finite(f"{key}[{i}]", lr)
        parsed.append(float(lr))
    return tuple(sorted(parsed))


def parse_tune(value: Any, seeds: tuple[int, ...], tasks: list[str]) -> Tuning:
    block = require_mapping("tune", value)
    require_keys("tune", block, TUNE_KEYS)
    lrs = parse_lrs("tune.lrs", block.get("lrs", []))
    ladder = parse_lrs("tune.ladder", block.get("ladder", [])) or lrs
    if not lrs:
        return Tuning(ladder)
    off = [lr for lr in lrs if lr not in ladder]
    if off:
        raise ConfigError(f"tune.lrs: {off} are not rungs of tune.ladder {list(ladder)}; the sweep starts on the ladder")
    if len(lrs) < 2:
        raise ConfigError(f"tune.lrs: a sweep needs at least two learning rates, got {list(lrs)!r}")
    tune_seeds = require_seeds(block.get("seeds"), "tune.seeds")
    shared = sorted(set(tune_seeds) & set(seeds))
    if shared:
        raise ConfigError(f"tune.seeds: {shared} are also study seeds; tuning seeds must be disjoint from `seeds`")
    points: dict[str, tuple[int, ...]] = {}
    for task, length in parse_points("tune.points", block.get("points", [])):
        points[task] = tuple(sorted((*points.get(task, ()), length)))
    for task in tasks:
        if task not in points:
            raise ConfigError(f"tune.points: no tuning point for task {task!r}; add e.g. {task}-<length>")
    return Tuning(ladder, lrs, tune_seeds, points)


def parse_search(value: Any, seeds: tuple[int, ...], models: tuple[str, ...], ladder: tuple[float, ...]) -> SearchSettings:
    block = require_mapping("search", value)
    require_keys("search", block, (*SEARCH_KEYS, "lrs"))  # lrs: refused below with where it went
    chosen = require_list("search.models", block.get("models", []), f"model names ({MODELS.allowed()})")
    names = tuple(model_name(f"search.models[{i}]", spec) for i, spec in enumerate(chosen))
    tasks = tuple(study_task(f"search.tasks[{i}]", spec).name
                  for i, spec in enumerate(require_list("search.tasks", block.get("tasks", []), "task names")))
    if not names or not tasks:  # dvc.yaml's search matrix reads both lists: empty means no search
        return SearchSettings(models=names, tasks=tasks)
    lengths = require_mapping("search.lengths", block.get("lengths"))
    ranges = {}
    for task in tasks:
        key = f"search.lengths.{task}"
        if task not in lengths:
            raise ConfigError(f"{key}: missing; give the search's start, floor and cap, e.g. {{start: 10, floor: 2, cap: 100}}")
        spec = require_mapping(key, lengths[task])
        require_keys(key, spec, SEARCH_LENGTH_KEYS)
        for name in SEARCH_LENGTH_KEYS:
            if name not in spec:
                raise ConfigError(f"{key}.{name}: missing; allowed keys: {', '.join(SEARCH_LENGTH_KEYS)}")
            require_positive(f"{key}.{name}", spec[name])
            resolve_task(task).validate_length(spec[name], f"{key}.{name}")
        if not spec["floor"] <= spec["start"] <= spec["cap"]:
            raise ConfigError(f"{key}: needs floor <= start <= cap, got {dict(spec)!r}")
        ranges[task] = {name: int(spec[name]) for name in SEARCH_LENGTH_KEYS}
    for extra in lengths:
        if extra not in tasks:
            raise ConfigError(f"search.lengths.{extra}: not in search.tasks ({', '.join(tasks)})")
    if "lrs" in block:
        raise ConfigError("search.lrs: the search walks the study's one lr ladder, tune.ladder; move the rungs there")
    if len(ladder) < 3:
        raise ConfigError(f"tune.ladder: the search's lr ladder needs at least three rungs, got {list(ladder)!r}")
    start_lr = block.get("start_lr", ladder[len(ladder) // 2])
    require_positive("search.start_lr", start_lr, integer=False)
    tune_seeds = require_seeds(block.get("tune_seeds"), "search.tune_seeds")
    shared = sorted(set(tune_seeds) & set(seeds))
    if shared:
        raise ConfigError(f"search.tune_seeds: {shared} are also study seeds; tuning seeds must be disjoint from `seeds`")
    resolution = block.get("resolution", 1.25)
    require_positive("search.resolution", resolution, integer=False)
    if resolution <= 1:
        raise ConfigError(f"search.resolution: must be > 1 (the ratio hi / lo the search narrows to), got {resolution!r}")
    budget_factor = block.get("budget_factor", 3)
    require_positive("search.budget_factor", budget_factor)
    budget_ceiling = block.get("budget_ceiling", budget_factor)
    require_positive("search.budget_ceiling", budget_ceiling)
    if budget_ceiling < budget_factor:
        raise ConfigError(f"search.budget_ceiling: must be at least search.budget_factor ({budget_factor}), "
                          f"got {budget_ceiling!r}")
    return SearchSettings(names, tasks, ranges, float(start_lr), tune_seeds, float(resolution), int(budget_factor),
                          int(budget_ceiling))


def parse_primary_contrasts(value: Any, models: tuple[str, ...]) -> tuple[tuple[str, int, str, str], ...]:
    """`<task>-<length>: <model> vs <model>` each: the contrasts the report tests as one family
    (Holm-adjusted); every other comparison is exploratory."""
    family = []
    for i, spec in enumerate(require_list("primary_contrasts", value, "'<task>-<length>: <model> vs <model>'")):
        key = f"primary_contrasts[{i}]"
        point, _, pair = spec.partition(":") if isinstance(spec, str) else ("", "", "")
        names = [name.strip() for name in pair.split(" vs ")]
        if len(names) != 2 or not all(names):
            raise ConfigError(f"{key}: write '<task>-<length>: <model> vs <model>', e.g. 'adding-100: lstm vs rnn'; "
                              f"got {spec!r}")
        task, length = parse_point(key, point.strip())
        for name in names:
            if name not in models:
                raise ConfigError(f"{key}: {name!r} is not in `models` ({', '.join(models)})")
        family.append((task, length, names[0], names[1]))
    return tuple(family)


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

    per_model, lr_from = {}, {}
    for spec, own in require_mapping("per_model", params.get("per_model")).items():
        name = model_name(f"per_model.{spec}", spec)
        own = dict(require_mapping(f"per_model.{spec}", own))
        require_keys(f"per_model.{spec}", own, PER_MODEL_KEYS)
        if "lr_from" in own:
            lr_from[name] = model_name(f"per_model.{spec}.lr_from", own.pop("lr_from"))
        per_model[name] = {k: dict(require_mapping(f"per_model.{spec}.{k}", v)) for k, v in own.items()}

    side_grids = {name: parse_side_grid(name, grid, models)
                  for name, grid in require_mapping("side_grids", params.get("side_grids")).items()}
    for name, grid in side_grids.items():  # one grid tunes and trains a model: two would write one folder
        for i, model in enumerate(grid.models):
            first = next(other for other, g in side_grids.items() if model in g.models)
            if first != name:
                raise ConfigError(f"side_grids.{name}.models[{i}]: {model!r} is already in side_grids.{first}")
    execution = Execution(params.get("seed_processes", "auto"), params.get("engine", "auto")).validate()
    shared_model = dict(require_mapping("model", params.get("model")))
    shared_train = dict(require_mapping("train", params.get("train")))
    for key, section in (("model", shared_model), ("train", shared_train)):
        if "name" in section:
            raise ConfigError(f"{key}.name: the model name comes from `models`, not from {key}")
        if "options" in section or "forget_bias" in section:  # forget_bias was a shared key before it became an option
            raise ConfigError(f"{key}.{'options' if 'options' in section else 'forget_bias'}: a model's options are its "
                              "own: set them in per_model.<model>.model.options (the LSTMs': forget_bias)")
    used = dict.fromkeys([t for t, _ in points] + [t for grid in side_grids.values() for t, _ in grid.points])
    tune = parse_tune(params.get("tune"), seeds, list(used))
    search = parse_search(params.get("search"), seeds, models, tune.ladder)
    tasks.update({t: plan_task(t, {}, f"tasks.{t}") for t in [*used, *search.tasks] if t not in tasks})  # defaults, once
    every_model = dict.fromkeys([*models, *(m for grid in side_grids.values() for m in grid.models), *search.models])
    sources = {m: digest for m in every_model if (digest := MODELS.source_sha256(m))}
    primary = parse_primary_contrasts(params.get("primary_contrasts", []), models)
    equal = params.get("equal_parameters")
    if equal is not None:
        require_positive("equal_parameters", equal)
    study = Study(seeds=seeds, models=models, points=points, data=data, model=shared_model, train=shared_train,
                  tasks=tasks, per_model=per_model, side_grids=side_grids, execution=execution, model_sources=sources,
                  tune=tune, lr_from=lr_from, search=search, equal_parameters=equal, primary_contrasts=primary, smoke_test=require_bool("smoke_test", params.get("smoke_test", False)))
    if not study.cells() and not search.pairs():
        raise ConfigError("points: no cells to run; list at least one <task>-<length> point (or a search)")
    require_lr_sources(study)
    require_points_fit(study)
    for cell in study.cells():
        require_finite_settings(study.run_config(cell, seeds[0]).validate(), cell.stage)
    for task, model in search.pairs():
        study.run_config(Cell(task, model, search.lengths[task]["start"]), seeds[0]).validate()
        samples = data.n_train + data.n_val + data.n_test
        require_fits_in_memory(f"search.lengths.{task}.cap", samples, search.lengths[task]["cap"])
    return study


def require_finite_settings(config: RunConfig, where: str) -> None:
    """No NaN or infinity among a run's settings (the config's own checks let infinity through)."""
    for section in ("train", "model", "data"):
        for name, value in dataclasses.asdict(getattr(config, section)).items():
            require_finite(f"{section}.{name} (of {where})", value)
    if config.data.seed < 0:
        raise ConfigError(f"data.seed: must be an integer >= 0, got {config.data.seed!r}")


def require_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: must be true or false, got {value!r}")
    return value


def require_lr_sources(study: Study) -> None:
    """`lr_from` names a model of the study whose lr for each of the copier's tasks is tuned."""
    for model, source in study.lr_from.items():
        key = f"per_model.{model}.lr_from"
        if source not in study.every_model() or source == model:
            raise ConfigError(f"{key}: {source!r} is not another model of the study; allowed: "
                              f"{', '.join(m for m in study.every_model() if m != model)}")
        for task in study.model_tasks(model):
            if study.lr_source(model, task).startswith(FROM) and study.lr_source(source, task) != TUNED:
                raise ConfigError(f"{key}: {source!r} has no tuned lr for {task} "
                                  f"({study.lr_source(source, task) if task in study.model_tasks(source) else 'no cells'})")


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
    return dataclasses.replace(parse_study(params), source=path.as_posix())

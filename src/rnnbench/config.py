"""Typed run configuration: the leaf every other module builds on (standard library only).

A run's settings are one RunConfig: parsed and validated once at the edge (params.yaml by the
configure stage, or the CLI's flags), written per cell to `configs/<point>/<model>.json`, read back
by the train stage and handed down unchanged. Names (task, model) are checked by the registries
that know them; this module checks shapes and ranges. Every check raises ConfigError with one
line naming the offending key and what is allowed, so bad input is refused before any work.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A bad configuration value; the message names the key and the allowed values."""


def read_json(path: Path) -> Any:
    """A JSON file's value. Every way its text can fail to be JSON is a ValueError (a decode error,
    text that is not UTF-8, and JSON nested thousands deep, on which the parser raises
    RecursionError); OSError when it cannot be read. Every JSON file the package reads comes here."""
    text = Path(path).read_text()
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deep to read") from None


def require_choice(key: str, value: Any, allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}: unknown value {value!r}; allowed: {', '.join(allowed)}")


def require_positive(key: str, value: Any, integer: bool = True) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        what = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{key}: must be {what}, got {value!r}")


def require_non_negative(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{key}: must be a number >= 0, got {value!r}")


def require_unit_interval(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{key}: must be a number in [0, 1), got {value!r}")


def require_inside(key: str, path: Path, root: Path) -> Path:
    """A path a stage writes or removes: relative, with no `..`, so that it stays under `root` (a
    name with `..` in params.yaml must not send DVC's or our own deletions elsewhere)."""
    path = Path(path)
    if path.is_absolute() or ".." in path.parts or not (root / path).resolve().is_relative_to(root.resolve()):
        raise ConfigError(f"{key}: {str(path)!r} leaves the repository; give a path inside it without '..'")
    return path


def from_mapping(cls: type, values: Mapping[str, Any] | None, key: str):
    """Build dataclass `cls` from a mapping, refusing unknown keys and wrong scalar types."""
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError(f"{key}: must be a mapping, got {values!r}")
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key; allowed: {', '.join(fields)}")
    for name, value in values.items():
        default = fields[name].default
        if default is dataclasses.MISSING or default is None:
            continue
        # YAML 1.1 reads 1e-3 as a string and 1.0 may arrive as 1: accept both for floats, nothing else.
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if isinstance(value, str):  # PyYAML (YAML 1.1) reads 1e-3 as a string; a number is meant
                try:
                    value, ok = float(value), True
                except ValueError:
                    pass
            if ok:
                values[name] = float(value)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise ConfigError(f"{key}.{name}: expected {type(default).__name__}, got {value!r}")
    return cls(**values)


@dataclass(frozen=True)
class DataConfig:
    n_train: int = 10_000
    n_val: int = 1_000
    n_test: int = 1_000
    seed: int = 1234

    def validate(self, key: str = "data") -> None:
        for name in ("n_train", "n_val", "n_test"):
            require_positive(f"{key}.{name}", getattr(self, name))


@dataclass(frozen=True)
class ModelConfig:
    name: str = "lstm"  # a registry name or a dotted import path (rnnbench.models)
    hidden_size: int = 64
    num_layers: int = 1
    # The model's own options (its class's `Options`, e.g. the LSTM family's forget_bias): every
    # option with its default filled in, as rnnbench.models.model_options resolved them.
    options: Mapping[str, Any] = field(default_factory=dict)
    # The hash of the model's own code (registry.source_files: its module and what that imports,
    # outside the shared training core), filled by the study: editing it changes the configs files
    # of exactly the cells that use it, so DVC reruns those and no other.
    source_sha256: str = ""

    def validate(self, key: str = "model") -> None:
        require_positive(f"{key}.hidden_size", self.hidden_size)
        require_positive(f"{key}.num_layers", self.num_layers)
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"{key}.options: must be a mapping, got {self.options!r}")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    batch_size: int = 64
    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    clip_norm: float = 1.0  # 0 turns clipping off (the norm is still measured)
    eval_every: int = 100
    eval_batch_size: int = 1000
    early_stop: bool = True
    # With early_stop, a run stops at the first evaluation where validation meets the task's solved
    # rule tightened by this share of the distance from its threshold to perfect (tasks/dataset.py
    # SolvedRule.tightened: 0.5 makes a recall of 0.99 a 0.995 and an MSE of 0.01 a 0.005). solved
    # is still the rule on test and solved_step the first evaluation that met it: a run stopped
    # exactly at the threshold lands on either side of it on test (docs/architecture.md).
    stop_margin: float = 0.0
    device: str = "auto"

    def validate(self, key: str = "train") -> None:
        require_positive(f"{key}.steps", self.steps)
        require_positive(f"{key}.batch_size", self.batch_size)
        require_positive(f"{key}.lr", self.lr, integer=False)
        require_unit_interval(f"{key}.beta1", self.beta1)
        require_unit_interval(f"{key}.beta2", self.beta2)
        require_non_negative(f"{key}.clip_norm", self.clip_norm)
        require_positive(f"{key}.eval_every", self.eval_every)
        require_positive(f"{key}.eval_batch_size", self.eval_batch_size)
        require_unit_interval(f"{key}.stop_margin", self.stop_margin)
        require_choice(f"{key}.device", self.device, DEVICES)


@dataclass(frozen=True)
class TaskConfig:
    name: str  # a registry name or a dotted import path (rnnbench.tasks)
    length: int
    # Every option of the task, defaults filled in, as the task's parse_options validated them.
    options: Mapping[str, Any] = field(default_factory=dict)
    source_sha256: str = ""  # as ModelConfig.source_sha256

    def validate(self, key: str = "task") -> None:
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length < 1:
            raise ConfigError(f"{key}.length: must be a positive integer, got {self.length!r}")


@dataclass(frozen=True)
class RunConfig:
    task: TaskConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    seed: int = 0

    def validate(self) -> "RunConfig":
        self.task.validate()
        self.model.validate()
        self.train.validate()
        self.data.validate()
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed: must be an integer >= 0, got {self.seed!r}")
        return self

    @property
    def point(self) -> str:
        """`<task>-<length>`: how the study names a (task, length) pair in folders and stages."""
        return point_name(self.task.name, self.task.length)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))  # JSON values: what the configs file holds

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], key: str = "config") -> "RunConfig":
        values = dict(values)
        task = dict(values.pop("task", None) or {})
        if "name" not in task or "length" not in task:
            raise ConfigError(f"{key}.task: needs a name and a length, got {task!r}")
        options = task.pop("options", {}) or {}
        if not isinstance(options, Mapping):
            raise ConfigError(f"{key}.task.options: must be a mapping, got {options!r}")
        parts = dict(
            task=TaskConfig(name=task.pop("name"), length=task.pop("length"), options=dict(options),
                            **from_mapping(TaskSource, task, f"{key}.task").__dict__),
            model=from_mapping(ModelConfig, values.pop("model", None), f"{key}.model"),
            train=from_mapping(TrainConfig, values.pop("train", None), f"{key}.train"),
            data=from_mapping(DataConfig, values.pop("data", None), f"{key}.data"),
        )
        seed = values.pop("seed", 0)
        if values:
            raise ConfigError(f"{key}.{sorted(values)[0]}: unknown key; allowed: task, model, train, data, seed")
        return cls(seed=seed, **parts).validate()


@dataclass(frozen=True)
class TaskSource:
    """The keys of a task config besides name, length and options (for from_dict's key check)."""
    source_sha256: str = ""


def point_name(task: str, length: int) -> str:
    return f"{task}-{length}"


CONFIGS = Path("configs")
EXECUTION_FILE = CONFIGS / "execution.json"
CELL_LIST = CONFIGS / "cells.json"  # the study's cells (task, configs file, run folder): for its progress line


def seed_folder(cell_folder: Path, seed: int) -> Path:
    """Where one seed of a cell writes its run: the one rule the writer and every reader share."""
    return Path(cell_folder) / f"seed{seed}"


ENGINES = ("auto", "processes", "stacked")


@dataclass(frozen=True)
class Execution:
    """How a cell's seeds share the machine, not what they compute, so this lives outside the
    cells' configs files and changing it reruns no training. Written by the configure stage to
    configs/execution.json.
    seed_processes: how many seeds train at once as processes; a seed's history is bit-for-bit
    the same for any count (tested).
    engine: `processes` trains each run alone (in its own process); `stacked` trains the runs of a
    cell (or of a tuning length) as one stacked ensemble where their model allows it (torch's
    one-layer rnn / lstm / gru), each run equal to its separate run to float tolerance (tested),
    and records `engine: stacked`; `auto` is stacked on a GPU and processes on a CPU."""
    seed_processes: int | str = "auto"  # "auto": every seed at once on a CPU (<= 2 per core), 1 on a GPU
    engine: str = "auto"

    def validate(self) -> "Execution":
        value = self.seed_processes
        if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"seed_processes: must be 'auto' or a positive integer, got {value!r}")
        require_choice("engine", self.engine, ENGINES)
        return self

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self)) + "\n")

    @classmethod
    def read(cls, path: Path) -> "Execution":
        """The file's settings, or the defaults when there is none (a hand-run cell)."""
        if not Path(path).is_file():
            return cls()
        try:
            values = read_json(path)
        except (OSError, ValueError):
            raise ConfigError(f"seed_processes: {str(path)!r} is not JSON; rerun the configure stage") from None
        if not isinstance(values, Mapping) or set(values) - {f.name for f in dataclasses.fields(cls)}:
            raise ConfigError(f"seed_processes: {str(path)!r} is not an execution file; rerun the configure stage")
        return cls(**values).validate()  # not from_mapping: the field is "auto" or a number


def write_run_configs(path: Path, configs: Iterable[RunConfig]) -> bool:
    """A cell's configs file: every seed's RunConfig, as JSON. Written only when its content
    changes, so an unchanged cell keeps its file (and DVC its hash). Returns whether it wrote."""
    return write_if_changed(path, json.dumps([c.to_dict() for c in configs], indent=1, sort_keys=True) + "\n")


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` (by a rename) unless the file already holds it; returns whether it wrote."""
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


def read_run_configs(path: Path) -> list[RunConfig]:
    """The RunConfigs of one cell's configs file, in seed order; ConfigError when it is not one."""
    try:
        values = read_json(path)
    except OSError as err:
        raise ConfigError(f"config: cannot read {str(path)!r} ({err.strerror})") from None
    except ValueError as err:
        where = f"line {err.lineno}" if isinstance(err, json.JSONDecodeError) else str(err)
        raise ConfigError(f"config: {str(path)!r} is not JSON ({where}); "
                          "a cell's configs file is written by the configure stage") from None
    if not isinstance(values, list) or not values or not all(isinstance(v, Mapping) for v in values):
        raise ConfigError(f"config: {str(path)!r} is not a list of run configs")
    configs = [RunConfig.from_dict(v, f"config[{i}]") for i, v in enumerate(values)]
    cells = {(c.task.name, c.task.length, c.model.name) for c in configs}
    if len(cells) != 1 or len({c.seed for c in configs}) != len(configs):
        raise ConfigError(f"config: {str(path)!r} mixes cells or repeats a seed")
    return configs


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: the form MLflow params and CSV columns take."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


# --- learning-rate tuning (docs/architecture.md, "Tuning protocol") ------------------------------
# How a (task, model)'s lr is set: by the tuning sweep, by hand in params.yaml, copied from another
# model's tuned lr (`per_model.<m>.lr_from`: the NumPy references mirror the fused models), or the
# shared train.lr when the study tunes nothing (`tune.lrs: []`).
TUNED, HAND_SET, SHARED, FROM = "tuned", "hand-set", "shared", "from "
TUNING = Path("tuning")


@dataclass(frozen=True)
class TaskTuning:
    """One task of one model's tuning: where its lr comes from and, when tuned, the sweep's runs
    (every lr x tuning seed at each of the task's tuning lengths, the sweep's start, then the rungs
    of `ladder` it walks to). `lr` is the chosen (or given) lr: None in a plan until the tune stage
    chooses it, and for `from <model>` until configure copies it; `at_edge`: it is a ladder's end."""
    task: str
    source: str
    lengths: tuple[int, ...]
    lrs: tuple[float, ...] = ()
    configs: tuple[RunConfig, ...] = ()
    lr: float | None = None
    at_edge: bool = False
    runs: tuple[Mapping[str, Any], ...] = ()  # the tune stage's per-run summaries
    ladder: tuple[float, ...] = ()  # the rungs the sweep may walk to; its ends are the stated bounds

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "source": self.source, "lengths": list(self.lengths), "lrs": list(self.lrs),
                "ladder": list(self.ladder), "configs": [c.to_dict() for c in self.configs], "lr": self.lr,
                "at_edge": self.at_edge, "runs": [dict(r) for r in self.runs]}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], key: str) -> "TaskTuning":
        try:
            return cls(task=values["task"], source=values["source"], lengths=tuple(int(n) for n in values["lengths"]),
                       lrs=tuple(float(v) for v in values.get("lrs", ())),
                       ladder=tuple(float(v) for v in values.get("ladder", ())),
                       configs=tuple(RunConfig.from_dict(c, f"{key}.configs[{i}]")
                                     for i, c in enumerate(values.get("configs", ()))),
                       lr=None if values.get("lr") is None else float(values["lr"]),
                       at_edge=bool(values.get("at_edge", False)), runs=tuple(values.get("runs", ())))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f"{key}: not a tuning entry ({type(err).__name__}: {err}); "
                              "rerun the plan-tuning stage") from None


def write_tuning(path: Path, model: str, tasks: Iterable[TaskTuning]) -> bool:
    """A model's tuning plan (plan-tuning stage) or result (tune stage): written only when its
    content changes, so that an unchanged plan keeps its hash and reruns nothing."""
    return write_if_changed(path, json.dumps({"model": model, "tasks": [t.to_dict() for t in tasks]},
                                             indent=1, sort_keys=True) + "\n")


def read_tuning(path: Path) -> tuple[str, list[TaskTuning]]:
    """(model, its tasks) of a tuning plan or result; ConfigError naming the file when it is not one."""
    try:
        values = read_json(path)
        model, tasks = values["model"], values["tasks"]
    except OSError as err:
        raise ConfigError(f"tuning: cannot read {str(path)!r} ({err.strerror}); run `dvc repro` "
                          "(the plan-tuning and tune stages write it)") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"tuning: {str(path)!r} is not a tuning file; rerun its stage") from None
    return model, [TaskTuning.from_dict(t, f"tuning: {path}[{i}]") for i, t in enumerate(tasks)]

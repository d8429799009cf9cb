"""Typed run configuration, validated once at the edge and passed down unchanged.

Every check raises ConfigError with one line naming the offending key and what is allowed,
so that the CLI and the pipeline stages can refuse bad input before any work starts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A bad configuration value; the message names the key and the allowed values."""


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
        # YAML writes 1e-3 as a string and 1.0 as an int in places; accept ints for floats only.
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
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
    name: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    # Hochreiter/Gers: a positive forget bias keeps the cell state at init; 0.0 is PyTorch's default.
    forget_bias: float = 1.0

    def validate(self, key: str = "model") -> None:
        from .core.models import MODEL_NAMES

        require_choice(f"{key}.name", self.name, MODEL_NAMES)
        require_positive(f"{key}.hidden_size", self.hidden_size)
        require_positive(f"{key}.num_layers", self.num_layers)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    clip_norm: float = 1.0  # 0 turns clipping off (the norm is still measured)
    eval_every: int = 100
    eval_batch_size: int = 1000
    early_stop: bool = True
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
        require_choice(f"{key}.device", self.device, DEVICES)


@dataclass(frozen=True)
class TaskConfig:
    name: str
    length: int
    options: Any = None  # the task's own options dataclass

    def validate(self, key: str = "task") -> None:
        from .tasks import TASKS

        require_choice(f"{key}.name", self.name, TASKS)
        task = TASKS[self.name]
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length < task.min_length:
            raise ConfigError(
                f"{key}.length: {self.name} needs an integer length >= {task.min_length}, got {self.length!r}"
            )
        task.validate_options(self.options, f"{key}.options")


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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

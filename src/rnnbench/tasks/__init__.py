"""The tasks: one module each, registered where defined (`@TASKS.register("adding")`)."""
from ..registry import import_submodules
from .base import TASKS, Metric, SolvedRule, Task, resolve_task
from .dataset import Dataset

import_submodules(__name__, __path__)

__all__ = ["TASKS", "Dataset", "Metric", "SolvedRule", "Task", "resolve_task"]

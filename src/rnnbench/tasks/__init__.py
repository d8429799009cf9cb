"""The task registry: name -> task. Each task lives in its own module."""
from .adding import AddingProblem
from .base import Dataset, SolvedRule, Task
from .charlm import CharLanguageModel
from .copy import CopyMemory
from .sine import SinePrediction
from .xor import TemporalXor

TASKS: dict[str, Task] = {t.name: t for t in (AddingProblem(), TemporalXor(), CopyMemory(), SinePrediction(), CharLanguageModel())}

__all__ = ["TASKS", "Dataset", "SolvedRule", "Task"]

"""Which code a run's result depends on, stated once (standard library only).

A run is a function of its config, its data and two kinds of code:

- the shared training core, SHARED_TRAINING_CODE: the loop, the run configs, the registries, the
  task and model contracts every task and model goes through. It is a DVC dependency of every tune
  and train stage (dvc.yaml lists exactly these paths; tests/test_layout.py holds it to them) and
  its hash is a finished run's `code_checksum`: editing it reruns everything.
- the model's and the task's own code: the module that defines the class and every module it
  imports from its package (or from rnnbench) outside the shared core. Its hash is written into
  the run config (`model.source_sha256`, `task.source_sha256`) by the configure stage, so editing
  one model's file changes the configs files of exactly its cells, and adding a model or task file
  changes none: nothing is retrained.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # src/rnnbench

# Paths relative to the package; a folder stands for every file under it.
SHARED_TRAINING_CODE = (
    "config.py",
    "layout.py",
    "registry.py",
    "tasks/__init__.py",
    "tasks/base.py",
    "tasks/dataset.py",
    "models/__init__.py",
    "models/cell_steps.py",
    "models/network.py",
    "training",
)


# Modules a stage that trains imports that cannot change a result: progress lines (a run's, and the
# whole study's, read from disk), the process's exit, and the tracking server's reachability check
# (MLflow logging is the report stage's). A stage's code dependencies in dvc.yaml cover the rest of
# its import closure (tests/test_layout.py).
NOT_RESULT_CODE = ("progress.py", "steps/study_progress.py", "process_exit.py", "tracking.py")


def shared_training_files() -> list[Path]:
    """Every file of the shared training core, sorted (caches and editor droppings excluded)."""
    files: list[Path] = []
    for name in SHARED_TRAINING_CODE:
        root = PACKAGE / name
        files += sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts) if root.is_dir() else [root]
    return files


def is_shared_training_code(path: Path) -> bool:
    path = Path(path).resolve()
    return any(path == (PACKAGE / name) or (PACKAGE / name) in path.parents for name in SHARED_TRAINING_CODE)


def dvc_dependency(name: str) -> str:
    """How dvc.yaml writes a path of the package: relative to the repository root."""
    return f"src/rnnbench/{name}"

"""Step tune: one model's lr sweeps (its plan) -> its tuning result; a side grid's plans folder ->
its results folder, one model after another."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..config import Execution, read_tuning, write_tuning
from ..process_exit import EXIT_FAILED_RUN
from ..progress import say, stage_done, warn
from ..training.tuning import TuningFailed, tune_task

# How the sweeps' runs share the machine: written by plan-tuning (upstream of every tune stage) under
# study.TUNING_PLANS, in a folder so that no model's plan file can take its name; no DVC dependency,
# since it changes no result. Stated here, not in study.py, which no tune stage depends on.
TUNING_EXECUTION_FILE = Path("tuning") / "plans" / "execution" / "settings.json"


def tune(plan: Path, out: Path, execution: Execution, stage: str | None = None) -> int:
    """Nothing is written when a sweep run failed: DVC then records no failure, and the next
    `dvc repro` tunes the model again. With `stage` (the DVC stage's name) the sweeps are logged to
    MLflow as the stage ends (a logging failure is one line: the report step's sync logs them)."""
    model, plans = read_tuning(plan)
    start = time.perf_counter()
    results = []
    for task_plan in plans:
        try:
            result = tune_task(task_plan, execution)
        except TuningFailed as err:  # causes printed above
            warn(f"rnnbench: {err}; `dvc repro` tunes {model} again")
            return EXIT_FAILED_RUN
        if result.lr is not None:
            say(f"tune {model} {task_plan.task}: lr {result.lr:g} ({result.source}"
                  f"{', at a bound of the lr ladder' if result.at_edge else ''})", sys.stdout)
        results.append(result)
    write_tuning(out, model, results)
    tuned = time.perf_counter() - start
    if stage:
        from ..tracking import log_tuning_at_stage_end
        log_tuning_at_stage_end([out], stage)
    from .study_progress import study_line  # it reads TUNING_EXECUTION_FILE from here

    say(study_line())
    stage_done(f"tune {model}", tune=tuned, mlflow=time.perf_counter() - start - tuned)
    return 0


def tune_grid(plans: Path, out: Path, execution: Execution, stage: str | None = None) -> int:
    """Every model's plan in the folder `plans` (a side grid's) into out/<model>.json; a model whose
    sweep fails writes nothing and the others go on. A result of a model no longer in the grid goes."""
    status = 0
    models = sorted(plans.glob("*.json"))
    for plan in models:
        status |= tune(plan, out / plan.name, execution, stage)
    out.mkdir(parents=True, exist_ok=True)  # a grid with no model to tune still has its (empty) result folder
    for stale in out.glob("*.json"):
        if stale.name not in {plan.name for plan in models}:
            stale.unlink()
    return status

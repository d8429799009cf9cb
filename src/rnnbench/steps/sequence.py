"""The one sequencer: the study's steps in the order they run.

dvc.yaml runs the same steps as stages, in STEPS order (tests/test_layout.py holds its stage names
to it); `run_study` runs them all in one process for a machine without DVC or MLflow (the lent GPU
box has torch and numpy), where a step that finds its work done reads it: a tuning result made for
these settings stands, finished runs and searches are read, not trained again.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..process_exit import EXIT_FAILED_RUN
from ..progress import say
from ..search.plans import SEARCH_PLANS, SEARCHES
from ..speed import SPEED_CONFIGS, SPEED_FILE
from ..study import Study, tuning_plan_file, tuning_result_file
from .configure import configure, plan_tuning
from .generate import generate
from .search import search
from .speed import speed
from .train import train
from .tune import tune

# dvc.yaml's stages in order; tune and train are matrices (per model, per cell) and tune-side and
# train-side one stage per side grid (tune_grid, train_grid); search is one stage
STEPS = ("generate", "plan-tuning", "tune", "tune-side", "configure", "train", "train-side", "search", "speed", "report")


def run_study(study: Study, root: Path, with_report: bool = True) -> int:
    """Every step in STEPS order; returns 0, or EXIT_FAILED_RUN when a run failed (the cells and
    searches after it still ran; a model whose sweep failed stops the study: its cells need the lr)."""
    start, status, execution = time.perf_counter(), 0, study.execution
    generate(study, root)
    plan_tuning(study, root)
    for model in study.every_model():
        grid = study.grid_of(model)
        if study.tuning_done(model, root):
            say(f"study: {model}'s lr sweep is already in {root / tuning_result_file(model, grid)}")
        elif tune(root / tuning_plan_file(model, grid), root / tuning_result_file(model, grid), execution):
            return EXIT_FAILED_RUN
    configure(study, root)
    cells = study.cells()
    for cell in cells:
        status |= train(root / cell.configs_file, root / cell.data_folder, root / cell.run_folder, execution, root,
                        check_tracking=False)
    pairs = study.search.pairs()
    status |= search(root / SEARCH_PLANS, root / SEARCHES, execution)
    speed(root / SPEED_CONFIGS, root / SPEED_FILE)
    say(f"study: {len(cells)} cells x {len(study.seeds)} seeds and {len(pairs)} searches in "
          f"{(time.perf_counter() - start) / 60:.1f} min", sys.stdout)
    if with_report:
        from .report import report
        report(study, root, sync=False)
    return status

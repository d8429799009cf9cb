"""Step train: every seed of one cell -> runs/<task>-<length>/<model>/seed<s>/; every cell of a side
grid -> runs/side/<grid>/<task>-<length>/<model>/seed<s>/."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..config import Execution, read_run_configs, seed_folder
from ..process_exit import EXIT_FAILED_RUN
from ..progress import say, stage_done, warn
from ..tasks import Dataset
from ..training.sweep import train_cell
from .study_progress import study_line


def train(configs: Path, data: Path, out: Path, execution: Execution, root: Path = Path("."),
          check_tracking: bool = True, stage: str | None = None) -> int:
    """The tracking server is checked first, so an unreachable one stops the study before training;
    with `stage` (the DVC stage's name) the finished cell is logged to MLflow at once, so the store
    fills as the study runs (a logging failure is one line: the runs stand, and the report step's
    sync logs them). A cell with a failed seed lands whole, its failed seeds' records saying why,
    and the step returns EXIT_FAILED_RUN."""
    run_configs = read_run_configs(configs)
    start = time.perf_counter()
    if check_tracking:
        from ..tracking import check_reachable, tracking_uri
        check_reachable(tracking_uri())  # an unreachable server fails here, before training
    check_s = time.perf_counter() - start
    task = run_configs[0].task
    dataset = Dataset.load_checked(data, task.name, task.length, "--data", task.options)
    cell_start = time.perf_counter()
    records = train_cell(run_configs, dataset, out, execution)
    # Seeds train concurrently, so their training, diagnostics and outputs overlap: timed as one.
    cell_s = time.perf_counter() - cell_start
    if check_tracking and stage:
        from ..tracking import log_at_stage_end
        log_at_stage_end([[seed_folder(out, r["seed"]) for r in records]], stage, str(out))
    say(study_line(root))  # the whole study's progress, read from disk
    stage_done(f"train {out}", cell=cell_s, tracking_check=check_s,
               mlflow=time.perf_counter() - cell_start - cell_s)
    failed = [r["seed"] for r in records if r.get("failed")]
    if failed:  # a failure is never a result: DVC records no failed stage, so the next repro retries it
        warn(f"rnnbench: seeds {failed} of {out} failed (causes above); DVC does not record a failed cell: "
              "`dvc repro` trains it again (`dvc repro --keep-going` goes on past it)")
        return EXIT_FAILED_RUN
    return 0



def train_grid(configs: Path, data: Path, out: Path, execution: Execution, root: Path = Path("."),
               check_tracking: bool = True, stage: str | None = None) -> int:
    """Every cell of a side grid: its configs folder holds <point>/<model>.json, trained with
    data/<point> into out/<point>/<model> as `train` trains one cell (each replaced whole). A failed
    cell fails the step after the others ran; a cell no longer in the grid leaves no folder behind."""
    cells = sorted(configs.glob("*/*.json"))
    status = 0
    for cell in cells:
        status |= train(cell, data / cell.parent.name, out / cell.parent.name / cell.stem, execution, root,
                        check_tracking, stage)
    current = {out / cell.parent.name / cell.stem for cell in cells}
    for folder in out.glob("*/*/"):  # out/<point>/<model>
        if folder.is_dir() and folder not in current:
            shutil.rmtree(folder)
    for folder in out.glob("*/"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    out.mkdir(parents=True, exist_ok=True)  # a grid with no cell still has its (empty) run folder
    return status

"""DVC stage: train every seed of one cell (task x model x length) -> runs/<task>/<model>/T<len>/.

MLflow logging happens once for the whole study in the report stage (one process, batched): here
only the tracking server is checked, so that an unreachable one stops the study before training.
"""
import argparse
import time
from pathlib import Path

from rnnbench.cli import stage_main
from rnnbench.stage_timing import record
from rnnbench.study import data_folder, load_study
from rnnbench.core.sweep import train_cell
from rnnbench.tasks import Dataset
from rnnbench.tracking import check_reachable, tracking_uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--length", type=int, required=True)
    args = parser.parse_args()
    study = load_study("params.yaml")
    cell = study.cell(args.task, args.model, args.length)
    study.require_current_configs(cell)
    start = time.perf_counter()
    check_reachable(tracking_uri())  # an unreachable server fails here, before training
    check_s = time.perf_counter() - start
    dataset = Dataset.load(data_folder(cell.task, cell.length))
    cell_start = time.perf_counter()
    train_cell(study, cell, dataset, Path.cwd())
    # Seeds train concurrently, so their training, diagnostics and outputs overlap: timed as one.
    record(cell.stage, mlflow_s=check_s, cell_s=time.perf_counter() - cell_start)


if __name__ == "__main__":
    stage_main(main)

"""DVC stage: train every seed of one cell (task x model x length) -> runs/<task>/<model>/T<len>/,
logging each run to MLflow as it finishes."""
import argparse
import time
from pathlib import Path

from rnnbench.cli import stage_main
from rnnbench.stage_timing import record
from rnnbench.study import data_folder, load_study
from rnnbench.sweep import train_cell
from rnnbench.tasks import Dataset
from rnnbench.tracking import open_tracker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--length", type=int, required=True)
    args = parser.parse_args()
    study = load_study("params.yaml")
    cell = study.cell(args.task, args.model, args.length)
    start = time.perf_counter()
    tracker = open_tracker(list(study.tasks))  # fails here, before training, if the server is down
    open_s = time.perf_counter() - start
    dataset = Dataset.load(data_folder(cell.task, cell.length))
    root = Path.cwd()
    logging_s = 0.0

    def log_run(folder, run_record, history):
        nonlocal logging_s
        logging_start = time.perf_counter()
        tracker.log_run(folder, run_record, history, stage=cell.stage)
        logging_s += time.perf_counter() - logging_start

    cell_start = time.perf_counter()
    records = train_cell(study, cell, dataset, root, log_run)
    cell_s = time.perf_counter() - cell_start
    training_s = sum(r.get("wall_s") or 0.0 for r in records)
    record(cell.stage, mlflow_s=open_s + logging_s, training_s=training_s,
           diagnostics_and_outputs_s=cell_s - training_s - logging_s)


if __name__ == "__main__":
    stage_main(main)

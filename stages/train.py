"""DVC stage: train every seed of one cell (task x model x length) -> runs/<task>/<model>/T<len>/,
logging each run to MLflow as it finishes."""
import argparse
from pathlib import Path

from rnnbench.cli import stage_main
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
    tracker = open_tracker(list(study.tasks))  # fails here, before training, if the server is down
    dataset = Dataset.load(data_folder(cell.task, cell.length))
    root = Path.cwd()

    def log_run(folder, record, history):
        tracker.log_run(folder, record, history, stage=cell.stage)

    train_cell(study, cell, dataset, root, log_run)


if __name__ == "__main__":
    stage_main(main)

"""DVC stage: generate one task's dataset at one length -> data/<task>/T<len>/."""
import argparse
import time
from pathlib import Path

from rnnbench.cli import stage_main
from rnnbench.config import ConfigError
from rnnbench.stage_timing import record
from rnnbench.study import data_folder, load_study
from rnnbench.tasks import TASKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", required=True)
    parser.add_argument("--length", type=int, required=True)
    args = parser.parse_args()
    study = load_study("params.yaml")
    plan = study.tasks.get(args.task)
    if plan is None or args.length not in plan.lengths:
        raise ConfigError(f"tasks.{args.task}.lengths: {args.length} is not in the study's params.yaml")
    start = time.perf_counter()
    dataset = TASKS[args.task].build(args.length, study.data, plan.options)
    folder = Path(data_folder(args.task, args.length))
    dataset.save(folder)
    record(f"generate-{args.task}@{args.length}", generate_s=time.perf_counter() - start)
    print(f"generated {args.task} T={args.length} -> {folder} (checksum {dataset.checksum()})")


if __name__ == "__main__":
    stage_main(main)

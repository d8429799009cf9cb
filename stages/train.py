"""DVC stage: train every seed of one cell -> runs/<task>-<length>/<model>/seed<s>/.

Reads exactly the cell's configs file (written by the configure stage) and its data folder; how the
seeds share the machine comes from configs/execution.json, which changes no result. MLflow logging
happens once for the whole study in the report stage: here only the tracking server is checked, so
that an unreachable one stops the study before training. A cell with a failed seed lands whole
(its failed seeds' records say why) and the stage exits 1, so that DVC never caches a failure.
"""
import argparse
import sys
import time
from pathlib import Path

from rnnbench.process_exit import EXIT_FAILED_RUN, stage_main
from rnnbench.config import EXECUTION_FILE, Execution, read_run_configs, require_inside
from rnnbench.progress import stage_done
from rnnbench.tasks import Dataset
from rnnbench.tracking import check_reachable, tracking_uri
from rnnbench.training.study_progress import study_line
from rnnbench.training.sweep import train_cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", type=Path, help="the cell's configs file")
    parser.add_argument("--data", type=Path, required=True, help="the cell's data folder")
    parser.add_argument("--out", type=Path, required=True, help="the cell's run folder")
    args = parser.parse_args()
    for flag in ("configs", "data", "out"):  # names from params.yaml reach these paths
        require_inside(f"--{flag}" if flag != "configs" else "CONFIGS", getattr(args, flag), Path.cwd())
    configs = read_run_configs(args.configs)
    execution = Execution.read(EXECUTION_FILE)
    start = time.perf_counter()
    check_reachable(tracking_uri())  # an unreachable server fails here, before training
    check_s = time.perf_counter() - start
    dataset = Dataset.load_checked(args.data, configs[0].task.name, configs[0].task.length, key="--data")
    cell_start = time.perf_counter()
    records = train_cell(configs, dataset, args.out, execution)
    # Seeds train concurrently, so their training, diagnostics and outputs overlap: timed as one.
    print(study_line() or "", file=sys.stderr, flush=True)  # the whole study's progress, read from disk
    stage_done(f"train {args.out}", cell=time.perf_counter() - cell_start, tracking_check=check_s)
    failed = [r["seed"] for r in records if r.get("failed")]
    if failed:  # a failure is never a result: DVC records no failed stage, so the next repro retries it
        print(f"rnnbench: seeds {failed} of {args.out} failed (causes above); DVC does not record a failed cell: "
              "`dvc repro` trains it again (`dvc repro --keep-going` goes on past it)", file=sys.stderr)
        return EXIT_FAILED_RUN
    return 0


if __name__ == "__main__":
    stage_main(main)

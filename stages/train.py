"""DVC stage: train every seed of one cell -> runs/<task>-<length>/<model>/seed<s>/
(rnnbench.steps.train.train), or every cell of a side grid when CONFIGS is its folder
(configs/side/<grid>/, with --data data and --out runs/side/<grid>: train_grid).

Reads exactly the cell's configs file (written by the configure stage) and its data folder; how the
seeds share the machine comes from configs/execution.json, which changes no result. The tracking
server is checked before training, so that an unreachable one stops the study first; the finished
cell is logged to MLflow under its stage's name (--stage), so the store fills as the study runs. A cell with a failed seed lands whole
(its failed seeds' records say why) and the stage exits 1, so that DVC never caches a failure.
"""
import argparse
from pathlib import Path

from rnnbench.config import EXECUTION_FILE, Execution, require_inside
from rnnbench.process_exit import stage_main
from rnnbench.steps.train import train, train_grid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", type=Path, help="the cell's configs file, or a side grid's configs folder")
    parser.add_argument("--data", type=Path, required=True, help="the cell's data folder (for a grid: data/)")
    parser.add_argument("--out", type=Path, required=True, help="the cell's run folder (for a grid: its runs folder)")
    parser.add_argument("--stage", help="the DVC stage's name, the cell's dvc.stage tag in MLflow "
                        "(without it the cell is logged by the report stage's sync)")
    args = parser.parse_args()
    for flag in ("configs", "data", "out"):  # names from params.yaml reach these paths
        require_inside(f"--{flag}" if flag != "configs" else "CONFIGS", getattr(args, flag), Path.cwd())
    step = train_grid if args.configs.is_dir() else train
    return step(args.configs, args.data, args.out, Execution.read(EXECUTION_FILE), stage=args.stage)


if __name__ == "__main__":
    stage_main(main)

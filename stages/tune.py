"""DVC stage: one model's learning-rate sweep -> tuning/<model>.json (rnnbench.steps.tune.tune).

Reads exactly the model's plan (tuning/plans/<model>.json, written by plan-tuning) and builds each
tuning point's data in memory (the task's generator is deterministic: the same arrays the generate
stage would write); how its runs share the machine comes from plan-tuning's execution settings,
which change no result. The rule is rnnbench.training.tuning's. A failed sweep run fails the stage
and writes nothing: DVC never records a failure, so the next `dvc repro` tunes the model again.
"""
import argparse
from pathlib import Path

from rnnbench.config import Execution, require_inside
from rnnbench.process_exit import stage_main
from rnnbench.steps.tune import TUNING_EXECUTION_FILE, tune


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("plan", type=Path, help="the model's tuning plan")
    parser.add_argument("--out", type=Path, required=True, help="the model's tuning result")
    args = parser.parse_args()
    require_inside("PLAN", args.plan, Path.cwd())  # model names from params.yaml reach these paths
    require_inside("--out", args.out, Path.cwd())
    return tune(args.plan, args.out, Execution.read(TUNING_EXECUTION_FILE))


if __name__ == "__main__":
    stage_main(main)

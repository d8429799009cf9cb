"""DVC stage: one model's learning-rate sweep -> tuning/<model>.json (rnnbench.steps.tune.tune), or a
side grid's: every plan in tuning/plans/side/<grid>/ -> tuning/side/<grid>/ (tune_grid).

Reads exactly the model's plan (tuning/plans/<model>.json, written by plan-tuning) and builds each
tuning point's data in memory (the task's generator is deterministic: the same arrays the generate
stage would write); how its runs share the machine comes from plan-tuning's execution settings,
which change no result. The rule is rnnbench.training.tuning's. With --stage the sweeps are logged
to MLflow as the stage ends. A failed sweep run fails the stage
and writes nothing: DVC never records a failure, so the next `dvc repro` tunes the model again.
"""
import argparse
from pathlib import Path

from rnnbench.config import Execution, require_inside
from rnnbench.process_exit import stage_main
from rnnbench.steps.tune import TUNING_EXECUTION_FILE, tune, tune_grid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("plan", type=Path, help="the model's tuning plan, or a side grid's folder of them")
    parser.add_argument("--out", type=Path, required=True, help="the model's tuning result (a folder for a grid's)")
    parser.add_argument("--stage", help="the DVC stage's name: the sweeps are logged to MLflow under it as it ends "
                        "(without it the report stage's sync logs them)")
    args = parser.parse_args()
    require_inside("PLAN", args.plan, Path.cwd())  # model names from params.yaml reach these paths
    require_inside("--out", args.out, Path.cwd())
    execution = Execution.read(TUNING_EXECUTION_FILE)
    return (tune_grid if args.plan.is_dir() else tune)(args.plan, args.out, execution, args.stage)


if __name__ == "__main__":
    stage_main(main)

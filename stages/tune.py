"""DVC stage: one model's learning-rate sweep -> tuning/<model>.json (the chosen lr per task).

Reads exactly the model's plan (tuning/plans/<model>.json, written by plan-tuning) and builds each
tuning point's data in memory (the task's generator is deterministic: the same arrays the generate
stage would write). The rule is rnnbench.training.tuning's. A failed sweep run fails the stage and
writes nothing: DVC never records a failure, so the next `dvc repro` tunes the model again.
"""
import argparse
import sys
import time
from pathlib import Path

from rnnbench.process_exit import EXIT_FAILED_RUN, stage_main
from rnnbench.config import EXECUTION_FILE, Execution, read_tuning, require_inside, write_tuning
from rnnbench.progress import stage_done
from rnnbench.training.tuning import TuningFailed, tune_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("plan", type=Path, help="the model's tuning plan")
    parser.add_argument("--out", type=Path, required=True, help="the model's tuning result")
    args = parser.parse_args()
    for flag in ("plan", "out"):  # model names from params.yaml reach these paths
        require_inside("PLAN" if flag == "plan" else "--out", getattr(args, flag), Path.cwd())
    model, plans = read_tuning(args.plan)
    execution = Execution.read(EXECUTION_FILE)
    start = time.perf_counter()
    results = []
    for plan in plans:
        try:
            result = tune_task(plan, execution)
        except TuningFailed as err:  # causes printed above; no result file, so DVC records no failure
            print(f"rnnbench: {err}; `dvc repro` tunes {model} again", file=sys.stderr)
            return EXIT_FAILED_RUN
        if result.lr is not None:
            print(f"tune {model} {plan.task}: lr {result.lr:g} ({result.source}"
                  f"{', at a bound of the lr ladder' if result.at_edge else ''})", flush=True)
        results.append(result)
    write_tuning(args.out, model, results)
    stage_done(f"tune {model}", tune=time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    stage_main(main)

"""DVC stage: params.yaml, parsed once -> every model's tuning plan, tuning/plans/<model>.json.

A plan holds, per task the model runs, where its lr comes from and, when tuned, every sweep run's
resolved config. A tune stage depends on its model's plan only, and a plan file is rewritten only
when its content changes: editing the sweep reruns the tuning, adding a length or a study seed does not.
"""
import time

from rnnbench.process_exit import stage_main
from rnnbench.progress import stage_done
from rnnbench.study import TUNING_PLANS, load_study


def main() -> None:
    start = time.perf_counter()
    study = load_study("params.yaml")
    models = study.write_tuning_plans()
    print(f"planned the tuning of {models} models -> {TUNING_PLANS}/")
    stage_done("plan-tuning", plan=time.perf_counter() - start)


if __name__ == "__main__":
    stage_main(main)

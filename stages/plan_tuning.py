"""DVC stage: params.yaml, parsed once -> every model's tuning plan, tuning/plans/<model>.json
(rnnbench.steps.configure.plan_tuning).

A plan holds, per task the model runs, where its lr comes from and, when tuned, every sweep run's
resolved config. A tune stage depends on its model's plan only, and a plan file is rewritten only
when its content changes: editing the sweep reruns the tuning, adding a length or a study seed does not.
"""
from rnnbench.process_exit import stage_main
from rnnbench.steps.configure import plan_tuning
from rnnbench.study import load_study

if __name__ == "__main__":
    stage_main(lambda: plan_tuning(load_study("params.yaml")))

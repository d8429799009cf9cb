"""DVC stage: aggregate the current study into reports/, then sync MLflow with the run outputs
(rnnbench.steps.report.report).

The report is written first: a tracking problem (a corrupt store, a server gone) must never cost
it. A sync that fails is one line naming the store, exit 2; `rnnbench sync-mlflow` catches up later.
"""
from rnnbench.process_exit import stage_main
from rnnbench.steps.report import report
from rnnbench.study import load_study

if __name__ == "__main__":
    stage_main(lambda: report(load_study("params.yaml")))

"""DVC stage: sync MLflow with the run outputs, then aggregate the current study into reports/."""
import time
from pathlib import Path

from rnnbench.cli import stage_main
from rnnbench.progress import stage_done
from rnnbench.report.write import write_report
from rnnbench.study import load_study
from rnnbench.tracking import sync_study


def main() -> None:
    study = load_study("params.yaml")
    start = time.perf_counter()
    created, existing = sync_study(study)
    mlflow_s = time.perf_counter() - start
    print(f"mlflow: {created} runs logged now, {existing} already in the store")
    for path in write_report(study, Path.cwd(), Path("reports")):
        print(f"wrote {path}")
    stage_done("report", mlflow=mlflow_s, report=time.perf_counter() - start - mlflow_s)


if __name__ == "__main__":
    stage_main(main)

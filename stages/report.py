"""DVC stage: sync MLflow with the run outputs, then aggregate the current study into reports/."""
from pathlib import Path

from rnnbench.cli import stage_main
from rnnbench.report.write import write_report
from rnnbench.study import load_study
from rnnbench.tracking import sync_study


def main() -> None:
    study = load_study("params.yaml")
    created, existing = sync_study(study)
    print(f"mlflow: {created} runs logged now, {existing} already in the store")
    for path in write_report(study, Path.cwd(), Path("reports")):
        print(f"wrote {path}")


if __name__ == "__main__":
    stage_main(main)

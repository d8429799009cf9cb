"""DVC stage: aggregate the current study into reports/, then sync MLflow with the run outputs.

The report is written first: a tracking problem (a corrupt store, a server gone) must never cost
it. A sync that fails is one line naming the store, exit 2; `rnnbench sync-mlflow` catches up later.
"""
import time
from pathlib import Path

from rnnbench.process_exit import stage_main
from rnnbench.config import ConfigError
from rnnbench.progress import stage_done
from rnnbench.report.write import write_report
from rnnbench.study import load_study
from rnnbench.tracking import sync_study, tracking_uri


def main() -> None:
    study = load_study("params.yaml")
    start = time.perf_counter()
    for path in write_report(study, Path.cwd(), Path("reports")):
        print(f"wrote {path}")
    report_s = time.perf_counter() - start
    try:
        created, existing = sync_study(study)
    except Exception as err:  # noqa: BLE001 -- any store failure: the report stands, the sync is retried by hand
        cause = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"MLFLOW_TRACKING_URI: logging the runs to {tracking_uri()} failed ({cause}); the report "
                          "is written; fix the store, then `rnnbench sync-mlflow`") from None
    print(f"mlflow: {created} runs logged now, {existing} already in the store")
    stage_done("report", mlflow=time.perf_counter() - start - report_s, report=report_s)


if __name__ == "__main__":
    stage_main(main)

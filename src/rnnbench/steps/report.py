"""Step report: the report -> reports/, then MLflow brought level with the run outputs."""
from __future__ import annotations

import time
from pathlib import Path

from ..config import ConfigError
from ..progress import stage_done
from ..report.write import write_report
from ..study import Study


def report(study: Study, root: Path = Path("."), sync: bool = True) -> int:
    """The report is written first: a tracking problem must never cost it. A sync that fails is one
    line naming the store (ConfigError: exit 2); `rnnbench sync-mlflow` catches up later."""
    start = time.perf_counter()
    for path in write_report(study, root, root / "reports"):
        print(f"wrote {path}")
    report_s = time.perf_counter() - start
    if not sync:
        return 0
    from ..tracking import sync_study, tracking_uri
    try:
        created, existing = sync_study(study, root)
    except Exception as err:  # noqa: BLE001 -- any store failure: the report stands, the sync is retried by hand
        cause = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"MLFLOW_TRACKING_URI: logging the runs to {tracking_uri()} failed ({cause}); the report "
                          "is written; fix the store, then `rnnbench sync-mlflow`") from None
    print(f"mlflow: {created} runs logged now, {existing} already in the store")
    stage_done("report", mlflow=time.perf_counter() - start - report_s, report=report_s)
    return 0

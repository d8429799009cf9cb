"""Step report: the report -> reports/ (with the export a fresh clone's MLflow store is rebuilt
from), then MLflow brought level with the run outputs."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..config import ConfigError
from ..progress import say, stage_done
from ..report.write import write_report
from ..study import Study


def report(study: Study, root: Path = Path("."), sync: bool = True) -> int:
    """The report is written first: a tracking problem must never cost it. A sync that fails is one
    line naming the store (ConfigError: exit 2); `rnnbench sync-mlflow` catches up later."""
    start = time.perf_counter()
    for path in write_report(study, root, root / "reports"):
        say(f"wrote {path}", sys.stdout)
    from ..tracking import EXPORT_FILE, export_study, sync_study, tracking_uri
    runs = export_study(study, root, root / EXPORT_FILE)  # what a fresh clone's store is rebuilt from
    say(f"wrote {root / EXPORT_FILE} ({runs} runs and the tuning, for `rnnbench sync-mlflow --from-export`)", sys.stdout)
    report_s = time.perf_counter() - start
    if not sync:
        return 0
    try:
        synced = sync_study(study, root)
    except Exception as err:  # noqa: BLE001 -- any store failure: the report stands, the sync is retried by hand
        cause = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"MLFLOW_TRACKING_URI: logging the runs to {tracking_uri()} failed ({cause}); the report "
                          "is written; fix the store, then `rnnbench sync-mlflow`") from None
    say(synced.line(), sys.stdout)
    stage_done("report", mlflow=time.perf_counter() - start - report_s, report=report_s)
    return 0

"""MLflow tracking: the only module that imports mlflow.

One experiment per task; one MLflow run per (model, length, seed) named `<model>-T<len>-s<seed>`,
identified by a `run_key` tag (a hash of the resolved config and the data checksum). Logging a run
whose key is already in the store does nothing, so re-syncing from the DVC outputs never duplicates.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .config import ConfigError, flatten
from .study import Study
from .training.host import one_line

STORE_FILE = "mlflow.db"
ARTIFACT_FOLDER = "mlartifacts"
BATCH_PARAMS = 100  # MLflow's limits per log_batch call
BATCH_ENTRIES = 1000
RUN_ARTIFACTS = ("history.csv", "metrics.json", "gradflow.csv")


def project_root(start: Path | None = None) -> Path:
    """The repository the study lives in, also from inside DVC's temporary experiment copies
    (.dvc/tmp/exps/...), so that every run lands in the one store of the real repository."""
    here = (start or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return here


def tracking_uri(root: Path | None = None) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root(root) / STORE_FILE}"


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Refuse a tracking store that cannot take the runs before any training starts: a server that
    does not answer (MLflow itself would retry for minutes and fail only at the first log call), a
    SQLite file that is not a database or cannot be created, a folder that cannot be written."""
    if uri.startswith("sqlite:"):
        return check_sqlite(uri)
    if uri.startswith("file:") or "://" not in uri:
        return check_folder(uri)
    if not uri.startswith(("http://", "https://")):
        return  # another database: MLflow's own client is the only check, at sync time
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as reply:
            if reply.status == 200:
                return
            reason = f"HTTP {reply.status}"
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        reason = str(getattr(err, "reason", err))
    raise ConfigError(f"MLFLOW_TRACKING_URI: cannot reach the tracking server at {uri} ({reason}); "
                      f"start it, or unset MLFLOW_TRACKING_URI to use the local store {STORE_FILE}")


def store_error(uri: str, reason: str) -> ConfigError:
    return ConfigError(f"MLFLOW_TRACKING_URI: the tracking store {uri} is not usable ({reason}); fix or move it, "
                       f"or point MLFLOW_TRACKING_URI elsewhere")


def check_sqlite(uri: str) -> None:
    path = Path(uri.split(":///", 1)[1] if ":///" in uri else uri.split(":", 1)[1])
    if not path.exists():
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            raise store_error(uri, f"cannot create {path}")
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=20)) as db:
            db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as err:
        raise store_error(uri, f"{path}: {err}") from None


def check_folder(uri: str) -> None:
    path = Path(urllib.parse.urlparse(uri).path if uri.startswith("file:") else uri)
    probe = path if path.exists() else path.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise store_error(uri, f"{path} is not a writable folder")


def run_key(record: dict[str, Any]) -> str:
    """One key per produced run: its config, its data and when it finished. Syncing the same
    outputs again (e.g. restored from DVC's cache) finds the key; a rerun of the same config after a
    code change writes new outputs with a new finish time, and is logged as the new run it is."""
    blob = json.dumps({"config": record["config"], "data": record.get("data_checksum"),
                       "finished_at": record.get("finished_at")}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def run_name(model: str, length: int, seed: int) -> str:
    return f"{model}-T{length}-s{seed}"


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


@contextlib.contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """Serialise store creation and experiment creation across processes on this machine: writers
    racing on a fresh SQLite file can all crash and leave it broken (see docs/architecture.md)."""
    with open(root / f".{STORE_FILE}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Tracker:
    uri: str
    root: Path
    experiments: dict[str, str]
    commit: str
    logged: dict[str, str] = field(default_factory=dict)  # run_key -> run_id, found or logged here

    @property
    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def find_run(self, task: str, key: str) -> str | None:
        # One filtered query per run (~9 ms in a 510-run store). Reading every run's key up front
        # instead took 1.25 s there, and grows with the store's history.
        if key not in self.logged:
            runs = self.client.search_runs([self.experiments[task]], filter_string=f"tags.run_key = '{key}'",
                                           max_results=1)
            if not runs:
                return None
            self.logged[key] = runs[0].info.run_id
        return self.logged[key]

    def log_run(self, folder: Path, record: dict[str, Any], history: list[dict[str, float]],
                stage: str | None = None) -> tuple[str, bool]:
        """Log one finished run (its metrics.json record and history) unless its key is already
        there. Returns (run_id, created)."""
        from mlflow.entities import Metric, Param

        config = record["config"]
        key = run_key(record)
        task = record["task"]
        existing = self.find_run(task, key)
        if existing:
            return existing, False
        tags = {
            "task": task, "model": record["model"], "length": str(record["length"]), "seed": str(record["seed"]),
            "git_commit": self.commit, "dvc_stage": stage or "", "data_checksum": record.get("data_checksum") or "",
            "device": record.get("device", ""), "run_key": key, "solved": str(record.get("solved")),
            "diverged": str(record.get("diverged")), "host": one_line(record["host"]) if record.get("host") else "",
        }
        client = self.client
        run = client.create_run(self.experiments[task], run_name=run_name(record["model"], record["length"], record["seed"]),
                                tags=tags)
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        params = [Param(k, str(v)) for k, v in flatten(config).items()]
        metrics = [Metric(k, float(v), now, int(row["step"])) for row in history for k, v in row.items() if k != "step"]
        for name, value in record.items():
            if isinstance(value, bool):
                value = float(value)
            if isinstance(value, (int, float)) and name not in ("length", "seed") and value is not None:
                metrics.append(Metric(f"final_{name}", float(value), now, int(record.get("steps") or 0)))
        for batch_params, batch_metrics in log_batches(params, metrics):
            client.log_batch(run_id, params=batch_params, metrics=batch_metrics)
        for name in RUN_ARTIFACTS:
            if (folder / name).is_file():
                client.log_artifact(run_id, str(folder / name))
        client.set_terminated(run_id, "FAILED" if record.get("diverged") else "FINISHED")
        self.logged[key] = run_id
        return run_id, True


def log_batches(params: list, metrics: list) -> Iterator[tuple[list, list]]:
    """Params and metrics in as few log_batch calls as MLflow's limits allow (at most 100 params
    and 1000 entries in all per call): a typical run is one call."""
    while params or metrics:
        head = params[:BATCH_PARAMS]
        room = BATCH_ENTRIES - len(head)
        yield head, metrics[:room]
        params, metrics = params[len(head):], metrics[room:]


def open_tracker(tasks: list[str], root: Path | None = None, locked: bool = False) -> Tracker:
    """Check the server, create / migrate the store and every task's experiment once, under the
    store lock (`locked`: the caller holds it already), before any run is logged."""
    from mlflow.tracking import MlflowClient

    root = project_root(root)
    uri = tracking_uri(root)
    check_reachable(uri)
    local = uri.startswith("sqlite:")
    experiments = {}
    with store_lock(root) if local and not locked else contextlib.nullcontext():
        client = MlflowClient(tracking_uri=uri)
        if uri == f"sqlite:///{root / STORE_FILE}" and (root / STORE_FILE).is_file():
            relocate_artifacts(root)
        for task in sorted(set(tasks)):
            found = client.get_experiment_by_name(task)
            if found is None:
                location = (root / ARTIFACT_FOLDER / task).as_uri() if local else None
                experiments[task] = client.create_experiment(task, artifact_location=location,
                                                             tags={"project": "rnnbench"})
            else:
                experiments[task] = found.experiment_id
    return Tracker(uri=uri, root=root, experiments=experiments, commit=git_commit(root))


def relocate_artifacts(root: Path) -> int:
    """Point the repository's own store at its own artifact folder. MLflow stores an experiment's
    artifact location (and each run's artifact URI) as an absolute path, so a repository copied or
    moved with its mlflow.db would log new artifacts into the old place and show old ones from
    there. The artifact folder moves with the repository, so every location under another
    `<old repo>/mlartifacts/` is rewritten to this one (both columns are plain text in MLflow's
    schema). Returns the number of experiments rewritten."""
    here = (root / ARTIFACT_FOLDER).as_uri()
    marker = f"/{ARTIFACT_FOLDER}/"
    moved = 0
    with contextlib.closing(sqlite3.connect(root / STORE_FILE, timeout=60)) as db, db:
        for experiment_id, location in db.execute("SELECT experiment_id, artifact_location FROM experiments").fetchall():
            if not location or not location.startswith("file:") or marker not in location or location.startswith(here + "/"):
                continue
            old = location[: location.rindex(marker) + len(marker) - 1]
            db.execute("UPDATE experiments SET artifact_location = ? || substr(artifact_location, ?) "
                       "WHERE experiment_id = ?", (here, len(old) + 1, experiment_id))
            db.execute("UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                       "WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
                       (here, len(old) + 1, experiment_id, len(old), old))
            moved += 1
    return moved


def history_rows(path: Path) -> list[dict[str, float]]:
    import csv

    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in row.items()} for row in csv.DictReader(handle)]


def sync_study(study: Study, root: Path | None = None) -> tuple[int, int]:
    """Log every run of the current study found on disk that the store lacks (by run_key).
    DVC may restore stage outputs from its cache without running them; this puts the store back in
    step with the outputs. One sync at a time on this machine (the store lock): finding a key and
    creating its run are two calls, and two syncs between them would both create it.
    Returns (runs logged now, runs already there)."""
    root = project_root(root)
    created = existing = 0
    with store_lock(root):
        tracker = open_tracker(list(dict.fromkeys(cell.task for cell in study.cells())), root, locked=True)
        for cell in study.cells():
            for seed in study.seeds:
                folder = root / cell.seed_folder(seed)
                path = folder / "metrics.json"
                if not path.is_file():
                    continue
                try:
                    record = json.loads(path.read_text())
                except json.JSONDecodeError:
                    print(f"mlflow: skipping {path}: not JSON (an interrupted write?)", file=sys.stderr)
                    continue
                if record.get("failed"):
                    continue
                _, new = tracker.log_run(folder, record, history_rows(folder / "history.csv"), stage=cell.stage)
                created += new
                existing += not new
    return created, existing

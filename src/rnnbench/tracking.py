"""MLflow tracking: the only module that imports mlflow.

One experiment per task of the study, `rnnbench/<task>`. A parent run per cell (`<model>-T<len>`,
the cell's summary, its gradient-flow figure) with one nested run per seed (`<model>-T<len>-s<seed>`:
params, the history as metrics stamped with the run's own times, the dataset as an input, files and
the model). A run is identified by a `run_key` tag, a hash of its config, data checksum and training
code checksum; a run whose key is in the store is not logged again, so re-syncing, DVC restoring
outputs from its cache, or a study gaining a seed never duplicates a run.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import sqlite3
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .config import ConfigError, TaskTuning, flatten, read_tuning
from .progress import say, warn
from .search.plans import search_folder
from .search.runner import SEARCH_STAGE, searched_run_cells
from .study import Study, tuning_result_file
from .training.host import git_commit, one_line
from .training.run_outputs import (GRADFLOW_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE, FinishedRun, UnreadableRun,
                                   read_run, record_problem)

STORE_FILE = "mlflow.db"
ARTIFACT_FOLDER = "mlartifacts"
BATCH_PARAMS = 100  # MLflow's limits per log_batch call
BATCH_ENTRIES = 1000
RUN_ARTIFACTS = (HISTORY_FILE, METRICS_FILE, GRADFLOW_FILE)
MODEL_ARTIFACT = MODEL_FILE
EXPERIMENT_PREFIX = "rnnbench/"
TIME_METRICS = ("elapsed_s", "steps_per_s", "wall_s")
EXPERIMENT_NOTE = ("rnnbench runs on the {task} task: one parent run per cell (model x length), its seeds nested "
                   "below. Compare models at one length: filter `tags.length = '100'`, Group by `model`, "
                   "open the val/ charts.")
# Marks an experiment as model training, so the UI opens its runs table, not the GenAI views.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


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
    if uri.startswith("file:") or "://" not in uri:  # a folder store, which this MLflow cannot open
        raise store_error(uri, "a folder store; use a SQLite file, sqlite:///path/mlflow.db, or a server, http://host:port")
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
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):  # SQLite writes a journal beside it
        raise store_error(uri, f"{path} or its folder is read-only")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=20)) as db:
            db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as err:
        raise store_error(uri, f"{path}: {err}") from None


def without_seed(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "seed"}


def content_key(config: dict[str, Any], record: dict[str, Any]) -> str:
    """A hash of what a result depends on: config, data and training code. A record written before
    runs carried their code checksum is keyed by its finish time instead (a retrain is then new)."""
    code = record.get("code_checksum")
    blob = json.dumps({"config": config, "data": record.get("data_checksum"),
                       "code": code if code else {"finished_at": record.get("finished_at")}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


OUTCOME = ("engine", "steps", "solved_step", "diverged", "test_metric", "val_metric")  # what a retrain can change


def run_key(record: dict[str, Any]) -> str:
    """One key per run: the same config, data and code are the same run (bit for bit on CPU),
    logged once however often it is synced, restored from DVC's cache or copied into a study that
    gains a seed; a change to any of them is a new run. So is a run retrained to another outcome
    under the same config (another engine, another machine's kernels): its key takes the outcome
    (OUTCOME, never the timings), so MLflow never keeps the numbers of a run that was replaced."""
    outcome = {name: record.get(name) for name in OUTCOME}
    return content_key({**record["config"], "outcome": outcome}, record)


def cell_key(record: dict[str, Any]) -> str:
    """The key of a seed's cell: its config without the seed, data and code. A study that gains a
    seed finds the cell run its other seeds hang under."""
    return content_key(without_seed(record["config"]), record)


def run_name(model: str, length: int, seed: int | None = None) -> str:
    return f"{model}-T{length}" + (f"-s{seed}" if seed is not None else "")


def experiment_name(task: str) -> str:
    """Namespaced, so that a shared team server can hold other projects' `adding`."""
    return f"{EXPERIMENT_PREFIX}{task}"


def metric_name(name: str) -> str:
    """History columns and record keys grouped by prefix, as the MLflow UI sections its charts:
    val/, train/, test/, grad/, gates/, time/ and final/ (single values at the last step)."""
    for prefix, group in (("val_", "val/"), ("train_", "train/"), ("test_", "test/"), ("grad_", "grad/"),
                          ("gate_", "gates/")):
        if name.startswith(prefix):
            return group + name[len(prefix):]
    return ("time/" if name in TIME_METRICS else "final/") + name


def epoch_ms(iso: str | None) -> int | None:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else None
    except ValueError:
        return None


def dvc_tags() -> dict[str, str]:
    """The DVC experiment a sync runs in: `dvc exp run` sets these for its stages' commands."""
    names = {"DVC_EXP_NAME": "dvc.exp_name", "DVC_EXP_BASELINE_REV": "dvc.baseline_rev"}
    return {tag: os.environ[var] for var, tag in names.items() if os.environ.get(var)}


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


def run_description(record: dict[str, Any], folder: str) -> str:
    config = record.get("config", {})
    train = config.get("train", {})
    status = ("diverged" if record.get("diverged") else
              f"solved at step {record.get('solved_step')}" if record.get("solved") else "not solved")
    metric = record.get("metric", "metric")
    return (f"{record['model']} on {record['task']} at T={record['length']}, seed {record['seed']}: test {metric} "
            f"{format_number(record.get('test_metric'))} (memoryless baseline {format_number(record.get('baseline'))}), "
            f"{status}; lr {train.get('lr')}, {record.get('steps')} of {train.get('steps')} steps, "
            f"{record.get('n_params')} parameters. Outputs: `{folder}` (DVC).")


def format_number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


@dataclass
class Tracker:
    uri: str
    root: Path
    experiments: dict[str, str]
    commit: str
    logged: dict[str, str] = field(default_factory=dict)  # run_key / cell_key -> run_id, found or logged here
    workspace: Path | None = None  # where the runs are read, when not `root` (a DVC temporary experiment)

    @property
    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def find_run(self, task: str, tag: str, key: str) -> str | None:
        """The finished run with this key, or None. A run still RUNNING under the key is one a sync
        died logging (its server killed mid-run, say): it is deleted here and logged again whole,
        never skipped. One filtered query per run (~9 ms in a 510-run store; reading every key up
        front took 1.25 s there, and grows with the store's history)."""
        if key not in self.logged:
            runs = self.client.search_runs([self.experiments[task]], filter_string=f"tags.{tag} = '{key}'")
            for run in runs:
                if run.info.status == "RUNNING":  # the sync that logged it holds no lock now: syncs hold one
                    for child in self.client.search_runs(
                            [self.experiments[task]], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"):
                        self.client.delete_run(child.info.run_id)  # logged again under the new parent
                    self.client.delete_run(run.info.run_id)
            done = [run for run in runs if run.info.status != "RUNNING"]
            if not done:
                return None
            self.logged[key] = done[0].info.run_id
        return self.logged[key]

    def common_tags(self, record: dict[str, Any], stage: str | None) -> dict[str, str]:
        return {"task": record["task"], "model": record["model"], "length": str(record["length"]),
                "mlflow.source.git.commit": self.commit, "mlflow.source.name": "stages/train.py",
                "mlflow.source.type": "LOCAL", "dvc.stage": stage or "",
                "data_checksum": record.get("data_checksum") or "", "code_checksum": record.get("code_checksum") or "",
                **dvc_tags()}

    def log_run(self, folder: Path, record: dict[str, Any], history: list[dict[str, float]],
                stage: str | None = None, parent: str | None = None) -> tuple[str, bool]:
        """Log one finished run (its metrics.json record, history and files) unless its key is
        already there, under the cell run `parent` if given. Returns (run_id, created)."""
        from mlflow.entities import Metric, Param

        config = record["config"]
        key = run_key(record)
        task = record["task"]
        existing = self.find_run(task, "run_key", key)
        if existing:
            return existing, False
        start, end = run_times(record)
        tags = {**self.common_tags(record, stage), "seed": str(record["seed"]), "run_key": key,
                "device": record.get("device", ""), "engine": record.get("engine", "separate"), "solved": str(record.get("solved")),
                "diverged": str(record.get("diverged")), "host": one_line(record["host"]) if record.get("host") else "",
                "mlflow.note.content": run_description(record, relative(folder, self.workspace or self.root)),
                **({"mlflow.parentRunId": parent} if parent else {})}
        client = self.client
        run = client.create_run(self.experiments[task], start_time=start, tags=tags,
                                run_name=run_name(record["model"], record["length"], record["seed"]))
        run_id = run.info.run_id
        params = [Param(k, str(v)) for k, v in flatten(config).items()]
        columns = {k for row in history for k in row}
        # Each point at the moment the run reached it: the history's own elapsed seconds.
        metrics = [Metric(metric_name(k), float(v), start + int(1000 * row.get("elapsed_s", 0)), int(row["step"]))
                   for row in history for k, v in row.items() if k != "step"]
        for name, value in record.items():
            if isinstance(value, bool):
                value = float(value)
            if (isinstance(value, (int, float)) and name not in ("length", "seed") and name not in columns
                    and value is not None):
                metrics.append(Metric(metric_name(name), float(value), end, int(record.get("steps") or 0)))
        for batch_params, batch_metrics in log_batches(params, metrics):
            client.log_batch(run_id, params=batch_params, metrics=batch_metrics)
        log_dataset(client, run_id, record, folder)
        for name in RUN_ARTIFACTS:
            if (folder / name).is_file():
                client.log_artifact(run_id, str(folder / name))
        if (folder / MODEL_ARTIFACT).is_file():  # the state dict; load with weights_only=True
            client.log_artifact(run_id, str(folder / MODEL_ARTIFACT), artifact_path="model")
        client.set_terminated(run_id, "FAILED" if record.get("diverged") else "FINISHED", end_time=end)
        self.logged[key] = run_id
        return run_id, True

    def log_cell(self, seeds: list[tuple[Path, dict[str, Any]]], stage: str | None = None,
                 histories: dict[Path, list[dict[str, float]]] | None = None) -> tuple[int, int]:
        """Log one cell: a parent run per (config without seed, data, code) carrying the cell's
        summary, and each seed run nested under it (mlflow.parentRunId). Seeds already in the store
        are not logged again; the summary is logged again when the cell gained a seed. `histories`:
        each seed's history by folder, when its folder is not on disk (a rebuild from the export).
        Returns (seed runs logged now, seed runs already there)."""
        first = seeds[0][1]
        key = cell_key(first)
        parent = self.find_run(first["task"], "cell_key", key)
        client = self.client
        if parent is None:
            tags = {**self.common_tags(first, stage), "cell_key": key, "rnnbench.level": "cell"}
            parent = client.create_run(self.experiments[first["task"]], run_name=run_name(first["model"], first["length"]),
                                       tags=tags, start_time=min(run_times(r)[0] for _, r in seeds)).info.run_id
            self.logged[key] = parent
        created = [self.log_run(folder, record, histories[folder] if histories is not None
                                else history_rows(FinishedRun(folder, record)), stage, parent)[1]
                   for folder, record in seeds]
        if any(created):
            log_cell_summary(client, parent, [record for _, record in seeds], relative(seeds[0][0].parent, self.workspace or self.root))
            log_gradient_flow(client, parent, seeds)
        return sum(created), len(created) - sum(created)

    def log_tuning(self, model: str, results: list[TaskTuning], stage: str | None = None) -> tuple[int, int]:
        """Log one model's lr sweeps (a tuning result file's tasks): a parent run per sweep, carrying
        what it swept and what it chose, and each sweep run nested under it with its lr, length,
        seed and the figures the rule judged. A sweep that ran nothing (hand-set or copied lr) logs
        nothing. Runs already in the store are not logged again. Returns (runs logged now, already there)."""
        from mlflow.entities import Metric, Param

        client = self.client
        created = existing = 0
        for result in results:
            if not result.runs or not result.configs:
                continue
            key = tuning_key(model, result)
            task = result.task
            parent = self.find_run(task, "tune_key", key)
            common = {"task": task, "model": model, "dvc.stage": stage or "", "mlflow.source.git.commit": self.commit,
                      "mlflow.source.name": "stages/tune.py", "mlflow.source.type": "LOCAL", **dvc_tags()}
            if parent is None:
                parent = client.create_run(self.experiments[task], run_name=f"tune-{model}", tags={
                    **common, "tune_key": key, "rnnbench.level": "tuning",
                    "mlflow.note.content": tuning_description(model, result)}).info.run_id
                plan = flatten({k: v for k, v in result.configs[0].to_dict().items() if k != "seed"})
                plan.pop("train.lr", None)
                params = [Param(k, str(v)) for k, v in plan.items()] + [
                    Param("tune.lengths", " ".join(map(str, result.lengths))),
                    Param("tune.lrs", " ".join(f"{lr:g}" for lr in result.lrs)),
                    Param("tune.ladder", " ".join(f"{lr:g}" for lr in result.ladder)),
                    Param("tune.chosen_lr", f"{result.lr:g}" if result.lr is not None else "none"),
                    Param("tune.at_edge", str(result.at_edge))]
                for batch, _ in log_batches(params, []):
                    client.log_batch(parent, params=batch)
                client.set_terminated(parent, "FINISHED")
                self.logged[key] = parent
            for run in result.runs:
                run_key_ = tuning_run_key(key, run)
                if self.find_run(task, "tuning_run_key", run_key_):
                    existing += 1
                    continue
                steps = int(run.get("steps") or 0)
                child = client.create_run(self.experiments[task], run_name=f"{model}-T{run['length']}-lr{run['lr']:g}-s{run['seed']}",
                                          tags={**common, "length": str(run["length"]), "seed": str(run["seed"]),
                                                "tuning_run_key": run_key_, "mlflow.parentRunId": parent}).info.run_id
                metrics = [Metric(name, float(value), 0, steps) for name, value in (
                    ("val/metric", run.get("val_metric")), ("final/steps", run.get("steps")),
                    ("final/solved_step", run.get("solved_step")), ("final/val_solved", run.get("val_solved")),
                    ("final/diverged", run.get("diverged")), ("time/wall_s", run.get("wall_s")))
                    if isinstance(value, (int, float)) and value is not None and math.isfinite(float(value))]
                client.log_batch(child, params=[Param("lr", f"{run['lr']:g}"), Param("length", str(run["length"])),
                                                Param("seed", str(run["seed"]))], metrics=metrics)
                client.set_terminated(child, "FAILED" if run.get("diverged") or run.get("failed") else "FINISHED")
                self.logged[run_key_] = child
                created += 1
        return created, existing


def tuning_key(model: str, result: TaskTuning) -> str:
    """One key per sweep: the model, task, lengths, lrs, ladder and every planned run's config
    (seed and lr included); a changed sweep is a new parent, an unchanged one is found again."""
    blob = json.dumps({"model": model, "task": result.task, "lengths": list(result.lengths), "lrs": list(result.lrs),
                       "ladder": list(result.ladder), "configs": [c.to_dict() for c in result.configs]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def tuning_run_key(sweep: str, run: dict[str, Any]) -> str:
    """A sweep run's key: its sweep and its outcome (never its wall time)."""
    outcome = {k: v for k, v in run.items() if k != "wall_s"}
    return hashlib.sha256(json.dumps({"sweep": sweep, "run": outcome}, sort_keys=True).encode()).hexdigest()[:20]


def tuning_description(model: str, result: TaskTuning) -> str:
    return (f"{model}'s lr sweep on {result.task} at T={', '.join(map(str, result.lengths))}: lrs "
            f"{', '.join(f'{lr:g}' for lr in result.lrs)} (ladder {', '.join(f'{lr:g}' for lr in result.ladder)}), "
            f"{len(result.runs)} runs judged on validation; chose lr {result.lr:g}"
            + (" (a ladder's end, a stated bound)" if result.at_edge else "") + ". Rule: rnnbench/training/tuning.py.")


def relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def run_times(record: dict[str, Any]) -> tuple[int, int]:
    """A run's (start, end) in epoch ms: it ended when it finished and lasted its wall time."""
    end = epoch_ms(record.get("finished_at")) or int(time.time() * 1000)
    return end - int(1000 * (record.get("wall_s") or 0)), end


def log_dataset(client, run_id: str, record: dict[str, Any], folder: Path) -> None:
    """The run's dataset as an MLflow input: task and length by name, its checksum as digest."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    point = f"{record['task']}-{record['length']}"
    profile = {"task": record["task"], "length": record["length"], **record.get("config", {}).get("data", {}),
               "options": record.get("config", {}).get("task", {}).get("options", {})}
    dataset = Dataset(name=point, digest=record.get("data_checksum") or "unknown", source_type="local",
                      source=json.dumps({"uri": f"data/{point}"}), profile=json.dumps(profile, sort_keys=True))
    client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])])


def log_cell_summary(client, parent: str, records: list[dict[str, Any]], folder: str) -> None:
    """The cell's headline on its parent run: seeds, solved fraction, median test metric; each
    logged at step = number of seeds, so a cell that gained a seed keeps its earlier summary too."""
    from mlflow.entities import Metric

    finished = [r for r in records if r.get("test_metric") is not None]
    values = sorted(float(r["test_metric"]) for r in finished)
    solved = sum(bool(r.get("solved")) for r in records)
    metric = records[0].get("metric", "metric")
    median = statistics.median(values) if values else math.nan
    now, n = int(time.time() * 1000), len(records)
    summary = {"cell/seeds": n, "cell/solved": solved, "cell/solved_fraction": solved / n,
               "cell/diverged": sum(bool(r.get("diverged")) for r in records), f"cell/median_test_{metric}": median,
               "cell/median_wall_s": statistics.median(float(r.get("wall_s") or 0) for r in records)}
    client.log_batch(parent, metrics=[Metric(k, float(v), now, n) for k, v in summary.items()])
    first = records[0]
    note = (f"{first['model']} on {first['task']} at T={first['length']}: {solved}/{n} seeds solved, median test "
            f"{metric} {format_number(median)} (memoryless baseline {format_number(first.get('baseline'))}); "
            f"seeds {', '.join(str(r['seed']) for r in records)}, nested below. Outputs: `{folder}` (DVC).")
    client.set_tag(parent, "mlflow.note.content", note)
    client.set_tag(parent, "seeds", ",".join(str(r["seed"]) for r in records))
    client.set_terminated(parent, "FINISHED", end_time=max(epoch_ms(r.get("finished_at")) or now for r in records))


def log_gradient_flow(client, parent: str, seeds: list[tuple[Path, dict[str, Any]]]) -> None:
    """The cell's gradient flow through time (‖∂L/∂h_t‖ at init and trained, every seed) as a figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    drawn = False
    for folder, record in seeds:
        rows = history_rows_text(folder / GRADFLOW_FILE)
        for phase, style in (("init", ":"), ("trained", "-")):
            points = [(float(r["t"]), float(r["norm_h"])) for r in rows if r.get("phase") == phase]
            if points:
                ax.plot(*zip(*points), style, lw=1, color=f"C{record['seed'] % 10}",
                        label=f"seed {record['seed']} {phase}")
                drawn = True
    if drawn:
        first = seeds[0][1]
        ax.set(yscale="log", xlabel="time step t", ylabel="‖∂L/∂h_t‖",
               title=f"{first['model']} {first['task']} T={first['length']}: gradient flow")
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        client.log_figure(parent, fig, "gradient_flow.png")
    plt.close(fig)


def history_rows_text(path: Path) -> list[dict[str, str]]:
    import csv

    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def log_batches(params: list, metrics: list) -> Iterator[tuple[list, list]]:
    """Params and metrics in as few log_batch calls as MLflow's limits allow (at most 100 params
    and 1000 entries in all per call): a typical run is one call."""
    while params or metrics:
        head = params[:BATCH_PARAMS]
        room = BATCH_ENTRIES - len(head)
        yield head, metrics[:room]
        params, metrics = params[len(head):], metrics[room:]


# MLflow's own retry defaults (7 retries, backoff factor 2, 120 s per request) kept a sync to a server
# that died silent for ~250 s before its traceback; a gone server is now a one-line failure in seconds.
HTTP_PATIENCE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def open_tracker(tasks: list[str], root: Path | None = None, locked: bool = False) -> Tracker:
    """Check the server, create / migrate the store and every task's experiment once, under the
    store lock (`locked`: the caller holds it already), before any run is logged."""
    from mlflow.tracking import MlflowClient

    root = project_root(root)
    uri = tracking_uri(root)
    check_reachable(uri)
    for name, value in HTTP_PATIENCE.items():
        os.environ.setdefault(name, value)  # read by MLflow per request; a user's own setting wins
    local = uri.startswith("sqlite:")
    experiments = {}
    with store_lock(root) if local and not locked else contextlib.nullcontext():
        client = MlflowClient(tracking_uri=uri)
        if uri == f"sqlite:///{root / STORE_FILE}" and (root / STORE_FILE).is_file():
            relocate_artifacts(root)
        for task in sorted(set(tasks)):
            name = experiment_name(task)
            found = client.get_experiment_by_name(name)
            if found is None:
                location = (root / ARTIFACT_FOLDER / task).as_uri() if local else None
                experiments[task] = client.create_experiment(name, artifact_location=location, tags={
                    "project": "rnnbench", "mlflow.note.content": EXPERIMENT_NOTE.format(task=task), **EXPERIMENT_KIND})
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


def history_rows(run: FinishedRun) -> list[dict[str, float]]:
    """The run's history as MLflow's float metrics."""
    return [{k: float(v) for k, v in row.items()} for row in run.history()]


@dataclass
class Synced:
    """What a sync did: study runs (seeds of the grid and the searches) and tuning runs, each
    (logged now, already in the store)."""
    created: int = 0
    existing: int = 0
    tuning_created: int = 0
    tuning_existing: int = 0

    def line(self) -> str:
        return (f"mlflow: {self.created} runs logged now, {self.existing} already in the store; tuning runs: "
                f"{self.tuning_created} logged now, {self.tuning_existing} already")


def sync_study(study: Study, root: Path | None = None) -> Synced:
    """Log every run of the current study found on disk that the store lacks (by run_key): the
    runs of `root` (default: the working directory, which for `dvc exp run --temp` is DVC's
    temporary copy) into the real repository's store. DVC may restore stage outputs from its cache without running them; this puts the store back in
    step with the outputs. One sync at a time on this machine (the store lock): finding a key and
    creating its run are two calls, and two syncs between them would both create it."""
    workspace = (root or Path.cwd()).resolve()  # where the run folders are: a `dvc exp run --temp` copy too
    root = project_root(workspace)              # where the store is: always the real repository's
    synced = Synced()
    cells = [(cell.stage, [workspace / cell.seed_folder(seed) for seed in study.seeds]) for cell in study.cells()]
    cells += searched_cells(study, workspace)
    with store_lock(root):
        tracker = open_tracker(list(dict.fromkeys([*(cell.task for cell in study.cells()), *study.search.tasks])),
                               root, locked=True)
        tracker.workspace = workspace
        for stage, folders in cells:
            seeds = loggable_seeds(folders)
            if seeds:
                new, old = tracker.log_cell(seeds, stage=stage)
                synced.created, synced.existing = synced.created + new, synced.existing + old
        for model in study.every_model():
            path = workspace / tuning_result_file(model, study.grid_of(model))
            if path.is_file():
                new, old = tracker.log_tuning(*read_tuning(path), stage=study.tune_stage(model))
                synced.tuning_created, synced.tuning_existing = synced.tuning_created + new, synced.tuning_existing + old
    return synced


EXPORT_FILE = Path("reports") / "mlflow_runs.jsonl.gz"  # the study's runs as MLflow takes them, committed


def export_study(study: Study, root: Path, path: Path) -> int:
    """Everything sync_study would log, as lines of JSON in a gzip file the repository commits:
    each finished run's record and history with its cell's stage and folder, and each model's
    tuning result with its stage. A fresh clone has no run folders (they are DVC's); from this file
    `rnnbench sync-mlflow --from-export` rebuilds a store with the same runs under the same keys, so
    a later sync of the real folders adds nothing but their files. Byte-stable: the same runs give
    the same file. Returns the number of runs written."""
    import gzip

    from .training.run_outputs import write_atomic

    root = Path(root)
    cells = [(cell.stage, [root / cell.seed_folder(seed) for seed in study.seeds]) for cell in study.cells()]
    cells += searched_cells(study, root)
    lines, runs = [], 0
    for stage, folders in cells:
        for folder, record in loggable_seeds(folders):
            history = FinishedRun(folder, record).history()
            lines.append({"kind": "run", "stage": stage, "folder": relative(folder, root.resolve()),
                          "cell": relative(folder.parent, root.resolve()), "record": record, "history": history})
            runs += 1
    for model in study.every_model():
        result = root / tuning_result_file(model, study.grid_of(model))
        if result.is_file():
            lines.append({"kind": "tuning", "stage": study.tune_stage(model), "model": model,
                          "tasks": json.loads(result.read_text())["tasks"]})
    text = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(path), gzip.compress(text.encode(), mtime=0))
    return runs


def export_problem(lines: list) -> str:
    """What makes these lines no export_study output ('' when nothing): each a JSON object, a run
    line with a well-typed record (`record_problem`) and a history of rows, a tuning line with tasks."""
    for number, line in enumerate(lines, 1):
        kind = line.get("kind") if isinstance(line, dict) else None
        if kind == "run":
            record, history = line.get("record"), line.get("history")
            problem = record_problem(record) if isinstance(record, dict) else "its record is not a JSON object"
            if not problem and not (isinstance(history, list) and all(isinstance(row, dict) for row in history)):
                problem = "its history is not a list of rows"
            if not problem and not isinstance(line.get("cell"), str):
                problem = "its cell is not a name"
        elif kind == "tuning":
            tasks = line.get("tasks")
            ok = isinstance(line.get("model"), str) and isinstance(line.get("stage"), str) and isinstance(tasks, list) \
                and all(isinstance(t, dict) and isinstance(t.get("task"), str) for t in tasks)
            problem = "" if ok else "a tuning line without its model, stage and tasks"
        else:
            problem = "not a run or tuning line"
        if problem:
            return f"line {number}: {problem}"
    return ""


def import_export(path: Path, root: Path | None = None) -> Synced:
    """Log an export_study file into the store of `root`: each cell's runs nested under its cell
    run, each model's sweeps under its tuning run, exactly as the stages log them (no files: the
    run folders are not here)."""
    import gzip

    try:
        lines = [json.loads(line) for line in gzip.decompress(Path(path).read_bytes()).decode().splitlines()]
    except RecursionError:
        raise ConfigError(f"--from-export: {str(path)!r} is not an export of a study's runs (JSON nested too deep)") from None
    except (OSError, ValueError, EOFError) as err:
        raise ConfigError(f"--from-export: {str(path)!r} is not an export of a study's runs ({err})") from None
    problem = export_problem(lines)
    if problem:
        raise ConfigError(f"--from-export: {str(path)!r} is not an export of a study's runs ({problem})")
    root = project_root(root)
    runs = [line for line in lines if line.get("kind") == "run"]
    tuned = [line for line in lines if line.get("kind") == "tuning"]
    tasks = [line["record"]["task"] for line in runs] + [t["task"] for line in tuned for t in line["tasks"] if t.get("runs")]
    cells: dict[tuple[str, str], list[dict]] = {}
    for line in runs:
        cells.setdefault((line["stage"], line["cell"]), []).append(line)
    synced = Synced()
    with store_lock(root):
        tracker = open_tracker(list(dict.fromkeys(tasks)), root, locked=True)
        for (stage, _), seeds in cells.items():
            folders = [root / line["folder"] for line in seeds]
            new, old = tracker.log_cell([(f, line["record"]) for f, line in zip(folders, seeds)], stage=stage,
                                        histories={f: [{k: float(v) for k, v in row.items()} for row in line["history"]]
                                                   for f, line in zip(folders, seeds)})
            synced.created, synced.existing = synced.created + new, synced.existing + old
        for line in tuned:
            results = [TaskTuning.from_dict(t, f"{path}: tuning of {line['model']}") for t in line["tasks"]]
            new, old = tracker.log_tuning(line["model"], results, line["stage"])
            synced.tuning_created, synced.tuning_existing = synced.tuning_created + new, synced.tuning_existing + old
    return synced


def log_tuning_at_stage_end(results: list[Path], stage: str) -> None:
    """A tune stage's sweeps into the store as it ends (its result files), so that MLflow shows the
    tuning while the study runs (logged_at_stage_end: a failing store costs one line)."""
    tuned = [read_tuning(path) for path in results]
    if not any(t.runs for _, tasks in tuned for t in tasks):
        return  # copied or hand-set lrs: nothing swept, nothing to log (and no store to open)

    def log() -> tuple[int, int]:
        with store_lock(project_root()):
            tracker = open_tracker([t.task for _, tasks in tuned for t in tasks if t.runs], locked=True)
            counts = [tracker.log_tuning(model, tasks, stage) for model, tasks in tuned]
        return sum(c for c, _ in counts), sum(e for _, e in counts)

    logged_at_stage_end(log, stage, "tuning runs")


def loggable_seeds(folders: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The finished, unaltered runs among `folders` with their records: what MLflow may show."""
    seeds = []
    for folder in folders:
        try:
            run = read_run(folder)
        except UnreadableRun as err:  # never log numbers the run did not write
            if err.kind != "missing":
                warn(f"mlflow: skipping {folder}: {err}")
            continue
        if not run.failed:
            seeds.append((folder, run.record))
    return seeds


def log_at_stage_end(cells: list[list[Path]], stage: str, what: str) -> None:
    """log_finished_cells for a stage that just produced them (logged_at_stage_end)."""
    logged_at_stage_end(lambda: log_finished_cells(cells, stage), what)


def logged_at_stage_end(log: Callable[[], tuple[int, int]], what: str, runs: str = "runs") -> None:
    """`log()` (-> logged now, already there) for a stage that just wrote its outputs: a store that
    fails costs one line, never the outputs (the report stage's sync, or `rnnbench sync-mlflow`,
    logs them later)."""
    try:
        created, existing = log()
    except Exception as err:  # noqa: BLE001 -- the outputs stand; the report's sync logs them
        cause = str(err).splitlines()[0] if str(err) else type(err).__name__
        warn(f"mlflow: logging {what} to {tracking_uri()} failed ({cause}); its {runs} stand, and the report "
              "stage's sync (or `rnnbench sync-mlflow`) logs them")
        return
    say(f"mlflow: {what}: {created} {runs} logged, {existing} already in the store")


def log_finished_cells(cells: list[list[Path]], stage: str, workspace: Path | None = None) -> tuple[int, int]:
    """Cells' runs into the store as their stage ends (a train stage its cell, the search stage its
    searches' lengths), so that MLflow fills while the study runs; the report stage's sync then
    finds them (by run key) and logs only what is missing. Returns (runs logged now, runs already there)."""
    cells = [seeds for seeds in map(loggable_seeds, cells) if seeds]
    if not cells:
        return 0, 0
    workspace = (workspace or Path.cwd()).resolve()
    root = project_root(workspace)
    created = existing = 0
    with store_lock(root):
        tracker = open_tracker(list(dict.fromkeys(seeds[0][1]["task"] for seeds in cells)), root, locked=True)
        tracker.workspace = workspace
        for seeds in cells:
            new, old = tracker.log_cell([(folder.resolve(), record) for folder, record in seeds], stage=stage)
            created += new
            existing += old
    return created, existing


def searched_cells(study: Study, root: Path) -> list[tuple[str, list[Path]]]:
    """The study seeds' runs of every search, as cells (search/runner.py's searched_run_cells)."""
    return [(SEARCH_STAGE, folders) for task, model in study.search.pairs()
            for folders in searched_run_cells(root / search_folder(task, model))]

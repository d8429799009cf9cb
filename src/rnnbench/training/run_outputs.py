"""A finished run on disk: metrics.json (final record + resolved config), history.csv, model.pt, and
optimizer.pt where the run spent its whole budget unsolved (so a larger budget continues it).

The one writer (`write_run`, `write_record`) and the one reader (`read_run`) of a run folder. Each
file is written to a temporary name and renamed, so an interrupted run never leaves a half-written
file where a complete one stood. Every reader goes through `read_run`, with one error policy: a
folder that is missing its record, holds a record that is not a JSON object, or differs from what
its run wrote (the seal) raises UnreadableRun with one line saying which; a failed run's record
(its cause) is data and reads back as such.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import pickle
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..config import RunConfig, read_json
from ..layout import PACKAGE, shared_training_files
from ..progress import warn
from .host import describe
from .trainer import Resume, RunResult

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.pt"
GRADFLOW_FILE = "gradflow.csv"
GATES_FILE = "gates.npz"
OPTIMIZER_FILE = "optimizer.pt"
SEAL = "content_sha256"  # in metrics.json: SHA-256 of the record without it and of every other file


@functools.cache
def code_checksum() -> str:
    """SHA-256 (first 16 hex) of the shared training core (layout.SHARED_TRAINING_CODE), by
    package-relative path and bytes. The model's and task's own code is hashed into the config
    (`source_sha256`), so two runs with the same config, data and code checksum are the same run on
    CPU: a finished one is reused instead of retrained, and MLflow logs it once."""
    digest = hashlib.sha256()
    for path in shared_training_files():
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# --- the one reader ---------------------------------------------------------------------------
class UnreadableRun(Exception):
    """A run folder that cannot be read as its run wrote it; str() is one line naming the folder."""

    def __init__(self, folder: Path, kind: str, reason: str, record: dict[str, Any] | None = None):
        self.folder, self.kind = Path(folder), kind  # kind: missing | unreadable | altered
        self.record = record  # what an altered folder's metrics.json claims
        super().__init__(f"{kind}: {reason}")


@dataclasses.dataclass(frozen=True)
class FinishedRun:
    """A run folder read back: its record (metrics.json) and where its other files are."""
    folder: Path
    record: dict[str, Any]

    @property
    def failed(self) -> bool:
        return bool(self.record.get("failed"))

    def path(self, name: str) -> Path:
        return self.folder / name

    def history(self) -> list[dict[str, int | float]]:
        """history.csv as written: every value a number (an int prints without a point)."""
        with open(self.path(HISTORY_FILE), newline="") as rows:
            return [{k: parsed_number(v) for k, v in row.items()} for row in csv.DictReader(rows)]

    def weights(self, name: str = MODEL_FILE) -> dict:
        """The saved state (model.pt, or optimizer.pt), tensors only (weights_only: never code), or
        UnreadableRun when the file is not one (a pickle that asks for code is refused, not run)."""
        try:
            return torch.load(self.path(name), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
            raise UnreadableRun(self.folder, "unreadable", f"{self.path(name)} is not a saved state of tensors "
                                f"({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''})") from None


def read_gate_traces(folder: Path) -> dict[str, np.ndarray]:
    """gates.npz of a run folder as arrays ({} when the run traced no gates); arrays only, never objects."""
    path = Path(folder) / GATES_FILE
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as traces:
        return {name: traces[name] for name in traces.files}


def read_run(folder: Path, root: Path | None = None) -> FinishedRun:
    """The run in `folder` (under `root`, when given: messages then name `folder` as a study names
    it) as its run wrote it, or UnreadableRun saying why not: no metrics.json, one that is not a
    JSON object (an interrupted write by an older writer, a hand edit), or a finished record whose
    seal does not match its files (edited or corrupted)."""
    shown = Path(folder).as_posix()
    folder = Path(root) / folder if root is not None else Path(folder)
    path = folder / METRICS_FILE
    try:
        record = read_json(path)
    except FileNotFoundError:
        raise UnreadableRun(folder, "missing", f"no metrics.json in {shown} (stage not run?)") from None
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        raise UnreadableRun(folder, "unreadable", f"{shown}/metrics.json is not a JSON object (an interrupted write?)")
    problem = record_problem(record)
    if problem:
        raise UnreadableRun(folder, "unreadable", f"{shown}/metrics.json: {problem}")
    if not record.get("failed") and not sealed(folder, record):
        raise UnreadableRun(folder, "altered", f"{shown} differs from what its run wrote (an edited or corrupted "
                            "record or file); `dvc repro` trains it again", record)
    return FinishedRun(folder, record)


# The fields a record's readers use, by type (a JSON number is int or float, never bool); every
# other field must be a JSON scalar (a diagnostic's number, a note). REQUIRED: what every record
# has; a finished one has FINISHED too. A record breaking this is `unreadable`, never a traceback
# in a reader (the seal cannot stand in: whoever edits a record can recompute it).
NUMBER = (int, float)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "task": (str,), "model": (str,), "length": (int,), "seed": (int,), "failed": (bool,), "error": (str,),
    "metric": (str,), "test_metric": (*NUMBER, type(None)), "val_metric": (*NUMBER, type(None)),
    "solved": (bool,), "val_solved": (bool,), "diverged": (bool,), "stopped_early": (bool,), "steps": (int,),
    "solved_step": (int, type(None)),
    "n_params": (int,), "resumed_from": (int,), "wall_s": (*NUMBER, type(None)), "steps_per_s": (*NUMBER, type(None)),
    "config": (dict,), "host": (dict,), "test_by_position": (list,), "device": (str,), "engine": (str,),
    "vocab": (str,), "data_checksum": (str, type(None)), "code_checksum": (str,), SEAL: (str,),
}
REQUIRED = ("task", "model", "length", "seed", "config")
FINISHED = ("metric", "test_metric", "solved", "diverged", "steps")


def record_problem(record: dict[str, Any]) -> str:
    """What makes `record` no run record ('' when nothing): a field of the wrong type, or missing."""
    for key, value in record.items():
        allowed = FIELD_TYPES.get(key, (*NUMBER, str, bool, type(None)))
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            return f"{key} is {type(value).__name__} {str(value)[:40]!r}, not {' or '.join(t.__name__ for t in allowed)}"
    if not all(isinstance(v, NUMBER) and not isinstance(v, bool) or v is None for v in record.get("test_by_position", [])):
        return "test_by_position is not a list of numbers"
    needed = REQUIRED + (("error",) if record.get("failed") is True else FINISHED)
    missing = [key for key in needed if key not in record]
    return f"{missing[0]} is missing" if missing else ""


def reusable_record(folder: Path, config: RunConfig, data_checksum: str) -> dict[str, Any] | None:
    """The finished record in `folder` when it is this very run (same config, data and training
    code, not failed) and its files are as they were written (`read_run`), else None: adding a seed
    to a study then trains only that seed, and an edited or corrupted run is trained again."""
    try:
        record = read_run(folder).record
    except UnreadableRun as err:
        if err.record is not None and same_run(err.record, config, data_checksum):
            warn(f"{folder}: its record or files differ from what its run wrote (edited or corrupted): "
                 "training it again")
        return None
    return record if same_run(record, config, data_checksum) else None


def same_run(record: dict[str, Any], config: RunConfig, data_checksum: str) -> bool:
    """Whether a finished record is the run of this config, data and training code."""
    return (not record.get("failed") and record.get("config") == config.to_dict()
            and record.get("data_checksum") == data_checksum and record.get("code_checksum") == code_checksum())


# --- the seal: a run's files as its run wrote them ------------------------------------------------


def content_digest(folder: Path, record: dict[str, Any]) -> str | None:
    """SHA-256 of the record (canonical JSON, without the seal) and of the run's other files by
    name; None when history.csv or model.pt is missing."""
    as_read = json.loads(json.dumps({k: v for k, v in record.items() if k != SEAL}))  # as metrics.json reads back
    digest = hashlib.sha256(json.dumps(as_read, sort_keys=True, separators=(",", ":")).encode())
    for name in (HISTORY_FILE, MODEL_FILE, GRADFLOW_FILE, GATES_FILE, OPTIMIZER_FILE):
        path = folder / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        elif name in (HISTORY_FILE, MODEL_FILE):
            return None
    return digest.hexdigest()


def sealed(folder: Path, record: dict[str, Any]) -> bool:
    """Whether the run's record and files are those its run wrote (the seal matches)."""
    return record.get(SEAL) is not None and record.get(SEAL) == content_digest(Path(folder), record)


def json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


STAGING = ".staging-"  # .dvcignore hides `.<name>.staging-<pid>` folders from DVC's hashing


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out` to write into; on success it replaces `out` whole, on an error it
    is removed and `out` is left as it was. A process killed midway leaves only the staging folder,
    removed by the next one to stage into the same place (its owner is gone)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}{STAGING}*"):
        if not pid_alive(stale.name.rsplit("-", 1)[-1]):
            shutil.rmtree(stale, ignore_errors=True)
    staging = out.parent / f".{out.name}{STAGING}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_folder(staging, out)


def replace_folder(new: Path, out: Path) -> None:
    """Put `new` where `out` is, by renames: `out` is at every moment either the old or the new folder."""
    if out.exists() or out.is_symlink():
        old = out.parent / f".{out.name}.replaced-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(new, out)
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    else:
        os.replace(new, out)


def pid_alive(text: str) -> bool:
    try:
        os.kill(int(text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_record(folder: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write metrics.json; returns the record as written (non-finite floats as None)."""
    folder.mkdir(parents=True, exist_ok=True)
    record = json_safe(record)
    write_atomic(folder / METRICS_FILE, (json.dumps(record, indent=2) + "\n").encode())
    return record


def history_csv(history: list[dict[str, float]]) -> str:
    buffer = io.StringIO()
    if history:
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    return buffer.getvalue()


def write_run(folder: Path, config: RunConfig, result: RunResult, data_checksum: str | None = None,
              diagnosis=None, vocab: str | None = None) -> dict[str, Any]:
    """vocab: the dataset's code -> character string (charlm), so a run samples without its corpus.
    diagnosis: a diagnostics.diagnose.Diagnosis (its metrics go into the record, its flow rows
    and traces into gradflow.csv / gates.npz when it has them), or None.
    Returns the metrics.json record as written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {**result.final, **(diagnosis.metrics if diagnosis else {}), "data_checksum": data_checksum,
              "code_checksum": code_checksum(), "host": describe(result.final["device"]),
              "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "config": config.to_dict(),
              **({"vocab": vocab} if vocab else {})}  # symbol tasks: code -> character, for sampling
    if diagnosis is not None and diagnosis.flow_rows:  # none when the model's diagnostics are unavailable
        write_atomic(folder / GRADFLOW_FILE, history_csv(diagnosis.flow_rows).encode())
        if diagnosis.traces:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **diagnosis.traces)
            write_atomic(folder / GATES_FILE, buffer.getvalue())
    write_atomic(folder / HISTORY_FILE, history_csv(result.history).encode())
    write_atomic(folder / MODEL_FILE, torch_bytes(result.model.state_dict()))
    if result.optimizer_state is not None and continuable(result.final, config):
        write_atomic(folder / OPTIMIZER_FILE, torch_bytes(result.optimizer_state))
    record = json_safe(record)
    return write_record(folder, {**record, SEAL: content_digest(folder, record)})  # last: it marks a complete run


def torch_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


# --- continuing a run to a larger budget ----------------------------------------------------------
def continuable(record: dict[str, Any], config: RunConfig) -> bool:
    """A run a larger budget would continue: early stopping never ended it, it is finite and trained
    its whole budget, to a step a fresh longer run evaluates at too. It may have met the rule on
    validation short of the stop margin (trainer.judge). A record from before stopped_early was kept
    ended at its first solved evaluation (no margin) and is judged by solved_step."""
    steps = config.train.steps
    stopped = record.get("stopped_early", record.get("solved_step") is not None)
    return (not stopped and not record.get("diverged") and record.get("steps") == steps
            and steps % config.train.eval_every == 0)


def resume_point(folder: Path, config: RunConfig, data_checksum: str) -> Resume | None:
    """Where the run of `config` in `folder` stopped, to continue it to a larger budget; None when
    it is not this very run intact (`reusable_record`), not `continuable`, or its state cannot be
    read: the larger budget then trains from the start, to the same result."""
    record = reusable_record(folder, config, data_checksum)
    if record is None or not continuable(record, config):
        return None
    run = FinishedRun(Path(folder), record)
    try:
        return Resume(config.train.steps, run.history(), run.weights(), run.weights(OPTIMIZER_FILE))
    except (OSError, ValueError, UnreadableRun):
        return None


def parsed_number(text: str) -> int | float:
    """A history.csv value as written: an int prints without a point, a float always with one."""
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)

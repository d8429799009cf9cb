"""A finished run on disk: metrics.json (final record + resolved config), history.csv, model.pt.

Each file is written to a temporary name and renamed, so an interrupted run never leaves a
half-written file where a complete one stood.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import RunConfig
from .host import describe
from .trainer import RunResult

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.pt"
GRADFLOW_FILE = "gradflow.csv"
GATES_FILE = "gates.npz"


def json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


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
              diagnosis=None) -> dict[str, Any]:
    """diagnosis: a diagnostics.diagnose.Diagnosis (its metrics go into the record, its flow rows
    and traces into gradflow.csv / gates.npz when it has them), or None.
    Returns the metrics.json record as written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {**result.final, **(diagnosis.metrics if diagnosis else {}), "data_checksum": data_checksum,
              "host": describe(result.final["device"]),
              "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "config": config.to_dict()}
    if diagnosis is not None and diagnosis.flow_rows:  # none when the model's diagnostics are unavailable
        write_atomic(folder / GRADFLOW_FILE, history_csv(diagnosis.flow_rows).encode())
        if diagnosis.traces:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **diagnosis.traces)
            write_atomic(folder / GATES_FILE, buffer.getvalue())
    write_atomic(folder / HISTORY_FILE, history_csv(result.history).encode())
    buffer = io.BytesIO()
    torch.save(result.model.state_dict(), buffer)
    write_atomic(folder / MODEL_FILE, buffer.getvalue())
    return write_record(folder, record)  # last: a complete metrics.json marks a complete run


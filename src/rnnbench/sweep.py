"""One cell of the study (task x model x length): train every seed and write its outputs.

A seed that raises is recorded as a failed run (metrics.json with its cause) and the other seeds
go on; the report counts failures instead of the whole study stopping on one.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

from .progress import TrainingBar, finished_line
from .run_outputs import write_record, write_run
from .study import Cell, Study, seed_folder
from .tasks.base import Dataset
from .diagnostics.diagnose import diagnose
from .train import initial_model, train


def failed_record(cell: Cell, seed: int, config, error: BaseException) -> dict:
    return {"task": cell.task, "model": cell.model, "length": cell.length, "seed": seed, "failed": True,
            "error": f"{type(error).__name__}: {error}", "solved": False, "diverged": False,
            "config": config.to_dict()}


def train_cell(study: Study, cell: Cell, dataset: Dataset, root: Path) -> list[dict]:
    """Train all seeds of `cell` into root/runs/...; returns the final records."""
    records = []
    checksum = dataset.checksum()
    for seed in study.seeds:
        config = study.run_config(cell, seed)
        folder = root / seed_folder(cell, seed)
        bar = TrainingBar(f"{cell.model} {cell.task} T={cell.length} s{seed}", dataset.metric)
        try:
            result = train(config, dataset, on_eval=bar)
        except Exception as error:  # noqa: BLE001 -- one bad run must not end the sweep
            bar.close()
            record = write_record(folder, failed_record(cell, seed, config, error))
            print(f"FAILED {cell.task} {cell.model} T={cell.length} seed={seed}: {record['error']}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            records.append(record)
            continue
        bar.close()
        diagnosis = diagnose(config, dataset, initial_model(config, dataset),
                             None if result.final["diverged"] else result.model)
        record = write_run(folder, config, result, checksum, diagnosis)
        print(finished_line(result.final), flush=True)
        records.append(record)
    return records

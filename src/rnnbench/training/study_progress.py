"""How far a study's training is, for the line each train stage ends with: DVC runs the stages one
process at a time, so the only shared state is on disk. A cell is done when each of its seeds has a
finished record for exactly its current config and training code (a stale run folder is not done).
Time left: each remaining cell at the median time of the done cells of its task (all done cells when
its task has none), a cell's time being its seeds' wall time shared among the processes that ran them.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from ..config import CELL_LIST, EXECUTION_FILE, read_json, seed_folder
from .run_outputs import UnreadableRun, code_checksum, read_run


def cell_seconds(configs_file: Path, runs: Path, processes: int | str) -> float | None:
    """The cell's training time when every seed is current, else None."""
    try:
        configs = read_json(configs_file)
        records = [read_run(seed_folder(runs, c["seed"])).record for c in configs]
    except (OSError, ValueError, KeyError, TypeError, UnreadableRun):
        return None
    if not configs or any(r.get("failed") or r.get("config") != c or r.get("code_checksum") != code_checksum()
                          for r, c in zip(records, configs)):
        return None
    together = len(configs) if processes == "auto" else max(1, min(int(processes), len(configs)))
    return sum(float(r.get("wall_s") or 0) for r in records) / together


def study_line(root: Path = Path(".")) -> str | None:
    """`study: 12/40 train cells done (30%), ~9.5 min of training left`, or None without a cell list."""
    try:
        cells = read_json(root / CELL_LIST)
        processes = read_json(root / EXECUTION_FILE).get("seed_processes", "auto")
    except (OSError, ValueError, AttributeError):
        return None
    times = [(c["task"], cell_seconds(root / c["configs"], root / c["runs"], processes)) for c in cells]
    done = [(task, s) for task, s in times if s is not None]
    line = f"study: {len(done)}/{len(cells)} train cells done ({100 * len(done) / max(1, len(cells)):.0f}%)"
    if not done or len(done) == len(cells):
        return line
    overall = statistics.median(s for _, s in done)
    by_task = {task: statistics.median(s for t, s in done if t == task) for task, _ in done}
    left = sum(by_task.get(task, overall) for task, s in times if s is None)
    return f"{line}, ~{left / 60:.1f} min of training left"

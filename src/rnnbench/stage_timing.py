"""Where a stage's time goes, for the study's end-to-end benchmark: opt-in, never in results.

With RNNBENCH_STAGE_TIMINGS=<file> set, each stage appends one JSON line: its name, the process's
whole life (interpreter start and imports included), and named parts (training, MLflow, ...).
Without it, nothing is written.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

ENV = "RNNBENCH_STAGE_TIMINGS"


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def record(stage: str, **parts_s: float) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    line = {"stage": stage, "process_s": process_age_s(), "finished": time.time(), **parts_s}
    with open(path, "a") as handle:  # one short line per stage: appends do not interleave
        handle.write(json.dumps(line) + "\n")

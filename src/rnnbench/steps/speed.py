"""Step speed: the controlled speed benchmark of the study's models -> reports/speed.csv."""
from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

from ..progress import say, stage_done
from ..speed import SPEED_COLUMNS, measure_speed, read_speed_configs
from ..training.run_outputs import write_atomic


def speed(configs: Path, out: Path) -> int:
    """Written with the standard library: `rnnbench study --no-report` runs this step on a machine
    without the report's libraries."""
    start = time.perf_counter()
    rows = measure_speed(read_speed_configs(configs))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SPEED_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()} for row in rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, buffer.getvalue().encode())
    for row in rows:
        say(f"speed {row['model']}: {row['steps_per_s']:.1f} steps/s alone on one thread, "
              f"{row['macs_per_step']} multiply-adds per step (calibration {row['calibration_s']:.2f} s)", sys.stdout)
    stage_done("speed", speed=time.perf_counter() - start)
    return 0

"""DVC stage: the controlled speed benchmark of the study's models -> reports/speed.csv.

Each model of `models` trains alone on one thread for --steps steps at --task / --length, the median
of --repeats, beside the host calibration and each cell's multiply-adds per step (rnnbench/speed.py).
The report's speed claims read this table, never the study's runs, whose seeds share the cores.
"""
import argparse
import time
from pathlib import Path

import pandas as pd

from rnnbench.process_exit import stage_main
from rnnbench.progress import stage_done
from rnnbench.speed import SPEED_COLUMNS, measure_speed
from rnnbench.study import load_study
from rnnbench.training.run_outputs import write_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="adding")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    study = load_study("params.yaml")
    rows = measure_speed(study, args.task, args.length, args.steps, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, pd.DataFrame(rows, columns=SPEED_COLUMNS).to_csv(index=False, float_format="%.6g").encode())
    for row in rows:
        print(f"speed {row['model']}: {row['steps_per_s']:.1f} steps/s alone on one thread, "
              f"{row['macs_per_step']} multiply-adds per step (calibration {row['calibration_s']:.2f} s)")
    stage_done("speed", speed=time.perf_counter() - start)


if __name__ == "__main__":
    stage_main(main)

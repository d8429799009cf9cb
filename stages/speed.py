"""DVC stage: the controlled speed benchmark of the study's models -> reports/speed.csv.

Reads exactly configs/speed.json (written by configure: each model's benchmark run config, the
study's own settings at adding T=100, 100 steps). Each model trains alone on one thread, the median
of 3, beside the host calibration and its cell's multiply-adds per step (rnnbench/speed.py). The
report's speed claims read this table, never the study's runs, whose seeds share the cores.
"""
import argparse
import time
from pathlib import Path

import pandas as pd

from rnnbench.process_exit import stage_main
from rnnbench.progress import stage_done
from rnnbench.speed import SPEED_COLUMNS, measure_speed, read_speed_configs
from rnnbench.training.run_outputs import write_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", type=Path, help="configs/speed.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    rows = measure_speed(read_speed_configs(args.configs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, pd.DataFrame(rows, columns=SPEED_COLUMNS).to_csv(index=False, float_format="%.6g").encode())
    for row in rows:
        print(f"speed {row['model']}: {row['steps_per_s']:.1f} steps/s alone on one thread, "
              f"{row['macs_per_step']} multiply-adds per step (calibration {row['calibration_s']:.2f} s)")
    stage_done("speed", speed=time.perf_counter() - start)


if __name__ == "__main__":
    stage_main(main)

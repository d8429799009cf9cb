"""DVC stage: the controlled speed benchmark of the study's models -> reports/speed.csv
(rnnbench.steps.speed.speed).

Reads exactly configs/speed.json (written by configure: each model's benchmark run config, the
study's own settings at adding T=100, 100 steps). Each model trains alone on one thread, the median
of 3, beside the host calibration and its cell's multiply-adds per step (rnnbench/speed.py). The
report's speed claims read this table, never the study's runs, whose seeds share the cores.
"""
import argparse
from pathlib import Path

from rnnbench.process_exit import stage_main
from rnnbench.steps.speed import speed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", type=Path, help="configs/speed.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    return speed(args.configs, args.out)


if __name__ == "__main__":
    stage_main(main)

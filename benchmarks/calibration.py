"""Host calibration: a fixed reference workload, timed, to put a study's wall time in context.

The same study has taken 28.8 and 75.4 min on this host type on different days: the host's speed
moves. A study's timing is therefore written beside this number, measured on the same machine the
same day, and its cost also as a multiple of it (`study seconds / calibration seconds`).

The workload: one torch thread, an LSTM (hidden 64) on adding-task-shaped batches (64 x T=50 x 2),
forward, backward and Adam, 300 steps, fixed seed; the median of 3 repeats. The workload lives in rnnbench/speed.py,
where the speed stage times it beside the models.

    python benchmarks/calibration.py          # prints one line: calibration <seconds> s (...)
"""
import platform
import time

import torch

from rnnbench.speed import calibration


def main() -> None:
    seconds = calibration()
    print(f"calibration {seconds:.2f} s (300 LSTM steps, 1 thread; {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")


if __name__ == "__main__":
    main()

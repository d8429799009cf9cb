"""Host calibration: a fixed reference workload, timed, to put a study's wall time in context.

The same study has taken 28.8 and 75.4 min on this host type on different days: the host's speed
moves. A study's timing is therefore written beside this number, measured on the same machine the
same day, and its cost also as a multiple of it (`study seconds / calibration seconds`).

The workload: one torch thread, an LSTM (hidden 64) on adding-task-shaped batches (64 x T=50 x 2),
forward, backward and Adam, 300 steps, fixed seed; the median of 3 repeats. It uses torch alone,
so it runs anywhere the training core runs.

    python benchmarks/calibration.py          # prints one line: calibration <seconds> s (...)
"""
import platform
import statistics
import time

import torch


def reference_workload(steps: int = 300) -> float:
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(2, 64, batch_first=True), torch.nn.Linear(64, 1)
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = torch.randn(64, 50, 2), torch.randn(64, 1)
    start = time.perf_counter()
    for _ in range(steps):
        out, _ = lstm(x)
        loss = torch.nn.functional.mse_loss(head(out[:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(1)
    seconds = statistics.median(reference_workload() for _ in range(3))
    print(f"calibration {seconds:.2f} s (300 LSTM steps, 1 thread; {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")


if __name__ == "__main__":
    main()

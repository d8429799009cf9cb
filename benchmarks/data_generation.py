"""Adding-problem generation: our vectorised generator vs the per-sample loop of the tutorial
(../shared/seeds/000: a Python loop with np.random.choice per sample), same T and N.

    python benchmarks/data_generation.py --length 100 --n 10000 --repeats 9
"""
import argparse
import statistics
import time

import numpy as np
import torch

from rnnbench.tasks import resolve_task
from results_file import machine_line, write_section


def per_sample_loop(n: int, length: int):
    """The tutorial's generator, kept as the baseline (torch tensors, one loop iteration per sample)."""
    x = torch.rand((n, length, 2))
    x[:, :, 1] = 0.0
    y = torch.zeros((n, 1))
    for i in range(n):
        indices = np.random.choice(length, size=2, replace=False)
        x[i, indices[0], 1] = 1.0
        x[i, indices[1], 1] = 1.0
        y[i] = x[i, indices[0], 0] + x[i, indices[1], 0]
    return x, y


def median_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    task = resolve_task("adding")
    options = task.Options()
    ours = median_of(lambda: task.generate(args.n, args.length, np.random.default_rng(0), options), args.repeats)
    loop = median_of(lambda: per_sample_loop(args.n, args.length), args.repeats)
    # The floor: only drawing the N*T uniform values, nothing else.
    floor = median_of(lambda: np.random.default_rng(0).random((args.n, args.length), dtype=np.float32), args.repeats)
    write_section("data", "\n".join([
        f"## Data generation (`python benchmarks/data_generation.py --length {args.length} --n {args.n} --repeats {args.repeats}`)", "",
        f"{machine_line()}. Adding problem, T={args.length}, N={args.n}, median of {args.repeats}.", "",
        "| generator | ms | vs per-sample loop |", "|---|---|---|",
        f"| per-sample loop (tutorial 000) | {loop * 1000:.1f} | 1x |",
        f"| ours (vectorised, seeded numpy, chunked draw) | {ours * 1000:.2f} | **{loop / ours:.0f}x** |",
        f"| floor: drawing the {args.n * args.length:,} uniform values alone | {floor * 1000:.2f} | {loop / floor:.0f}x |",
    ]))


if __name__ == "__main__":
    main()

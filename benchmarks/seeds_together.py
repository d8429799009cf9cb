"""S seeds of one cell: one after another, as concurrent processes, or as one stack (the
`stacked` engine, rnnbench.training.stacked). Time per seed for each, on the given device.

    python benchmarks/seeds_together.py --seeds 5 --length 100 --hidden 64 --steps 100 --device cpu
"""
import argparse
import multiprocessing
import os
import time

import torch

from rnnbench.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from rnnbench.tasks import resolve_task
from rnnbench.training.stacked import train_stacked
from rnnbench.training.trainer import train
from results_file import machine_line, write_section


def cell_config(args, seed: int) -> RunConfig:
    return RunConfig(task=TaskConfig("adding", args.length, resolve_task("adding").resolved_options({}, "task.options")),
                     model=ModelConfig(args.model, hidden_size=args.hidden),
                     train=TrainConfig(steps=args.steps, batch_size=args.batch, lr=1e-3, eval_every=args.steps,
                                       early_stop=False, device=args.device),
                     data=DataConfig(n_train=4096, n_val=64, n_test=64), seed=seed)


def dataset_for(args):
    return resolve_task("adding").build(args.length, DataConfig(n_train=4096, n_val=64, n_test=64), {})


def one_seed(payload) -> float:
    args, seed, threads = payload
    torch.set_num_threads(threads)
    start = time.perf_counter()
    train(cell_config(args, seed), dataset_for(args))
    return time.perf_counter() - start


def sequential(args) -> float:
    dataset = dataset_for(args)
    start = time.perf_counter()
    for seed in range(args.seeds):
        train(cell_config(args, seed), dataset)
    return time.perf_counter() - start


def concurrent(args) -> float:
    threads = max(1, (os.cpu_count() or 1) // args.seeds) if args.device == "cpu" else 1
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.seeds) as pool:
        pool.map(one_seed, [(args, 0, threads)] * args.seeds)  # warm the workers (imports, allocator)
        start = time.perf_counter()
        pool.map(one_seed, [(args, seed, threads) for seed in range(args.seeds)])
        return time.perf_counter() - start


def stacked(args) -> float:
    dataset = dataset_for(args)
    start = time.perf_counter()
    train_stacked([cell_config(args, seed) for seed in range(args.seeds)], dataset)  # reads back: synchronised
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    stacked(args)  # warm-up (allocator, kernels)
    modes = {"(a) one after another, fused": sequential, "(b) concurrent processes, fused": concurrent,
             "(c) one stack (engine: stacked)": stacked}
    seconds = {name: fn(args) for name, fn in modes.items()}
    base = seconds["(a) one after another, fused"]
    lines = [f"## {args.seeds} seeds of one cell together (`python benchmarks/seeds_together.py --seeds {args.seeds} "
             f"--model {args.model} --length {args.length} --hidden {args.hidden} --steps {args.steps} "
             f"--device {args.device}`)", "", f"{machine_line(args.device)}. Adding T={args.length}, batch "
             f"{args.batch}, {args.steps} steps per seed (model {args.model}).", "",
             "| way | s per seed | steps/s per seed | vs one after another |", "|---|---|---|---|"]
    for name, total in seconds.items():
        per_seed = total / args.seeds
        lines.append(f"| {name} | {per_seed:.2f} | {args.steps / per_seed:.1f} | {base / total:.2f}x |")
    write_section(f"seeds-{args.model}-{args.device}", "\n".join(lines))


if __name__ == "__main__":
    main()

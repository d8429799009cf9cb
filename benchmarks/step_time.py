"""ms per training step of our trainer for rnn / lstm / gru at several lengths (adding, batch 64).

    python benchmarks/step_time.py --lengths 50 100 200 --hidden 64 --steps 200
"""
import argparse
import platform

import torch

from rnnbench.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from rnnbench.tasks import resolve_task
from rnnbench.training.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="adding")
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--models", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    task = resolve_task(args.task)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"device {args.device}, hidden {args.hidden}, batch {args.batch}, {args.steps} timed steps")
    print("| model | " + " | ".join(f"T={n} ms/step" for n in args.lengths) + " |")
    print("|---|" + "---|" * len(args.lengths))
    for model in args.models:
        cells = []
        for length in args.lengths:
            config = RunConfig(
                task=TaskConfig(args.task, length, task.resolved_options({}, "task.options")), model=ModelConfig(model, args.hidden),
                train=TrainConfig(steps=args.steps, batch_size=args.batch, eval_every=args.steps,
                                  eval_batch_size=64, early_stop=False, device=args.device),
                data=DataConfig(n_train=4096, n_val=64, n_test=64)).validate()
            dataset = task.build(length, config.data, config.task.options)
            train(config, dataset)  # warm-up run (allocator, kernels)
            result = train(config, dataset)
            cells.append(f"{1000 / result.history[-1]['steps_per_s']:.1f}")
        print(f"| {model} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

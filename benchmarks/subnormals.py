"""Training speed with and without flushing subnormal floats (trainer.flushing_subnormals).

A saturated network (here an LSTM at adding T=50 with lr 0.1, the top rung of the lr ladder)
fills its tensors with subnormals, which a CPU computes far slower. Run:
    python benchmarks/subnormals.py --steps 1500
Prints steps/s and the final validation loss for each setting (one thread, the same run)."""
import argparse
import dataclasses
import time

import torch

from rnnbench.study import Cell, load_study
from rnnbench.tasks import resolve_task
from rnnbench.training import trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--length", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    study = load_study("params.yaml")
    config = study.run_config(Cell("adding", "lstm", args.length), 100, args.lr)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=args.steps, early_stop=False))
    data = resolve_task("adding").build(args.length, config.data, config.task.options)
    unflushed = trainer.train.__wrapped__  # the loop without the decorator
    for name, run in (("flushed", trainer.train), ("not flushed", unflushed)):
        start = time.perf_counter()
        result = run(config, data)
        seconds = time.perf_counter() - start
        print(f"{name}: {args.steps / seconds:.1f} steps/s, final val_mse {result.final['val_metric']:.6g}")


if __name__ == "__main__":
    main()

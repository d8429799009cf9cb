"""Training steps/s: our trainer against a tutorial-style loop, same model, data and device.

The tutorial loop (../shared/seeds/000 and 001): a DataLoader over a TensorDataset (shuffled,
per-sample indexing and collation), `.item()` on the loss every step, one run at a time. Ours:
data resident on the device, the whole batch order drawn up front, host reads only at evaluation.
Runs alternate (ours, tutorial, ours, ...) and the medians are compared.

    python benchmarks/trainer_vs_tutorial.py --lengths 100 500 --hidden 128 --batch 64 --device cpu
"""
import argparse
import dataclasses
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from rnnbench.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from rnnbench.tasks import resolve_task
from rnnbench.training.trainer import initial_model, train
from results_file import machine_line, write_section


def tutorial_loop(config: RunConfig, dataset, steps: int) -> float:
    """Seconds for `steps` training steps, the way the tutorials write it."""
    device = torch.device(config.train.device)
    model = initial_model(config, dataset)
    x, y = (torch.from_numpy(a) for a in dataset.splits["train"])
    loader = DataLoader(TensorDataset(x, y), batch_size=config.train.batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    losses, done = [], 0
    start = time.perf_counter()
    while done < steps:
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = resolve_task(dataset.task).loss(model(xb), yb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.clip_norm)
            optimizer.step()
            losses.append(loss.item())  # the per-step host sync
            done += 1
            if done == steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def our_trainer(config: RunConfig, dataset, steps: int) -> float:
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps, eval_every=steps,
                                                                   early_stop=False))
    result = train(config, dataset)
    return steps / result.final["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--models", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=0, help="steps per run (0: ~2 s of work per run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    data = DataConfig(n_train=4096, n_val=64, n_test=64)
    lines = ["## Our trainer vs a tutorial-style loop (`python benchmarks/trainer_vs_tutorial.py "
             f"--lengths {' '.join(map(str, args.lengths))} --hidden {args.hidden} --batch {args.batch} "
             f"--device {args.device}`)", "", f"{machine_line(args.device)}. Adding problem, median of "
             f"{args.repeats} interleaved runs each.", "",
             "| model | T | steps per run | tutorial steps/s | ours steps/s | ratio |", "|---|---|---|---|---|---|"]
    for length in args.lengths:
        dataset = resolve_task("adding").build(length, data, {})
        for model in args.models:
            config = RunConfig(task=TaskConfig("adding", length, resolve_task("adding").resolved_options({}, "task.options")),
                               model=ModelConfig(model, hidden_size=args.hidden),
                               train=TrainConfig(batch_size=args.batch, lr=1e-3, device=args.device), data=data)
            steps = args.steps or max(10, int(2.0 / (tutorial_loop(config, dataset, 5) / 5)))
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(our_trainer(config, dataset, steps))
                theirs.append(tutorial_loop(config, dataset, steps))
            ours_rate, theirs_rate = steps / statistics.median(ours), steps / statistics.median(theirs)
            lines.append(f"| {model} | {length} | {steps} | {theirs_rate:.1f} | {ours_rate:.1f} | "
                         f"**{ours_rate / theirs_rate:.2f}x** |")
            print(lines[-1], flush=True)
    write_section(f"trainer-{args.device}", "\n".join(lines))


if __name__ == "__main__":
    main()

"""ms per training step (forward + backward + Adam, adding task, batch 64, hidden 64, one torch
thread) of every model in each of its forms, at several lengths: `fused` (torch's kernel:
rnn/lstm/gru/lstm-chrono), `scan` (the parallel scan: mingru/minlstm/lru), `step` (the step-by-step
form, `unroll`: what the diagnostics run, what IndRNN always runs, and what the scan models train
with on a CPU).

    python benchmarks/scan_speed.py --lengths 100 500 1000 --steps 20
"""
import argparse
import platform
import time

import torch

from rnnbench.config import DataConfig, ModelConfig
from rnnbench.tasks import resolve_task
from rnnbench.training.trainer import network_for

MODELS = ["rnn", "lstm", "gru", "lstm-chrono", "mingru", "minlstm", "lru", "indrnn"]


def ms_per_step(model: str, length: int, form: str, steps: int, batch: int, hidden: int, device: str) -> float:
    task = resolve_task("adding")
    dataset = task.build(length, DataConfig(n_train=batch, n_val=8, n_test=8), task.Options())
    torch.manual_seed(0)
    net = network_for(ModelConfig(model, hidden), dataset).to(device)
    x, y = (torch.from_numpy(a).to(device) for a in dataset.splits["train"])
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        encoded = net.encode(x)
        if form == "step":
            hidden_states = net.rnn.unroll(encoded).output
        elif form == "scan":
            hidden_states = encoded
            for layer in net.rnn.layers:
                hidden_states = layer(hidden_states)
        else:
            hidden_states = net.rnn(encoded)[0]
        loss = task.loss(net.read_out(hidden_states), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name() if args.device == "cuda" else (platform.processor() or platform.machine())
    print(f"# {name}, torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
          f"hidden {args.hidden}, {args.steps} timed steps after 3 warm-up")
    print("| model | form | " + " | ".join(f"T={n}" for n in args.lengths) + " |")
    print("|---|---|" + "---|" * len(args.lengths))
    for model in args.models:
        forms = {"indrnn": ["step"], "mingru": ["scan", "step"], "minlstm": ["scan", "step"],
                 "lru": ["scan", "step"]}.get(model, ["fused", "step"])
        for form in forms:
            cells = [f"{ms_per_step(model, n, form, args.steps, args.batch, args.hidden, args.device):.1f}"
                     for n in args.lengths]
            print(f"| {model} | {form} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

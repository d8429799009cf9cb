"""The stacked engine's CPU time, one thread: a stack of 5 members (adding T=50, hidden 64, batch 64,
300 steps, no early stop) and one run alone, for lstm and gru, from the source tree given (to set
one version of the engine beside another: `git worktree add /tmp/old <commit>`).

    python benchmarks/stacked_loop.py /path/to/a/checkout     # run it twice: the host is noisy
"""
import sys, time, dataclasses, torch
sys.path.insert(0, sys.argv[1] + "/src"); sys.path.insert(0, sys.argv[1] + "/tests")
from conftest import build_dataset, make_config
from rnnbench.training.stacked import train_stacked
from rnnbench.training.trainer import train
torch.set_num_threads(1)
for model in ("lstm", "gru"):
    configs = [make_config(task="adding", model=model, length=50, seed=s, steps=300, hidden_size=64, early_stop=False)
               for s in range(5)]
    configs = [dataclasses.replace(c, train=dataclasses.replace(c.train, batch_size=64, eval_every=100)) for c in configs]
    data = build_dataset(configs[0])
    best = []
    for _ in range(2):
        t = time.perf_counter(); train_stacked(configs, data); best.append(time.perf_counter() - t)
    alone = time.perf_counter(); train(configs[0], data); alone = time.perf_counter() - alone
    print(sys.argv[1], model, f"stack of 5: {min(best):.2f} s ({5*300/min(best):.0f} member-steps/s); one run alone {alone:.2f} s")

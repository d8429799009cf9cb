"""Step time of the study's trained (failed) vanilla RNN, adding T=100, with and without
torch.set_flush_denormal: do subnormal floats slow it down? Needs the study's runs/ and data/.

    python benchmarks/flush_denormal.py
"""
import time

import torch

from rnnbench.config import read_run_configs
from rnnbench.tasks import Dataset, resolve_task
from rnnbench.training.trainer import network_for
cfg = read_run_configs("configs/adding-100/rnn.json")[0]
ds = Dataset.load("data/adding-100")
x = torch.from_numpy(ds.splits["train"][0][:64]); y = torch.from_numpy(ds.splits["train"][1][:64])
for state in ("init", "trained"):
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        torch.manual_seed(0); m = network_for(cfg.model, ds)
        if state == "trained":
            m.load_state_dict(torch.load("runs/adding-100/rnn/seed0/model.pt", weights_only=True))
        opt = torch.optim.Adam(m.parameters(), lr=0.003)
        def step():
            loss = resolve_task(ds.task).loss(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
        for _ in range(5): step()
        t = time.perf_counter()
        for _ in range(60): step()
        print(state, "flush" if flush else "no-flush", f"{(time.perf_counter()-t)/60*1000:.2f} ms/step")

"""The batched ensemble: each member follows the trajectory of its own separate run."""
import math

import pytest
import torch
import torch.nn as nn

from conftest import build_dataset, make_config
from rnnbench.tasks import resolve_task
from ensemble import StackedRecurrent, clip_per_member, ensemble_step
from rnnbench.training.trainer import batch_order, initial_model, to_device

SEEDS = (0, 1, 2)
STEPS = 12


def separate_run(config, dataset, x, y, order):
    model = initial_model(config, dataset)
    params = list(model.parameters())
    adam = torch.optim.Adam(params, lr=config.train.lr)
    for idx in order:
        loss = resolve_task(dataset.task).loss(model(x[idx]), y[idx])
        adam.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, config.train.clip_norm)
        adam.step()
    return model


@pytest.mark.parametrize("task,model", [("adding", "lstm"), ("xor", "gru"), ("copy", "rnn"), ("adding", "gru")])
def test_each_member_follows_its_own_separate_run(task, model):
    length = 12 if task != "copy" else 5
    configs = [make_config(task=task, model=model, length=length, seed=s, clip_norm=0.05, batch_size=16) for s in SEEDS]
    dataset = build_dataset(configs[0])
    x, y = to_device(dataset.splits["train"], torch.device("cpu"))
    orders = [batch_order(x.shape[0], STEPS, 16, torch.Generator().manual_seed(s)) for s in SEEDS]

    ensemble = StackedRecurrent([initial_model(c, dataset) for c in configs])
    adam = torch.optim.Adam(ensemble.parameters(), lr=configs[0].train.lr)
    for step in range(STEPS):
        idx = torch.stack([order[step] for order in orders])
        _, norms = ensemble_step(ensemble, adam, x[idx], y[idx], max_norm=0.05)
    assert (norms > 0.05).any()  # clipping was active

    for member, (config, order) in enumerate(zip(configs, orders)):
        alone = separate_run(config, dataset, x, y, order)
        assert torch.allclose(ensemble.weight_hh[member], alone.rnn.weight_hh_l0, atol=2e-5), member
        assert torch.allclose(ensemble.head_weight[member], alone.head.weight, atol=2e-5), member


def test_clipping_one_member_leaves_the_others_alone():
    w = nn.Parameter(torch.zeros(2, 3))
    w.grad = torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.4, 0.0]])
    norms = clip_per_member([w], 1.0)
    assert norms.tolist() == pytest.approx([5.0, 0.5])
    assert w.grad[0].tolist() == pytest.approx([0.6, 0.8, 0.0], rel=1e-5)
    assert w.grad[1].tolist() == pytest.approx([0.3, 0.4, 0.0])
    assert math.isclose(float(w.grad[0].norm()), 1.0, rel_tol=1e-5)

"""Specifications of the model builders."""
import pytest
import torch

from rnnbench.config import DataConfig, ModelConfig
from rnnbench.models import MODELS, parameter_count
from rnnbench.training.trainer import network_for
from rnnbench.tasks import resolve_task


def dataset(task="adding"):
    return resolve_task(task).build(10, DataConfig(8, 4, 4), resolve_task(task).Options())


@pytest.mark.parametrize("forget_bias", [0.0, 1.0, 2.5])
def test_lstm_forget_gate_total_bias_equals_the_param(forget_bias):
    model = network_for(ModelConfig("lstm", hidden_size=8, num_layers=2, options={"forget_bias": forget_bias}), dataset())
    for layer in range(2):
        total = getattr(model.rnn, f"bias_ih_l{layer}") + getattr(model.rnn, f"bias_hh_l{layer}")
        torch.testing.assert_close(total[8:16], torch.full((8,), forget_bias))


def test_parameter_count_matches_the_textbook_formula_for_lstm():
    h, i = 16, 2
    model = network_for(ModelConfig("lstm", hidden_size=h), dataset())
    assert parameter_count(model) == 4 * (h * i + h * h + 2 * h) + (h + 1)


@pytest.mark.parametrize("task,shape", [("adding", (3,)), ("xor", (3, 2)), ("copy", (3, 30, 9)), ("sine", (3, 10))])
@pytest.mark.parametrize("name", MODELS.names())
def test_head_matches_the_task_output_kind(name, task, shape):
    ds = dataset(task)
    model = network_for(ModelConfig(name, hidden_size=8), ds)
    out = model(torch.from_numpy(ds.splits["train"][0][:3]))
    assert tuple(out.shape) == shape

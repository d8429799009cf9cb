"""Specifications of the modern recurrent models (minGRU, minLSTM, IndRNN, LRU, chrono LSTM): their
parallel form equals their step form, their memory laws hold where the equations say they are
exact, and their initialisations are the papers'."""
import math

import numpy as np
import pytest
import torch

from rnnbench.config import DataConfig, ModelConfig
from rnnbench.models import build_network, memory_law
from rnnbench.models.scan import doubling_scan, log_space_scan
from rnnbench.tasks import resolve_task
from rnnbench.training.diagnostics.gradient_flow import gradient_flow
from rnnbench.training.trainer import network_for

MODERN = ["mingru", "minlstm", "indrnn", "lru", "lstm-chrono"]


def loop(a, b):
    h, out = torch.zeros_like(b[:, 0]), []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


def test_log_space_scan_equals_the_step_loop_for_positive_factors():
    torch.manual_seed(0)
    a, b = torch.rand(3, 57, 5, dtype=torch.float64), torch.rand(3, 57, 5, dtype=torch.float64)
    torch.testing.assert_close(log_space_scan(a.log(), b.log()), loop(a, b))


@pytest.mark.parametrize("length", [1, 2, 3, 64, 100])
def test_doubling_scan_equals_the_step_loop_for_complex_values_at_any_length(length):
    torch.manual_seed(0)
    lam = torch.polar(torch.rand(6, dtype=torch.float64), torch.rand(6, dtype=torch.float64) * 6)
    b = torch.randn(2, length, 6, dtype=torch.complex128)
    torch.testing.assert_close(doubling_scan(lam, b), loop(lam.expand_as(b), b))


def adding(length=30):
    task = resolve_task("adding")
    return task, task.build(length, DataConfig(32, 32, 32), task.Options())


@pytest.mark.parametrize("name", MODERN)
def test_the_trained_form_and_the_step_form_compute_the_same_function_and_gradients(name):
    _, ds = adding()
    torch.manual_seed(0)
    net = network_for(ModelConfig(name, hidden_size=8, num_layers=2), ds).double()
    x = net.encode(torch.from_numpy(ds.splits["train"][0][:16])).double()
    parallel, _ = net.rnn(x)
    stepped = net.rnn.unroll(x).output
    torch.testing.assert_close(parallel, stepped)
    if name == "lstm-chrono":  # its step form is the fused LSTM's twin, with copies of the weights
        return
    grads = [torch.autograd.grad(out.square().sum(), list(net.rnn.parameters())) for out in (parallel, stepped)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", ["mingru", "minlstm", "lru"])
def test_a_diagonal_linear_recurrence_follows_its_memory_law_exactly(name):
    """dh_t/dh_{t-1} is diagonal and input-only for these models: the measured gradient is the law."""
    task, ds = adding()
    torch.manual_seed(1)
    net = network_for(ModelConfig(name, hidden_size=8), ds)
    x, y = (torch.from_numpy(a[:16]) for a in ds.splits["test"])
    flow = gradient_flow(net, task, x, y)
    np.testing.assert_allclose(flow.norm_law, flow.norm_h, rtol=1e-9)
    assert memory_law(name)


def test_the_law_leaves_out_what_it_should_so_lstm_and_indrnn_differ_from_it():
    """The LSTM's cell gradient has paths through h on top of prod f; IndRNN's relu switches units off."""
    task, ds = adding()
    x, y = (torch.from_numpy(a[:16]) for a in ds.splits["test"])
    for name, state in (("lstm", "norm_c"), ("indrnn", "norm_h")):
        torch.manual_seed(0)
        flow = gradient_flow(network_for(ModelConfig(name, hidden_size=8), ds), task, x, y)
        assert np.isfinite(flow.norm_law).all()
        assert not np.allclose(flow.norm_law, getattr(flow, state), rtol=1e-3)
    torch.manual_seed(0)
    rnn = gradient_flow(network_for(ModelConfig("rnn", hidden_size=8), ds), task, x, y)
    assert np.isnan(rnn.norm_law).all() and memory_law("rnn") == ""


def test_indrnn_keeps_its_recurrent_weights_within_the_papers_bound_for_the_cells_length():
    torch.manual_seed(0)
    net = build_network(ModelConfig("indrnn", hidden_size=8), 2, 1, per_step=False, max_length=200)
    with torch.no_grad():
        net.rnn.layers[0].u.fill_(5.0)
    retention = net.rnn.unroll(torch.rand(1, 3, 2), trace=True).retention
    torch.testing.assert_close(retention, torch.full_like(retention, 2 ** (1 / 200)))


def test_lru_starts_with_eigenvalues_on_the_ring_and_a_normalised_input():
    from rnnbench.models.lru import MAX_PHASE, R_MAX, R_MIN

    torch.manual_seed(0)
    layer = build_network(ModelConfig("lru", hidden_size=256), 2, 1, per_step=False).rnn.layers[0]
    lam = layer.eigenvalues().detach()
    assert R_MIN <= lam.abs().min() and lam.abs().max() <= R_MAX
    assert 0 <= lam.angle().min() and lam.angle().max() <= MAX_PHASE
    torch.testing.assert_close(torch.exp(layer.gamma_log).detach() ** 2, 1 - lam.abs() ** 2)


@pytest.mark.parametrize("length", [10, 750])
def test_chrono_forget_biases_spread_over_the_cells_length_and_input_biases_mirror_them(length):
    torch.manual_seed(0)
    cell = build_network(ModelConfig("lstm-chrono", hidden_size=512), 2, 1, per_step=False, max_length=length).rnn
    h = 512
    forget = (cell.bias_ih_l0 + cell.bias_hh_l0)[h : 2 * h].detach()
    inputs = (cell.bias_ih_l0 + cell.bias_hh_l0)[:h].detach()
    assert forget.min() >= 0 and forget.max() <= math.log(length - 1)
    assert forget.max() > math.log(length - 1) - 0.5  # the slowest units reach T_max
    torch.testing.assert_close(inputs, -forget)


def test_a_trained_cell_gets_its_data_length_so_chrono_reads_the_copy_tasks_whole_input():
    task = resolve_task("copy")
    ds = task.build(20, DataConfig(8, 4, 4), task.Options(symbols=3))
    torch.manual_seed(0)
    cell = network_for(ModelConfig("lstm-chrono", hidden_size=512), ds).rnn
    assert (cell.bias_ih_l0[512:1024]).max() > math.log(20 + 2 * 3 - 1) - 0.5

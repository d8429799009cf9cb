"""The NumPy reference RNN/LSTM: equal to torch in float64, forward and backward, and usable in
the trainer."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import build_dataset, make_config
from rnnbench.config import ModelConfig
from rnnbench.models import build_network
from rnnbench.models.reference import cells
from rnnbench.models.reference.network import ReferenceNet
from numpy_training import Adam, clip_global_norm, loss_and_grads, train_step
from rnnbench.training.trainer import train

B, T, I, H = 3, 9, 4, 5


def fused(kind: str) -> nn.RNNBase:
    torch.manual_seed(0)
    module = (nn.LSTM if kind == "lstm" else nn.RNN)(I, H, batch_first=True).double()
    with torch.no_grad():  # a non-trivial forget bias, so a wrong gate order cannot pass
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module


def weights_of(module: nn.RNNBase) -> cells.Weights:
    return {name: getattr(module, f"{name}_l0").detach().numpy().copy() for name in cells.WEIGHT_NAMES}


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_forward_matches_torch_fused_module(kind):
    module = fused(kind)
    x = np.random.default_rng(1).normal(size=(B, T, I))
    expected, _ = module(torch.from_numpy(x))
    out, _ = cells.forward(kind, weights_of(module), x)
    assert np.abs(out - expected.detach().numpy()).max() < 1e-12


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_bptt_gradients_match_autograd(kind):
    module = fused(kind)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, T, I))
    upstream = rng.normal(size=(B, T, H))  # an arbitrary dL/dh_t at every step
    x_t = torch.from_numpy(x).requires_grad_()
    h0 = torch.zeros(1, B, H, dtype=torch.double, requires_grad=True)
    state = (h0, torch.zeros(1, B, H, dtype=torch.double, requires_grad=True)) if kind == "lstm" else h0
    out, _ = module(x_t, state)
    (out * torch.from_numpy(upstream)).sum().backward()

    w = weights_of(module)
    if kind == "lstm":
        _, cache = cells.lstm_forward(w, x)
        grads, dx, (dh0, dc0) = cells.lstm_backward(w, cache, upstream)
        assert relative_error(dc0, state[1].grad[0].numpy()) <= 1e-6
    else:
        _, cache = cells.rnn_forward(w, x)
        grads, dx, dh0 = cells.rnn_backward(w, cache, upstream)
    for name in cells.WEIGHT_NAMES:
        assert relative_error(grads[name], getattr(module, f"{name}_l0").grad.numpy()) <= 1e-6, name
    assert relative_error(dx, x_t.grad.numpy()) <= 1e-6
    assert relative_error(dh0, h0.grad[0].numpy()) <= 1e-6


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_gradients_match_central_finite_differences(kind):
    net = ReferenceNet.initial(kind, vocab_size=4, hidden_size=5, num_layers=2, seed=3)
    rng = np.random.default_rng(4)
    codes, targets = rng.integers(0, 4, (2, 6)), rng.integers(0, 4, (2, 6))
    _, grads = loss_and_grads(net, codes, targets)
    eps = 1e-6
    for name, param in net.params().items():
        for index in list(np.ndindex(param.shape))[:: max(1, param.size // 7)]:
            saved = param[index]
            param[index] = saved + eps
            up, _ = loss_and_grads(net, codes, targets)
            param[index] = saved - eps
            down, _ = loss_and_grads(net, codes, targets)
            param[index] = saved
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - grads[name][index]) <= 1e-6 * max(1.0, abs(numeric)), (name, index)


def charlm_pair(kind: str, vocab: int = 6, hidden: int = 8):
    torch.manual_seed(5)
    net = build_network(ModelConfig(kind, hidden_size=hidden, num_layers=2), vocab, vocab, per_step=True).double()
    return net, ReferenceNet.from_torch(net)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_clipped_adam_steps_follow_torch_exactly(kind):
    net, ref = charlm_pair(kind)
    params = list(net.parameters())
    torch_adam = torch.optim.Adam(params, lr=0.05)
    ref_adam = Adam(ref.params(), lr=0.05)
    rng = np.random.default_rng(6)
    for _ in range(5):
        codes, targets = rng.integers(0, 6, (4, 7)), rng.integers(0, 6, (4, 7))
        logits = net(torch.from_numpy(codes))
        loss = nn.functional.cross_entropy(logits.reshape(-1, 6), torch.from_numpy(targets).reshape(-1))
        torch_adam.zero_grad()
        loss.backward()
        torch_norm = nn.utils.clip_grad_norm_(params, 0.05)  # small enough that every step clips
        torch_adam.step()
        ref_loss, ref_norm = train_step(ref, codes, targets, ref_adam, clip_norm=0.05)
        assert ref_loss == pytest.approx(loss.item(), rel=1e-10)
        assert ref_norm == pytest.approx(torch_norm.item(), rel=1e-10)
        assert ref_norm > 0.05
    assert relative_error(ref.head_weight, net.head.weight.detach().numpy()) < 1e-9
    assert relative_error(ref.layers[1]["weight_hh"], net.rnn.weight_hh_l1.detach().numpy()) < 1e-9


def test_clipping_scales_the_joint_norm_not_each_tensor():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([0.0, 4.0])}
    norm = clip_global_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    assert grads["a"] == pytest.approx([0.6, 0.0], rel=1e-5) and grads["b"] == pytest.approx([0.0, 0.8], rel=1e-5)


def test_reference_learns_a_repeating_text():
    net = ReferenceNet.initial("lstm", vocab_size=3, hidden_size=16, seed=0)
    adam = Adam(net.params(), lr=0.02)
    text = np.tile([0, 1, 2], 40)
    codes, targets = np.stack([text[:-1]] * 4), np.stack([text[1:]] * 4)
    losses = [train_step(net, codes, targets, adam, clip_norm=1.0)[0] for _ in range(150)]
    assert losses[0] > 1.0 and losses[-1] < 0.05


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_cold_sampling_is_greedy_decoding_of_the_torch_model(kind):
    net, ref = charlm_pair(kind)
    prime = [1, 4, 2]
    sampled = ref.sample(prime, 10, temperature=1e-4, rng=np.random.default_rng(0))
    codes = list(prime)
    for _ in range(10):  # greedy decoding with torch, re-reading the whole prefix each time
        codes.append(int(net(torch.tensor([codes]))[0, -1].argmax()))
    assert sampled == codes[len(prime):]


def test_hot_sampling_spreads_over_the_vocabulary():
    _, ref = charlm_pair("lstm")
    cold = ref.sample([0], 200, temperature=0.05, rng=np.random.default_rng(1))
    hot = ref.sample([0], 200, temperature=50.0, rng=np.random.default_rng(1))
    assert len(set(hot)) == 6 and len(set(hot)) > len(set(cold))


def test_sampling_refuses_a_non_positive_temperature():
    _, ref = charlm_pair("lstm")
    with pytest.raises(ValueError, match="temperature"):
        ref.sample([0], 5, temperature=0.0, rng=np.random.default_rng(0))


def test_numpy_lstm_in_the_trainer_follows_the_fused_lstm():
    runs = {m: train(make_config(model=m, length=10, steps=60, eval_every=20), build_dataset(make_config(length=10)))
            for m in ("lstm", "lstm-numpy")}
    fused_hist, ref_hist = runs["lstm"].history, runs["lstm-numpy"].history
    assert len(fused_hist) == len(ref_hist) == 3
    for a, b in zip(fused_hist, ref_hist):  # float32 fused vs float64 reference: drift stays tiny
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
        assert b["val_mse"] == pytest.approx(a["val_mse"], rel=1e-3)
    assert ref_hist[-1]["val_mse"] < ref_hist[0]["val_mse"]

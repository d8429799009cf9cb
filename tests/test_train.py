"""Specifications of the trainer."""
import dataclasses
import math

import numpy as np
import pytest

from rnnbench.tasks.adding import BASELINE_MSE
from rnnbench.config import DataConfig
from conftest import build_dataset, make_config

TIMING = {"elapsed_s", "steps_per_s"}


def without_timing(history):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history]


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_same_config_and_seed_give_identical_history_on_cpu(model):
    from rnnbench.training.trainer import train

    config = make_config(model=model, early_stop=False)
    ds = build_dataset(config)
    a, b = train(config, ds), train(config, ds)
    assert without_timing(a.history) == without_timing(b.history)
    assert a.final["test_metric"] == b.final["test_metric"]


def test_different_seeds_give_different_histories():
    from rnnbench.training.trainer import train

    ds = build_dataset(make_config())
    a = train(make_config(seed=0, early_stop=False), ds)
    b = train(make_config(seed=1, early_stop=False), ds)
    assert without_timing(a.history) != without_timing(b.history)


def test_history_has_one_record_per_evaluation_with_the_documented_columns():
    from rnnbench.training.trainer import train

    config = make_config(steps=50, eval_every=20, early_stop=False)
    result = train(config, build_dataset(config))
    assert [r["step"] for r in result.history] == [20, 40, 50]
    assert {"step", "train_loss", "val_loss", "val_mse", "grad_norm", "grad_norm_max", "elapsed_s", "steps_per_s"} <= set(result.history[0])
    final = result.final
    for key in ("test_metric", "solved", "solved_step", "diverged", "wall_s", "device", "n_params"):
        assert key in final
    assert final["device"] == "cpu" and final["steps"] == 50


def test_non_finite_loss_ends_the_run_as_diverged_without_raising():
    from rnnbench.training.trainer import train

    config = make_config(steps=40, eval_every=10)
    ds = build_dataset(config)
    x, y = ds.splits["train"]
    x = x.copy()
    x[:, 3, 0] = np.inf  # every training batch now produces a non-finite loss
    ds.splits["train"] = (x, y)
    result = train(config, ds)
    assert result.final["diverged"] is True
    assert result.final["solved"] is False
    assert result.final["steps"] == 10  # stopped at the first evaluation point
    assert math.isnan(result.final["test_metric"])


def test_gradient_norm_is_measured_even_with_clipping_off():
    from rnnbench.training.trainer import train

    config = make_config(clip_norm=0.0, early_stop=False)
    result = train(config, build_dataset(config))
    assert all(r["grad_norm"] > 0 and r["grad_norm_max"] >= r["grad_norm"] for r in result.history)


def test_early_stop_ends_training_at_the_first_solved_evaluation():
    from rnnbench.training.trainer import train

    options = {"solved_mse": 10.0}  # any model "solves" this: the rule, not learning, is under test
    config = make_config(options=options, steps=100, eval_every=10)
    result = train(config, build_dataset(config))
    assert result.final["solved_step"] == 10 and result.final["steps"] == 10 and result.final["solved"]


def test_a_stop_margin_trains_on_past_the_first_solved_evaluation_which_stays_solved_step():
    from rnnbench.training.trainer import train

    config = make_config(task="adding", length=5, model="gru", hidden_size=16, steps=1500, eval_every=50,
                         options={"solved_mse": 0.05}, data=DataConfig(n_train=2000, n_val=500, n_test=500))
    at_rule = train(config, build_dataset(config))
    margin = dataclasses.replace(config, train=dataclasses.replace(config.train, stop_margin=0.5))
    past = train(margin, build_dataset(margin))
    assert at_rule.final["solved_step"] == at_rule.final["steps"] == past.final["solved_step"]
    assert past.final["steps"] > past.final["solved_step"]  # trained on to the tightened rule, 0.025
    assert past.history[-1]["val_mse"] <= 0.025 < min(r["val_mse"] for r in past.history[:-1])
    assert past.history[:len(at_rule.history)] == [
        {**r, "elapsed_s": p["elapsed_s"], "steps_per_s": p["steps_per_s"]} for r, p in zip(at_rule.history, past.history)]


def test_a_stop_margin_outside_zero_to_one_is_refused_naming_the_key():
    from rnnbench.config import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match=r"train.stop_margin: must be a number in \[0, 1\)"):
        TrainConfig(stop_margin=1.0).validate()


def test_lstm_learns_the_adding_problem_at_length_20():
    """A real learning test: loss ends far below the 1/6 baseline within the step budget."""
    from rnnbench.training.trainer import train

    config = make_config(task="adding", length=20, model="lstm", hidden_size=32, steps=1500, eval_every=100,
                         data=DataConfig(n_train=5000, n_val=500, n_test=1000))
    result = train(config, build_dataset(config))
    assert result.final["solved"], result.history[-1]
    assert result.final["test_mse"] < BASELINE_MSE / 10

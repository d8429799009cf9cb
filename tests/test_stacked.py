"""The stacked engine: runs that share data and length train as one stack, and each member is its
own separate run (to float tolerance), stops on its own schedule, and is written as its own run."""
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from conftest import build_dataset, make_config
from rnnbench.config import ConfigError, Execution, TrainConfig, seed_folder
from rnnbench.study import Cell, parse_study
from rnnbench.tasks import resolve_task
from rnnbench.training import sweep
from rnnbench.training.run_outputs import HISTORY_FILE, METRICS_FILE, MODEL_FILE
from rnnbench.training.stacked import stacking_problem, train_stacked
from rnnbench.training.trainer import network_for, train
from rnnbench.training.tuning import tune_task

TINY = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny.yaml").read_text())
TIMING = {"elapsed_s", "steps_per_s", "wall_s"}


def assert_same_run(stacked, alone):
    """Every figure but timings equal to float tolerance; the same stop; weights within 1e-4."""
    assert len(stacked.history) == len(alone.history)
    for mine, theirs in zip(stacked.history, alone.history):
        assert mine.keys() == theirs.keys()
        for key in mine.keys() - TIMING:
            assert mine[key] == pytest.approx(theirs[key], rel=1e-3, abs=1e-5, nan_ok=True), (mine["step"], key)
    for key in ("steps", "solved_step", "solved", "val_solved", "diverged", "n_params"):
        assert stacked.final[key] == alone.final[key], key
    assert stacked.final["test_metric"] == pytest.approx(alone.final["test_metric"], rel=1e-3, abs=1e-5, nan_ok=True)
    for mine, theirs in zip(stacked.model.state_dict().values(), alone.model.state_dict().values()):
        assert torch.allclose(mine, theirs, atol=1e-4, equal_nan=True)
    assert (stacked.final["engine"], alone.final["engine"]) == ("stacked", "separate")


GPU = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU: the CPU case runs"))


@pytest.mark.parametrize("device", ["cpu", GPU])
@pytest.mark.parametrize("task,model,length", [("adding", "lstm", 6), ("xor", "gru", 4), ("copy", "rnn", 3),
                                               ("charlm", "gru", 10)])
def test_each_member_of_a_stack_is_its_own_separate_run(task, model, length, device):
    """On a GPU the separate run is cuDNN's: the same equality, against other kernels."""
    configs = [make_config(task=task, model=model, length=length, seed=s, steps=120, clip_norm=1.0, device=device)
               for s in (0, 1, 2)]
    dataset = build_dataset(configs[0])
    stacked = train_stacked(configs, dataset)
    for member, config in zip(stacked, configs):
        assert_same_run(member, train(config, dataset))


# Every TrainConfig field but device, each away from its default (lr: a different one per member).
# A new field fails this test until it is given a value here: nothing escapes the stack's equality.
NON_DEFAULT_TRAIN = {"steps": 90, "batch_size": 16, "beta1": 0.8, "beta2": 0.99, "clip_norm": 0.0, "eval_every": 30,
                     "eval_batch_size": 70, "early_stop": False, "stop_margin": 0.5}


def test_a_member_equals_its_run_alone_under_every_train_setting_changed():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields - {"lr", "device"} == set(NON_DEFAULT_TRAIN), "give the new TrainConfig field a value here"
    assert all(getattr(TrainConfig(), k) != v for k, v in NON_DEFAULT_TRAIN.items())
    configs = [make_config(task="adding", model="gru", length=6, seed=s) for s in (0, 1)]
    configs = [dataclasses.replace(c, train=dataclasses.replace(c.train, lr=lr, **NON_DEFAULT_TRAIN))
               for c, lr in zip(configs, (0.02, 0.005))]
    dataset = build_dataset(configs[0])
    for member, config in zip(train_stacked(configs, dataset), configs):
        assert_same_run(member, train(config, dataset))
        assert member.final["steps"] == 90 and len(member.history) == 3


def test_the_stack_and_a_run_alone_go_through_one_training_loop(monkeypatch):
    """One loop: a change to it (here, a record field) reaches both engines."""
    from rnnbench.training import trainer

    eval_record = trainer.eval_record
    monkeypatch.setattr(trainer, "eval_record", lambda *args: {**eval_record(*args), "seen": 1.0})
    configs = [make_config(task="adding", model="lstm", length=6, seed=s, steps=40) for s in (0, 1)]
    dataset = build_dataset(configs[0])
    assert all(r["seen"] == 1.0 for member in train_stacked(configs, dataset) for r in member.history)
    assert all(r["seen"] == 1.0 for r in train(configs[0], dataset).history)


def test_members_stop_early_each_on_its_own_schedule():
    configs = [make_config(task="adding", model="lstm", length=6, seed=s, steps=300) for s in (0, 1, 2)]
    stacked = train_stacked(configs, build_dataset(configs[0]))
    steps = [member.final["steps"] for member in stacked]
    assert len(set(steps)) > 1 and all(member.final["val_solved"] for member in stacked), steps
    assert [len(member.history) for member in stacked] == [s // 20 for s in steps]


def test_a_tuning_sweeps_lrs_stack_and_a_member_that_diverges_leaves_the_others_alone():
    lrs = (0.003, 1e30, 0.03)
    configs = [dataclasses.replace(make_config(model="gru", length=6, seed=100, steps=100),
                                   train=dataclasses.replace(make_config().train, steps=100, lr=lr)) for lr in lrs]
    dataset = build_dataset(configs[0])
    stacked = train_stacked(configs, dataset)
    assert [member.final["diverged"] for member in stacked] == [False, True, False]
    assert math.isnan(stacked[1].final["test_metric"])
    for member, config in zip(stacked, configs):
        assert_same_run(member, train(config, dataset))


def test_only_runs_that_differ_in_seed_and_lr_and_a_fused_one_layer_cell_stack():
    base = make_config(model="lstm")
    dataset = build_dataset(base)
    network = network_for(base.model, dataset)
    assert stacking_problem([base, dataclasses.replace(base, seed=1)], network) == ""
    other_batch = dataclasses.replace(base, train=dataclasses.replace(base.train, batch_size=8))
    assert "batch_size" in stacking_problem([base, other_batch], network)
    ablation = make_config(model="lstm-nfg")
    assert "not one of torch's fused one-layer" in stacking_problem([ablation], network_for(ablation.model, dataset))


def test_clipping_one_member_leaves_the_others_alone():
    """A member whose gradient is huge (lr 1e30 diverges) is clipped on its own norm: its neighbour
    trains as it would alone, whose gradient norms stay its own."""
    configs = [dataclasses.replace(make_config(model="gru", length=6, seed=s, steps=60),
                                   train=dataclasses.replace(make_config().train, steps=60, lr=lr, clip_norm=0.5))
               for s, lr in ((0, 1e30), (1, 0.01))]
    dataset = build_dataset(configs[0])
    stacked = train_stacked(configs, dataset)
    alone = train(configs[1], dataset)
    assert [r["grad_norm"] for r in stacked[1].history] == pytest.approx([r["grad_norm"] for r in alone.history], rel=1e-3)


def tiny_cell(model):
    study = parse_study(TINY)
    cell = Cell("adding", model, 8)
    return study.resolved_configs(cell), resolve_task("adding").build(8, study.data, study.task_plan("adding").options)


def test_a_stacked_cell_writes_each_seed_as_the_run_the_processes_write(tmp_path):
    configs, dataset = tiny_cell("gru")
    stacked = sweep.train_cell(configs, dataset, tmp_path / "stacked", Execution(1, "stacked"))
    alone = sweep.train_cell(configs, dataset, tmp_path / "alone", Execution(1, "processes"))
    for mine, theirs, config in zip(stacked, alone, configs):
        assert (mine["engine"], theirs["engine"]) == ("stacked", "separate")
        assert mine["test_metric"] == pytest.approx(theirs["test_metric"], rel=1e-3, abs=1e-5)
        folder = seed_folder(tmp_path / "stacked", config.seed)
        assert json.loads((folder / METRICS_FILE).read_text())["engine"] == "stacked"
        assert (folder / HISTORY_FILE).read_text().count("\n") == (
            seed_folder(tmp_path / "alone", config.seed) / HISTORY_FILE).read_text().count("\n")
        torch.load(folder / MODEL_FILE, weights_only=True)


def test_a_model_that_cannot_stack_trains_each_run_alone_and_says_why(tmp_path, capfd):
    configs, dataset = tiny_cell("lstm-cifg")
    records = sweep.train_cell(configs, dataset, tmp_path, Execution(1, "stacked"))
    assert [r["engine"] for r in records] == ["separate"] * len(configs)
    assert "engine stacked: lstm-cifg adding T=8 trains each run alone" in capfd.readouterr().err


def test_auto_stacks_on_a_gpu_and_trains_processes_on_a_cpu():
    configs, dataset = tiny_cell("lstm")
    assert sweep.stacks(configs, dataset, "auto", torch.device("cuda"))
    assert not sweep.stacks(configs, dataset, "auto", torch.device("cpu"))
    assert not sweep.stacks(configs, dataset, "processes", torch.device("cuda"))


def test_a_stacked_tuning_sweep_makes_the_choice_the_separate_runs_make():
    plan = parse_study(TINY).tuning_plan("lstm")[0]
    stacked, alone = tune_task(plan, Execution(1, "stacked")), tune_task(plan, Execution(1, "processes"))
    assert (stacked.lr, stacked.at_edge) == (alone.lr, alone.at_edge)
    for mine, theirs in zip(stacked.runs, alone.runs):
        assert {k: v for k, v in mine.items() if k not in ("val_metric", "wall_s")} == \
            {k: v for k, v in theirs.items() if k not in ("val_metric", "wall_s")}
        assert mine["val_metric"] == pytest.approx(theirs["val_metric"], rel=1e-3, abs=1e-5)


@pytest.mark.parametrize("value", ["gpu", "", 1])
def test_the_engine_must_be_auto_processes_or_stacked(value):
    with pytest.raises(ConfigError, match=r"engine: unknown value .*; allowed: auto, processes, stacked"):
        parse_study({**TINY, "engine": value})

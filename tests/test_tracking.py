"""Specifications of MLflow tracking with real stores: concurrent writers, idempotent logging."""
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.e2e

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from rnnbench.tracking import open_tracker
    root, writer = Path(sys.argv[1]), int(sys.argv[2])
    tracker = open_tracker(["adding", "xor"], root)
    for i in range(5):
        task = ["adding", "xor"][i % 2]
        record = {"task": task, "model": "lstm", "length": 10, "seed": writer * 100 + i, "steps": 10,
                  "test_metric": 0.1, "solved": False, "diverged": False, "device": "cpu",
                  "data_checksum": "abc", "config": {"seed": writer * 100 + i, "task": {"name": task}}}
        tracker.log_run(root, record, [{"step": 10, "val_loss": 0.5}], stage="test")
""")


def clean_env():
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def test_four_concurrent_writers_on_a_fresh_store_lose_no_run(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(w)], env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiments = {e.name: e.experiment_id for e in client.search_experiments()}
    runs = client.search_runs(list(experiments.values()), max_results=1000)
    assert len(runs) == 20
    assert len({r.data.tags["run_key"] for r in runs}) == 20
    for r in runs:  # every run sits in its task's experiment, none in Default
        assert r.info.experiment_id == experiments["rnnbench/" + r.data.tags["task"]]
    assert experiments.keys() >= {"rnnbench/adding", "rnnbench/xor"}
    default = experiments.get("Default")
    assert default is None or not client.search_runs([default])


def test_logging_the_same_run_twice_keeps_one_copy(tmp_path):
    from rnnbench.tracking import open_tracker

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    tracker = open_tracker(["adding"], tmp_path)
    record = {"task": "adding", "model": "rnn", "length": 5, "seed": 0, "steps": 3, "solved": True,
              "diverged": False, "data_checksum": "x", "config": {"seed": 0}}
    first, created = tracker.log_run(tmp_path, record, [{"step": 3, "val_mse": 0.1}])
    again, created_again = tracker.log_run(tmp_path, record, [{"step": 3, "val_mse": 0.1}])
    assert created and not created_again and first == again
    changed = {**record, "config": {"seed": 1}}
    assert tracker.log_run(tmp_path, changed, [])[1]


def test_a_new_tracker_finds_the_runs_an_earlier_one_logged(tmp_path):
    from rnnbench.tracking import open_tracker

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    record = {"task": "adding", "model": "rnn", "length": 5, "seed": 0, "steps": 3, "solved": True,
              "diverged": False, "data_checksum": "x", "config": {"seed": 0}}
    first, _ = open_tracker(["adding"], tmp_path).log_run(tmp_path, record, [])
    again, created = open_tracker(["adding"], tmp_path).log_run(tmp_path, record, [])
    assert not created and again == first


def test_a_run_beyond_one_log_batch_keeps_every_param_and_metric_value(tmp_path):
    from mlflow.tracking import MlflowClient
    from rnnbench.tracking import open_tracker

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    tracker = open_tracker(["adding"], tmp_path)
    config = {f"p{i}": i for i in range(130)}  # over MLflow's 100 params per call
    history = [{"step": step, "val_mse": 1 / step, "train_loss": 2 / step} for step in range(1, 601)]
    record = {"task": "adding", "model": "rnn", "length": 5, "seed": 0, "steps": 600, "solved": False,
              "diverged": False, "data_checksum": "x", "config": config}
    run_id, _ = tracker.log_run(tmp_path, record, history)
    client = MlflowClient(tracking_uri=tracker.uri)
    assert client.get_run(run_id).data.params == {k: str(v) for k, v in config.items()}
    logged = client.get_metric_history(run_id, "val/mse")
    assert sorted((m.step, m.value) for m in logged) == [(step, 1 / step) for step in range(1, 601)]
    assert len(client.get_metric_history(run_id, "train/loss")) == 600


def test_the_same_config_data_and_code_are_one_run_and_a_code_change_is_a_new_one(tmp_path):
    from rnnbench.tracking import open_tracker

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    tracker = open_tracker(["adding"], tmp_path)
    record = {"task": "adding", "model": "rnn", "length": 5, "seed": 0, "steps": 3, "solved": True,
              "diverged": False, "data_checksum": "x", "code_checksum": "c1", "config": {"seed": 0},
              "finished_at": "2026-11-23T02:00:00+00:00"}
    first, _ = tracker.log_run(tmp_path, record, [])
    retrained, created = tracker.log_run(tmp_path, {**record, "finished_at": "2026-11-23T03:00:00+00:00"}, [])
    assert not created and retrained == first
    changed, created = tracker.log_run(tmp_path, {**record, "code_checksum": "c2"}, [])
    assert created and changed != first


def test_a_run_retrained_to_another_outcome_is_a_new_run_and_timings_alone_are_not(tmp_path):
    from rnnbench.tracking import open_tracker

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    tracker = open_tracker(["adding"], tmp_path)
    record = {"task": "adding", "model": "gru", "length": 5, "seed": 0, "steps": 300, "solved": True,
              "diverged": False, "data_checksum": "x", "code_checksum": "c1", "config": {"seed": 0},
              "engine": "separate", "test_metric": 0.1487, "wall_s": 3.0}
    first, _ = tracker.log_run(tmp_path, record, [])
    assert tracker.log_run(tmp_path, {**record, "wall_s": 9.0}, []) == (first, False)  # the same run, slower
    stacked, created = tracker.log_run(tmp_path, {**record, "engine": "stacked", "test_metric": 0.1489}, [])
    assert created and stacked != first  # the same config trained by the stacked engine: its own numbers


def test_a_run_a_dead_sync_left_running_is_logged_again_whole_with_its_children(tmp_path):
    from mlflow.tracking import MlflowClient
    from rnnbench.tracking import open_tracker, run_key

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    tracker = open_tracker(["adding"], tmp_path)
    record = {"task": "adding", "model": "rnn", "length": 5, "seed": 0, "steps": 3, "solved": True,
              "diverged": False, "data_checksum": "x", "config": {"seed": 0}}
    client = MlflowClient(tracking_uri=tracker.uri)
    half = client.create_run(tracker.experiments["adding"], tags={"run_key": run_key(record)}).info.run_id  # never ended
    child = client.create_run(tracker.experiments["adding"], tags={"mlflow.parentRunId": half}).info.run_id
    run_id, created = open_tracker(["adding"], tmp_path).log_run(tmp_path, record, [{"step": 3, "val_mse": 0.1}])
    assert created and run_id != half and client.get_run(run_id).info.status == "FINISHED"
    assert client.get_run(half).info.lifecycle_stage == "deleted" and client.get_run(child).info.lifecycle_stage == "deleted"


def seed_record(seed: int, **extra) -> dict:
    return {"task": "adding", "model": "lstm", "length": 10, "seed": seed, "steps": 200, "metric": "mse",
            "test_metric": 0.001 * (seed + 1), "baseline": 1 / 6, "solved": seed != 2, "diverged": False,
            "wall_s": 12.5, "finished_at": "2026-11-23T02:00:00+00:00", "data_checksum": "d", "code_checksum": "c",
            "config": {"seed": seed, "task": {"name": "adding", "length": 10}, "train": {"lr": 0.01, "steps": 300}},
            **extra}


def write_seed(folder, record, history):
    import json

    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(record))
    (folder / "history.csv").write_text("step,val_mse,train_loss,elapsed_s\n" + "".join(
        f"{row['step']},{row['val_mse']},{row['train_loss']},{row['elapsed_s']}\n" for row in history))
    (folder / "gradflow.csv").write_text("t,phase,norm_h,norm_c\n0,init,0.001,0.002\n1,init,0.01,0.02\n"
                                         "0,trained,0.1,0.2\n1,trained,0.2,0.3\n")
    (folder / "model.pt").write_bytes(b"weights")
    return folder, record


def test_a_cell_is_one_parent_run_with_its_seeds_nested_and_a_new_seed_is_the_only_new_run(tmp_path):
    from mlflow.tracking import MlflowClient
    from rnnbench.tracking import open_tracker

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    history = [{"step": 100, "val_mse": 0.1, "train_loss": 0.2, "elapsed_s": 4.0},
               {"step": 200, "val_mse": 0.01, "train_loss": 0.02, "elapsed_s": 10.0}]
    seeds = [write_seed(tmp_path / f"seed{s}", seed_record(s), history) for s in range(3)]
    assert open_tracker(["adding"], tmp_path).log_cell(seeds[:2], stage="train@lstm-adding-10") == (2, 0)
    tracker = open_tracker(["adding"], tmp_path)
    assert tracker.log_cell(seeds, stage="train@lstm-adding-10") == (1, 2)
    assert tracker.log_cell(seeds) == (0, 3)

    client = MlflowClient(tracking_uri=tracker.uri)
    experiment = client.get_experiment_by_name("rnnbench/adding")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert [p.info.run_name for p in parents] == ["lstm-T10"] and len(children) == 3
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    # The summary was logged for 2 seeds and again for 3: the latest value is the whole cell's.
    assert parent.data.metrics["cell/seeds"] == 3 and parent.data.metrics["cell/solved_fraction"] == 2 / 3
    assert parent.data.metrics["cell/median_test_mse"] == 0.002
    assert [m.step for m in client.get_metric_history(parent.info.run_id, "cell/seeds")] == [2, 3]
    assert "2/3 seeds solved" in parent.data.tags["mlflow.note.content"]
    assert "gradient_flow.png" in [a.path for a in client.list_artifacts(parent.info.run_id)]

    child = next(c for c in children if c.data.tags["seed"] == "0")
    assert child.data.tags["mlflow.source.git.commit"] and child.data.tags["dvc.stage"] == "train@lstm-adding-10"
    assert "test mse 0.001" in child.data.tags["mlflow.note.content"]
    # Real times: the run ends when it finished and lasted its wall time; each point at its elapsed time.
    end = 1795399200000  # 2026-11-23T02:00:00Z
    assert child.info.end_time == end and child.info.start_time == end - 12500
    points = client.get_metric_history(child.info.run_id, "val/mse")
    assert sorted((m.step, m.timestamp) for m in points) == [(100, end - 12500 + 4000), (200, end - 12500 + 10000)]
    assert {"train/loss", "test/metric", "final/solved", "time/wall_s"} <= child.data.metrics.keys()
    assert [d.dataset.name for d in child.inputs.dataset_inputs] == ["adding-10"]
    assert child.inputs.dataset_inputs[0].dataset.digest == "d"
    artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert {"history.csv", "metrics.json", "gradflow.csv", "model"} <= artifacts


def test_project_root_maps_dvc_temporary_experiment_copies_to_the_real_repository(tmp_path):
    from rnnbench.tracking import project_root

    inner = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpabc"
    inner.mkdir(parents=True)
    assert project_root(inner) == (tmp_path / "repo").resolve()
    assert project_root(tmp_path / "repo") == (tmp_path / "repo").resolve()


def test_a_copied_repository_logs_artifacts_into_its_own_folder_and_finds_the_old_ones_there(tmp_path):
    import shutil

    from mlflow.tracking import MlflowClient

    from rnnbench.tracking import open_tracker

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    first, copy = tmp_path / "first", tmp_path / "copy"
    (first / "run").mkdir(parents=True)
    (first / "run" / "metrics.json").write_text('{"seed": 0}')
    record = {"task": "adding", "model": "rnn", "length": 5, "seed": 0, "steps": 3, "solved": True,
              "diverged": False, "data_checksum": "x", "config": {"seed": 0}}
    old_run, _ = open_tracker(["adding"], first).log_run(first / "run", record, [])
    shutil.copytree(first, copy)
    shutil.rmtree(first / "mlartifacts")  # the original is gone: nothing may still point there
    new_run, _ = open_tracker(["adding"], copy).log_run(copy / "run", {**record, "seed": 1, "config": {"seed": 1}}, [])
    client = MlflowClient(tracking_uri=f"sqlite:///{copy / 'mlflow.db'}")
    for run_id in (old_run, new_run):
        uri = client.get_run(run_id).info.artifact_uri
        assert uri.startswith((copy / "mlartifacts").as_uri() + "/")
        assert [a.path for a in client.list_artifacts(run_id)] == ["metrics.json"]
    assert not (first / "mlartifacts").exists()


@pytest.mark.parametrize("store", ["folder", "read-only sqlite", "not a database"])
def test_a_store_mlflow_cannot_use_is_refused_before_any_work_in_one_line(tmp_path, store):
    import sqlite3

    from rnnbench.config import ConfigError
    from rnnbench.tracking import check_reachable

    if store == "folder":
        uri = f"file://{tmp_path / 'mlruns'}"
    else:
        path = tmp_path / "ro" / "mlflow.db"
        path.parent.mkdir()
        if store == "not a database":
            path.write_bytes(b"not sqlite at all" * 100)
        else:
            sqlite3.connect(path).close()
            path.chmod(0o444)
            path.parent.chmod(0o555)
        uri = f"sqlite:///{path}"
    try:
        if store == "read-only sqlite" and os.access(path, os.W_OK):
            pytest.skip("running as a user who can write read-only files (root)")
        with pytest.raises(ConfigError, match=r"MLFLOW_TRACKING_URI: the tracking store .* is not usable"):
            check_reachable(uri)
    finally:
        if store != "folder":
            path.parent.chmod(0o755)


def tuning_result(lrs=(0.001, 0.01), seeds=(100,), lengths=(10,)):
    """A tuning result as a tune stage writes it: each planned run's config and its summary."""
    import dataclasses

    from rnnbench.config import TaskTuning
    from conftest import make_config

    base = make_config(model="gru", length=lengths[0])
    configs = tuple(dataclasses.replace(base, seed=seed, train=dataclasses.replace(base.train, lr=lr))
                    for lr in lrs for seed in seeds)
    runs = tuple({"length": lengths[0], "lr": lr, "seed": seed, "steps": 60, "solved_step": 40 if lr == 0.01 else None,
                  "val_metric": 0.01 if lr == 0.01 else 0.2, "val_solved": lr == 0.01, "diverged": False, "wall_s": 1.5}
                 for lr in lrs for seed in seeds)
    return TaskTuning("adding", "tuned", lengths, lrs, configs, lr=0.01, runs=runs, ladder=(0.001, 0.01, 0.1))


def test_a_models_lr_sweep_is_one_tuning_parent_with_each_sweep_run_nested_and_logged_once(tmp_path):
    from mlflow.tracking import MlflowClient

    from rnnbench.config import TaskTuning
    from rnnbench.tracking import open_tracker

    copied = TaskTuning("xor", "from lstm", (5,))  # a copied lr swept nothing: nothing to log
    assert open_tracker(["adding", "xor"], tmp_path).log_tuning("gru", [tuning_result(), copied], "tune@gru") == (2, 0)
    assert open_tracker(["adding", "xor"], tmp_path).log_tuning("gru", [tuning_result(), copied], "tune@gru") == (0, 2)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.data.tags.get("rnnbench.level") == "tuning"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(runs) == 3 and len(parents) == 1
    assert parents[0].data.params["tune.chosen_lr"] == "0.01" and parents[0].data.tags["dvc.stage"] == "tune@gru"
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    by_lr = {r.data.params["lr"]: r.data.metrics for r in children}
    assert by_lr == {"0.001": {"val/metric": 0.2, "final/steps": 60.0, "final/val_solved": 0.0, "final/diverged": 0.0,
                               "time/wall_s": 1.5},
                     "0.01": {"val/metric": 0.01, "final/steps": 60.0, "final/solved_step": 40.0, "final/val_solved": 1.0,
                              "final/diverged": 0.0, "time/wall_s": 1.5}}
    # A changed sweep (another lr) is a new parent: its runs are logged anew, the old ones stay.
    assert open_tracker(["adding"], tmp_path).log_tuning("gru", [tuning_result(lrs=(0.003, 0.01))]) == (2, 0)


@pytest.mark.parametrize("line,says", [
    ([1, 2], "line 1: not a run or tuning line"),
    ({"kind": "run", "cell": "runs/a", "record": {"task": "adding"}, "history": []}, "line 1: model is missing"),
    ({"kind": "run", "cell": "runs/a", "history": [],
      "record": {"task": "adding", "model": "gru", "length": "5", "seed": 0, "config": {}}}, "length is str"),
    ({"kind": "tuning", "model": "gru", "stage": "tune@gru", "tasks": "adding"}, "a tuning line without"),
])
def test_an_export_with_a_line_that_is_not_a_run_or_tuning_is_refused_in_one_line_naming_it(tmp_path, line, says):
    import gzip
    import json

    from rnnbench.config import ConfigError
    from rnnbench.tracking import import_export

    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(line) + "\n").encode()))
    with pytest.raises(ConfigError, match=says):
        import_export(path, tmp_path)
    path.write_bytes(gzip.compress(("[" * 100_000 + "\n").encode()))
    with pytest.raises(ConfigError, match="nested too deep"):
        import_export(path, tmp_path)

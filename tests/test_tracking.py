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
        assert r.info.experiment_id == experiments[r.data.tags["task"]]
    assert experiments.keys() >= {"adding", "xor"}
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
    logged = client.get_metric_history(run_id, "val_mse")
    assert sorted((m.step, m.value) for m in logged) == [(step, 1 / step) for step in range(1, 601)]
    assert len(client.get_metric_history(run_id, "train_loss")) == 600


def test_a_rerun_of_the_same_config_is_logged_as_a_new_run(tmp_path):
    from rnnbench.tracking import open_tracker

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    tracker = open_tracker(["adding"], tmp_path)
    record = {"task": "adding", "model": "rnn", "length": 5, "seed": 0, "steps": 3, "solved": True,
              "diverged": False, "data_checksum": "x", "config": {"seed": 0}, "finished_at": "2026-11-23T02:00:00+00:00"}
    first, _ = tracker.log_run(tmp_path, record, [])
    rerun, created = tracker.log_run(tmp_path, {**record, "finished_at": "2026-11-23T03:00:00+00:00"}, [])
    assert created and rerun != first


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

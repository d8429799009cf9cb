"""The study as a pipeline, end to end with the real `dvc` CLI and a real MLflow store.

The project is copied into a temp git repo with the tiny grid (studies/tiny.yaml) as params.yaml;
`dvc repro` runs there once for the whole module and each test checks one behaviour of the result.
"""
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import yaml

from rnnbench.report.markdown import FIGURES

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def env_for(project: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t", **extra)
    return env


def run(project: Path, *cmd, check=True, **extra_env) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=project, env=env_for(project, **extra_env), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


TRAIN_RNN_ADDING_5 = ("python", "stages/train.py", "configs/adding-5/rnn.json", "--data", "data/adding-5",
                      "--out", "runs/adding-5/rnn")


def stages_run(repro_output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", repro_output))


def make_project(dest: Path, params: Path = REPO / "studies" / "tiny.yaml") -> Path:
    dest.mkdir()
    for name in ("dvc.yaml", ".dvcignore", "stages", "src"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, dest / name)
    shutil.copy(params, dest / "params.yaml")
    run(dest, "git", "init", "-q")
    run(dest, "dvc", "init", "-q")
    shutil.copytree(REPO / ".dvc" / "plots", dest / ".dvc" / "plots")  # the plot templates
    run(dest, "git", "add", "-A")
    run(dest, "git", "commit", "-qm", "tiny study")
    return dest


def tiny_study():
    from rnnbench.study import load_study

    return load_study(REPO / "studies" / "tiny.yaml")


PIPELINE = {"generate", "plan-tuning", "configure", "report"}  # the stages every params change reruns


def tune_stages(study) -> set[str]:
    grids = {m: f"tune-{name}" for name, grid in study.side_grids.items() for m in grid.models}
    return {f"{grids.get(m, 'tune')}@{m}" for m in study.every_model()}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("e2e") / "study")
    first = run(root, "dvc", "repro")
    return root, first.stdout


def mlflow_runs(root: Path, level: str = "seed") -> pd.DataFrame:
    """The store's seed runs (`level="seed"`) or cell runs (`"cell"`)."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, max_results=10_000)
    if runs.empty:
        return runs
    return runs[runs["tags.run_key" if level == "seed" else "tags.cell_key"].notna()].reset_index(drop=True)


TIMINGS = ["wall_s", "steps_per_s", "finished_at"]  # what may differ between two runs of the same cell


@pytest.fixture(scope="module")
def dispatched(project, tmp_path_factory):
    """A copy of the study after `dvc repro`, with five cells' run folders deleted and dispatched
    again by `rnnbench dispatch` on the local executor."""
    root, _ = project
    copy = tmp_path_factory.mktemp("dispatch") / "study"
    shutil.copytree(root, copy, symlinks=True)
    for model in ("rnn", "lstm", "gru", "lstm-numpy", "lstm-cifg"):
        shutil.rmtree(copy / "runs" / "adding-5" / model)
    return copy, run(copy, "rnnbench", "dispatch", "--executor", "local", "--jobs", "2")


def test_dispatch_trains_the_stale_cells_and_leaves_dvc_status_clean(dispatched):
    copy, result = dispatched
    assert result.stdout.strip().splitlines()[-1] == "dispatched 5 cells"
    assert "dispatch: 5 stale cells of 20 on the local executor, 2 processes" in result.stderr
    assert "up to date" in run(copy, "dvc", "status").stdout


def test_dispatched_cells_equal_dvc_repros_run_for_run_but_their_timings(project, dispatched):
    (root, _), (copy, _) = project, dispatched
    expected = pd.read_csv(root / "reports" / "results.csv").drop(columns=TIMINGS)
    got = pd.read_csv(copy / "reports" / "results.csv").drop(columns=TIMINGS)
    pd.testing.assert_frame_equal(got, expected)
    for seed in ("seed0", "seed1"):  # the weights too, bit for bit
        assert (copy / "runs/adding-5/gru" / seed / "model.pt").read_bytes() == \
            (root / "runs/adding-5/gru" / seed / "model.pt").read_bytes()


def test_a_second_dispatch_dispatches_nothing(dispatched):
    copy, _ = dispatched
    again = run(copy, "rnnbench", "dispatch", "--jobs", "2")
    assert again.stdout.strip().splitlines()[-1] == "dispatched 0 cells"


def test_ray_dispatch_on_a_local_cluster_bound_to_loopback_logging_to_a_server_equals_dvc_repro(project, dispatched):
    (root, _), (copy, _) = project, dispatched
    for model in ("rnn", "lstm", "gru"):
        shutil.rmtree(copy / "runs" / "xor-5" / model)
    with mlflow_server(copy / "mlflow.db") as base:  # the team recipe: a tracking server on 127.0.0.1
        result = run(copy, "rnnbench", "dispatch", "--executor", "ray", "--jobs", "2", MLFLOW_TRACKING_URI=base)
    assert result.stdout.strip().splitlines()[-1] == "dispatched 3 cells"
    assert "mlflow: 0 runs logged now, 40 already in the store" in result.stdout  # same runs, same keys
    assert "on the ray executor on a local cluster on 127.0.0.1 (2 CPUs, 0 GPUs)" in result.stderr
    assert "up to date" in run(copy, "dvc", "status").stdout
    expected = pd.read_csv(root / "reports" / "results.csv").drop(columns=TIMINGS)
    pd.testing.assert_frame_equal(pd.read_csv(copy / "reports" / "results.csv").drop(columns=TIMINGS), expected)


def test_a_cell_that_fails_in_a_dispatch_is_reported_and_not_recorded(tmp_path):
    root = make_project(tmp_path / "study")
    shutil.copytree(Path(__file__).parent / "plugins" / "mypkg", root / "src" / "mypkg")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(models=["lstm", "mypkg.cells.Broken"], points=["adding-5"], per_model={}, tune={"lrs": []},
                  side_grids={"reference": {"models": [], "points": []}, "ablations": {"models": [], "points": []}})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run(root, "rnnbench", "dispatch", "--jobs", "2", check=False)
    assert result.returncode == 1 and result.stdout.strip().splitlines()[-1] == "dispatched 2 cells"
    assert ("dispatch: FAILED train@mypkg.cells.Broken-adding-5: seed 0: RuntimeError: broken on purpose; "
            "seed 1: RuntimeError: broken on purpose; not recorded, it stays stale") in result.stderr
    assert not (root / "runs/adding-5/mypkg.cells.Broken").exists()  # a failure is never a result
    stale = json.loads(run(root, "dvc", "status", "--json").stdout)
    assert "train@mypkg.cells.Broken-adding-5" in stale and "train@lstm-adding-5" not in stale


def test_repro_runs_every_stage_of_the_grid(project):
    root, output = project
    study = tiny_study()
    expected = {c.stage for c in study.cells()} | tune_stages(study) | PIPELINE
    assert stages_run(output) == expected


def test_results_csv_has_one_complete_row_per_run_of_the_grid(project):
    root, _ = project
    study = tiny_study()
    results = pd.read_csv(root / "reports" / "results.csv")
    assert len(results) == len(study.cells()) * len(study.seeds)
    keys = set(zip(results.task, results.model, results.length, results.seed))
    assert keys == {(c.task, c.model, c.length, s) for c in study.cells() for s in study.seeds}
    assert not results["failed"].any()
    assert results["test_metric"].notna().all() and (results["max_steps"] == 30).all()
    adding = results[results.task == "adding"]
    assert (adding["baseline"].round(4) == 0.1667).all() and (adding["metric"] == "mse").all()


def test_summary_and_dvc_metrics_agree_with_results(project):
    root, _ = project
    results = pd.read_csv(root / "reports" / "results.csv")
    summary = pd.read_csv(root / "reports" / "summary.csv")
    cell = results[(results.task == "adding") & (results.model == "lstm") & (results.length == 8)]
    row = summary[(summary.task == "adding") & (summary.model == "lstm") & (summary.length == 8)].iloc[0]
    assert row["median"] == pytest.approx(cell["test_metric"].median(), rel=1e-4)
    assert row["seeds"] == 2
    shown = json.loads(run(root, "dvc", "metrics", "show", "--json").stdout)[""]["data"]["reports/metrics.json"]["data"]
    critical = pd.read_csv(root / "reports" / "critical_length.csv")
    lstm = critical[(critical.task == "adding") & (critical.model == "lstm")].iloc[0]
    longest = summary[(summary.task == "adding") & (summary.model == "lstm")].sort_values("length").iloc[-1]
    # The headline only: critical length, its censoring and the solved fraction at the longest length.
    length = None if pd.isna(lstm.critical_length) else int(lstm.critical_length)  # "< 5" has none
    expected = {"critical_length": length, "critical_censored": lstm.censored,
                "solved_at_longest": pytest.approx(longest["solved_fraction"])}
    assert shown["adding"]["lstm"] == {k: v for k, v in expected.items() if v is not None}  # DVC drops nulls
    sine = summary[(summary.task == "sine") & (summary.model == "gru")].iloc[-1]
    assert shown["sine"]["gru"] == {"median_mse_at_longest": pytest.approx(sine["median"], rel=1e-5)}
    assert set(shown["adding"]) == set(tiny_study().models)


def test_dvc_plots_show_works_offline_with_a_plot_per_task_and_the_figures(project, tmp_path):
    root, _ = project
    run(root, "dvc", "config", "plots.html_template", "plots/offline.html")
    shutil.copy(REPO / ".dvc" / "plots" / "offline.html", root / ".dvc" / "plots" / "offline.html")
    run(root, "dvc", "plots", "show", "-o", str(tmp_path / "page"))
    page = (tmp_path / "page" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "vegaEmbed" in page  # the libraries are inline, no network
    assert len(list((tmp_path / "page" / "static").glob("*.png"))) == len(FIGURES)


def test_tuning_selects_exactly_one_lr_per_task_and_model_and_the_cells_train_with_it(project):
    root, output = project
    study = tiny_study()
    tuning = pd.read_csv(root / "reports" / "tuning.csv")
    selected = tuning[tuning["selected"]]
    pairs = {(t, c.model) for c in study.cells() for t in [c.task]}
    assert sorted(zip(selected.task, selected.model)) == sorted(pairs)  # exactly one per task x model
    swept = tuning[tuning["source"] == "tuned"]
    assert set(swept.groupby(["task", "model"]).size()) == {len(study.tune.lrs)}
    results = pd.read_csv(root / "reports" / "results.csv")
    for row in selected.itertuples():  # every cell of the pair trained with the chosen (or copied) lr
        lrs = results[(results.task == row.task) & (results.model == row.model)]["lr"]
        assert list(lrs) == pytest.approx([row.lr] * len(lrs)), row
    copied = selected[selected["model"] == "lstm-numpy"].iloc[0]
    assert copied.source == "from lstm" and copied.lr == selected[
        (selected.model == "lstm") & (selected.task == "adding")].lr.iloc[0]


def test_repro_writes_the_report_with_every_figure_it_references(project):
    root, _ = project
    text = (root / "reports" / "report.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+)\)", text)
    assert len(figures) == len(FIGURES) == 13
    for name in figures:
        assert matplotlib.image.imread(root / "reports" / name).shape[1] > 400, name
    critical = pd.read_csv(root / "reports" / "critical_length.csv")
    for row in critical.itertuples():
        assert f"| {row.task} | {row.model} |" in text


def test_dvc_plots_show_has_a_plot_per_task_on_the_axis_its_metric_declares(project):
    from rnnbench.tasks import resolve_task

    root, _ = project
    result = run(root, "dvc", "plots", "show", "--json")
    assert "failed to load" not in result.stderr
    shown = json.loads(result.stdout)["data"]
    for task in {c.task for c in tiny_study().cells()}:
        scale = "log" if resolve_task(task).headline.log_scale else "linear"
        for kind in ("length", "curves"):
            [plot] = shown[f"reports/plots/{kind}_{scale}/{task}.csv"]
            assert {v["model"] for v in plot["content"]["data"]["values"]} == set(tiny_study().models)
            y = plot["content"]["spec"]["layer"][0]["encoding"]["y"]
            assert y.get("scale", {}).get("type", "linear") == scale
    assert len([name for name in shown if name.startswith("reports/figures/")]) == len(FIGURES)


def test_second_repro_does_nothing_and_status_is_clean(project):
    root, _ = project
    again = run(root, "dvc", "repro")
    assert stages_run(again.stdout) == set()
    assert "up to date" in run(root, "dvc", "status").stdout


def test_mlflow_has_each_run_once_with_params_tags_and_metric_history(project):
    root, _ = project
    study = tiny_study()
    runs = mlflow_runs(root)
    assert len(runs) == len(study.cells()) * len(study.seeds)
    assert runs["tags.run_key"].is_unique
    cells = mlflow_runs(root, "cell")
    assert len(cells) == len(study.cells()) and set(runs["tags.mlflow.parentRunId"]) == set(cells["run_id"])
    one = runs[runs["tags.mlflow.runName"] == "lstm-T8-s1"].iloc[0]
    assert one["tags.task"] == "adding" and one["tags.dvc.stage"] == "train@lstm-adding-8"
    parent = cells[cells["run_id"] == one["tags.mlflow.parentRunId"]].iloc[0]
    assert parent["tags.mlflow.runName"] == "lstm-T8" and parent["metrics.cell/seeds"] == len(study.seeds)
    assert one["params.train.lr"] == "0.01" and one["params.model.hidden_size"] == "8"
    assert one["tags.device"] == "cpu" and len(one["tags.data_checksum"]) == 16

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    history = pd.read_csv(root / "runs/adding-8/lstm/seed1/history.csv")
    logged = client.get_metric_history(one["run_id"], "val/mse")
    assert [m.step for m in logged] == history["step"].tolist()
    assert [m.value for m in logged] == pytest.approx(history["val_mse"].tolist())
    experiments = {e.name for e in client.search_experiments()}
    assert experiments - {"Default"} == {f"rnnbench/{task}" for task in {c.task for c in study.cells()}}


def test_deleted_store_is_rebuilt_by_sync_with_every_run_exactly_once(project, tmp_path):
    root, _ = project
    shutil.copy(root / "mlflow.db", tmp_path / "saved.db")
    try:
        (root / "mlflow.db").unlink()
        out = run(root, "rnnbench", "sync-mlflow").stdout
        n = len(tiny_study().cells()) * len(tiny_study().seeds)
        assert f"{n} runs logged now, 0 already" in out
        again = run(root, "rnnbench", "sync-mlflow").stdout
        assert f"0 runs logged now, {n} already" in again
        runs = mlflow_runs(root)
        assert len(runs) == n and runs["tags.run_key"].is_unique
    finally:
        shutil.copy(tmp_path / "saved.db", root / "mlflow.db")


def cell_lrs(root: Path) -> dict[str, float]:
    return {p.relative_to(root).as_posix(): json.loads(p.read_text())[0]["train"]["lr"]
            for p in (root / "configs").glob("*/*.json")}  # configs/<point>/<model>.json: one per cell


def test_changing_the_sweep_retunes_and_retrains_only_the_cells_whose_lr_changed(tmp_path):
    root = make_project(tmp_path / "study")
    run(root, "dvc", "repro")
    before = cell_lrs(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tune"]["lrs"] = [0.01, 0.03]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    again = run(root, "dvc", "repro")
    after = cell_lrs(root)
    changed = {path for path in before if before[path] != after[path]}
    study = tiny_study()
    assert changed  # the tiny study's sweep chose 0.003 somewhere, which the new sweep lacks
    retrained = {c.stage for c in study.cells() if c.configs_file.as_posix() in changed}
    copying = {"tune-reference@lstm-numpy"}  # its plan copies lstm's lr: unchanged, not rerun
    assert stages_run(again.stdout) == retrained | (tune_stages(study) - copying) | PIPELINE
    tuning = pd.read_csv(root / "reports" / "tuning.csv")
    assert set(tuning.loc[tuning.source == "tuned", "lr"]) == {0.01, 0.03}


def test_changing_one_models_hyperparameter_reruns_only_that_models_cells(tmp_path):
    root = make_project(tmp_path / "study")
    run(root, "dvc", "repro")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.setdefault("per_model", {})["gru"] = {"train": {"lr": 0.02}}  # hand-set: gru's sweep is dropped
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    again = run(root, "dvc", "repro")
    study = tiny_study()
    expected = {c.stage for c in study.cells() if c.model == "gru"} | {"tune@gru"} | PIPELINE
    assert stages_run(again.stdout) == expected
    tuning = pd.read_csv(root / "reports" / "tuning.csv")
    assert set(tuning.loc[tuning.model == "gru", "source"]) == {"hand-set"}
    assert "Hand-set lrs (params.yaml, not the protocol): " + ", ".join(
        f"gru on {task}" for task in study.task_names()) + "." in (root / "reports" / "report.md").read_text()

    # A length removed from the grid leaves its outputs on disk but out of the results.
    params["points"] = ["adding-8", "xor-5"]
    for grid in params["side_grids"].values():
        grid["points"] = ["adding-8"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run(root, "dvc", "repro")
    assert (root / "runs/adding-5/lstm/seed0/metrics.json").is_file()
    results = pd.read_csv(root / "reports" / "results.csv")
    assert set(results[results.task == "adding"].length) == {8}


def test_unreachable_tracking_server_fails_the_stage_before_training(project, tmp_path):
    root, _ = project
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    target = root / "runs/adding-5/rnn"
    before = sorted(p.read_bytes() for p in target.rglob("*.json"))
    result = run(root, *TRAIN_RNN_ADDING_5, check=False, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MLFLOW_TRACKING_URI" in lines[0] and f"127.0.0.1:{port}" in lines[0]
    assert sorted(p.read_bytes() for p in target.rglob("*.json")) == before


def test_broken_params_yaml_is_refused_with_the_offending_key(tmp_path):
    root = make_project(tmp_path / "study")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"] = ["rnn", "lsmt"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run(root, "python", "stages/generate.py", check=False)
    assert result.returncode == 2
    assert "models[1]: unknown model 'lsmt'; allowed:" in result.stderr and "rnn, lstm, gru" in result.stderr
    assert not (root / "data").exists()


@contextlib.contextmanager
def mlflow_server(store: Path):
    """A real `mlflow server` on 127.0.0.1 over the SQLite file `store`; yields its address."""
    import signal
    import time
    import urllib.request

    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{store}",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=store.parent, env=env_for(store.parent), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline and server.poll() is None, "mlflow server did not come up"
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_study_logs_to_a_real_mlflow_server_on_localhost(project, tmp_path):
    """Runs last in this module: it rewrites one cell's outputs (same config, same results) and the
    report. The train stage checks the server; the report stage logs every run of the study."""
    import json as _json
    import urllib.request

    root, _ = project
    with mlflow_server(tmp_path / "server.db") as base:
        run(root, *TRAIN_RNN_ADDING_5, MLFLOW_TRACKING_URI=base)
        run(root, "python", "stages/report.py", MLFLOW_TRACKING_URI=base)
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=rnnbench/adding") as r:
            experiment_id = _json.load(r)["experiment"]["experiment_id"]
        body = _json.dumps({"experiment_ids": [experiment_id], "max_results": 100}).encode()
        request = urllib.request.Request(f"{base}/api/2.0/mlflow/runs/search", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as r:
            runs = _json.load(r)["runs"]
        study = tiny_study()
        names = sorted(r["info"]["run_name"] for r in runs)
        adding = [c for c in study.cells() if c.task == "adding"]
        assert names == sorted([f"{c.model}-T{c.length}-s{s}" for c in adding for s in study.seeds]
                               + [f"{c.model}-T{c.length}" for c in adding])
        rnn = next(r for r in runs if r["info"]["run_name"] == "rnn-T5-s0")
        tags = {t["key"]: t["value"] for t in rnn["data"]["tags"]}
        assert tags["task"] == "adding" and tags["dvc.stage"] == "train@rnn-adding-5"
        assert any(m["key"] == "val/mse" for m in rnn["data"]["metrics"])


def test_a_train_stage_refuses_to_run_without_its_cells_configs_file(tmp_path):
    root = make_project(tmp_path / "study")
    result = run(root, "python", "stages/train.py", "configs/adding-5/gru.json", "--data", "data/adding-5",
                 "--out", "runs/adding-5/gru", check=False)
    assert result.returncode == 2
    assert "config: cannot read 'configs/adding-5/gru.json'" in result.stderr
    assert not (root / "runs").exists()


def test_a_stage_that_leaves_by_its_fast_exit_keeps_its_piped_output_and_files(tmp_path):

    root = make_project(tmp_path / "study")
    result = run(root, "python", "stages/plan_tuning.py")  # stdout is a pipe here: block-buffered
    study = tiny_study()
    assert f"planned the tuning of {len(study.every_model())} models" in result.stdout
    from rnnbench.config import read_tuning
    from rnnbench.study import tuning_plan_file

    assert len(list((root / "tuning" / "plans").glob("*.json"))) == len(study.every_model())
    for model in study.every_model():
        assert read_tuning(root / tuning_plan_file(model)) == (model, study.tuning_plan(model))


def test_train_with_a_cells_configs_file_reproduces_the_study_run_bit_for_bit(project, tmp_path):
    import torch

    root, _ = project
    out = tmp_path / "again"
    run(root, "rnnbench", "train", "--config", "configs/adding-8/lstm.json", "--seed", "1", "--out", str(out))
    study_run = root / "runs/adding-8/lstm/seed1"
    timing = {"wall_s", "steps_per_s", "finished_at"}
    mine, theirs = (json.loads((f / "metrics.json").read_text()) for f in (out, study_run))
    assert {k: v for k, v in mine.items() if k not in timing} == {k: v for k, v in theirs.items() if k not in timing}
    history = [pd.read_csv(f / "history.csv").drop(columns=["elapsed_s", "steps_per_s"]) for f in (out, study_run)]
    pd.testing.assert_frame_equal(*history, check_exact=True)
    weights = [torch.load(f / "model.pt", weights_only=True) for f in (out, study_run)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert (out / "gradflow.csv").read_bytes() == (study_run / "gradflow.csv").read_bytes()
    refused = run(root, "rnnbench", "train", "--config", "configs/adding-8/lstm.json", "--seed", "1",
                  "--out", str(out), check=False)
    assert refused.returncode == 2 and "--out" in refused.stderr and "--replace" in refused.stderr


def test_a_model_and_a_task_by_import_path_run_through_dvc_repro(tmp_path):
    """One file each in the project's src/ plus params lines: no edit to dvc.yaml or rnnbench."""
    root = make_project(tmp_path / "study")
    shutil.copytree(Path(__file__).parent / "plugins" / "mypkg", root / "src" / "mypkg")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(models=["lstm", "mypkg.cells.MyCell"], points=["adding-5", "mypkg.tasks.FirstBit-6"],
                  side_grids={"reference": {"models": [], "points": []}, "ablations": {"models": [], "points": []}},
                  tune={**params["tune"], "points": ["adding-5", "mypkg.tasks.FirstBit-6"]}, per_model={})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    first = run(root, "dvc", "repro")
    cells = {f"train@{m}-{p}" for m in params["models"] for p in params["points"]}
    tunes = {f"tune@{m}" for m in params["models"]}
    assert stages_run(first.stdout) == cells | tunes | PIPELINE

    results = pd.read_csv(root / "reports" / "results.csv")
    assert len(results) == 4 * 2 and not results["failed"].any()
    assert set(results.task) == {"adding", "mypkg.tasks.FirstBit"}
    own = root / "runs" / "mypkg.tasks.FirstBit-6" / "mypkg.cells.MyCell" / "seed0"
    record = json.loads((own / "metrics.json").read_text())
    assert record["diagnostics"].startswith("unavailable: the cell MyCell has no unroll")
    assert not (own / "gradflow.csv").exists() and (own / "model.pt").is_file()
    assert (root / "runs" / "mypkg.tasks.FirstBit-6" / "lstm" / "seed0" / "gradflow.csv").is_file()
    assert "mypkg.tasks.FirstBit" in (root / "reports" / "report.md").read_text()

    # Editing the user's model file reruns exactly its cells, through its hash in the configs files.
    cells_file = root / "src" / "mypkg" / "cells.py"
    cells_file.write_text(cells_file.read_text() + "\n# edited\n")
    again = run(root, "dvc", "repro")
    assert stages_run(again.stdout) == {c for c in cells if "MyCell" in c} | {
        "plan-tuning", "tune@mypkg.cells.MyCell", "configure", "report"}
    assert "up to date" in run(root, "dvc", "status").stdout


def test_concurrent_syncs_log_each_run_exactly_once(project, tmp_path):
    root, _ = project
    shutil.copy(root / "mlflow.db", tmp_path / "saved.db")
    try:
        (root / "mlflow.db").unlink()
        syncs = [subprocess.Popen(["rnnbench", "sync-mlflow"], cwd=root, env=env_for(root), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outputs = [s.communicate(timeout=300) for s in syncs]
        assert all(s.returncode == 0 for s in syncs), outputs
        runs = mlflow_runs(root)
        assert len(runs) == len(tiny_study().cells()) * len(tiny_study().seeds) and runs["tags.run_key"].is_unique
    finally:
        shutil.copy(tmp_path / "saved.db", root / "mlflow.db")


def test_a_corrupt_store_stops_training_before_it_starts_and_never_costs_the_report(project, tmp_path):
    root, _ = project
    shutil.copy(root / "mlflow.db", tmp_path / "saved.db")
    target = root / "runs/adding-5/rnn"
    before = sorted(p.read_bytes() for p in target.rglob("*.json"))
    try:
        (root / "mlflow.db").write_bytes(b"this is not a database" * 100)
        refused = run(root, *TRAIN_RNN_ADDING_5, check=False)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1 and "MLFLOW_TRACKING_URI" in lines[0] and "mlflow.db" in lines[0]
        assert sorted(p.read_bytes() for p in target.rglob("*.json")) == before
        (root / "reports" / "report.md").unlink()
        report = run(root, "python", "stages/report.py", check=False)
        assert report.returncode == 2 and "the report is written" in report.stderr
        assert (root / "reports" / "report.md").is_file()
    finally:
        shutil.copy(tmp_path / "saved.db", root / "mlflow.db")
    run(root, "python", "stages/report.py")  # as it was, for the tests after this one


def test_a_failed_seed_fails_its_stage_and_the_next_repro_trains_it_again(tmp_path):
    root = make_project(tmp_path / "study")
    shutil.copytree(Path(__file__).parent / "plugins" / "mypkg", root / "src" / "mypkg")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(models=["mypkg.cells.Broken"], points=["adding-5"], per_model={},
                  side_grids={"reference": {"models": [], "points": []}, "ablations": {"models": [], "points": []}})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    tuned = run(root, "dvc", "repro", check=False)  # its sweep fails first: no lr is chosen from what is left
    assert tuned.returncode != 0
    assert ("2 of 2 tuning runs of mypkg.cells.Broken on adding failed (first: T=5 lr=0.003 seed 100: "
            "RuntimeError: broken on purpose)") in tuned.stderr
    assert not (root / "tuning" / "mypkg.cells.Broken.json").exists()
    params["per_model"] = {"mypkg.cells.Broken": {"train": {"lr": 0.01}}}  # hand-set: no sweep
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    first = run(root, "dvc", "repro", check=False)
    assert first.returncode != 0
    assert "seeds [0, 1] of runs/adding-5/mypkg.cells.Broken failed" in first.stderr
    record = json.loads((root / "runs/adding-5/mypkg.cells.Broken/seed0/metrics.json").read_text())
    assert record["failed"] and record["error"] == "RuntimeError: broken on purpose"
    again = run(root, "dvc", "repro", check=False)
    assert "train@mypkg.cells.Broken-adding-5" in stages_run(again.stdout)  # not restored as a result


def test_a_misspelled_params_key_fails_repro_naming_it_and_costs_no_data_or_configs(tmp_path):
    root = make_project(tmp_path / "study")
    run(root, "dvc", "repro")
    kept = {p: p.read_bytes() for folder in ("data", "configs") for p in (root / folder).rglob("*") if p.is_file()}
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["seed"] = params.pop("seeds")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run(root, "dvc", "repro", check=False)
    assert result.returncode != 0 and "seed: unknown value 'seed'; allowed: seeds" in result.stderr
    assert {p: p.read_bytes() for p in kept} == kept


def test_a_name_with_dots_in_params_cannot_make_a_single_stage_repro_delete_another_folder(tmp_path):
    root = make_project(tmp_path / "study")
    run(root, "dvc", "repro", "generate", "configure")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["side_grids"]["ablations"] = {"models": ["../../src"], "points": ["adding-5"]}  # hand-edited
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "src.json").write_text("{}")  # the stage's configs dep exists, so DVC gets as far as running it
    result = run(root, "dvc", "repro", "-s", "train-ablations@../../src-adding-5", check=False)
    assert result.returncode != 0 and "leaves the repository" in result.stdout + result.stderr
    assert (root / "src" / "rnnbench" / "config.py").is_file()  # DVC deleted src before its outputs persisted


def test_an_experiment_that_adds_a_seed_trains_and_logs_only_that_seed(tmp_path):
    params = yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text())
    params.update(points=["adding-5"], models=["rnn", "lstm"])
    params["tune"]["points"] = ["adding-5"]
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(params))
    root = make_project(tmp_path / "study", tmp_path / "small.yaml")
    run(root, "dvc", "repro")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "study run")
    before = {p: p.read_bytes() for p in root.glob("runs/*/*/seed*/metrics.json")}
    cells = len(before) // 2  # rnn, lstm and the two side-grid models at adding-5
    assert cells == 4 and len(mlflow_runs(root)) == 2 * cells

    added = run(root, "dvc", "exp", "run", "-n", "three-seeds", "-S", "seeds=[0,1,2]")
    assert (added.stdout + added.stderr).count("reused seeds [0, 1]") == cells
    assert {p: p.read_bytes() for p in before} == before  # the old seeds' records, byte for byte
    runs = mlflow_runs(root)
    assert len(runs) == 3 * cells and runs["tags.run_key"].is_unique
    new = runs[runs["tags.seed"] == "2"]
    assert len(new) == cells and set(new["tags.dvc.exp_name"]) == {"three-seeds"}
    parents = mlflow_runs(root, "cell")
    assert len(parents) == cells and set(parents["metrics.cell/seeds"]) == {3}
    assert f"0 runs logged now, {3 * cells} already" in run(root, "rnnbench", "sync-mlflow").stdout
    assert json.loads((root / "runs/adding-5/lstm/seed2/metrics.json").read_text())["seed"] == 2

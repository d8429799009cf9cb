"""The study as a pipeline, end to end with the real `dvc` CLI and a real MLflow store.

The project is copied into a temp git repo with the tiny grid (studies/tiny.yaml) as params.yaml;
`dvc repro` runs there once for the whole module and each test checks one behaviour of the result
(a test that changes the project changes a copy of it). Studies of their own are in
test_pipeline_variants.py.
"""
import json
import math
import re
import shutil
import subprocess

import matplotlib.image
import pandas as pd
import pytest
import yaml

from dvc_project import (PIPELINE, REPO, TIMINGS, TRAIN_RNN_ADDING_5, copy_of, env_for, make_project, mlflow_runs,
                         mlflow_server, run, search_stages, stages_run, stale_stages, tiny_study, tune_stages)
from rnnbench.config import read_tuning
from rnnbench.report.markdown import figures_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("e2e") / "study")
    first = run(root, "dvc", "repro")
    return root, first.stdout


@pytest.fixture(scope="module")
def dispatched(project, tmp_path_factory):
    """A copy of the study after `dvc repro`, with five cells' run folders deleted and dispatched
    again by `rnnbench dispatch` on the local executor."""
    copy = copy_of(project, tmp_path_factory.mktemp("dispatch") / "study")
    for cell in tiny_study().cells():
        if cell.point == "adding-5":  # three main cells and the two side grids' cells (their grids' stages)
            shutil.rmtree(copy / cell.run_folder)
    return copy, run(copy, "rnnbench", "dispatch", "--executor", "local", "--jobs", "2")


def test_dispatch_trains_the_stale_cells_and_leaves_dvc_status_clean(dispatched):
    copy, result = dispatched
    assert result.stdout.strip().splitlines()[-1] == "dispatched 5 cells"
    assert "dispatch: 5 stale cells of 20 (10 runs) on the local executor, 2 processes" in result.stderr
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
    assert re.search(r"mlflow: 0 runs logged now, \d+ already in the store", result.stdout)  # same runs, same keys
    assert "on the ray executor on a local cluster on 127.0.0.1 (2 CPUs, 0 GPUs)" in result.stderr
    assert "up to date" in run(copy, "dvc", "status").stdout
    expected = pd.read_csv(root / "reports" / "results.csv").drop(columns=TIMINGS)
    pd.testing.assert_frame_equal(pd.read_csv(copy / "reports" / "results.csv").drop(columns=TIMINGS), expected)


def test_repro_runs_every_stage_of_the_grid(project):
    root, output = project
    study = tiny_study()
    expected = {c.stage for c in study.cells()} | tune_stages(study) | search_stages(study) | PIPELINE | {"speed"}
    assert stages_run(output) == expected
    # MLflow filled as the study ran: every train stage logged its cell and the search stage its runs,
    # so the report stage's sync found every run already in the store
    assert re.search(r"mlflow: 0 runs logged now, \d+ already in the store", output)


def test_results_csv_has_one_complete_row_per_run_of_the_grid(project):
    root, _ = project
    study = tiny_study()
    every = pd.read_csv(root / "reports" / "results.csv")
    results = every[every.lr_source != "search"]
    assert len(results) == len(study.cells()) * len(study.seeds)
    keys = set(zip(results.task, results.model, results.length, results.seed))
    assert keys == {(c.task, c.model, c.length, s) for c in study.cells() for s in study.seeds}
    assert not results["failed"].any()
    assert results["test_metric"].notna().all() and (results["max_steps"] == 30).all()
    adding = results[results.task == "adding"]
    assert (adding["baseline"].round(4) == 0.1667).all() and (adding["metric"] == "mse").all()


def test_each_search_found_a_bracket_that_critical_length_csv_reads_with_every_run_in_results(project):
    root, _ = project
    study = tiny_study()
    critical = pd.read_csv(root / "reports" / "critical_length.csv")
    lengths = pd.read_csv(root / "reports" / "search_lengths.csv")
    results = pd.read_csv(root / "reports" / "results.csv")
    for task, model in study.search.pairs():
        trace = json.loads((root / "searches" / task / model / "search.json").read_text())
        row = critical[(critical.task == task) & (critical.model == model)].iloc[0]
        assert row.source == "search" and trace["found"] is not None
        lo, hi = trace["found"]["lo"], trace["found"]["hi"]
        assert (None if pd.isna(row.critical_length) else int(row.critical_length)) == lo
        if lo is not None and hi is not None:  # narrowed to the resolution, or adjacent
            assert hi / lo <= trace["range"]["resolution"] or hi - lo == 1
        own = lengths[(lengths.task == task) & (lengths.model == model)]
        assert sorted(own.length) == sorted(t["length"] for t in trace["lengths"])
        for bound in (lo, hi):  # the lengths that bound the answer ran every seed
            if bound is not None:
                assert own[own.length == bound].seeds.iloc[0] == len(study.seeds)
        searched = results[(results.task == task) & (results.model == model) & (results.lr_source == "search")]
        grid = {c.length for c in study.cells() if (c.task, c.model) == (task, model)}
        # every searched length the grid lacks has a row per seed that ran there
        assert set(searched.length) == set(own.length) - grid
        assert not searched.failed.any()


def test_a_search_interrupted_midway_resumes_from_its_finished_runs_under_dvc_repro(project, tmp_path):
    root = copy_of(project, tmp_path / "study")
    folder = root / "searches" / "adding" / "rnn"
    runs = sorted(folder.rglob("metrics.json"), key=lambda p: p.stat().st_mtime)
    for record in runs[len(runs) // 2:]:  # the later half never finished; nor did the trace
        shutil.rmtree(record.parent)
    (folder / "search.json").unlink()
    before = (root / "reports" / "critical_length.csv").read_text()
    again = run(root, "dvc", "repro")
    assert stages_run(again.stdout) == {"search", "report"}
    trained = len(runs) - len(runs) // 2
    assert f"{trained} runs trained, {len(runs) // 2} read" in again.stderr
    assert (root / "reports" / "critical_length.csv").read_text() == before
    assert "up to date" in run(root, "dvc", "status").stdout


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
    bound = {k: None if not math.isfinite(lstm[k]) else pytest.approx(lstm[k], abs=0.05) for k in ("t50", "t50_low", "t50_high")}
    expected = {**bound, "t50_censored": lstm.t50_censored, "critical_length": length, "critical_censored": lstm.censored,
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
    assert len(list((tmp_path / "page" / "static").glob("*.png"))) == len(figures_of(tiny_study()))


def test_tuning_selects_exactly_one_lr_per_task_and_model_and_the_cells_train_with_it(project):
    root, output = project
    study = tiny_study()
    tuning = pd.read_csv(root / "reports" / "tuning.csv")
    selected = tuning[tuning["selected"]]
    pairs = {(t, c.model) for c in study.cells() for t in [c.task]}
    assert sorted(zip(selected.task, selected.model)) == sorted(pairs)  # exactly one per task x model
    swept = tuning[tuning["source"] == "tuned"]
    ends = (study.tune.ladder[0], study.tune.ladder[-1])
    for (task, model), sweep in swept.groupby(["task", "model"]):  # the start, walked along the ladder
        lrs = sorted(sweep["lr"])
        assert set(study.tune.lrs) <= set(lrs) <= set(study.tune.ladder), (task, model, lrs)
        chosen = sweep.loc[sweep["selected"], "lr"].item()
        assert chosen not in (lrs[0], lrs[-1]) or chosen in ends  # never at an unexplained edge
        assert sweep["at_edge"].iloc[0] == (chosen in ends)
    results = pd.read_csv(root / "reports" / "results.csv")
    results = results[results.lr_source != "search"]  # a searched length has its own lr (test_search)
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
    assert len(figures) == len(figures_of(tiny_study())) == 13
    for name in figures:
        height, width = matplotlib.image.imread(root / "reports" / name).shape[:2]
        assert width > 400, name
        assert width <= 2.3 * height, f"{name} is {width}x{height}: wider than about 2:1, unreadable at 900 px"
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
    assert len([name for name in shown if name.startswith("reports/figures/")]) == len(figures_of(tiny_study()))


def test_second_repro_does_nothing_and_status_is_clean(project):
    root, _ = project
    again = run(root, "dvc", "repro")
    assert stages_run(again.stdout) == set()
    assert "up to date" in run(root, "dvc", "status").stdout


def test_a_train_stage_logs_its_cell_to_mlflow_as_it_ends_before_any_report(project, tmp_path):
    root = copy_of(project, tmp_path / "study")
    (root / "mlflow.db").unlink()
    shutil.rmtree(root / "runs" / "adding-5" / "rnn")
    report = (root / "reports" / "report.md").read_bytes()
    again = run(root, "dvc", "repro", "train@rnn-adding-5")
    assert stages_run(again.stdout) == {"train@rnn-adding-5"}
    runs, cells = mlflow_runs(root), mlflow_runs(root, "cell")
    assert sorted(runs["tags.mlflow.runName"]) == ["rnn-T5-s0", "rnn-T5-s1"]
    assert set(runs["tags.dvc.stage"]) == set(cells["tags.dvc.stage"]) == {"train@rnn-adding-5"}
    assert set(runs["tags.mlflow.parentRunId"]) == set(cells["run_id"]) and len(cells) == 1
    assert "mlflow: runs/adding-5/rnn: 2 runs logged, 0 already in the store" in again.stderr
    assert (root / "reports" / "report.md").read_bytes() == report  # the report stage did not run
    synced = run(root, "rnnbench", "sync-mlflow")  # the report's sync finds them there
    assert len(mlflow_runs(root)) > 2 and mlflow_runs(root)["tags.run_key"].is_unique
    assert int(re.search(r"(\d+) already in the store", synced.stdout).group(1)) >= 2  # rnn's two, at least


def test_a_tune_stage_logs_its_sweeps_to_mlflow_as_it_ends(project, tmp_path):
    import mlflow

    root = copy_of(project, tmp_path / "study")
    (root / "mlflow.db").unlink()
    again = run(root, "dvc", "repro", "--force", "--single-item", "tune@rnn")
    assert stages_run(again.stdout) == {"tune@rnn"}
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    parents = runs[runs["tags.rnnbench.level"] == "tuning"]
    sweep = runs[runs["tags.tuning_run_key"].notna()]
    planned = sum(len(t.runs) for t in read_tuning(root / "tuning" / "rnn.json")[1])
    assert len(sweep) == planned > 0 and set(sweep["tags.mlflow.parentRunId"]) == set(parents["run_id"])
    assert set(runs["tags.dvc.stage"]) == {"tune@rnn"} and set(parents["tags.model"]) == {"rnn"}
    assert f"mlflow: tune@rnn: {planned} tuning runs logged, 0 already in the store" in again.stderr


def test_a_fresh_clones_store_is_rebuilt_from_the_committed_export_with_the_same_runs_and_keys(project, tmp_path):
    import gzip

    import mlflow

    root, _ = project
    export = root / "reports" / "mlflow_runs.jsonl.gz"
    fresh = tmp_path / "fresh-clone"
    fresh.mkdir()
    (fresh / "reports").mkdir()
    shutil.copy(export, fresh / "reports")  # what a clone has: no run folders, no store
    result = run(fresh, "rnnbench", "sync-mlflow", "--from-export", "reports/mlflow_runs.jsonl.gz")
    assert re.search(r"mlflow: [1-9]\d* runs logged now, 0 already in the store", result.stdout)

    def keys(store, tag):
        mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
        runs = mlflow.search_runs(search_all_experiments=True, max_results=10_000)
        return {(r[f"tags.{tag}"], r["tags.dvc.stage"], r["tags.mlflow.runName"]) for _, r in runs.iterrows()
                if isinstance(r.get(f"tags.{tag}"), str)}

    for tag in ("run_key", "cell_key", "tuning_run_key", "tune_key"):
        assert keys(fresh, tag) == keys(root, tag) and keys(root, tag), tag
    again = run(fresh, "rnnbench", "sync-mlflow", "--from-export", "reports/mlflow_runs.jsonl.gz")
    assert re.search(r"mlflow: 0 runs logged now, [1-9]\d* already in the store", again.stdout)
    from rnnbench.study import load_study
    from rnnbench.tracking import export_study

    export_study(load_study(root / "params.yaml"), root, tmp_path / "again.jsonl.gz")  # the same runs, the same bytes
    assert (tmp_path / "again.jsonl.gz").read_bytes() == export.read_bytes()
    assert b'"kind":"tuning"' in gzip.decompress(export.read_bytes())


def test_mlflow_has_each_run_once_with_params_tags_and_metric_history(project):
    root, _ = project
    study = tiny_study()
    runs = mlflow_runs(root)
    grid, searched = len(study.cells()) * len(study.seeds), len(pd.read_csv(root / "reports" / "search_runs.csv"))
    assert grid < len(runs) <= grid + searched  # a search run equal to a grid run (same key) is logged once
    assert runs["tags.run_key"].is_unique
    assert set(runs["tags.dvc.stage"]) == {c.stage for c in study.cells()} | search_stages(study)
    cells = mlflow_runs(root, "cell")
    assert len(cells) > len(study.cells()) and set(runs["tags.mlflow.parentRunId"]) == set(cells["run_id"])
    one = runs[runs["tags.mlflow.runName"] == "lstm-T8-s1"].iloc[0]
    assert one["tags.task"] == "adding" and one["tags.dvc.stage"] == "train@lstm-adding-8"
    parent = cells[cells["run_id"] == one["tags.mlflow.parentRunId"]].iloc[0]
    assert parent["tags.mlflow.runName"] == "lstm-T8" and parent["metrics.cell/seeds"] == len(study.seeds)
    chosen = pd.read_csv(root / "reports" / "results.csv").query("model == 'lstm' and task == 'adding' and length == 8")
    assert float(one["params.train.lr"]) == chosen["lr"].iloc[0] and one["params.model.hidden_size"] == "8"
    assert one["tags.device"] == "cpu" and len(one["tags.data_checksum"]) == 16

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    history = pd.read_csv(root / "runs/adding-8/lstm/seed1/history.csv")
    logged = client.get_metric_history(one["run_id"], "val/mse")
    assert [m.step for m in logged] == history["step"].tolist()
    assert [m.value for m in logged] == pytest.approx(history["val_mse"].tolist())
    experiments = {e.name for e in client.search_experiments()}
    assert experiments - {"Default"} == {f"rnnbench/{task}" for task in {c.task for c in study.cells()}}


def test_a_deleted_store_is_rebuilt_by_concurrent_syncs_with_every_run_exactly_once(project, tmp_path):
    root = copy_of(project, tmp_path / "study")
    (root / "mlflow.db").unlink()
    syncs = [subprocess.Popen(["rnnbench", "sync-mlflow"], cwd=root, env=env_for(root), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [s.communicate(timeout=300) for s in syncs]
    assert all(s.returncode == 0 for s in syncs), outputs
    n = len(mlflow_runs(project[0]))  # every seed run the study's own store holds, grid and searches
    logged = [int(out.split(" runs logged now")[0].rsplit(" ", 1)[-1]) for out, _ in outputs]
    assert sum(logged) == n  # each run logged by one of them
    runs = mlflow_runs(root)
    assert len(runs) == n and runs["tags.run_key"].is_unique
    assert f"0 runs logged now, {n} already" in run(root, "rnnbench", "sync-mlflow").stdout


def test_the_runs_of_a_temporary_experiment_copy_reach_the_real_repositorys_store(project, tmp_path):
    """`dvc exp run --temp` runs the report stage in .dvc/tmp/exps/<name>/: its runs, not the
    workspace's, must reach the one store of the real repository."""
    root = copy_of(project, tmp_path / "study")
    temp = root / ".dvc" / "tmp" / "exps" / "tmp1"
    temp.mkdir(parents=True)
    for name in ("runs", "searches", "params.yaml"):
        shutil.move(str(root / name), str(temp / name))  # only the copy has runs now
    (root / "mlflow.db").unlink()
    synced = run(temp, "rnnbench", "sync-mlflow")
    n = len(mlflow_runs(project[0]))
    assert f"{n} runs logged now, 0 already" in synced.stdout
    assert len(mlflow_runs(root)) == n and not (temp / "mlflow.db").exists()


def test_changing_one_models_hyperparameter_reruns_only_that_models_cells(project, tmp_path):
    """One repro, two changes: gru's lr hand-set, and a length (adding-5) removed from the main grid.
    The removed length's cells run nothing and leave their outputs on disk, out of the results."""
    root = copy_of(project, tmp_path / "study")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.setdefault("per_model", {})["gru"] = {"train": {"lr": 0.02}}  # hand-set: gru's sweep is dropped
    params["points"] = [p for p in params["points"] if p != "adding-5"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    again = run(root, "dvc", "repro")
    study = tiny_study()
    expected = {c.stage for c in study.cells() if c.model == "gru" and c.point != "adding-5"} | {"tune@gru"} | PIPELINE
    assert stages_run(again.stdout) == expected
    tuning = pd.read_csv(root / "reports" / "tuning.csv")
    assert set(tuning.loc[tuning.model == "gru", "source"]) == {"hand-set"}
    assert "Hand-set lrs (params.yaml, not the protocol): " + ", ".join(
        f"gru on {task}" for task in study.task_names()) + "." in (root / "reports" / "report.md").read_text()
    assert (root / "runs/adding-5/lstm/seed0/metrics.json").is_file()
    results = pd.read_csv(root / "reports" / "results.csv")
    main = results[results.model.isin(study.models) & (results.lr_source != "search")]
    assert set(main[main.task == "adding"].length) == {8}
    assert set(results[results.model == "lstm-numpy"].length) == {5}  # its side grid keeps adding-5


def test_a_code_change_reruns_exactly_the_cells_whose_code_changed(project, tmp_path):
    root = copy_of(project, tmp_path / "study")
    package = root / "src" / "rnnbench"
    own_code = {"PYTHONPATH": str(root / "src")}  # the stages import the copy's package, not the installed one
    # A new model file: only the cheap planning stages rerun, their outputs byte-identical.
    (package / "models" / "elman_copy.py").write_text(
        "from .fused import RNN\nfrom .network import MODELS\n\nMODELS.register('elman-copy')(RNN)\n")
    assert stale_stages(root) == {"plan-tuning", "configure"}
    assert stages_run(run(root, "dvc", "repro", **own_code).stdout) == {"plan-tuning", "configure"}
    assert stale_stages(root) == set()
    # An edit to one model's file: exactly that model's cells (lstm-numpy copies lstm's lr: its grid's
    # tune stage finds its plan unchanged), in its side grid's one train stage.
    with (package / "models" / "numpy_backed.py").open("a") as source:
        source.write("# edited\n")
    run(root, "dvc", "repro", "--single-item", "plan-tuning", "configure", **own_code)
    assert stale_stages(root) == {"train-side@reference"}
    # An edit to one task's file: the tuning of exactly the models tuned on it (rnn, lstm, gru on
    # xor-5; lstm-cifg tunes on adding only), and what reads the tuning plans (configure, which then
    # changes only that task's configs, and the report).
    with (package / "tasks" / "xor.py").open("a") as source:
        source.write("# edited\n")
    run(root, "dvc", "repro", "--single-item", "generate", "plan-tuning", **own_code)
    assert stale_stages(root) == {"train-side@reference", "tune@rnn", "tune@lstm", "tune@gru", "configure", "report"}


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


def test_the_study_logs_to_a_real_mlflow_server_on_localhost(project, tmp_path):
    """The train stage checks the server; the sync (the report stage's last step) logs every run.
    The copy keeps only the adding grid's run folders: every other run takes the same way into a
    store (test_mlflow_has_each_run_once_... checks them all), and fewer requests keep this short."""
    import json as _json
    import urllib.request

    root = copy_of(project, tmp_path / "study")
    study = tiny_study()
    for cell in study.cells():
        if cell.task != "adding":
            shutil.rmtree(root / cell.run_folder)
    for folder in ("searches", "tuning"):
        shutil.rmtree(root / folder)
    with mlflow_server(tmp_path / "server.db") as base:
        run(root, *TRAIN_RNN_ADDING_5, MLFLOW_TRACKING_URI=base)
        synced = run(root, "rnnbench", "sync-mlflow", MLFLOW_TRACKING_URI=base)  # the report stage's sync
        adding = [c for c in study.cells() if c.task == "adding"]
        n = len(adding) * len(study.seeds)  # the train stage without --stage leaves its cell to the sync
        assert f"mlflow: {n} runs logged now, 0 already in the store" in synced.stdout
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=rnnbench/adding") as r:
            experiment_id = _json.load(r)["experiment"]["experiment_id"]
        body = _json.dumps({"experiment_ids": [experiment_id], "max_results": 100}).encode()
        request = urllib.request.Request(f"{base}/api/2.0/mlflow/runs/search", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as r:
            runs = _json.load(r)["runs"]
        names = sorted(r["info"]["run_name"] for r in runs)
        assert names == sorted([f"{c.model}-T{c.length}-s{s}" for c in adding for s in study.seeds]
                               + [f"{c.model}-T{c.length}" for c in adding])
        rnn = next(r for r in runs if r["info"]["run_name"] == "rnn-T5-s0")
        tags = {t["key"]: t["value"] for t in rnn["data"]["tags"]}
        assert tags["task"] == "adding" and tags["dvc.stage"] == "train@rnn-adding-5"
        assert any(m["key"] == "val/mse" for m in rnn["data"]["metrics"])


def test_train_with_a_cells_configs_file_reproduces_the_study_run_bit_for_bit(project, tmp_path):
    import torch

    root, _ = project
    out = tmp_path / "again"
    run(root, "rnnbench", "train", "--config", "configs/adding-8/lstm.json", "--seed", "1", "--out", str(out))
    study_run = root / "runs/adding-8/lstm/seed1"
    timing = {"wall_s", "steps_per_s", "finished_at", "content_sha256"}  # the seal covers the timings
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


def test_a_corrupt_store_stops_training_before_it_starts_and_never_costs_the_report(project, tmp_path):
    root = copy_of(project, tmp_path / "study")
    target = root / "runs/adding-5/rnn"
    before = sorted(p.read_bytes() for p in target.rglob("*.json"))
    (root / "mlflow.db").write_bytes(b"this is not a database" * 100)
    refused = run(root, *TRAIN_RNN_ADDING_5, check=False)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and "MLFLOW_TRACKING_URI" in lines[0] and "mlflow.db" in lines[0]
    assert sorted(p.read_bytes() for p in target.rglob("*.json")) == before
    (root / "reports" / "report.md").unlink()
    report = run(root, "python", "stages/report.py", check=False)
    assert report.returncode == 2 and "the report is written" in report.stderr
    assert (root / "reports" / "report.md").is_file()


def test_a_misspelled_params_key_fails_repro_naming_it_and_costs_no_data_or_configs(project, tmp_path):
    root = copy_of(project, tmp_path / "study")
    kept = {p: p.read_bytes() for folder in ("data", "configs") for p in (root / folder).rglob("*") if p.is_file()}
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["seed"] = params.pop("seeds")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run(root, "dvc", "repro", check=False)
    assert result.returncode != 0 and "seed: unknown value 'seed'; allowed: seeds" in result.stderr
    assert {p: p.read_bytes() for p in kept} == kept


def test_a_name_with_dots_in_params_cannot_make_a_single_stage_repro_delete_another_folder(project, tmp_path):
    root = copy_of(project, tmp_path / "study")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["side_grids"]["../../src"] = {"models": [], "points": []}  # hand-edited: a grid's name becomes paths
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run(root, "dvc", "repro", "-s", "train-side@../../src", check=False)
    assert result.returncode != 0 and "leaves the repository" in result.stdout + result.stderr
    assert (root / "src" / "rnnbench" / "config.py").is_file()  # DVC deleted src before its outputs persisted


def test_an_edited_run_is_marked_altered_never_reported_and_repro_trains_it_again(project, tmp_path):
    root = copy_of(project, tmp_path / "study")
    seed = root / "runs/adding-5/rnn/seed0"
    (seed / "history.csv").write_text("step,val_mse\nnot,a number\n")  # what crashed the report and the sync
    record = json.loads((seed / "metrics.json").read_text())
    forced = run(root, "dvc", "repro", "--force", "--single-item", "report")
    assert "differs from what its run wrote" in forced.stderr  # the sync skips it, with the reason
    results = pd.read_csv(root / "reports/results.csv")
    row = results[(results.task == "adding") & (results.length == 5) & (results.model == "rnn") & (results.seed == 0)]
    assert row["failed"].item() and row["error"].item().startswith("altered:")
    assert (root / "reports/report.md").is_file() and any((root / "reports/figures").iterdir())
    again = run(root, "dvc", "repro")  # the cell's outs changed: DVC reruns it, and the stage retrains the seed
    assert "train@rnn-adding-5" in stages_run(again.stdout)
    assert json.loads((seed / "metrics.json").read_text())["test_metric"] == record["test_metric"]
    assert not pd.read_csv(root / "reports/results.csv")["failed"].any()

"""End-to-end tests that need a study of their own (a plugin model or task, a broken cell, a
broken params file, an added seed) rather than the tiny grid's `dvc repro` in test_pipeline_e2e.py.
The tests that rerun a changed two-model study share its first `dvc repro`, each changing a copy.
"""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dvc_project import (NO_SEARCH, PIPELINE, REPO, copy_of, make_project, mlflow_runs, run, search_stages, stages_run,
                         stale_stages, tiny_study, tune_stages)
from rnnbench.study import load_study

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def rnn_lstm_project(tmp_path_factory):
    """rnn and lstm at adding-5 and xor-5, and the NumPy reference beside lstm, after one `dvc repro`:
    where the tests that change a study and rerun it start (each changes a copy)."""
    root = make_project(tmp_path_factory.mktemp("rnn-lstm") / "study", models=["rnn", "lstm"],
                        points=["adding-5", "xor-5"], search=NO_SEARCH,
                        tune={**tiny_study_params()["tune"], "points": ["adding-5", "xor-5"]},
                        side_grids={"reference": {"models": ["lstm-numpy"], "points": ["adding-5"],
                                                  "compares_to": "lstm"}})
    return root, run(root, "dvc", "repro").stdout


def test_a_cell_that_fails_in_a_dispatch_is_reported_and_not_recorded(tmp_path):
    root = make_project(tmp_path / "study")
    shutil.copytree(Path(__file__).parent / "plugins" / "mypkg", root / "src" / "mypkg")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(models=["lstm", "mypkg.cells.Broken"], points=["adding-5"], per_model={}, tune={"lrs": []}, search=NO_SEARCH,
                  side_grids={})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run(root, "rnnbench", "dispatch", "--jobs", "2", check=False)
    assert result.returncode == 1 and result.stdout.strip().splitlines()[-1] == "dispatched 2 cells, 1 of them failed"
    for seed in (0, 1):  # each run is a job of its own, and each failure is reported as it comes back
        assert (f"dispatch: FAILED train@mypkg.cells.Broken-adding-5: seed {seed}: RuntimeError: broken on purpose; "
                "not recorded, it stays stale") in result.stderr
    assert not (root / "runs/adding-5/mypkg.cells.Broken").exists()  # a failure is never a result
    stale = stale_stages(root)
    assert "train@mypkg.cells.Broken-adding-5" in stale and "train@lstm-adding-5" not in stale


def test_a_dispatch_holds_dvcs_lock_while_it_trains_and_lands_no_cell_whose_configs_changed_under_it(tmp_path):
    import subprocess
    import time

    from dvc_project import env_for

    root = make_project(tmp_path / "study")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(models=["gru"], points=["adding-5"], tune={"lrs": []}, search=NO_SEARCH, primary_contrasts=[],
                  per_model={"gru": {"train": {"steps": 3000, "early_stop": False, "lr": 0.01}}},  # a long cell
                  side_grids={})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    log = tmp_path / "dispatch.err"
    with log.open("w") as err:
        driver = subprocess.Popen(["rnnbench", "dispatch", "--jobs", "2"], cwd=root, env=env_for(root),
                                  stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            deadline = time.monotonic() + 300
            while "dispatch: 1 stale cells" not in log.read_text():
                assert driver.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
            refused = run(root, "dvc", "repro", "configure", check=False)  # DVC's own refusal
            assert refused.returncode != 0 and "Unable to acquire lock" in refused.stderr + refused.stdout
            params["per_model"]["gru"]["train"]["steps"] = 2000  # then the configs rewritten behind DVC's back
            (root / "params.yaml").write_text(yaml.safe_dump(params))
            run(root, "python", "stages/configure.py")
            out, _ = driver.communicate(timeout=600)
        finally:
            driver.kill()
    assert driver.returncode == 1 and out.strip().splitlines()[-1] == "dispatched 1 cells, 1 of them failed"
    assert ("dispatch: FAILED train@gru-adding-5: configs/adding-5/gru.json changed while the cell trained"
            in log.read_text())
    assert not (root / "runs/adding-5/gru").exists()  # trained with 3000 steps, configured for 2000: not landed
    assert "train@gru-adding-5" in stale_stages(root)


def test_broken_params_yaml_is_refused_with_the_offending_key(tmp_path):
    root = make_project(tmp_path / "study")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"] = ["rnn", "lsmt"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run(root, "python", "stages/generate.py", check=False)
    assert result.returncode == 2
    assert "models[1]: unknown model 'lsmt' (did you mean lstm?); allowed:" in result.stderr and "rnn, lstm, gru" in result.stderr
    assert not (root / "data").exists()


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

    planned = [*(root / "tuning" / "plans").glob("*.json"), *(root / "tuning" / "plans" / "side").glob("*/*.json")]
    assert len(planned) == len(study.every_model())
    for model in study.every_model():
        assert read_tuning(root / tuning_plan_file(model, study.grid_of(model))) == (model, study.tuning_plan(model))


def test_a_model_and_a_task_by_import_path_run_through_dvc_repro(tmp_path):
    """One file each in the project's src/ plus params lines: no edit to dvc.yaml or rnnbench."""
    root = make_project(tmp_path / "study")
    shutil.copytree(Path(__file__).parent / "plugins" / "mypkg", root / "src" / "mypkg")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(models=["lstm", "mypkg.cells.MyCell"], points=["adding-5", "mypkg.tasks.FirstBit-6"],
                  side_grids={},
                  tune={**params["tune"], "points": ["adding-5", "mypkg.tasks.FirstBit-6"]}, per_model={},
                  search=NO_SEARCH)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    first = run(root, "dvc", "repro")
    cells = {f"train@{m}-{p}" for m in params["models"] for p in params["points"]}
    tunes = {f"tune@{m}" for m in params["models"]}
    assert stages_run(first.stdout) == cells | tunes | PIPELINE | search_stages() | {"speed"}

    results = pd.read_csv(root / "reports" / "results.csv")
    assert len(results) == 4 * 2 and not results["failed"].any()
    assert set(results.task) == {"adding", "mypkg.tasks.FirstBit"}
    own = root / "runs" / "mypkg.tasks.FirstBit-6" / "mypkg.cells.MyCell" / "seed0"
    record = json.loads((own / "metrics.json").read_text())
    assert record["diagnostics"].startswith("unavailable: the cell MyCell has no unroll")
    assert not (own / "gradflow.csv").exists() and (own / "model.pt").is_file()
    assert (root / "runs" / "mypkg.tasks.FirstBit-6" / "lstm" / "seed0" / "gradflow.csv").is_file()
    assert "mypkg.tasks.FirstBit" in (root / "reports" / "report.md").read_text()

    # Editing the user's model file makes exactly its cells stale, through its hash in the tuning plan
    # and the configs files: once the stages that write them have run, DVC finds only these changed.
    cells_file = root / "src" / "mypkg" / "cells.py"
    cells_file.write_text(cells_file.read_text() + "\n# edited\n")
    planning = ("plan-tuning", "tune@mypkg.cells.MyCell", "configure")
    assert stages_run(run(root, "dvc", "repro", "--single-item", *planning).stdout) == set(planning)
    stale = stale_stages(root)
    assert stale == {c for c in cells if "MyCell" in c} | {"speed", "report"}  # its speed is its code's


def test_a_failed_seed_fails_its_stage_and_the_next_repro_trains_it_again(tmp_path):
    root = make_project(tmp_path / "study")
    shutil.copytree(Path(__file__).parent / "plugins" / "mypkg", root / "src" / "mypkg")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(models=["mypkg.cells.Broken"], points=["adding-5"], per_model={},
                  side_grids={})
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


def test_an_experiment_that_adds_a_seed_trains_and_logs_only_that_seed(rnn_lstm_project, tmp_path):
    root = copy_of(rnn_lstm_project, tmp_path / "study")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "study run")
    before = {p: p.read_bytes() for p in root.glob("runs/**/seed*/metrics.json")}
    cells = len(before) // 2  # rnn and lstm at adding-5 and xor-5, the reference grid's lstm-numpy at adding-5
    assert cells == 5 and len(mlflow_runs(root)) == 2 * cells

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


def cell_lrs(root: Path) -> dict[str, float]:
    return {p.relative_to(root).as_posix(): json.loads(p.read_text())[0]["train"]["lr"]
            for p in (root / "configs").glob("*/*.json")}  # configs/<point>/<model>.json: one per cell


def tiny_study_params() -> dict:
    return yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text())


def test_changing_the_sweep_retunes_and_retrains_only_the_cells_whose_lr_changed(rnn_lstm_project, tmp_path):
    root = copy_of(rnn_lstm_project, tmp_path / "study")
    study = load_study(root / "params.yaml")
    before = cell_lrs(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tune"]["lrs"] = params["tune"]["ladder"] = [0.01, 0.03]  # a ladder without 0.003: no walk back to it
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    again = run(root, "dvc", "repro")
    after = cell_lrs(root)
    changed = {path for path in before if before[path] != after[path]}
    assert changed  # the first sweep chose 0.003 somewhere, which the new sweep lacks
    retrained = {c.stage for c in study.cells() if c.configs_file.as_posix() in changed}
    copying = {"tune-side@reference"}  # its plan copies lstm's lr: unchanged, not rerun
    assert stages_run(again.stdout) == retrained | (tune_stages(study) - copying) | PIPELINE
    tuning = pd.read_csv(root / "reports" / "tuning.csv")
    assert set(tuning.loc[tuning.source == "tuned", "lr"]) == {0.01, 0.03}


def test_editing_a_user_corpus_under_corpora_reruns_the_data_the_sweeps_and_the_charlm_cells(tmp_path):
    root = make_project(tmp_path / "study")
    (root / "corpora" / "mine.txt").write_text("the quick brown fox jumps over the lazy dog. " * 400)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(models=["rnn"], points=["charlm-10"], search=NO_SEARCH, primary_contrasts=[], per_model={},
                  tune={**params["tune"], "points": ["charlm-10"]},
                  tasks={"charlm": {"options": {"corpus": "corpora/mine.txt", "corpus_chars": 18000}}},
                  side_grids={})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "a user corpus")
    run(root, "dvc", "repro")
    samples = pd.read_csv(root / "reports" / "samples.csv", keep_default_na=False)  # its own prime: no 'ROMEO:' here
    assert set(samples["prime"]) == {" "} and all(text.startswith(" ") for text in samples["text"])
    before = (root / "runs/charlm-10/rnn/seed0/metrics.json").read_text()
    (root / "corpora" / "mine.txt").write_text("pack my box with five dozen liquor jugs! " * 450)
    stale = stale_stages(root)
    assert {"generate", "tune@rnn"} <= stale  # DVC sees the edit: it is a dependency of both
    again = run(root, "dvc", "repro", "train@rnn-charlm-10")  # the cell and what it depends on
    assert {"generate", "tune@rnn", "train@rnn-charlm-10"} <= stages_run(again.stdout)
    assert (root / "runs/charlm-10/rnn/seed0/metrics.json").read_text() != before


def test_a_corpus_outside_corpora_is_refused_naming_the_key_before_any_work(tmp_path):
    root = make_project(tmp_path / "study")
    (root / "mine.txt").write_text("some text " * 500)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tasks"] = {"charlm": {"options": {"corpus": "mine.txt"}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    refused = run(root, "dvc", "repro", check=False)
    assert refused.returncode != 0 and "tasks.charlm.options.corpus: 'mine.txt' is not a file under corpora/" in refused.stderr
    assert not (root / "data").exists() and not (root / "runs").exists()

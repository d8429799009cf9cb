"""Specifications of the study's steps (rnnbench/steps): the DVC stages and `rnnbench study` run the
same functions over the same files."""
import json
from pathlib import Path

import yaml

from rnnbench.config import Execution
from rnnbench.steps.configure import plan_tuning
from rnnbench.steps.tune import TUNING_EXECUTION_FILE
from rnnbench.study import parse_study

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text())


def test_plan_tuning_writes_the_execution_settings_the_tune_stages_read_before_configure_runs(tmp_path):
    study = parse_study({**TINY, "seed_processes": 1, "engine": "processes"})
    assert plan_tuning(study, tmp_path) == 0
    assert Execution.read(tmp_path / TUNING_EXECUTION_FILE) == study.execution
    assert not (tmp_path / "configs").exists()  # configure, downstream of tune, has not run
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert TUNING_EXECUTION_FILE.is_relative_to(next(iter(stages["plan-tuning"]["outs"][0])))  # its output
    assert "TUNING_EXECUTION_FILE" in (REPO / "stages" / "tune.py").read_text()


def test_the_study_command_runs_every_step_and_writes_the_files_the_dvc_stages_write(tmp_path):
    from rnnbench.steps.sequence import run_study

    params = {**TINY, "seeds": [0], "points": ["adding-5"], "models": ["gru"],
              "side_grids": {},
              "tune": {**TINY["tune"], "lrs": [], "points": []}, "per_model": {}, "primary_contrasts": []}
    study = parse_study(params)
    assert run_study(study, tmp_path, with_report=False) == 0
    for written in ("data/adding-5/meta.json", "configs/adding-5/gru.json", "configs/execution.json",
                    "runs/adding-5/gru/seed0/metrics.json", "reports/speed.csv", TUNING_EXECUTION_FILE):
        assert (tmp_path / written).is_file(), written
    record = json.loads((tmp_path / "runs/adding-5/gru/seed0/metrics.json").read_text())
    assert record["config"] == json.loads((tmp_path / "configs/adding-5/gru.json").read_text())[0]

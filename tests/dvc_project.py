"""A study project for the end-to-end tests: the repository's dvc.yaml, stages and src copied into
a temp git + DVC repository with a study file as params.yaml, and the real `dvc`, `rnnbench` and
`mlflow` commands run in it."""
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

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


def stale_stages(root: Path) -> set[str]:
    """The stages `dvc status` finds changed."""
    return set(json.loads(run(root, "dvc", "status", "--json").stdout))


def make_project(dest: Path, params: Path = REPO / "studies" / "tiny.yaml", **changes) -> Path:
    """A new project at `dest` whose params.yaml is the study file `params` with the top-level
    `changes` applied, committed to git; nothing run yet."""
    dest.mkdir()
    for name in ("dvc.yaml", ".dvcignore", "stages", "src", "corpora"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, dest / name)
    study = yaml.safe_load(params.read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump({**study, **changes}, sort_keys=False))
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


def search_stages(study=None) -> set[str]:
    """The searches' stage: one, there with no searches too (its plans folder is then empty)."""
    from rnnbench.search.runner import SEARCH_STAGE

    return {SEARCH_STAGE}


NO_SEARCH = {"models": [], "tasks": []}  # a variant that tests something else skips the searches' minute


def tune_stages(study) -> set[str]:
    """tune@<model> for each main-grid model, tune-side@<grid> for each side grid."""
    return {study.tune_stage(m) for m in study.every_model()} | {f"tune-side@{grid}" for grid in study.side_grids}


def copy_of(project, dest: Path) -> Path:
    """A copy of the module's project after its `dvc repro` (git, DVC cache and outputs, MLflow
    store), for a test that changes it."""
    root, _ = project
    shutil.copytree(root, dest, symlinks=True)
    return dest


def mlflow_runs(root: Path, level: str = "seed") -> pd.DataFrame:
    """The store's seed runs (`level="seed"`) or cell runs (`"cell"`)."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, max_results=10_000)
    if runs.empty:
        return runs
    return runs[runs["tags.run_key" if level == "seed" else "tags.cell_key"].notna()].reset_index(drop=True)


TIMINGS = ["wall_s", "steps_per_s", "finished_at"]  # what may differ between two runs of the same cell


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

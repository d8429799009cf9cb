"""Which code a run depends on is stated once (rnnbench.layout) and dvc.yaml follows it; a model's
or task's own code is hashed into its configs; a module that fails to import costs only itself."""
import importlib
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from rnnbench.layout import (NOT_RESULT_CODE, PACKAGE, SHARED_TRAINING_CODE, dvc_dependency, is_shared_training_code,
                             shared_training_files)
from rnnbench.models import MODELS
from rnnbench.registry import import_submodules, imported_modules, source_files, source_sha256
from rnnbench.tasks import TASKS
from rnnbench.training import run_outputs

REPO = Path(__file__).resolve().parents[1]
TRAINING_STAGES = ("tune", "tune-side", "train", "train-side")


def stage_spec(name: str) -> dict:
    """A stage's definition in dvc.yaml (a side grid's foreach stage: its `do` block)."""
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][name]
    return spec.get("do", spec)


@pytest.mark.parametrize("stage", TRAINING_STAGES)
def test_every_stage_that_trains_depends_on_exactly_its_step_and_the_shared_training_core(stage):
    code = [d for d in stage_spec(stage)["deps"] if d.startswith("src/")]
    step = f"steps/{stage.split('-')[0]}.py"
    assert code == [dvc_dependency(step), *(dvc_dependency(name) for name in SHARED_TRAINING_CODE)]


def test_dvc_runs_the_sequencers_steps_in_its_order_and_each_stage_script_calls_its_step_only():
    from rnnbench.steps.sequence import STEPS

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == list(STEPS)
    for script in (REPO / "stages").glob("*.py"):
        imported = {n for n in imported_modules("__main__", script) if n.startswith("rnnbench.")}
        steps = {n for n in imported if n.startswith("rnnbench.steps.")}
        assert steps, f"{script.name} calls no step"
        assert imported - steps <= {"rnnbench.config", "rnnbench.config.Execution", "rnnbench.config.EXECUTION_FILE",
                                    "rnnbench.config.require_inside", "rnnbench.process_exit",
                                    "rnnbench.process_exit.stage_main", "rnnbench.study", "rnnbench.study.load_study"}, \
            f"{script.name} does more than parse its arguments and call its step"


def test_the_tune_steps_execution_file_lies_in_plan_tunings_output_where_no_plan_can_take_its_name():
    from rnnbench.steps.tune import TUNING_EXECUTION_FILE
    from rnnbench.study import TUNING_PLANS, tuning_plan_file

    assert TUNING_EXECUTION_FILE.parent.parent == TUNING_PLANS  # inside the plans' output, in a folder:
    assert all(tuning_plan_file(m).parent == TUNING_PLANS for m in MODELS.names())  # plans lie directly in it


def import_closure(script: Path) -> set[str]:
    """The rnnbench modules a stage script imports, directly or not, as package-relative paths; the
    imports of a module that cannot change a result are not followed."""
    found, seen, todo = set(), set(), [("__main__", script)]
    while todo:
        module, path = todo.pop()
        if path in seen or (path.is_relative_to(PACKAGE) and path.relative_to(PACKAGE).as_posix() in NOT_RESULT_CODE):
            continue
        seen.add(path)
        for name in (n for n in imported_modules(module, path) if n.split(".")[0] == "rnnbench"):
            try:
                file = importlib.import_module(name).__file__
            except ImportError:  # `from pkg import name` where name is not a module
                continue
            found.add(Path(file).resolve().relative_to(PACKAGE).as_posix())
            todo.append((name, Path(file).resolve()))
    return found


@pytest.mark.parametrize("stage", ["generate", "plan-tuning", "tune", "tune-side", "configure", "search", "train",
                                   "train-side", "speed", "report"])
def test_each_stages_code_dependencies_cover_what_its_script_imports_but_what_cannot_change_a_result(stage):
    spec = stage_spec(stage)
    deps = [d for d in spec["deps"] if isinstance(d, str)]
    script = REPO / next(d for d in deps if d.startswith("stages/"))
    covered = ["" if d == "src" else d.removeprefix("src/rnnbench/") for d in deps if d == "src" or d.startswith("src/rnnbench")]
    imported = import_closure(script) - set(NOT_RESULT_CODE)
    uncovered = {f for f in imported if not any(c == "" or f == c or f.startswith(c + "/") for c in covered)}
    assert imported and not uncovered, f"{stage} imports {sorted(uncovered)} outside its dvc.yaml deps"
    assert "cli.py" not in imported  # no stage imports the CLI, which imports everything


def test_no_registered_model_or_task_lives_in_the_shared_core_and_each_has_its_own_code():
    for registry in (MODELS, TASKS):
        for name in registry.names():
            files = source_files(registry.resolve(name))
            assert files and not any(is_shared_training_code(f) for f in files), name
            assert registry.source_sha256(name) == source_sha256(registry.resolve(name))


def test_a_models_code_is_its_module_and_what_it_imports_outside_the_core():
    names = {p.relative_to(REPO / "src/rnnbench").as_posix() for p in source_files(MODELS.resolve("lstm-numpy"))}
    assert names == {"models/numpy_backed.py", "models/fused.py", "models/unrolled.py",
                     "models/reference/__init__.py", "models/reference/cells.py"}


def test_the_code_checksum_covers_the_shared_core_only():
    files = shared_training_files()
    assert REPO / "src/rnnbench/training/trainer.py" in files and REPO / "src/rnnbench/models/network.py" in files
    assert not any(f.name in ("fused.py", "adding.py") for f in files)
    assert len(run_outputs.code_checksum()) == 16


@pytest.fixture
def user_package(tmp_path, monkeypatch, request):
    """A package `pkg_<test>` in tmp_path: cells.py imports parts.py; other.py is unrelated."""
    name = f"pkg_{request.node.name.replace('[', '_').replace(']', '_').replace('-', '_')}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "parts.py").write_text("SCALE = 2\n")
    (root / "other.py").write_text("UNRELATED = 1\n")
    (root / "cells.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        from rnnbench.models import MODELS
        from .parts import SCALE

        class Cell(nn.GRU):
            def __init__(self, input_size, hidden_size, num_layers):
                super().__init__(input_size, hidden_size * SCALE // 2, num_layers, batch_first=True)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root, importlib.import_module(f"{name}.cells").Cell
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def test_editing_a_module_the_model_imports_changes_its_hash_and_an_unrelated_or_new_file_does_not(user_package):
    root, cell = user_package
    before = source_sha256(cell)
    assert {p.name for p in source_files(cell)} == {"cells.py", "parts.py"}  # rnnbench.models is shared
    (root / "other.py").write_text("UNRELATED = 2\n")
    (root / "new_model.py").write_text("X = 1\n")
    assert source_sha256(cell) == before
    (root / "parts.py").write_text("SCALE = 2  # edited\n")
    assert source_sha256(cell) != before


def test_a_module_that_fails_to_import_is_skipped_with_one_line_naming_its_file_and_cause(tmp_path, monkeypatch, capsys):
    root = tmp_path / "pkg_broken_one"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "good.py").write_text("LOADED = True\n")
    (root / "broken.py").write_text("import torch\nraise RuntimeError('half-written\\nmodel')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import_submodules("pkg_broken_one", [str(root)])
    assert sys.modules["pkg_broken_one.good"].LOADED
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"rnnbench: skipped {root / 'broken.py'} (RuntimeError: half-written model); "
                     "what it defines is unavailable"]


def dvc_stages(root: Path) -> dict[str, str]:
    """`dvc stage list` in `root`: stage name -> its outputs as DVC prints them."""
    import subprocess
    import sys

    dvc = Path(sys.executable).with_name("dvc")
    lines = subprocess.run([str(dvc), "stage", "list"], cwd=root, capture_output=True, text=True, check=True).stdout
    return dict(line.split(None, 1) for line in lines.splitlines() if line.strip())


@pytest.mark.parametrize("params", ["params.yaml", "studies/tiny.yaml", "studies/long-cpu.yaml"])
def test_dvcs_expanded_stage_names_and_outputs_are_the_ones_python_states(params, tmp_path):
    import shutil

    from rnnbench.search.runner import SEARCH_STAGE
    from rnnbench.study import CONFIGS, RUNS, TUNING, TUNING_PLANS, load_study, side_folder, tuning_result_file

    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copy(REPO / params, root / "params.yaml")
    (root / ".dvc").mkdir()  # a DVC repository without git: `dvc stage list` reads dvc.yaml and params only
    (root / ".dvc" / "config").write_text("[core]\n    no_scm = true\n")
    stages = dvc_stages(root)
    study = load_study(root / "params.yaml")
    assert {n for n in stages if n.startswith("search")} == {SEARCH_STAGE}
    assert {n for n in stages if n.startswith("train")} == {cell.stage for cell in study.cells()} | \
        {f"train-side@{grid}" for grid in study.side_grids}
    assert {n for n in stages if n.startswith("tune")} == {study.tune_stage(m) for m in study.every_model()} | \
        {f"tune-side@{grid}" for grid in study.side_grids}
    for cell in study.cells():  # a main cell's stage writes its folder; a grid's stage the folder of all its cells
        out = side_folder(RUNS, cell.group) if cell.group else cell.run_folder
        assert stages[cell.stage] == f"Outputs {out.as_posix()}" and cell.run_folder.is_relative_to(out)
    for model in study.every_model():
        grid = study.grid_of(model)
        out = side_folder(TUNING, grid) if grid else tuning_result_file(model)
        assert stages[study.tune_stage(model)] == f"Outputs {out.as_posix()}"
        assert tuning_result_file(model, grid).is_relative_to(out)
    for grid in study.side_grids:  # the commands name the folders study.side_folder names
        train, tune = (stage_spec(name)["cmd"].replace("${key}", grid).split() for name in ("train-side", "tune-side"))
        assert {side_folder(CONFIGS, grid).as_posix(), side_folder(RUNS, grid).as_posix()} <= set(train)
        assert {side_folder(TUNING_PLANS, grid).as_posix(), side_folder(TUNING, grid).as_posix()} <= set(tune)

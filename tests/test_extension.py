"""Bringing your own model: `rnnbench check-model` on a registry name and on import paths, and the
import-direction contracts that keep the training core independent of the study."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnbench.cli import main

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def user_project(tmp_path, monkeypatch):
    """A working directory whose src/ holds the user's package, as in a project of their own."""
    shutil.copytree(PLUGINS / "mypkg", tmp_path / "src" / "mypkg")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


def test_check_model_passes_a_registry_model_with_its_diagnostics(capsys):
    assert main(["check-model", "gru", "--steps", "60"]) == 0
    out = capsys.readouterr().out
    assert "model gru:" in out and "parameters    977 " in out  # 3*(16*2+16*16+2*16) + 17
    assert "backward reaches 4 of 4 parameter tensors" in out
    assert "available: gradient flow through time, gate traces r z n (unroll matches forward" in out
    assert "verdict: gru can be trained by rnnbench" in out


@pytest.mark.parametrize("spelling", ["mypkg.cells.MyCell", "mypkg.cells:MyCell"])
def test_check_model_passes_an_import_path_model_and_says_it_has_no_diagnostics(user_project, capsys, spelling):
    assert main(["check-model", spelling, "--steps", "60"]) == 0
    out = capsys.readouterr().out
    assert "model mypkg.cells.MyCell: mypkg.cells.MyCell" in out
    assert "diagnostics   unavailable: the cell MyCell has no unroll(x, trace) method" in out


def test_check_model_refuses_a_cell_that_breaks_the_contract_in_one_line(user_project, capsys):
    assert main(["check-model", "mypkg.cells.WrongShape"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "returned output (4, 16); expected [batch, time, hidden] = (4, 7, 16)" in err[0]


@pytest.mark.parametrize("name,message", [
    ("nopkg.Cell", "cannot import module 'nopkg'"),
    ("mypkg.cells.Nothing", "module 'mypkg.cells' has no 'Nothing'"),
    ("mypkg.tasks.FirstBit", "'mypkg.tasks.FirstBit' is not a torch.nn.modules.module.Module class"),
    ("../evil", "unknown model '../evil'"),
])
def test_check_model_refuses_what_is_not_a_model(user_project, capsys, name, message):
    assert main(["check-model", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_imports_point_one_way_and_the_training_core_needs_only_torch_and_numpy():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout

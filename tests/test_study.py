"""params.yaml -> Study: the grid of cells, the side grids, and refusals naming the key."""
import copy
from pathlib import Path

import pytest
import yaml

from rnnbench.config import ConfigError
from rnnbench.study import Cell, parse_study

TINY = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny.yaml").read_text())


def params(**changes):
    p = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = p
        for key in path:
            node = node[key]
        node[last] = value
    return p


def test_main_grid_is_every_model_at_every_length_of_every_task():
    study = parse_study(params())
    main = {c for c in study.cells() if not c.group}
    assert main == {Cell(t, m, n) for t in ("adding", "xor") for m in ("rnn", "lstm", "gru")
                    for n in TINY["tasks"][t]["lengths"]}


def test_side_grid_cells_belong_to_their_own_stage():
    study = parse_study(params())
    side = [c for c in study.cells() if c.group]
    assert {(c.group, c.model, c.stage) for c in side} == {
        ("reference", "lstm-numpy", "train-reference@lstm-numpy-5"),
        ("ablations", "lstm-cifg", "train-ablations@lstm-cifg-5"),
    }
    assert study.cell("adding", "lstm-numpy", 5).group == "reference"


def test_a_cell_outside_the_study_is_refused():
    with pytest.raises(ConfigError, match="lstm-numpy T=8 is not in the study"):
        parse_study(params()).cell("adding", "lstm-numpy", 8)


def test_side_grid_length_must_be_generated_by_its_task():
    with pytest.raises(ConfigError, match=r"side_grids.reference.lengths: \[7\] not in tasks.adding.lengths"):
        parse_study(params(side_grids__reference__lengths=[7]))


def test_side_grid_model_may_not_repeat_a_main_grid_model():
    with pytest.raises(ConfigError, match=r"side_grids.ablations.models\[0\]: 'lstm' is already in `models`"):
        parse_study(params(side_grids__ablations__models=["lstm"]))


def test_unknown_side_grid_model_lists_the_allowed_names():
    with pytest.raises(ConfigError, match=r"side_grids.reference.models\[0\]: unknown value 'lstm-jax'; allowed: .*lstm-numpy"):
        parse_study(params(side_grids__reference__models=["lstm-jax"]))


def test_missing_side_grid_is_refused_by_name():
    p = params()
    del p["side_grids"]["ablations"]
    with pytest.raises(ConfigError, match="side_grids.ablations: missing"):
        parse_study(p)


def test_a_model_without_a_per_model_entry_trains_with_the_shared_settings():
    p = params()
    del p["per_model"]["lstm-numpy"]
    study = parse_study(p)
    config = study.run_config(study.cell("adding", "lstm-numpy", 5), 0)
    assert config.train.lr == TINY["train"]["lr"] and config.model.hidden_size == TINY["model"]["hidden_size"]


def test_resolved_configs_hold_every_seeds_full_config_and_follow_per_model_changes():
    cell = Cell("adding", "gru", 5)
    configs = parse_study(params()).resolved_configs(cell)
    assert [c["seed"] for c in configs] == TINY["seeds"]
    changed = parse_study(params(per_model__gru={"train": {"lr": 0.5}})).resolved_configs(cell)
    assert [c["train"]["lr"] for c in changed] == [0.5] * len(TINY["seeds"])
    assert parse_study(params(per_model__gru={"train": {"lr": 0.5}})).resolved_configs(Cell("adding", "lstm", 5)) == \
        parse_study(params()).resolved_configs(Cell("adding", "lstm", 5))


def test_empty_side_grid_adds_no_cells():
    study = parse_study(params(side_grids__reference__models=[], side_grids__ablations__models=[]))
    assert all(not c.group for c in study.cells())

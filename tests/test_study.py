"""params.yaml -> Study: the grid of cells, the side grids, and refusals naming the key."""
import copy
from pathlib import Path

import pytest
import yaml

from rnnbench.config import ConfigError, read_run_configs
from rnnbench.study import Cell, load_study, parse_study

TINY = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny.yaml").read_text())


def params(**changes):
    p = copy.deepcopy(TINY)
    p.setdefault("per_model", {})
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = p
        for key in path:
            node = node[key]
        node[last] = value
    return p


def test_main_grid_is_every_model_at_every_point_in_params_order():
    study = parse_study(params())
    main = [(c.task, c.model, c.length) for c in study.cells() if not c.group]
    lengths = {"adding": [5, 8], "xor": [5], "copy": [3], "sine": [5], "charlm": [10]}
    assert main == [(t, m, n) for t in lengths for m in TINY["models"] for n in lengths[t]]


def test_a_cell_is_named_by_its_point_in_stage_folder_and_configs_file():
    cell = [c for c in parse_study(params()).cells() if (c.model, c.task, c.length) == ("lstm", "adding", 8)][0]
    assert cell.stage == "train@lstm-adding-8"
    assert cell.run_folder.as_posix() == "runs/adding-8/lstm" and cell.seed_folder(1).name == "seed1"
    assert cell.configs_file.as_posix() == "configs/adding-8/lstm.json" and cell.data_folder.as_posix() == "data/adding-8"


def test_a_side_grids_cells_share_its_stage_and_live_under_side_and_its_name():
    side = [c for c in parse_study(params()).cells() if c.group]
    assert {(c.group, c.stage, c.run_folder.as_posix(), c.configs_file.as_posix()) for c in side} == {
        ("reference", "train-side@reference", "runs/side/reference/adding-5/lstm-numpy",
         "configs/side/reference/adding-5/lstm-numpy.json"),
        ("ablations", "train-side@ablations", "runs/side/ablations/adding-5/lstm-cifg",
         "configs/side/ablations/adding-5/lstm-cifg.json")}


def test_side_grids_are_optional_and_any_number_by_name():
    p = params()
    del p["side_grids"]
    assert all(not c.group for c in parse_study(p).cells())
    grids = {"forget-gate": {"models": ["lstm-fb0", "lstm-nfg"], "points": ["adding-5", "adding-8"], "compares_to": "lstm"},
             "peephole": {"models": ["lstm-peephole"], "points": ["adding-8"], "compares_to": {"lstm-peephole": "lstm"},
                          "figure": "curves", "about": "Gers and Schmidhuber 2000."}}
    study = parse_study(params(side_grids=grids))
    assert {c.stage for c in study.cells() if c.group} == {"train-side@forget-gate", "train-side@peephole"}
    assert len([c for c in study.cells() if c.group == "forget-gate"]) == 4
    assert study.side_grids["forget-gate"].compares_to == {"lstm-fb0": "lstm", "lstm-nfg": "lstm"}
    assert study.side_grids["forget-gate"].compared(study.models) == ["lstm", "lstm-fb0", "lstm-nfg"]
    assert study.tune_stage("lstm-peephole") == "tune-side@peephole" and study.tune_stage("lstm") == "tune@lstm"


@pytest.mark.parametrize("grid,message", [
    ({"models": ["lstm-fb0"], "points": ["adding-5"]}, r"side_grids.g.compares_to: missing; name the main-grid model"),
    ({"models": ["lstm-fb0"], "points": ["adding-5"], "compares_to": "lstm-nfg"},
     r"side_grids.g.compares_to.lstm-fb0: unknown value 'lstm-nfg'; allowed: rnn, lstm, gru"),
    ({"models": ["lstm-fb0"], "points": ["adding-5"], "compares_to": {"gru": "lstm"}},
     r"side_grids.g.compares_to.gru: not one of the grid's models \(lstm-fb0\)"),
    ({"models": ["lstm-fb0"], "points": ["adding-5"], "compares_to": "lstm", "figure": "pie"},
     r"side_grids.g.figure: unknown value 'pie'; allowed: bars, curves"),
    ({"models": ["lstm-fb0"], "points": ["adding-5"], "compares_to": "lstm", "colour": "red"},
     r"side_grids.g.colour: unknown value 'colour'; allowed: models, points, compares_to, about, figure"),
])
def test_a_bad_side_grid_is_refused_naming_its_key(grid, message):
    with pytest.raises(ConfigError, match=message):
        parse_study(params(side_grids={"g": grid}))


@pytest.mark.parametrize("name", ["../../src", "Ablations", "a b", "side/x"])
def test_a_side_grid_name_that_could_not_be_a_folder_or_stage_name_is_refused(name):
    with pytest.raises(ConfigError, match=r"a grid's name must be lower-case letters, digits and '-'"):
        parse_study(params(side_grids={name: {"models": [], "points": []}}))


def test_one_model_in_two_side_grids_is_refused_naming_both():
    grids = {"a": {"models": ["lstm-fb0"], "points": ["adding-5"], "compares_to": "lstm"},
             "b": {"models": ["lstm-fb0"], "points": ["adding-8"], "compares_to": "lstm"}}
    with pytest.raises(ConfigError, match=r"side_grids.b.models\[0\]: 'lstm-fb0' is already in side_grids.a"):
        parse_study(params(side_grids=grids))


@pytest.mark.parametrize("point,message", [
    ("adding5", r"points\[0\]: a point is <task>-<length>"),
    ("adding-1", r"points\[0\]: adding needs an integer length >= 2"),
    ("parity-5", r"points\[0\]: unknown task 'parity'; allowed: adding, .*import path"),
])
def test_a_bad_point_is_refused_naming_it(point, message):
    with pytest.raises(ConfigError, match=message):
        parse_study(params(points=[point]))


def test_an_import_path_with_a_colon_is_refused_with_the_dotted_spelling():
    with pytest.raises(ConfigError, match=r"models\[0\]: write the import path with dots \('torch.nn.LSTM'\)"):
        parse_study(params(models=["torch.nn:LSTM"]))


def test_a_model_that_does_not_import_is_refused_before_any_stage_runs():
    with pytest.raises(ConfigError, match=r"models\[0\]: cannot import module 'nopkg.cells'"):
        parse_study(params(models=["nopkg.cells.Cell"]))


def test_side_grid_model_may_not_repeat_a_main_grid_model():
    with pytest.raises(ConfigError, match=r"side_grids.ablations.models\[0\]: 'lstm' is already in `models`"):
        parse_study(params(side_grids__ablations__models=["lstm"]))


def test_unknown_side_grid_model_lists_the_allowed_names():
    with pytest.raises(ConfigError, match=r"side_grids.reference.models\[0\]: unknown model 'lstm-jax' \(did you mean lstm\?\); allowed: .*lstm-numpy"):
        parse_study(params(side_grids__reference__models=["lstm-jax"]))


def test_a_task_without_a_params_block_runs_with_its_default_options():
    study = parse_study(params())
    assert "tasks" not in TINY
    assert study.run_config(Cell("xor", "gru", 5), 0).task.options == {"solved_accuracy": 0.99}


def test_a_model_without_a_per_model_entry_trains_with_the_shared_settings():
    config = parse_study(params()).run_config(Cell("adding", "gru", 5), 0)
    assert config.train.lr == TINY["train"]["lr"] and config.model.hidden_size == TINY["model"]["hidden_size"]


def test_configs_files_round_trip_and_follow_only_their_models_change(tmp_path):
    untuned = {"tune": {"ladder": TINY["tune"]["ladder"], "lrs": []}, "per_model": {}}  # train.lr for all
    study = parse_study(params(**untuned))
    study.write_configs(tmp_path)
    cell = Cell("adding", "gru", 5)
    assert read_run_configs(tmp_path / cell.configs_file) == study.resolved_configs(cell)
    changed = parse_study(params(**untuned, per_model__gru={"train": {"lr": 0.5}}))
    assert [c.train.lr for c in changed.resolved_configs(cell)] == [0.5] * len(TINY["seeds"])
    lstm = Cell("adding", "lstm", 5)
    assert changed.resolved_configs(lstm) == study.resolved_configs(lstm)


def test_empty_side_grid_adds_no_cells():
    study = parse_study(params(side_grids__reference__models=[], side_grids__ablations__models=[]))
    assert all(not c.group for c in study.cells())


@pytest.mark.parametrize("value", ["auto", 1, 5])
def test_the_execution_settings_reach_the_train_stage_as_written(tmp_path, value):
    from rnnbench.config import Execution

    parse_study(params(seed_processes=value)).execution.write(tmp_path / "execution.json")
    assert Execution.read(tmp_path / "execution.json") == Execution(value)


def test_a_models_options_are_recorded_in_its_configs_with_every_default_filled_in():
    study = parse_study(params(per_model={"lstm": {"model": {"options": {"forget_bias": 0.5}}}}))
    configs = {c.model: study.run_config(c, 0) for c in study.cells() if (c.task, c.length) == ("adding", 5)}
    assert configs["lstm"].model.options == {"forget_bias": 0.5}
    assert configs["lstm-numpy"].model.options == {"forget_bias": 1.0}  # its default, written out
    assert configs["lstm-cifg"].model.options == {"forget_bias": 1.0}
    assert configs["rnn"].model.options == {} and configs["gru"].model.options == {}


def test_changing_one_models_option_changes_only_that_models_configs():
    before, after = parse_study(params()), parse_study(params(per_model={"lstm": {"model": {"options": {"forget_bias": 2.0}}}}))
    changed = {c.model for c in before.cells() if before.run_config(c, 0) != after.run_config(c, 0)}
    assert changed == {"lstm"}


@pytest.mark.parametrize("per_model,message", [
    ({"gru": {"model": {"options": {"forget_bias": 0.0}}}}, r"^per_model.gru.model.options.forget_bias: unknown key; gru has no options$"),
    ({"lstm": {"model": {"options": {"forget_bais": 0.0}}}}, r"^per_model.lstm.model.options.forget_bais: unknown key; allowed: forget_bias$"),
    ({"lstm": {"model": {"options": {"forget_bias": "high"}}}}, r"^per_model.lstm.model.options.forget_bias: expected float, got 'high'$"),
])
def test_a_bad_model_option_is_refused_naming_the_key_and_the_allowed_ones(per_model, message):
    with pytest.raises(ConfigError, match=message):
        parse_study(params(per_model=per_model))


def test_the_shared_model_section_takes_no_options_and_says_where_they_go():
    with pytest.raises(ConfigError, match=r"^model.forget_bias: a model's options are its own: set them in per_model"):
        parse_study(params(model={"hidden_size": 8, "forget_bias": 1.0}))


def test_a_models_option_may_check_its_own_range_and_name_the_key():
    from rnnbench.models import model_options

    assert model_options("indrnn", {}) == {"gradient_growth": 2.0}
    with pytest.raises(ConfigError, match=r"^model.options.gradient_growth: must be a positive number, got -1.0"):
        model_options("indrnn", {"gradient_growth": -1.0}, "per_model.indrnn.model.options")


def test_equal_parameters_gives_each_model_the_hidden_size_whose_count_is_nearest_the_target():
    import dataclasses

    from rnnbench.models import parameter_count
    from rnnbench.tasks import resolve_task
    from rnnbench.training.trainer import initial_model

    study = parse_study(params(equal_parameters=2000))
    data = resolve_task("adding").build(5, study.data, study.task_plan("adding").options)

    def count(config, hidden):
        return parameter_count(initial_model(dataclasses.replace(
            config, model=dataclasses.replace(config.model, hidden_size=hidden)), data))

    widths = {}
    for model in ("rnn", "lstm", "gru"):
        config = study.run_config(Cell("adding", model, 5), 0)
        hidden = widths[model] = config.model.hidden_size
        assert abs(count(config, hidden) - 2000) <= min(abs(count(config, h) - 2000) for h in (hidden - 1, hidden + 1))
    assert widths["rnn"] > widths["gru"] > widths["lstm"]  # 1, 3 and 4 weight blocks per unit
    own = parse_study(params(equal_parameters=2000, per_model={"lstm": {"model": {"hidden_size": 7}}}))
    assert own.run_config(Cell("adding", "lstm", 5), 0).model.hidden_size == 7  # a per-model width wins


def test_equal_parameters_must_be_a_positive_integer():
    with pytest.raises(ConfigError, match="equal_parameters"):
        parse_study(params(equal_parameters=-5))


@pytest.mark.parametrize("change, message", [
    ({"train__lr": float("inf")}, r"train.lr \(of train@rnn-adding-5\): must be a finite number, got inf"),
    ({"train__clip_norm": float("nan")}, r"train.clip_norm \(of train@rnn-adding-5\): must be a finite number"),
    ({"seeds": [2 ** 64]}, r"seeds: must be a non-empty list of integers in \[0, 2\^32\)"),
    ({"data__seed": -1}, r"data.seed: must be an integer >= 0, got -1"),
    ({"points": ["adding-05"]}, r"points\[0\]: write the length without leading zeros, adding-5"),
    ({"tune__lrs": [0.01, float("inf")]}, r"tune.lrs\[1\]: must be a finite number, got inf"),
])
def test_a_value_no_run_could_use_is_refused_naming_its_key(change, message):
    with pytest.raises(ConfigError, match=message):
        parse_study(params(**change))


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "studies").glob("*.yaml")) + [
    Path(__file__).parents[1] / "params.yaml"], ids=lambda path: path.name)
def test_every_committed_study_file_parses(path):
    study = load_study(path)
    assert study.cells() or study.search.pairs()  # it trains something


def test_the_replication_study_runs_the_default_studys_own_searches():
    """studies/replicate.yaml reruns params.yaml's headline searches on another host: each of its
    searches must be params.yaml's, run for run (README, "On another CPU"), or the two reports
    compare different experiments."""
    from rnnbench.search.plans import search_plan

    root = Path(__file__).parents[1]
    default, replicate = load_study(root / "params.yaml"), load_study(root / "studies" / "replicate.yaml")
    assert replicate.search.pairs() and set(replicate.search.pairs()) <= set(default.search.pairs())
    for task, model in replicate.search.pairs():
        assert search_plan(replicate, task, model) == search_plan(default, task, model), (task, model)

"""Specifications of the `rnnbench` command: outputs, and one-line refusals of bad input."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from rnnbench.cli import main
from rnnbench.training.run_outputs import SEAL, content_digest

TINY = str(Path(__file__).resolve().parents[1] / "studies" / "tiny.yaml")  # small data, the study's layering


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "rnnbench.cli", *args], capture_output=True, text=True)


def test_train_writes_metrics_history_and_a_weights_only_checkpoint(tmp_path):
    out = tmp_path / "run"
    code = main(["train", "--task", "adding", "--model", "gru", "--length", "10", "--steps", "30",
                 "--eval-every", "10", "--params", TINY, "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "gru" and metrics["task"] == "adding" and metrics["length"] == 10
    assert metrics["config"]["train"]["steps"] == 30 and metrics["config"]["model"]["name"] == "gru"
    assert len(metrics["data_checksum"]) == 16
    lines = (out / "history.csv").read_text().splitlines()
    assert lines[0].startswith("step,train_loss") and len(lines) == 4
    state = torch.load(out / "model.pt", weights_only=True)
    assert "rnn.weight_hh_l0" in state and "head.weight" in state


def test_train_reads_a_generated_dataset_folder(tmp_path):
    data = tmp_path / "data"
    assert main(["generate", "--task", "xor", "--length", "8", "--params", TINY, "--out", str(data)]) == 0
    assert main(["train", "--task", "xor", "--model", "rnn", "--length", "8", "--steps", "5", "--eval-every", "5",
                 "--data", str(data), "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data_checksum"] == json.loads((data / "meta.json").read_text())["checksum"]


BAD_INPUTS = [
    (["--task", "addding"], "--task (task)", "adding, charlm, copy, selective-copy, sine, xor, or an import path"),
    (["--model", "lsmt"], "--model (model)", "rnn, lstm, gru"),
    (["--length", "1"], "--length (task.length)", ">= 2"),
    (["--length", "0", "--task", "copy"], "--length (task.length)", ">= 1"),
    (["--hidden-size", "0"], "--hidden-size (model.hidden_size)", "positive integer"),
    (["--num-layers", "-1"], "--num-layers (model.num_layers)", "positive integer"),
    (["--steps", "0"], "--steps (train.steps)", "positive integer"),
    (["--batch-size", "0"], "--batch-size (train.batch_size)", "positive integer"),
    (["--lr", "0"], "--lr (train.lr)", "positive number"),
    (["--option", "strict=1"], "--option (task.options.strict)", "strict_markers, solved_mse"),
    (["--task", "charlm", "--option", "corpus=/no/such/file.txt"], "--option (task.options.corpus)", "no such file"),
    (["--model-option", "forget_bais=0"], "--model-option (model.options.forget_bais)", "allowed: forget_bias"),
    (["--model", "gru", "--model-option", "forget_bias=0"], "--model-option (model.options.forget_bias)", "gru has no options"),
    (["--model", "lstm-fb0", "--model-option", "forget_bias=1"], "--model-option (model.options.forget_bias)", "fixes it at 0.0"),
]


@pytest.mark.parametrize("override,key,allowed", BAD_INPUTS, ids=[b[1] for b in BAD_INPUTS])
def test_bad_input_is_one_line_naming_the_key_exit_2_and_nothing_written(tmp_path, override, key, allowed):
    args = {"--task": "adding", "--model": "lstm", "--length": "10"}
    extra = []
    it = iter(override)
    for flag in it:
        value = next(it)
        if flag in args:
            args[flag] = value
        else:
            extra += [flag, value]
    out = tmp_path / "run"
    result = run_cli("train", *[x for kv in args.items() for x in kv], *extra, "--params", TINY, "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0] and allowed in lines[0]
    assert not out.exists()


def test_undecodable_corpus_is_refused_naming_the_corpus_key(tmp_path):
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes(b"caf\xe9 " * 100)
    result = run_cli("train", "--task", "charlm", "--model", "lstm", "--length", "10",
                     "--option", f"corpus={corpus}", "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "task.options.corpus" in result.stderr and "UTF-8" in result.stderr
    assert not (tmp_path / "run").exists()


def test_dataset_of_another_task_is_refused(tmp_path):
    assert main(["generate", "--task", "xor", "--length", "8", "--params", TINY, "--out", str(tmp_path / "d")]) == 0
    result = run_cli("train", "--task", "adding", "--model", "lstm", "--length", "8",
                     "--data", str(tmp_path / "d"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "--data (data):" in result.stderr and "xor T=8" in result.stderr


def train_charlm(tmp_path, model):
    out = tmp_path / model
    assert main(["train", "--task", "charlm", "--model", model, "--length", "16", "--steps", "10", "--eval-every", "10",
                 "--hidden-size", "16", "--option", "corpus_chars=20000", "--params", TINY, "--out", str(out)]) == 0
    return out


def test_sample_prints_prime_plus_length_characters_of_the_runs_vocabulary(tmp_path, capsys):
    run = train_charlm(tmp_path, "lstm")
    capsys.readouterr()
    assert main(["sample", "--run", str(run), "--prime", "def ", "--length", "120", "--temperature", "1.0"]) == 0
    text = capsys.readouterr().out[:-1]  # print's newline
    from rnnbench.tasks.charlm import CharLmOptions, read_corpus
    vocab = set(read_corpus(CharLmOptions(corpus_chars=20000)))
    assert text.startswith("def ") and len(text) == 124 and set(text) <= vocab


def test_sample_with_the_same_seed_repeats_and_another_seed_differs(tmp_path, capsys):
    run = str(train_charlm(tmp_path, "rnn"))
    capsys.readouterr()
    texts = []
    for seed in ("1", "1", "2"):
        main(["sample", "--run", run, "--length", "80", "--temperature", "1.5", "--seed", seed])
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] != texts[2]


def test_a_gru_run_samples_through_torch_with_its_own_vocabulary(tmp_path, capsys):
    run = train_charlm(tmp_path, "gru")
    capsys.readouterr()
    assert main(["sample", "--run", str(run), "--prime", "the ", "--length", "50", "--seed", "4"]) == 0
    text = capsys.readouterr().out[:-1]
    vocab = json.loads((run / "metrics.json").read_text())["vocab"]
    assert text.startswith("the ") and len(text) == 54 and set(text) <= set(vocab)


def test_the_torch_sampler_draws_what_the_numpy_reference_draws_from_the_same_lstm(tmp_path):
    """Two implementations of one distribution: with the same generator they draw the same text."""
    import numpy as np

    from rnnbench.sampling import TorchSampler, load_charlm_run

    run = train_charlm(tmp_path, "lstm")
    reference, _ = load_charlm_run(run)
    assert not isinstance(reference, TorchSampler)
    record = json.loads((run / "metrics.json").read_text())
    from rnnbench.config import ModelConfig
    from rnnbench.models import build_network
    net = build_network(ModelConfig("lstm", 16, 1), len(record["vocab"]), len(record["vocab"]), per_step=True)
    net.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    torch_draws = TorchSampler(net).sample([1, 2, 3], 40, 1.0, np.random.default_rng(9))
    assert torch_draws == reference.sample([1, 2, 3], 40, 1.0, np.random.default_rng(9))


def test_sample_refuses_a_run_of_another_task(tmp_path):
    out = tmp_path / "xor"
    main(["train", "--task", "xor", "--model", "lstm", "--length", "6", "--steps", "5", "--eval-every", "5",
          "--params", TINY, "--out", str(out)])
    result = run_cli("sample", "--run", str(out))
    assert result.returncode == 2 and "sampling needs a charlm run" in result.stderr


def one_cell_study(tmp_path: Path) -> Path:
    params = tmp_path / "one_cell.yaml"
    params.write_text(textwrap.dedent("""
        seeds: [0]
        models: [gru]
        data: {n_train: 64, n_val: 32, n_test: 32}
        model: {hidden_size: 4}
        train: {steps: 5, batch_size: 16, eval_every: 5, eval_batch_size: 32, device: cpu}
        points: [adding-5]
        side_grids:
          reference: {models: [], points: []}
          ablations: {models: [], points: []}
    """))
    return params


def test_study_without_a_report_module_is_refused_before_any_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "scipy", None)  # as on a machine without scipy
    root = tmp_path / "out"
    assert main(["study", "--params", str(one_cell_study(tmp_path)), "--root", str(root)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "the report needs scipy" in error[0] and "--no-report" in error[0]
    assert not root.exists()


def test_study_with_no_report_trains_only_and_report_writes_it_later(tmp_path, monkeypatch):
    params, root = one_cell_study(tmp_path), tmp_path / "out"
    with monkeypatch.context() as without_scipy:
        without_scipy.setitem(sys.modules, "scipy", None)
        assert main(["study", "--params", str(params), "--root", str(root), "--no-report"]) == 0
    assert json.loads((root / "runs/adding-5/gru/seed0/metrics.json").read_text())["steps"] == 5
    # only the speed step's table: the report is not written
    assert [p.name for p in (root / "reports").iterdir()] == ["speed.csv"]
    assert main(["report", "--params", str(params), "--root", str(root)]) == 0
    results = pd.read_csv(root / "reports" / "results.csv")
    assert (results["model"].tolist(), results["steps"].tolist()) == (["gru"], [5])


def test_train_from_params_takes_the_studys_tuned_lr_and_says_so_when_there_is_none(tmp_path, capsys):
    import dataclasses

    from rnnbench.config import write_tuning
    from rnnbench.study import load_study, tuning_result_file

    params = tmp_path / "params.yaml"
    params.write_text(Path(TINY).read_text())
    args = ["train", "--task", "adding", "--model", "gru", "--length", "5", "--steps", "10", "--eval-every", "10",
            "--params", str(params)]
    assert main([*args, "--out", str(tmp_path / "untuned")]) == 0
    assert "gru's lr on adding is chosen by the study's tuning, which has not run here" in capsys.readouterr().err
    study = load_study(params)
    chosen = [dataclasses.replace(plan, lr=0.0042) for plan in study.tuning_plan("gru")]
    write_tuning(tmp_path / tuning_result_file("gru"), "gru", chosen)
    assert main([*args, "--out", str(tmp_path / "tuned")]) == 0
    assert json.loads((tmp_path / "tuned" / "metrics.json").read_text())["config"]["train"]["lr"] == 0.0042


def test_version_help_defaults_and_errors_that_name_the_typed_flag(tmp_path):
    from rnnbench import __version__

    assert run_cli("--version").stdout.strip() == f"rnnbench {__version__}"
    shown = run_cli("train", "--help").stdout
    for group in ("what to train:", "data and outputs:", "model (override the study's values):",
                  "training (override the study's values):"):
        assert group in shown
    assert "(default: 0)" in shown and "lstm-cifg" in shown and "charlm" in shown  # seed default, models, tasks
    assert "(default: 300)" in run_cli("check-model", "--help").stdout
    for args, flag in ((("study", "--params", str(tmp_path / "missing.yaml")), "--params"),
                       (("sample", "--run", str(tmp_path), "--length", "0"), "--length")):
        refused = run_cli(*args)
        assert refused.returncode == 2 and refused.stderr.startswith(f"rnnbench: error: {flag}")
        assert len(refused.stderr.strip().splitlines()) == 1


def test_a_model_option_on_the_command_line_trains_with_it_and_is_recorded(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--task", "adding", "--model", "lstm", "--length", "6", "--steps", "10", "--eval-every", "10",
                 "--hidden-size", "8", "--model-option", "forget_bias=2.5", "--params", TINY, "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["model"]["options"] == {"forget_bias": 2.5}
    weights = torch.load(out / "model.pt", weights_only=True)  # trained 10 steps: near, not at, the init
    total = weights["rnn.bias_ih_l0"][8:16] + weights["rnn.bias_hh_l0"][8:16]
    assert abs(float(total.mean()) - 2.5) < 0.2


def test_study_runs_its_searches_and_a_second_study_resumes_them_training_nothing(tmp_path, capsys):
    params = tmp_path / "searched.yaml"
    params.write_text(one_cell_study(tmp_path).read_text().replace("points: [adding-5]", textwrap.dedent("""\
        points: []
        tune: {ladder: [0.01, 0.03, 0.1], lrs: []}
        search:
          models: [gru]
          tasks: [adding]
          lengths: {adding: {start: 4, floor: 2, cap: 8}}
          tune_seeds: [100]
        """)))
    root = tmp_path / "out"
    assert main(["study", "--params", str(params), "--root", str(root), "--no-report"]) == 0
    trace = json.loads((root / "searches/adding/gru/search.json").read_text())
    assert trace["found"] is not None and trace["lengths"]
    first = capsys.readouterr().err
    assert main(["study", "--params", str(params), "--root", str(root), "--no-report"]) == 0
    again = capsys.readouterr().err
    assert "0 runs trained" in again and "0 runs trained" not in first
    assert json.loads((root / "searches/adding/gru/search.json").read_text()) == trace


def test_sample_never_imports_code_a_run_record_names_unless_told_to_trust_it(tmp_path):
    run = train_charlm(tmp_path, "gru")
    package = tmp_path / "shared_payload"
    package.mkdir()
    marker = tmp_path / "payload-ran"
    (package / "__init__.py").write_text("")
    (package / "cell.py").write_text(f"open({str(marker)!r}, 'w').close()\nimport torch\nCell = torch.nn.GRU\n")
    record = json.loads((run / "metrics.json").read_text())
    record["config"]["model"]["name"] = "shared_payload.cell.Cell"  # a shared run folder, its seal made anew:
    record[SEAL] = content_digest(run, record)                        # the seal is a checksum, not a signature
    (run / "metrics.json").write_text(json.dumps(record))
    result = subprocess.run([sys.executable, "-m", "rnnbench.cli", "sample", "--run", str(run)], capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 2 and not marker.exists()
    assert "names the model 'shared_payload.cell.Cell', which is not a registry model" in result.stderr
    assert "--trust-model shared_payload.cell.Cell" in result.stderr


def test_version_answers_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys; from rnnbench.entry import main; code = main(['--version']); "
            "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded'); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    from rnnbench import __version__
    assert result.returncode == 0 and result.stdout.splitlines() == [f"rnnbench {__version__}", "torch not loaded"]


def test_a_mistyped_flag_or_command_is_answered_with_the_nearest_one(capsys):
    from rnnbench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--stpes", "3", "--out", "x"])
    assert exit_.value.code == 2 and capsys.readouterr().err.strip().endswith("did you mean --steps?")
    with pytest.raises(SystemExit):
        main(["trian"])
    assert capsys.readouterr().err.strip().endswith("did you mean train?")


@pytest.mark.parametrize("where", ["here", "above", "repository"])
def test_train_refuses_an_out_folder_whose_replacement_would_take_the_working_directory(tmp_path, monkeypatch, where):
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    out = {"here": ".", "above": str(tmp_path), "repository": str(work)}[where]
    result = run_cli("train", "--task", "adding", "--model", "rnn", "--length", "5", "--steps", "2",
                     "--params", str(TINY), "--out", out, "--replace")
    assert result.returncode == 2 and "is the working directory, one above it or a repository" in result.stderr
    assert (work / "keep.txt").read_text() == "mine" and (work / ".git").is_dir()


@pytest.mark.parametrize("change, message", [({"model": {"name": "nosuch"}}, "model.name: unknown model 'nosuch'"),
                                             ({"task": {"length": 10**9}}, "need about")])
def test_train_with_a_configs_file_no_run_could_train_is_one_line_before_any_work(tmp_path, change, message):
    from rnnbench.study import Cell, load_study

    configs = [c.to_dict() for c in load_study(TINY).resolved_configs(Cell("adding", "rnn", 5))]
    for config in configs:
        for section, values in change.items():
            config[section].update(values)
    (tmp_path / "cell.json").write_text(json.dumps(configs))
    result = run_cli("train", "--config", str(tmp_path / "cell.json"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"--config {tmp_path / 'cell.json'}" in result.stderr and message in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("source, said", [
    ("def broken(:\n", "importing userpkg.bad.Cell raised SyntaxError"),
    ("raise RuntimeError('boom at import')\n", "importing userpkg.bad.Cell raised RuntimeError: boom at import"),
    ("import torch.nn as nn\nclass Cell(nn.Module):\n    def __init__(self, *args):\n        raise SystemExit(0)\n",
     "userpkg.bad.Cell(input_size, hidden_size, num_layers) raised SystemExit: 0"),
])
def test_check_model_says_in_one_line_what_a_broken_model_module_did(tmp_path, source, said):
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text(source)
    result = subprocess.run([sys.executable, "-m", "rnnbench.cli", "check-model", "userpkg.bad.Cell"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert said in result.stderr

"""The report: every number in report.md comes from results.csv; figures exist; gaps render."""
import json
import math
import re
import shutil
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from rnnbench.cli import main
from rnnbench.report.aggregate import summarise
from rnnbench.report.published import anchors_beside_ours
from rnnbench.report.tables import critical_lengths, gradient_decay
from rnnbench.report.write import write_report
from rnnbench.study import load_study

REPO = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny CI study run by `rnnbench study` (no DVC, no MLflow)."""
    root = tmp_path_factory.mktemp("study")
    assert main(["study", "--params", str(REPO / "studies" / "tiny.yaml"), "--root", str(root)]) == 0
    return load_study(REPO / "studies" / "tiny.yaml"), root


def report_of(study, root):
    write_report(study, root, root / "reports")
    out = root / "reports"
    return (out / "report.md").read_text(), pd.read_csv(out / "results.csv"), out


def markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Every table in report.md under its '## ' heading, as rows of header -> cell text."""
    tables, heading, header = {}, None, None
    for line in text.splitlines():
        if line.startswith("## "):
            heading, header = line[3:], None
        elif line.startswith("|") and heading:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
                tables[heading] = []
            elif not set(line) <= set("|-"):
                tables[heading].append(dict(zip(header, cells)))
        else:
            header = None if not line.startswith("|") else header
    return tables


def same(text: str, value, digits: int = 4) -> bool:
    if text == "—":
        return value is None or (isinstance(value, float) and math.isnan(value))
    return float(text) == pytest.approx(float(value), rel=10 ** (1 - digits), abs=1e-12)


def test_every_summary_number_in_report_md_comes_from_results_csv(trained):
    study, root = trained
    text, results, _ = report_of(study, root)
    summary = summarise(results).set_index(["task", "model", "length"])
    tables = markdown_tables(text)
    checked = 0
    for task in {c.task for c in study.cells()}:
        for row in tables[f"{task}: test {summary.loc[task]['metric'].iloc[0]} per model and length"]:
            expected = summary.loc[(task, row["model"], int(row["T"]))]
            for column, field in (("mean", "mean"), ("std", "std"), ("95% CI ±", "ci95"),
                                  ("median steps to solve", "median_steps_to_solve")):
                assert same(row[column], expected[field]), (task, row, column)
            assert row["solved"] == f"{round(expected['solved_fraction'] * expected['seeds'])}/{expected['seeds']}"
            checked += 1
    assert checked == sum(1 for c in study.cells() if c.model in study.models)


def test_critical_length_table_matches_a_recomputation_from_results_csv(trained):
    study, root = trained
    text, results, _ = report_of(study, root)
    expected = critical_lengths(summarise(results)).set_index(["task", "model"])
    rows = markdown_tables(text)["Critical length"]
    assert len(rows) == len(expected)
    for row in rows:
        own = expected.loc[(row["task"], row["model"])]
        assert same(row["critical length"], own["critical_length"])
        assert same(row["first T none solved"], own["first_length_none_solved"])


def test_gradient_decay_table_matches_medians_of_results_csv(trained):
    study, root = trained
    text, results, _ = report_of(study, root)
    expected = gradient_decay(results).set_index(["task", "model", "length"])
    rows = markdown_tables(text)["Gradient decay"]
    assert len(rows) == len(expected)
    for row in rows:
        own = expected.loc[(row["task"], row["model"], int(row["T"]))]
        assert same(row["half-life init (steps)"], own["half_life_init"], 3)
        assert same(row["half-life trained (steps)"], own["half_life_trained"], 3)
        assert same(row["‖∂L/∂h₀‖/‖∂L/∂h_T‖ init"], own["ratio_init"], 2)


def test_every_referenced_figure_exists_as_a_readable_png(trained):
    study, root = trained
    text, _, out = report_of(study, root)
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(referenced) == 7
    for name in referenced:
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 200 and image.shape[1] > 400


def test_study_command_trains_every_cell_and_writes_the_report(trained):
    study, root = trained
    results = pd.read_csv(root / "reports" / "results.csv")
    assert len(results) == len(study.cells()) * len(study.seeds)
    assert not results["failed"].any()
    assert (root / "reports" / "report.md").is_file()


def test_header_names_the_machine_and_counts_the_runs(trained):
    study, root = trained
    text, results, _ = report_of(study, root)
    first = text.splitlines()[:8]
    assert any(line.startswith("Machine: ") and "cores" in line for line in first)
    assert f"Runs: {len(results)} ({len(study.cells())} cells × {len(study.seeds)} seeds)" in text


def test_a_missing_and_a_diverged_run_still_render_and_are_counted(trained, tmp_path):
    study, source = trained
    root = tmp_path / "copy"
    shutil.copytree(source / "runs", root / "runs")
    cells = [c for c in study.cells() if c.task == "adding" and c.model == "gru"]
    shutil.rmtree(root / cells[0].run_folder)  # a whole cell missing
    path = root / cells[1].seed_folder(study.seeds[0]) / "metrics.json"
    record = json.loads(path.read_text())
    record.update(diverged=True, solved=False, test_metric=None)
    path.write_text(json.dumps(record))

    text, results, _ = report_of(study, root)
    rows = {(r["model"], r["T"]): r for r in markdown_tables(text)["adding: test mse per model and length"]}
    missing = rows[("gru", str(cells[0].length))]
    assert missing["mean"] == "—" and "no completed run" in missing["note"]
    assert "1 diverged" in rows[("gru", str(cells[1].length))]["note"]
    assert results["diverged"].sum() == 1
    assert f"{len(study.seeds)} missing" in text


def summary_of(rows):
    base = {"seeds": 3, "completed": 3, "mean": 0.1, "ci95": 0.01, "baseline": 0.17, "metric": "mse"}
    return pd.DataFrame([{**base, "task": "adding", "model": m, "length": n, "solved_fraction": f}
                         for m, n, f in rows])


def test_critical_length_is_the_longest_length_at_least_half_the_seeds_solved():
    table = critical_lengths(summary_of([("rnn", 10, 1.0), ("rnn", 25, 2 / 3), ("rnn", 50, 1 / 3), ("rnn", 100, 0.0)]))
    row = table.iloc[0]
    assert row["critical_length"] == 25 and row["first_length_none_solved"] == 100 and row["monotone"]


def test_critical_length_flags_a_length_below_it_that_fewer_than_half_solved():
    row = critical_lengths(summary_of([("gru", 10, 1.0), ("gru", 20, 1 / 3), ("gru", 40, 1.0)])).iloc[0]
    assert row["critical_length"] == 40 and not row["monotone"]


def test_critical_length_is_empty_when_no_length_was_solved():
    row = critical_lengths(summary_of([("rnn", 50, 0.0), ("rnn", 100, 0.0)])).iloc[0]
    assert pd.isna(row["critical_length"]) and row["first_length_none_solved"] == 50


def test_published_anchor_sits_beside_our_longest_length_up_to_its_own():
    anchors = anchors_beside_ours(summary_of([("lstm", 100, 1.0), ("lstm", 200, 1.0), ("lstm", 800, 0.0)]))
    lstm = anchors[(anchors["task"] == "adding") & (anchors["model"] == "lstm")].iloc[0]
    assert lstm["their_value"] == 0.164 and lstm["our_length"] == 200
    copy = anchors[anchors["task"] == "copy"]
    assert copy["our_length"].isna().all()

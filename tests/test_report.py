"""The report: every number in report.md comes from results.csv; figures exist; gaps render."""
import json
import math
import re
import shutil
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import yaml

from rnnbench.cli import main
from rnnbench.report.aggregate import summarise
from rnnbench.report.claims import VERDICTS
from rnnbench.report.markdown import figures_of, half_life_text
from rnnbench.report.samples import CHARACTERS, PRIME, TEMPERATURES
from rnnbench.report.published import anchors_beside_ours
from rnnbench.report.tables import contrasts, critical_lengths, gradient_decay, half_life, memory_laws
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
    return report_in(root)


def report_in(root):
    """The report a study root holds (the `trained` one was written by `rnnbench study`)."""
    out = root / "reports"
    return (out / "report.md").read_text(), pd.read_csv(out / "results.csv"), out


def recomputed_summary(out):
    """summary.csv's rows recomputed from results.csv and curves.csv alone."""
    return summarise(pd.read_csv(out / "results.csv"), pd.read_csv(out / "curves.csv"))


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
    text, results, out = report_in(root)
    summary = recomputed_summary(out).set_index(["task", "model", "length"])
    tables = markdown_tables(text)
    checked = 0
    for task in {c.task for c in study.cells()}:
        metric, rule = summary.loc[task]["metric"].iloc[0], summary.loc[task]["rule_metric"].iloc[0]
        judged = rule != metric  # copy: the table leads with the recall accuracy its solved rule reads
        title = f"{rule} (what the solved rule judges) and {metric}" if judged else metric
        for row in tables[f"{task}: test {title} per model and length"]:
            expected = summary.loc[(task, row["model"], int(row["T"]))]
            assert same(row[f"median {metric}" if judged else "median"], expected["median"]), (task, row)
            assert same(row["median steps to solve"], expected["median_steps_to_solve"])
            assert same(row["lr"].split(" ")[0], expected["lr"], 3)
            assert row["solved"] == f"{expected['solved']}/{expected['seeds']}"
            low, high = row["95% CI (exact)"].strip("[]").split(", ")
            assert same(low, expected["solved_ci_low"], 2) and same(high, expected["solved_ci_high"], 2)
            runs = results[(results.task == task) & (results.model == row["model"]) & (results.length == int(row["T"]))]
            shown = [float(v) for v in row[f"seeds' {rule}" if judged else "seeds' values"].split(", ")]
            assert shown == pytest.approx(runs.sort_values("seed")["test_rule_metric" if judged else "test_metric"].tolist(),
                                          rel=1e-2)
            if judged:
                assert same(row[f"median {rule}"], expected["rule_median"])
                records = [json.loads((root / d / "metrics.json").read_text()) for d in runs["run_dir"]]
                assert runs["test_rule_metric"].tolist() == pytest.approx([r[f"test_{rule}"] for r in records], abs=1e-6)
            assert ("budget-limited" in row["flags"]) == bool(expected["budget_limited"])
            checked += 1
    assert checked == sum(1 for (_, model, _) in summary.index if model in study.models)  # grid and searched
    assert "copy: test recall_accuracy (what the solved rule judges) and cross_entropy per model and length" in tables


def test_critical_length_table_matches_a_recomputation_from_results_csv(trained):
    study, root = trained
    text, _, out = report_in(root)
    expected = critical_lengths(recomputed_summary(out), pd.read_csv(out / "search_lengths.csv")).set_index(["task", "model"])
    rows = markdown_tables(text)["Critical length"]
    assert len(rows) == len(expected)
    for row in rows:
        own = expected.loc[(row["task"], row["model"])]
        assert row["critical length"] == own["reading"] and row["censored"] == own["censored"]
        assert row["monotone"] == ("yes" if own["monotone"] else "no")
        assert row["T50 (95% interval)"] == own["t50_reading"] and row["solved per length [exact 95%]"] == own["tested"]


def test_the_findings_quote_each_searched_pair_with_the_counts_its_t50_reads_and_the_grid_apart(trained):
    study, root = trained
    text, _, out = report_in(root)
    critical = pd.read_csv(out / "critical_length.csv")
    summary = recomputed_summary(out)
    blocks = text.split("## Findings")[1].split("## ")[0].split("\n- **")  # one per task
    searched = critical[critical["source"].str.startswith("search")]
    assert len(searched)  # the tiny study searches adding for rnn and lstm
    for row in searched.itertuples():
        block = next(b for b in blocks if b.startswith(f"{row.task}**"))
        line = next(l for l in block.splitlines() if l.startswith(f"  - {row.model}: T50"))
        assert f"solved per searched length [exact 95%] {row.tested}" in line
        grid = summary[(summary.task == row.task) & (summary.model == row.model) & (summary.lr_source != "search")]
        for cell in grid.itertuples():
            assert f"T={cell.length} {cell.solved}/{cell.seeds}" in line.split("the grid's cells")[1]


def test_every_p_value_in_the_findings_is_a_fisher_test_of_the_counts_beside_it(trained):
    study, root = trained
    text, _, out = report_in(root)
    pairs = contrasts(study, recomputed_summary(out))
    quoted = re.findall(r"(\S+) over (\S+) at T=(\d+) \((\d+)/(\d+) vs (\d+)/(\d+), p = ([\d.e-]+)\)", text)
    expected = len(pairs[pairs.solved_a * pairs.seeds_b != pairs.solved_b * pairs.seeds_a])
    assert len(quoted) == expected
    for first, second, length, k1, n1, k2, n2, p in quoted:  # the pair at that length on one of the tasks
        rows = pairs[(pairs.length == int(length)) & pairs.model_a.isin([first, second])
                     & pairs.model_b.isin([first, second])]
        matching = [row for row in rows.itertuples()
                    if {row.model_a: (row.solved_a, row.seeds_a), row.model_b: (row.solved_b, row.seeds_b)}
                    == {first: (int(k1), int(n1)), second: (int(k2), int(n2))} and same(p, row.p_value, 2)]
        assert matching, (first, second, length, k1, n1, k2, n2, p)


def test_gradient_decay_table_matches_medians_of_results_csv(trained):
    study, root = trained
    text, results, _ = report_in(root)
    expected = gradient_decay(results).set_index(["task", "model", "length", "outcome"])
    rows = markdown_tables(text)["Gradient decay"]
    assert len(rows) == len(expected)
    measured = results[results["grad_decay_rate_init"].notna()]
    assert sum(int(r["runs"]) for r in rows) == len(measured)  # every measured run counted once
    for row in rows:
        own = expected.loc[(row["task"], row["model"], int(row["T"]), row["seeds"])]
        assert row["half-life init (steps)"] == half_life_text(own["half_life_init"])
        assert row["half-life trained (steps)"] == half_life_text(own["half_life_trained"])
        assert same(row["‖∂L/∂h₀‖/‖∂L/∂h_T‖ init"], own["ratio_init"], 2)


def test_the_memory_law_table_sets_each_law_beside_the_measured_half_life_from_results_csv(trained):
    study, root = trained
    text, results, _ = report_in(root)
    rows = markdown_tables(text)["Memory laws: analytic vs measured"]
    with_law = results[results["grad_law_decay_rate_trained"].notna()]
    assert {r["model"] for r in rows} == set(with_law["model"]) and "rnn" not in {r["model"] for r in rows}
    for row in rows:
        own = with_law[(with_law["task"] == row["task"]) & (with_law["model"] == row["model"])
                       & (with_law["length"] == int(row["T"]))]
        assert int(row["runs"]) == len(own)
        assert row["law half-life trained"] == half_life_text(half_life(own["grad_law_decay_rate_trained"].median()))
        assert row["measured half-life trained"] == half_life_text(
            half_life(own["grad_state_decay_rate_trained"].median()))  # a rate <= 0 reads "no decay"


def test_a_law_exact_by_construction_reads_one_and_one_that_leaves_paths_out_does_not():
    rates = {"mingru": (0.3, 0.3), "lstm": (0.2, 0.1)}  # (measured on the state, law)
    results = pd.DataFrame([{"task": "adding", "model": m, "length": 50, "seed": s,
                             **{f"grad_state_decay_rate_{p}": r[0] for p in ("init", "trained")},
                             **{f"grad_law_decay_rate_{p}": r[1] for p in ("init", "trained")}}
                            for m, r in rates.items() for s in range(3)])
    laws = memory_laws(results).set_index("model")
    assert laws.loc["mingru", "law_over_measured"] == pytest.approx(1.0)
    assert laws.loc["lstm", "law_over_measured"] == pytest.approx(2.0)  # half-life ln2/0.1 over ln2/0.2
    assert laws.loc["lstm", "law"] == "prod f_t (cell state)" and laws.loc["mingru", "runs"] == 3


def test_the_tuning_section_shows_every_selected_lr_of_tuning_csv(trained):
    study, root = trained
    text, _, out = report_in(root)
    tuning = pd.read_csv(out / "tuning.csv")
    rows = {(r["task"], r["model"]): r for r in markdown_tables(text)["Tuning"]}
    selected = tuning[tuning["selected"]]
    assert len(rows) == len(selected)
    for row in selected.itertuples():
        assert same(rows[(row.task, row.model)]["lr"], row.lr, 3)


def test_every_referenced_figure_exists_as_a_readable_png(trained):
    study, root = trained
    text, _, out = report_in(root)
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(referenced) == len(figures_of(study)) == 13
    for name in referenced:
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 200 and image.shape[1] > 400


def test_study_command_trains_every_cell_and_writes_the_report(trained):
    study, root = trained
    results = pd.read_csv(root / "reports" / "results.csv")
    assert (results["lr_source"] != "search").sum() == len(study.cells()) * len(study.seeds)
    assert not results["failed"].any()
    assert (root / "reports" / "report.md").is_file()


def test_header_names_the_machine_and_counts_the_runs(trained):
    study, root = trained
    text, results, _ = report_in(root)
    about = text.split("## About this report")[1].split("\n## ")[0].splitlines()[:8]  # after the answer
    assert any(line.startswith("Machine: ") and "cores" in line for line in about)
    searched = int((results["lr_source"] == "search").sum())
    assert searched and f"Runs: {len(results)} ({len(study.cells())} cells × {len(study.seeds)} seeds, and {searched} " \
        "seeds' runs at the lengths the searches added" in text
    assert f"Engine: {len(results[~results['failed']])} completed runs trained alone (params `engine`)." in text


def test_a_missing_and_a_diverged_run_still_render_and_are_counted(trained, tmp_path):
    study, source = trained
    root = tmp_path / "copy"
    shutil.copytree(source / "runs", root / "runs")
    cells = [c for c in study.cells() if c.task == "adding" and c.model == "gru"]
    shutil.rmtree(root / cells[0].run_folder)  # a whole cell missing
    path = root / cells[1].seed_folder(study.seeds[0]) / "metrics.json"
    record = json.loads(path.read_text())
    record.update(diverged=True, solved=False, test_metric=None)
    from rnnbench.training.run_outputs import SEAL, content_digest
    record[SEAL] = content_digest(path.parent, record)  # as a run that diverged would have written it
    path.write_text(json.dumps(record))

    text, results, _ = report_of(study, root)
    rows = {(r["model"], r["T"]): r for r in markdown_tables(text)["adding: test mse per model and length"]}
    missing = rows[("gru", str(cells[0].length))]
    assert missing["median"] == "—" and "no completed run" in missing["note"]
    assert "1 diverged" in rows[("gru", str(cells[1].length))]["note"]
    assert results["diverged"].sum() == 1
    assert f"{len(study.seeds)} missing" in text


def test_a_study_run_in_pieces_says_how_long_it_ran_from_its_pieces_log(trained, tmp_path):
    study, source = trained
    root = tmp_path / "copy"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("reports"))
    (root / "pieces.log").write_text("piece start 2026-12-06T09:00:00Z commit aaaaaaa\n"
                                     "piece end 2026-12-06T09:30:00Z rc 0\n")
    text, _, out = report_of(study, root)
    pieces = pd.read_csv(out / "pieces.csv")
    assert list(pieces["running_s"]) == [1800] and list(pieces["commit"]) == ["aaaaaaa"]
    assert "This study ran in 1 piece(s) from 2026-12-06 09:00 UTC, 0.5 h of running time" in text
    assert "This study ran in" not in report_in(source)[0]  # a study run whole has no such line


def summary_of(rows, seeds=3):
    base = {"seeds": seeds, "completed": seeds, "median": 0.1, "min": 0.05, "max": 0.2, "baseline": 0.17,
            "metric": "mse", "budget_limited": False, "n_params": 17_000, "max_steps": 3000}
    return pd.DataFrame([{**base, "task": "adding", "model": m, "length": n, "solved_fraction": f,
                          "solved": round(f * seeds)} for m, n, f in rows])


def test_critical_length_is_the_longest_length_at_least_half_the_seeds_solved():
    table = critical_lengths(summary_of([("rnn", 10, 1.0), ("rnn", 25, 2 / 3), ("rnn", 50, 1 / 3), ("rnn", 100, 0.0)]))
    row = table.iloc[0]
    assert row["critical_length"] == 25 and row["first_length_none_solved"] == 100 and row["monotone"]
    assert row["censored"] == "none" and row["reading"] == "25"


def test_the_critical_length_row_carries_the_bracket_t50_and_every_lengths_exact_interval():
    row = critical_lengths(summary_of([("rnn", 10, 1.0), ("rnn", 25, 2 / 3), ("rnn", 50, 1 / 3), ("rnn", 100, 0.0)])).iloc[0]
    assert row["critical_length"] == 25 and row["bracket_failed"] == 50
    assert 25 < row["t50"] < 50 and row["t50_low"] < row["t50"] < row["t50_high"] and row["t50_censored"] == "none"
    assert row["tested"] == "10: 3/3 [0.29, 1]; 25: 2/3 [0.094, 0.99]; 50: 1/3 [0.0084, 0.91]; 100: 0/3 [0, 0.71]"


def test_a_critical_length_at_the_end_of_the_grid_is_censored_above():
    row = critical_lengths(summary_of([("lstm", 100, 1.0), ("lstm", 200, 1.0)])).iloc[0]
    assert row["censored"] == "above" and row["reading"] == "≥ 200"
    assert row["t50_censored"] == "above" and pd.isna(row["t50"]) and row["t50_reading"].startswith("> 2")


def test_failing_at_the_shortest_length_is_censored_below():
    row = critical_lengths(summary_of([("rnn", 50, 0.0), ("rnn", 100, 0.0)])).iloc[0]
    assert pd.isna(row["critical_length"]) and row["first_length_none_solved"] == 50
    assert row["censored"] == "below" and row["reading"] == "< 50"


def test_a_single_length_determines_no_critical_length():
    row = critical_lengths(summary_of([("lstm-nfg", 50, 1.0)])).iloc[0]
    assert row["censored"] == "single_length" and row["reading"] == "not determined"


def test_any_rise_of_the_solved_fraction_with_length_is_flagged_not_monotone():
    # The previous report's xor rnn: 3/3, 0/3, 1/3, 0/3 was called monotone (only lengths below
    # the critical one were checked).
    row = critical_lengths(summary_of([("rnn", 5, 1.0), ("rnn", 10, 0.0), ("rnn", 20, 1 / 3), ("rnn", 40, 0.0)])).iloc[0]
    assert row["critical_length"] == 5 and not row["monotone"]
    row = critical_lengths(summary_of([("gru", 10, 1.0), ("gru", 20, 1 / 3), ("gru", 40, 1.0)])).iloc[0]
    assert row["critical_length"] == 40 and not row["monotone"]


def test_only_a_budget_limited_failure_at_the_bracket_flags_the_critical_length():
    # the failure above the reading decides it, so only a budget that might have decided that
    # failure makes the reading "not yet"; a slow solve below it or a failure further up does not
    summary = summary_of([("lstm", 10, 1.0), ("lstm", 20, 1.0), ("lstm", 40, 0.0), ("lstm", 80, 0.0)])
    assert not critical_lengths(summary).iloc[0]["budget_limited"]
    for slow in (1, 3):  # 20: solved, its slowest seed past half the budget; 80: beyond the bracket
        summary.loc[slow, "budget_limited"] = True
    assert not critical_lengths(summary).iloc[0]["budget_limited"]
    summary.loc[2, "budget_limited"] = True  # 40: the bracket's failed end, still improving at its end
    assert critical_lengths(summary).iloc[0]["budget_limited"]


def test_contrasts_give_the_fisher_p_of_every_pair_at_every_length():
    from rnnbench.study import parse_study

    study = parse_study({**yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text()), "models": ["rnn", "lstm"]})
    pairs = contrasts(study, summary_of([("rnn", 50, 0.0), ("lstm", 50, 1.0)], seeds=5))
    row = pairs.iloc[0]
    assert (row.model_a, row.solved_a, row.model_b, row.solved_b) == ("rnn", 0, "lstm", 5)
    assert row.p_value == pytest.approx(2 / 252)  # both tails of C(10,5) = 252 equally likely tables


def test_the_declared_family_is_holm_adjusted_over_both_tests_and_the_rest_is_exploratory():
    from rnnbench.study import parse_study

    params = {**yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text()), "models": ["rnn", "lstm", "gru"],
              "primary_contrasts": ["adding-50: lstm vs rnn"]}
    study = parse_study(params)
    summary = summary_of([("rnn", 50, 0.0), ("lstm", 50, 1.0), ("gru", 50, 1.0)], seeds=5)
    results = pd.DataFrame([{"task": "adding", "length": 50, "model": m, "seed": s, "test_metric": v + s / 100,
                             "failed": False, "diverged": False}
                            for m, v in (("rnn", 0.17), ("lstm", 0.001), ("gru", 0.002)) for s in range(5)])
    pairs = contrasts(study, summary, results).set_index(["model_a", "model_b"])
    primary = pairs.loc[("rnn", "lstm")]
    assert primary.family == "primary" and primary.metric_p == pytest.approx(2 / 252)  # a clean split of 5 vs 5
    # Holm over the family's two tests, both p = 2/252: the smaller is doubled, the other carried up to it.
    assert primary.p_holm == pytest.approx(2 * 2 / 252)
    assert pairs.loc[("rnn", "gru")].family == "exploratory" and math.isnan(pairs.loc[("rnn", "gru")].p_holm)
    assert pairs.loc[("lstm", "gru")].metric_p > 0.5  # 0.001+s/100 against 0.002+s/100: interleaved


def test_holm_adjustment_against_hand_computed_values():
    from rnnbench.report.statistics import holm

    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_a_misspelled_primary_contrast_is_refused_naming_it():
    from rnnbench.config import ConfigError
    from rnnbench.study import parse_study

    params = {**yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text()), "primary_contrasts": ["adding-50: lstm vs rnnn"]}
    with pytest.raises(ConfigError, match=r"primary_contrasts\[0\]: 'rnnn' is not in `models`"):
        parse_study(params)


def test_published_anchor_sits_beside_our_longest_length_up_to_its_own_marked_as_another_setting():
    anchors = anchors_beside_ours(summary_of([("lstm", 100, 1.0), ("lstm", 200, 1.0), ("lstm", 800, 0.0)]))
    lstm = anchors[(anchors["task"] == "adding") & (anchors["model"] == "lstm")].iloc[0]
    assert lstm["their_value"] == 0.164 and lstm["our_length"] == 200
    assert lstm["setting"] == "different setting" and lstm["our_params"] == 17_000
    copy = anchors[anchors["task"] == "copy"]
    assert copy["our_length"].isna().all() and set(copy["setting"]) == {"not run here"}


def test_the_claims_section_shows_every_claim_of_claims_csv_with_its_computed_verdict(trained):
    study, root = trained
    text, _, out = report_in(root)
    claims = pd.read_csv(out / "claims.csv", keep_default_na=False)
    rows = markdown_tables(text)["The tutorials' claims, tested"]
    assert [r["claim"] for r in rows] == list(claims["id"])
    assert [r["verdict"].strip("*") for r in rows] == list(claims["verdict"])
    assert set(claims["verdict"]) <= set(VERDICTS) and len(claims) >= 10


def test_sine_and_charlm_get_no_critical_length_and_are_read_against_their_reference_predictors(trained):
    study, root = trained
    text, _, out = report_in(root)
    critical = pd.read_csv(out / "critical_length.csv")
    assert {"adding", "xor", "copy"} <= set(critical["task"]) and not {"sine", "charlm"} & set(critical["task"])
    baselines = pd.read_csv(out / "baselines.csv")
    assert {"AR(2) least squares", "noise floor σ²"} <= set(baselines.loc[baselines.task == "sine", "predictor"])
    assert {"4-gram counts (Witten-Bell)", "5-gram counts (Witten-Bell)"} <= set(
        baselines.loc[baselines.task == "charlm", "predictor"])
    section = text.split("## Short-range prediction and language modelling")[1].split("\n## ")[0]
    cells = {}  # (task, row label) -> value, one "### <task>, T=<length>" table per point
    for part in section.split("### ")[1:]:
        task = part.split(",")[0]
        cells.update({(task, line.split("|")[1].strip()): line.split("|")[2].strip() for line in part.splitlines()
                      if line.startswith("| ") and not line.startswith("| predictor")})
    for row in baselines.itertuples():
        assert same(cells[(row.task, row.predictor)], row.value)
    summary = recomputed_summary(out)
    for row in summary[summary.task.isin(["sine", "charlm"])].itertuples():
        assert same(cells[(row.task, f"**{row.model}** (median of {row.completed} seeds)")], row.median)


def test_the_per_cell_tables_give_each_models_parameter_count(trained):
    study, root = trained
    text, results, _ = report_in(root)
    rows = markdown_tables(text)["adding: test mse per model and length"]
    counts = results.groupby("model")["n_params"].first()
    assert {r["model"]: int(r["params"].replace(",", "")) for r in rows} == counts[["rnn", "lstm", "gru"]].to_dict()
    assert counts["lstm"] > counts["gru"] > counts["rnn"]


def test_every_model_gets_charlm_samples_at_three_temperatures_each_from_the_prime(trained):
    study, root = trained
    text, _, out = report_in(root)
    samples = pd.read_csv(out / "samples.csv", keep_default_na=False)
    assert sorted(samples.groupby("model")["temperature"].apply(tuple).to_dict().items()) == \
        sorted((m, TEMPERATURES) for m in study.models)
    assert set(samples.loc[samples.model.isin(["rnn", "lstm"]), "sampler"]) == {"NumPy reference"}
    assert set(samples.loc[samples.model == "gru", "sampler"]) == {"torch"}
    for sample in samples.itertuples():
        assert sample.text.startswith(PRIME) and len(sample.text) == len(PRIME) + CHARACTERS
        assert sample.text in text


def test_a_study_without_copy_sine_or_side_grids_gets_none_of_their_figures(tmp_path):
    from rnnbench.report import figures
    from rnnbench.study import parse_study

    params = yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text())
    params.update(points=["adding-5", "xor-5"], per_model={},
                  side_grids={"reference": {"models": [], "points": []}, "ablations": {"models": [], "points": []}})
    params["tune"]["points"] = ["adding-5", "xor-5"]
    params["search"]["tasks"] = []
    study = parse_study(params)
    empty = pd.DataFrame(columns=["task", "model", "length", "failed"])
    assert figures.recall_by_position(study, empty, tmp_path, tmp_path / "copy.png") is None
    assert figures.sine_predictions(study, empty, tmp_path, tmp_path / "sine.png") is None
    for grid in ("reference", "ablations"):  # a grid with no model: no figure, not an empty one
        assert figures.side_grid_figure(study, empty, empty, tmp_path, grid) is None
    assert not list(tmp_path.glob("*.png"))


def test_the_report_opens_with_the_answer_then_the_claims_and_only_then_how_it_was_made(trained):
    study, root = trained
    text, _, _ = report_in(root)
    order = ["## Findings", "figures/solved_heatmap.png", "## Critical length", "## Search",
             "## The tutorials' claims, tested", "## About this report", "## Tuning"]
    assert [text.index(mark) for mark in order] == sorted(text.index(mark) for mark in order)
    assert text.count("](figures/solved_heatmap.png)") == 1  # drawn once, where the answer is


def test_a_searched_length_is_budget_limited_by_the_grid_cells_rule_or_a_ceiling_cut_confirmation(tmp_path):
    from rnnbench.report.search_tables import SEARCH_RUN_COLUMNS, search_lengths
    from rnnbench.study import parse_study

    study = parse_study(yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text()))  # the lstm's search: no trace
    trace = {"lengths": [{"length": n, "lr": 0.01, "sweep": [], "runs": [
        {"seed": s, "steps": 30, "extended": False, "folder": f"adding-{n}/lr0.01-steps30/seed{s}"} for s in (0, 1)]}
        for n in (4, 8, 16)], "found": {"lo": 8, "hi": 16, "censored": "none", "budget_bound": True}}
    trace["lengths"][2]["runs"] += [{"seed": s, "steps": 90, "extended": True,
                                     "folder": f"adding-16/lr0.01-steps90/seed{s}"} for s in (0, 1)]
    (tmp_path / "searches" / "adding" / "rnn").mkdir(parents=True)
    (tmp_path / "searches" / "adding" / "rnn" / "search.json").write_text(json.dumps(trace))
    runs = pd.DataFrame([{"task": "adding", "model": "rnn", "length": n, "seed": s, "lr": 0.01, "lr_at_bound": False,
                          "max_steps": steps, "extended": steps > 30, "at_lower": False, "solved": n < 16, "solved_step": None,
                          "test_metric": 0.1, "failed": False, "run_dir": ""}
                         for n, steps in ((4, 30), (8, 30), (16, 30), (16, 90)) for s in (0, 1)], columns=SEARCH_RUN_COLUMNS)
    summary = summary_of([("rnn", 4, 1.0), ("rnn", 8, 1.0), ("rnn", 16, 0.0)], seeds=2)
    summary.loc[1, "budget_limited"] = True  # 8: its slowest solve used most of its budget
    lengths = search_lengths(study, tmp_path, runs, summary).set_index("length")
    assert list(lengths["budget_limited"]) == [False, True, True]  # 16: the ceiling cut its confirmation
    assert list(lengths["budget_bound"]) == [False, False, True]
    assert lengths.loc[16, "extended_steps"] == 90 and lengths.loc[16, "base_steps"] == 30
    without = search_lengths(study, tmp_path, runs)  # no summary: the ceiling's flag alone
    assert list(without["budget_limited"]) == [False, False, True]


def test_a_length_confirmed_at_another_lr_counts_only_its_confirmation_runs(tmp_path):
    from rnnbench.report.search_tables import SEARCH_RUN_COLUMNS, search_lengths
    from rnnbench.report.tables import lr_by_length
    from rnnbench.study import parse_study

    study = parse_study(yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text()))
    trace = {"lengths": [
        {"length": 8, "lr": 0.01, "sweep": [], "runs": [
            {"seed": s, "steps": 30, "extended": False, "folder": f"adding-8/lr0.01-steps30/seed{s}"} for s in (0, 1)]},
        {"length": 16, "lr": 0.03, "sweep": [], "confirm": {"lr": 0.01, "at": "other", "steps": 90, "lower": 8, "sweep": [
            {"lr": 0.03, "seeds": 1, "val_solved": 0}, {"lr": 0.01, "seeds": 1, "val_solved": 1}]},
         "runs": [{"seed": s, "steps": steps, "extended": steps > 30, "folder": f"adding-16/lr{lr:g}-steps{steps}/seed{s}"}
                  for lr, steps in ((0.03, 30), (0.01, 90)) for s in (0, 1)]}],
        "found": {"lo": 8, "hi": 16, "censored": "none", "budget_bound": False}}
    (tmp_path / "searches" / "adding" / "rnn").mkdir(parents=True)
    (tmp_path / "searches" / "adding" / "rnn" / "search.json").write_text(json.dumps(trace))
    solved = {(8, 30, 0): True, (8, 30, 1): True, (16, 30, 0): True, (16, 30, 1): False,  # 16: seed 0 at 0.03,
              (16, 90, 0): False, (16, 90, 1): True}                                      # seed 1 at 0.01
    runs = pd.DataFrame([{"task": "adding", "model": "rnn", "length": n, "seed": s, "lr": 0.03 if (n, steps) == (16, 30)
                          else 0.01, "lr_at_bound": False, "max_steps": steps, "extended": steps > 30, "at_lower": False,
                          "solved": ok,
                          "solved_step": None, "test_metric": 0.1, "failed": False, "run_dir": ""}
                         for (n, steps, s), ok in solved.items()], columns=SEARCH_RUN_COLUMNS)
    lengths = search_lengths(study, tmp_path, runs).set_index("length")
    assert (lengths.loc[16, "solved"], lengths.loc[16, "seeds"]) == (1, 2)  # not 2 of 2: each seed at its better lr
    assert lengths.loc[16, "confirm_lr"] == 0.01 and lengths.loc[16, "lr"] == 0.03
    assert lengths.loc[16, "confirm_lrs_tried"] == "0.01 0.03" and lengths.loc[8, "confirm_lrs_tried"] == ""
    assert list(lengths["relearnt"]) == [False, True]
    assert (lengths.loc[8, "solved"], lengths.loc[8, "seeds"]) == (2, 2)
    assert lr_by_length(lengths.reset_index()) == "8: 0.01; 16: 0.03 -> 0.01 (confirmed)"


def test_a_length_confirmed_at_two_lrs_counts_the_set_that_solved_more_and_its_runs_stand_for_its_seeds(tmp_path):
    from types import SimpleNamespace

    from rnnbench.report.claims import searched_lrs
    from rnnbench.report.search_tables import SEARCH_RUN_COLUMNS, search_lengths, search_seed_runs
    from rnnbench.report.tables import lr_by_length
    from rnnbench.study import parse_study

    study = parse_study(yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text()))
    folder = lambda lr, steps, s: f"adding-16/lr{lr:g}-steps{steps}/seed{s}"
    sets = ((0.03, 30, False, False), (0.01, 90, True, False), (0.003, 90, True, True))  # own, tuning seeds', lo's
    trace = {"lengths": [
        {"length": 8, "lr": 0.003, "sweep": [], "runs": [
            {"seed": s, "steps": 30, "extended": False, "folder": f"adding-8/lr0.003-steps30/seed{s}"} for s in (0, 1)]},
        {"length": 16, "lr": 0.03, "sweep": [], "by_lower": True,
         "confirm": {"lr": 0.01, "at": "other", "steps": 90, "lower": 8, "sweep": [], "lower_lr": 0.003,
                     "lower_at": "other"},
         "runs": [{"seed": s, "steps": steps, "extended": extended, "at_lower": at_lower, "folder": folder(lr, steps, s)}
                  for lr, steps, extended, at_lower in sets for s in (0, 1)]}],
        "found": {"lo": 16, "hi": None, "censored": "above", "budget_bound": False}}
    (tmp_path / "searches" / "adding" / "rnn").mkdir(parents=True)
    (tmp_path / "searches" / "adding" / "rnn" / "search.json").write_text(json.dumps(trace))
    solved = {0.03: (False, False), 0.01: (True, False), 0.003: (True, True)}  # 16: 1/2 at 0.01, 2/2 at lo's 0.003
    runs = pd.DataFrame([{"task": "adding", "model": "rnn", "length": 16, "seed": s, "lr": lr, "lr_at_bound": False,
                          "max_steps": steps, "extended": extended, "at_lower": at_lower, "solved": solved[lr][s],
                          "solved_step": None, "test_metric": 0.1, "failed": False, "run_dir": ""}
                         for lr, steps, extended, at_lower in sets for s in (0, 1)], columns=SEARCH_RUN_COLUMNS)
    lengths = search_lengths(study, tmp_path, runs).set_index("length")
    assert (lengths.loc[16, "solved"], lengths.loc[16, "seeds"]) == (2, 2)  # lo's lr: both seeds, one set
    assert (lengths.loc[16, "solved_extended"], lengths.loc[16, "solved_at_lower"]) == (1, 2)
    assert lengths.loc[16, "by_lower"] and lengths.loc[16, "lower_lr"] == 0.003
    assert lr_by_length(lengths.reset_index()) == "8: 0.003; 16: 0.03 -> 0.01 (confirmed) and 0.003 (the shorter bound's, counted)"
    assert searched_lrs(SimpleNamespace(searched=lengths.reset_index())) == {("adding", "rnn"): {8: 0.003, 16: 0.03}}
    runs.loc[runs["at_lower"], "solved"] = [True, False]  # 1/2 there too: the first set stands
    lengths = search_lengths(study, tmp_path, runs).set_index("length")
    assert (lengths.loc[16, "solved"], lengths.loc[16, "by_lower"]) == (1, False)
    # the per-length tables read the counted set's runs for each seed (the trace's by_lower)
    chosen = {run.seed: run.folder.as_posix() for run in search_seed_runs(study, tmp_path) if run.length == 16}
    assert chosen == {s: f"searches/adding/rnn/{folder(0.003, 90, s)}" for s in (0, 1)}

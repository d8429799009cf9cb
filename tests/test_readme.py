"""The README's numbers are the repository's: its headline critical lengths are the committed
report's, the report outputs it lists are the report stage's, and its study time, test count, CI
time and figure count are the newest measured (benchmarks/results.md, docs/measurements.md)."""
import re
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def answer_section() -> str:
    start = README.index("**The answer")
    return README[start:README.index("\n## ", start)]


def test_every_critical_length_the_readme_quotes_is_a_t50_of_the_committed_report():
    """Of the default study's report, or of the committed report a bullet names (reports/<study>/report.md)."""
    quoted = 0
    for bullet in answer_section().split("\n- "):
        named = re.search(r"reports/([\w-]+)/report\.md", bullet)
        critical = pd.read_csv(REPO / "reports" / (named[1] if named else "") / "critical_length.csv")
        readings = {re.sub(r"95% CI ", "", str(r)) for r in critical["t50_reading"]}
        for value in re.findall(r"\*\*([\d.]+ \([\d.]+–[\d.]+\))\*\*", bullet):
            assert value in readings, f"README quotes T50 {value}; the report has {sorted(readings)}"
            quoted += 1
    assert quoted, "the answer quotes no T50 with its interval"


def test_the_report_outputs_the_readme_lists_are_the_report_stages():
    outs = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["report"]["outs"]
    csvs = {Path(next(iter(o)) if isinstance(o, dict) else o).name for o in outs}
    csvs = {name for name in csvs if name.endswith(".csv")}
    listed = set(re.findall(r"\b([a-z_]+\.csv)\b", README[README.index("report                        reports/"):README.index("and MLflow (mlflow.db)")]))
    assert csvs <= listed, f"dvc.yaml's report writes {sorted(csvs - listed)}, which the README does not list"


NUMBER_WORDS = {"eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16}


def test_the_study_time_the_readme_quotes_is_the_newest_measured_in_the_benchmarks():
    quoted = re.search(r"make study .*?: (\d+) min on 2 CPU cores, (\d{4}-\d\d-\d\d)", README)
    results = (REPO / "benchmarks" / "results.md").read_text()
    measured = re.search(r"(\d{4}-\d\d-\d\d)[^\n]*?\*\*([\d.]+) min\*\* wall time", results)
    assert quoted and measured, "the README or benchmarks/results.md lost its study time"
    assert int(quoted[1]) == round(float(measured[2])) and quoted[2] == measured[1]


def test_the_test_count_and_ci_time_the_readme_quotes_are_the_newest_measured():
    quoted = re.search(r"`CI=true bash \.ci/run`, (\d+) tests, ([\d.]+) min, (\d{4}-\d\d-\d\d)", README)
    measurements = (REPO / "docs" / "measurements.md").read_text()
    ci = re.search(r"\*\*([\d.]+) min \((\d+) s\), (\d+) passed", measurements)  # newest first
    assert quoted and ci, "the README or docs/measurements.md lost its CI time"
    assert (int(quoted[1]), quoted[2]) == (int(ci[3]), ci[1])
    newest_date = re.findall(r"^## (\d{4}-\d\d-\d\d)", measurements[:ci.start()], re.M)[-1]
    assert quoted[3] == newest_date


def test_the_figure_count_the_readme_quotes_is_what_the_default_studys_report_can_draw():
    from rnnbench.report.markdown import figures_of
    from rnnbench.study import load_study

    word = re.search(r"up to (\w+) figures", README)[1]
    assert NUMBER_WORDS[word] == len(figures_of(load_study(REPO / "params.yaml")))

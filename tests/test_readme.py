"""The README's numbers are the repository's: its headline critical lengths are the committed
report's, and the report outputs it lists are the report stage's."""
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
    critical = pd.read_csv(REPO / "reports" / "critical_length.csv")
    readings = {re.sub(r"95% CI ", "", str(r)) for r in critical["t50_reading"]}
    quoted = re.findall(r"\*\*([\d.]+ \([\d.]+–[\d.]+\))\*\*", answer_section())
    assert quoted, "the answer quotes no T50 with its interval"
    for value in quoted:
        assert value in readings, f"README quotes T50 {value}; the report has {sorted(readings)}"


def test_the_report_outputs_the_readme_lists_are_the_report_stages():
    outs = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["report"]["outs"]
    csvs = {Path(next(iter(o)) if isinstance(o, dict) else o).name for o in outs}
    csvs = {name for name in csvs if name.endswith(".csv")}
    listed = set(re.findall(r"\b([a-z_]+\.csv)\b", README[README.index("report                        reports/"):README.index("and MLflow (mlflow.db)")]))
    assert csvs <= listed, f"dvc.yaml's report writes {sorted(csvs - listed)}, which the README does not list"

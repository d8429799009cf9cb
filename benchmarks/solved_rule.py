"""How much a searched critical length rests on the solved rule: test, or validation too.

A run stops at the first evaluation whose validation metric meets the task's rule (early_stop), and
counts solved only if its test metric meets the rule as well. Stopped right at the threshold, a run
that has learnt the task often misses it on test by a hair (the AMD long study's copy misses:
recall 0.9836-0.9898 against 0.99). This reads a study's search_runs.csv and, per task x model x length, sets the study's count
(solved on test, under either budget) beside a lenient one (solved on test or the rule met on
validation, under either budget), decides each length with the search's own rule
(rnnbench/search/rule.py), and prints the lengths whose decision changes, the brackets under each
count, and T50 under each.

    python benchmarks/solved_rule.py reports/search_runs.csv reports/long-amd/search_runs.csv

Writes the table into benchmarks/results.md (section `solved-rule`).
"""
import argparse
import sys
from pathlib import Path

import pandas as pd

from results_file import write_section
from rnnbench.report.threshold import estimate_t50, threshold_reading
from rnnbench.search.rule import LengthRuns, SearchRange, bracket, decision


def outcomes(runs: pd.DataFrame, lenient: bool) -> dict[int, LengthRuns]:
    """length -> the seeds' outcomes under each budget, as the search counts them."""
    ok = runs["solved"] | (runs["solved_step"].notna() if lenient else False)
    found: dict[int, LengthRuns] = {}
    for (length, extended, seed), solved in ok.groupby([runs["length"], runs["extended"], runs["seed"]]):
        side = found.setdefault(int(length), LengthRuns())
        (side.extended if extended else side.base)[int(seed)] = bool(solved.any())
    return found


def bracket_text(lo, hi) -> str:
    return f"{'<' + str(hi) if lo is None else lo} .. {'open' if hi is None else hi}"


def t50(found: dict[int, LengthRuns]) -> str:
    lengths = sorted(found)
    return threshold_reading(estimate_t50(lengths, [found[t].solved for t in lengths], [found[t].seeds for t in lengths]))


def compare(runs: pd.DataFrame, study: str) -> tuple[list[dict], list[dict]]:
    """The lengths whose decision the count changes, and the T50 of every task x model it changes."""
    rows, fits = [], []
    for (task, model), own in runs.groupby(["task", "model"]):
        seeds = tuple(sorted(own.loc[~own["extended"], "seed"].unique()))
        search = SearchRange(start=0, floor=0, cap=0, seeds=seeds)
        strict, lenient = outcomes(own, lenient=False), outcomes(own, lenient=True)
        if any(strict[t].solved != lenient[t].solved for t in strict):
            fits.append({"study": study, "task": task, "model": model,
                         "T50 (test)": t50(strict), "T50 (test or validation)": t50(lenient)})
        for length in sorted(strict):
            a, b = decision(strict[length], search), decision(lenient[length], search)
            if a != b:
                rows.append({"study": study, "task": task, "model": model, "T": length,
                             "test": f"{strict[length].solved}/{strict[length].seeds} ({a or 'open'})",
                             "test or validation": f"{lenient[length].solved}/{lenient[length].seeds} ({b or 'open'})",
                             "bracket (test)": bracket_text(*bracket(strict, search)),
                             "bracket (test or validation)": bracket_text(*bracket(lenient, search))})
    return rows, fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="search_runs.csv files of studies' reports")
    args = parser.parse_args()
    lines, rows, fits = [], [], []
    for path in args.files:
        if not path.is_file():
            print(f"solved_rule: error: {path}: no such file; give a report's search_runs.csv", file=sys.stderr)
            sys.exit(2)
        runs = pd.read_csv(path)
        runs = runs[~runs["failed"].astype(bool)]
        # per seed at a length (its base run and, where it had one, the larger budget's run)
        seeds = runs.groupby(["task", "model", "length", "seed"]).agg(solved=("solved", "any"),
                                                                      met=("solved_step", lambda s: s.notna().any()))
        missed = seeds[~seeds["solved"] & seeds["met"]].reset_index()
        lines.append(f"- {path}: {len(seeds)} seeds at a length ({len(runs)} runs), {int(seeds['solved'].sum())} solved "
                     f"on test, {len(missed)} met the rule on validation only ({', '.join(f'{t} {m} {n}' for (t, m), n in missed.groupby(['task', 'model']).size().items()) or 'none'})")
        changed, refit = compare(runs, str(path.parent))
        rows, fits = rows + changed, fits + refit
    table = pd.DataFrame(rows).to_markdown(index=False) if rows else "No length's decision depends on the rule."
    t50s = pd.DataFrame(fits).to_markdown(index=False) if fits else "No count changes."
    body = (f"## How the searched lengths rest on the solved rule (`python benchmarks/solved_rule.py "
            f"{' '.join(str(p) for p in args.files)}`)\n\n" + "\n".join(lines) +
            "\n\nThe lengths whose >= 50% decision differs when a seed that met the rule on validation also counts "
            "(brackets: lo .. hi, hi the shortest failed length, lo the longest solved one below it):\n\n" + table +
            "\n\nT50 and its 95% interval under each count, fitted to the search's runs alone (the report's T50 also "
            "reads a grid cell at a searched length), for every task x model whose counts differ:\n\n" + t50s)
    write_section("solved-rule", body)


if __name__ == "__main__":
    main()

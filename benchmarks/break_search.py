"""Try to break a critical length: rerun one task x model's search with other seeds, another tuning
seed, a larger base budget or another ladder start, and set its T50 beside the study's.

Each probe is `<task>:<model>[:key=value,...]` with keys `seeds` (e.g. `5-9`), `tune_seeds`
(e.g. `101`), `steps` (the base budget) and `start_lr`; everything else is the search's plan as
the study wrote it (configs/search/<task>/<model>.json). The probe's runs go to a folder of their
own (`--root`, kept so that a probe resumes), never into searches/.

    python benchmarks/break_search.py 'adding:rnn:seeds=5-9' 'adding:rnn:tune_seeds=101' 'xor:lstm:steps=6000'

Prints each probe's T50 and bracket beside the study's (reports/critical_length.csv) and writes the
table into benchmarks/results.md (section `probes-search`).
"""
import argparse
import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd

from results_file import machine_line, write_section
from rnnbench.report.statistics import exact_interval
from rnnbench.report.threshold import estimate_t50, threshold_reading
from rnnbench.search.plans import plan_file
from rnnbench.search.runner import Search, SearchPlan
from rnnbench.study import load_study

ROOT = Path(__file__).resolve().parents[1]


def changed_plan(plan: SearchPlan, changes: dict[str, str]) -> SearchPlan:
    def seeds(text: str) -> tuple[int, ...]:
        first, _, last = text.partition("-")
        return tuple(range(int(first), int(last or first) + 1))

    if "seeds" in changes:
        plan = dataclasses.replace(plan, range=dataclasses.replace(plan.range, seeds=seeds(changes["seeds"])))
    if "tune_seeds" in changes:
        plan = dataclasses.replace(plan, tune_seeds=seeds(changes["tune_seeds"]))
    if "steps" in changes:
        plan = dataclasses.replace(plan, base=dataclasses.replace(
            plan.base, train=dataclasses.replace(plan.base.train, steps=int(changes["steps"]))))
    if "start_lr" in changes:
        plan = dataclasses.replace(plan, start_lr=float(changes["start_lr"]))
    return plan


def reading(search: Search) -> tuple[str, str]:
    """T50 with its interval, and each length's solved count, from the search's outcomes."""
    lengths = sorted(search.outcomes)
    solved = [search.outcomes[n].solved for n in lengths]
    seeds = [search.outcomes[n].seeds for n in lengths]
    counts = "; ".join(f"{n}: {k}/{s} [{exact_interval(k, s)[0]:.2g}, {exact_interval(k, s)[1]:.2g}]"
                       for n, k, s in zip(lengths, solved, seeds))
    return threshold_reading(estimate_t50(lengths, solved, seeds)), counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("probes", nargs="+")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--root", type=Path, default=Path("/tmp/rnnbench-break-search"))
    parser.add_argument("--section", default="probes-search")
    args = parser.parse_args()
    study = load_study(args.params)
    critical = pd.read_csv(ROOT / "reports" / "critical_length.csv")
    rows = []
    for text in args.probes:
        task, model, *rest = text.split(":")
        changes = dict(item.split("=", 1) for item in (rest[0].split(",") if rest else []))
        plan = changed_plan(SearchPlan.read(ROOT / plan_file(task, model)), changes)
        start = time.perf_counter()
        search = Search(plan, args.root / text.replace(":", "_").replace(",", "_").replace("=", "-"), study.execution)
        found = search.run()
        t50, counts = reading(search)
        own = critical[(critical.task == task) & (critical.model == model)]
        rows.append(f"| `{text}` | {t50} | {found.lo}–{found.hi} | {counts} | "
                    f"{own.t50_reading.iloc[0] if len(own) else '—'} | {(time.perf_counter() - start) / 60:.1f} |")
        print(rows[-1], flush=True)
    lines = ["## Probes against the searched critical lengths (`python benchmarks/break_search.py …`)", "",
             f"{machine_line()}. Each probe reruns one search as the study planned it, with the changes named "
             "(its own runs, its own lr sweeps).", "",
             "| probe | T50 (95% interval) | bracket | solved per length [exact 95%] | the study's T50 | min |",
             "|---|---|---|---|---|---|", *rows]
    write_section(args.section, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

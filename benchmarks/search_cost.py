"""What a study's searches spent, by kind of run: per task x model the run-minutes (each run's own
`wall_s` from its metrics.json, summed) of the lr sweeps in the base budget, the confirmations'
sweeps with the ceiling, the study seeds in the base budget, and the confirming study runs (at the
rung the tuning seeds chose, then at the lower end's lr), with each kind's share of the total.

    python benchmarks/search_cost.py /path/to/study/root

Runs train side by side (a pool of `seed_processes` on the cores), so run-minutes are not wall
time: their shares are what a trade of the rule would save. Only the runs the traces name count (a
sweep's by its lrs, seeds and budget; a study run by its folder): a run an earlier rule trained and
left in the folder does not.
"""
import argparse
import json
from collections import defaultdict
from pathlib import Path

from rnnbench.search.plans import SEARCHES
from rnnbench.search.runner import TRACE_FILE, read_trace

KINDS = ("sweep", "ceiling sweep", "study", "confirming", "at lo's lr")


def wall_minutes(folder: Path) -> float:
    try:
        return float(json.loads((folder / "metrics.json").read_text()).get("wall_s") or 0) / 60
    except (OSError, ValueError):
        return 0.0


def search_cost(folder: Path, trace: dict) -> dict[str, float]:
    """Run-minutes per kind of one search (the folder its trace lives in)."""
    cost: dict[str, float] = defaultdict(float)
    seeds = trace["tune_seeds"]
    for length in trace["lengths"]:
        point = folder / f"{trace['task']}-{length['length']}"
        for row in length.get("sweep", []):
            for seed in seeds:
                cost["sweep"] += wall_minutes(point / "tune" / f"lr{row['lr']:g}-steps{trace['range']['steps']}" / f"seed{seed}")
        for row in (length.get("confirm") or {}).get("sweep", []):  # its budget: the ceiling, or a walk's cut
            for run in point.glob(f"tune/lr{row['lr']:g}-steps*/seed*"):
                if run.parent.name != f"lr{row['lr']:g}-steps{trace['range']['steps']}" and int(run.name[4:]) in seeds:
                    cost["ceiling sweep"] += wall_minutes(run)
        for run in length.get("runs", []):
            kind = "at lo's lr" if run.get("at_lower") else "confirming" if run["extended"] else "study"
            cost[kind] += wall_minutes(folder / run["folder"])
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a study root: its searches/<task>/<model>/search.json are read")
    args = parser.parse_args()
    paths = sorted((args.root / SEARCHES).glob(f"*/*/{TRACE_FILE}"))
    if not paths:
        parser.exit(2, f"search_cost.py: no {SEARCHES}/<task>/<model>/{TRACE_FILE} under {args.root}\n")
    rows, total = [], defaultdict(float)
    for path in paths:
        trace = read_trace(path.parent)
        if trace is None:
            continue
        cost = search_cost(path.parent, trace)
        rows.append((trace["task"], trace["model"], cost))
        for kind in KINDS:
            total[kind] += cost[kind]
    grand = sum(total.values()) or 1.0
    print("| task | model | " + " | ".join(KINDS) + " | all |")
    print("|---|---|" + "---|" * (len(KINDS) + 1))
    for task, model, cost in sorted(rows, key=lambda row: -sum(row[2].values())):
        print(f"| {task} | {model} | " + " | ".join(f"{cost[k]:.0f}" for k in KINDS) + f" | {sum(cost.values()):.0f} |")
    print("| all | | " + " | ".join(f"{total[k]:.0f} ({total[k] / grand:.0%})" for k in KINDS) + f" | {grand:.0f} |")


if __name__ == "__main__":
    main()

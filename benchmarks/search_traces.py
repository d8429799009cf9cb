"""Print each search's path so far, one line per task x model, from the search.json files of a study
root (finished or still running): the lengths in the order of T, each with its own lr and solved
count, then, where its failure was confirmed, the lr chosen for the ceiling and the count there.

    python benchmarks/search_traces.py /path/to/study/root

A line reads `T: lr k/n -> lr@steps k/n [, lr k/n at lo's lr]`; "(pending)" where no confirming run
has ended yet. The second count is the confirming runs': at the length's own lr they are its failed
seeds trained on, so the length's count is the sum of the two; at another lr every seed trains afresh
and it is the second. The third, where the failure held, is the second confirmation's, at the lr
the lower end was solved at (search/rule.py): the length counts the better of the two sets.
"""
import argparse
from pathlib import Path

from rnnbench.search.plans import SEARCHES
from rnnbench.search.runner import TRACE_FILE, read_trace


def length_text(length: dict) -> str:
    runs = length.get("runs", [])
    base = [run for run in runs if not run["extended"]]
    ceiling = [run for run in runs if run["extended"] and not run.get("at_lower")]
    lower = [run for run in runs if run.get("at_lower")]
    text = f"{length['length']}: {length['lr']:g} {sum(run['solved'] for run in base)}/{len(base)}"
    confirm = length.get("confirm")
    if confirm:
        count = f"{sum(run['solved'] for run in ceiling)}/{len(ceiling)}" if ceiling else "(pending)"
        text += f" -> {confirm['lr']:g}@{confirm['steps']} {count}"
        if lower:
            text += f", {confirm['lower_lr']:g} {sum(run['solved'] for run in lower)}/{len(lower)} at lo's lr"
    return text


def trace_line(trace: dict) -> str:
    found = trace.get("found")
    state = f"found lo={found['lo']} hi={found['hi']}" if found else "running"
    return f"{trace['task']:6} {trace['model']:5} {state:22} " + "; ".join(map(length_text, trace["lengths"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a study root: its searches/<task>/<model>/search.json are read")
    args = parser.parse_args()
    traces = [read_trace(path.parent) for path in sorted((args.root / SEARCHES).glob(f"*/*/{TRACE_FILE}"))]
    if not any(traces):
        parser.exit(2, f"search_traces.py: no {SEARCHES}/<task>/<model>/{TRACE_FILE} under {args.root}\n")
    for trace in filter(None, traces):  # a trace being rewritten is skipped, not a crash
        print(trace_line(trace))


if __name__ == "__main__":
    main()

"""Try to break the report's readings: rerun a cell with another lr, more steps or other seeds.

Each probe is `<task>-<length>:<model>[:key=value,...]` with `steps`, `lr`, `seeds` (e.g.
`5-9`), `layers` as keys; everything else is the cell's config as the study resolved it (tuned lr
included). `--params` / `--root` name another study and the folder its tuning results are in.

    python benchmarks/break_conclusions.py 'adding-100:rnn:steps=9000' 'xor-20:lstm:lr=0.003'
    python benchmarks/break_conclusions.py --params studies/long-cpu.yaml --root /tmp/long-cpu \
        --section probes-long 'adding-50:indrnn:layers=2'

Prints the solved count per probe (with its exact 95% interval) beside the study's and writes the
table into benchmarks/results.md ("Probes against the report's readings"). Probes of one task and
model with the same changes at two or more lengths are a curve: its T50 with the 95%
profile-likelihood interval (the report's estimator) follows the table. `--runs DIR` keeps each
probe's run folders there, so a rerun reads the finished seeds instead of training them again.

    python benchmarks/break_conclusions.py --runs /tmp/xor-curve --section probes-xor-rnn-curve \
        'xor-40:rnn:lr=0.001,steps=27000' 'xor-80:rnn:lr=0.001,steps=27000'
"""
import argparse
import contextlib
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from results_file import machine_line, write_section
from rnnbench.report.statistics import exact_interval
from rnnbench.report.threshold import estimate_t50, threshold_reading
from rnnbench.config import ConfigError
from rnnbench.study import Cell, load_study
from rnnbench.tasks import resolve_task
from rnnbench.training.sweep import train_cell

ROOT = Path(__file__).resolve().parents[1]


def parse_probe(text: str):
    point, model, *rest = text.split(":")
    task, _, length = point.rpartition("-")
    changes = dict(item.split("=", 1) for item in (rest[0].split(",") if rest else []))
    return Cell(task, model, int(length)), changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("probes", nargs="+")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--root", type=Path, default=ROOT, help="holds the study's tuning/ and reports/")
    parser.add_argument("--section", default="probes", help="the benchmarks/results.md section to (re)write")
    parser.add_argument("--runs", type=Path, help="keep the probes' run folders here (a rerun reads them)")
    args = parser.parse_args()
    if args.runs:
        args.runs.mkdir(parents=True, exist_ok=True)
    study = load_study(args.params)
    # The tuned lrs live in the study's tuning/ (a DVC output, absent from a fresh clone): read only
    # for a probe that keeps the cell's lr.
    probes = [(text, *parse_probe(text)) for text in args.probes]
    lrs = {} if all("lr" in changes for _, _, changes in probes) else study.chosen_lrs(args.root)
    summary = pd.read_csv(args.root / "reports" / "summary.csv")
    rows, curves = [], {}
    for text, cell, changes in probes:
        seeds = study.seeds
        if "seeds" in changes:
            first, last = map(int, changes["seeds"].split("-"))
            seeds = tuple(range(first, last + 1))
        lr = float(changes["lr"]) if "lr" in changes else lrs.get((cell.model, cell.task))
        configs = [study.run_config(cell, seed, lr) for seed in seeds]
        train = {k: (float(v) if k == "lr" else int(v)) for k, v in changes.items() if k in ("lr", "steps")}
        configs = [dataclasses.replace(c, train=dataclasses.replace(c.train, **train)) for c in configs]
        if "layers" in changes:
            configs = [dataclasses.replace(c, model=dataclasses.replace(c.model, num_layers=int(changes["layers"])))
                       for c in configs]
        dataset = resolve_task(cell.task).build(cell.length, study.data, study.task_plan(cell.task).options)
        start = time.perf_counter()
        with (contextlib.nullcontext(args.runs) if args.runs else tempfile.TemporaryDirectory()) as folder:
            records = train_cell(configs, dataset, Path(folder) / text.replace(":", "_").replace(",", "_"),
                                 study.execution)
        solved = sum(bool(r.get("solved")) for r in records)
        low, high = exact_interval(solved, len(records))
        curves.setdefault((cell.task, cell.model, tuple(sorted(changes.items()))), []).append(
            (cell.length, solved, len(records)))
        steps = sorted(r["solved_step"] for r in records if r.get("solved") and r.get("solved_step"))
        own = summary[(summary.task == cell.task) & (summary.model == cell.model) & (summary.length == cell.length)]
        study_text = f"{int(own.solved.iloc[0])}/{int(own.seeds.iloc[0])} at lr {own.lr.iloc[0]:g}" if len(own) else "—"
        rows.append(f"| `{text}` | lr {configs[0].train.lr:g}, {configs[0].train.steps} steps, "
                    f"{configs[0].model.num_layers} layer(s), seeds "
                    f"{seeds[0]}–{seeds[-1]} | {solved}/{len(records)} [{low:.2g}, {high:.2g}] | {steps or '—'} | {study_text} | "
                    f"{time.perf_counter() - start:.0f} |")
        print(rows[-1], flush=True)
    lines = [f"## Probes against the report's readings (`python benchmarks/break_conclusions.py --params "
             f"{args.params.relative_to(ROOT) if args.params.is_relative_to(ROOT) else args.params} …`)", "",
             f"{machine_line()}. Each probe reruns one cell as the study resolved it, with the changes named.", "",
             "| probe | settings | solved [exact 95%] | solve steps | the study's cell | s |", "|---|---|---|---|---|---|",
             *rows]
    for (task, model, changes), points in curves.items():
        if len({length for length, _, _ in points}) >= 2:
            lengths, solved_counts, seed_counts = zip(*sorted(points))
            named = ", ".join(f"{k}={v}" for k, v in changes) or "the cells as resolved"
            t50 = threshold_reading(estimate_t50(lengths, solved_counts, seed_counts))
            lines += ["", f"{task} {model} with {named}: T50 {t50} "
                          f"over lengths {', '.join(map(str, lengths))} (the report's estimator, from these probes alone)."]
            print(lines[-1], flush=True)
    write_section(args.section, "\n".join(lines))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigError as err:  # a probe that needs what this root lacks: one line, not a traceback
        print(f"break_conclusions: {err}", file=sys.stderr)
        sys.exit(2)

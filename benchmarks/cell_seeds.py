"""The seeds of one study cell, as the study trains them: one after another vs as concurrent
processes (`seed_processes`), through the real `train_cell` (training, test, diagnostics, outputs).
Checks that every mode wrote the same results.

    python benchmarks/cell_seeds.py --cells adding:rnn:100 adding:gru:100 xor:lstm:40 --modes 1 2 3
"""
import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from rnnbench.training.sweep import seed_process_count, train_cell
from rnnbench.training.trainer import resolve_device
from rnnbench.study import Cell, load_study
from rnnbench.tasks import resolve_task
from results_file import machine_line, write_section

TIMING = {"wall_s", "steps_per_s", "finished_at"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--cells", nargs="+", default=["adding:rnn:100", "adding:gru:100", "xor:lstm:40"])
    parser.add_argument("--modes", nargs="+", default=["1", "2", "auto"], help="seed_processes values")
    args = parser.parse_args()
    study = load_study(args.params)
    rows = []
    for spec in args.cells:
        task, model, length = spec.split(":")
        cell = Cell(task, model, int(length))
        dataset = resolve_task(task).build(cell.length, study.data, study.task_plan(task).options)
        times, results = {}, {}
        for mode in args.modes:
            variant = dataclasses.replace(study, seed_processes=mode if mode == "auto" else int(mode))
            with tempfile.TemporaryDirectory() as root:
                start = time.perf_counter()
                records = train_cell(variant.resolved_configs(cell), dataset, Path(root), variant.execution)
                times[mode] = time.perf_counter() - start
            results[mode] = [{k: v for k, v in r.items() if k not in TIMING} for r in records]
            label = f"{mode} ({seed_process_count(variant.execution.seed_processes, len(variant.seeds), resolve_device(variant.resolved_configs(cell)[0].train.device))} processes)" if mode == "auto" else mode
            rows.append(f"| {task} {model} T={length} | {label} | {times[mode]:.1f} | "
                        f"{times[args.modes[0]] / times[mode]:.2f}x |")
        same = all(results[m] == results[args.modes[0]] for m in args.modes)
        rows.append(f"| | results identical in every mode | {'yes' if same else '**NO**'} | |")
    write_section("cells", "\n".join([
        "## Seeds of a study cell (`python benchmarks/cell_seeds.py`)", "",
        f"{machine_line()}. {len(study.seeds)} seeds per cell, the study's own settings (`{args.params}`), "
        "early stop on; every seed trains with one torch thread; `seed_processes` 1 = one after another, "
        "n = n concurrent forked processes. Wall time of `train_cell` "
        "(training, test evaluation, diagnostics, outputs).", "",
        "| cell | seed_processes | s | vs one after another |", "|---|---|---|---|", *rows]))


if __name__ == "__main__":
    main()

"""The default study end to end, with its wall time split into data generation, training per
model, diagnostics and outputs, MLflow, the report, process start-up and DVC itself.

Runs `dvc repro --force` in this repository (every stage reruns: the clean-state time) and reads
the line each stage ends with (`stage NAME done: S s in all (PART S s, ...)`, rnnbench.progress).

    python benchmarks/study_split.py            # ~30 min on a 2-core CPU
"""
import argparse
import collections
import re
import os
import subprocess
import sys
import time
from pathlib import Path

from results_file import machine_line, write_section

ROOT = Path(__file__).resolve().parents[1]


STAGE_LINE = re.compile(r"^(?:\d\d:\d\d:\d\d )?stage (.+?) done: ([\d.]+|nan) s in all \((.*)\)$", re.M)


def stage_timing(match: re.Match) -> dict:
    """{"stage": ..., "process_s": ..., "<part>_s": ...} from one stage's closing line."""
    parts = dict(part.rsplit(" ", 2)[:2] for part in match.group(3).split(", ") if part)
    process = float(match.group(2))
    return {"stage": match.group(1), "process_s": None if process != process else process,
            **{f"{name.replace(' ', '_')}_s": float(value) for name, value in parts.items()}}


DVC_STAGE = re.compile(r"^Running stage '(.+?)':$", re.M)


def stage_timings(log: str) -> list[dict]:
    """Every stage line of the log; where one process wrote several (a side grid's stage trains or
    tunes each of its models in turn; `rnnbench study` runs every step in one process) each line's
    process time is what that process spent since its previous line, not its age."""
    timings = []
    for segment in DVC_STAGE.split(log)[::2]:  # the text of each DVC stage's process, in order
        age = 0.0
        for match in STAGE_LINE.finditer(segment):
            timing = stage_timing(match)
            if timing["process_s"] is not None:
                timing["process_s"], age = timing["process_s"] - age, timing["process_s"]
            timings.append(timing)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-force", action="store_true", help="only the stale stages (not a clean-state time)")
    parser.add_argument("--log", type=Path, default=ROOT / "benchmarks" / ".study.log",
                        help="where the stages' progress goes while it runs (tail -f it)")
    parser.add_argument("--from-log", type=float, metavar="WALL_S",
                        help="split a study already run (its log at --log, its wall time WALL_S) instead of running one")
    parser.add_argument("--calibration", type=float, metavar="S", help="the host calibration of the day "
                        "(benchmarks/calibration.py), to state the study's cost as a multiple of it")
    args = parser.parse_args()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = ["dvc", "repro"] + ([] if args.no_force else ["--force"])
    if args.from_log is None:
        start = time.perf_counter()
        with args.log.open("w") as log:
            subprocess.run(command, cwd=ROOT, env=env, check=True, stderr=log, text=True)
        total = time.perf_counter() - start
    else:
        total = args.from_log
    stages = stage_timings(args.log.read_text())
    parts = collections.Counter()
    per_model = collections.Counter()
    per_search = collections.Counter()
    for s in stages:
        named = 0.0
        for key, value in s.items():
            if key.endswith("_s") and key != "process_s":
                parts[key] += value
                named += value
        if s["stage"].startswith("train "):  # "train runs/<point>/<model>"
            per_model[s["stage"].rsplit("/", 1)[1]] += s["cell_s"]
        if s["stage"].startswith("search "):  # "search searches/<task>/<model>"
            per_search[s["stage"].split(" ", 1)[1].removeprefix("searches/")] += s["search_s"]
        parts["start-up, imports, config and data loading"] += (s["process_s"] or named) - named
    in_stages = sum(s["process_s"] or 0 for s in stages)
    rows = [("data generation", parts["generate_s"]),
            ("planning the lr tuning", parts["plan_s"]),
            ("lr tuning sweeps (every tuned model)", parts["tune_s"]),
            ("resolving the cells' run configs", parts["configure_s"]),
            *((f"cells of {model}: training, test, diagnostics, outputs", seconds)
              for model, seconds in per_model.items()),
            *((f"critical-length search {name}: lr sweeps, seeds, larger-budget reruns" if "/" in name else
               "the critical-length searches, side by side in one stage: lr sweeps, seeds, larger-budget reruns",
               seconds) for name, seconds in per_search.items()),
            ("MLflow (server check + open store + log runs)", parts["mlflow_s"] + parts["tracking_check_s"]),
            ("report (tables, figures, report.md)", parts["report_s"]),
            ("stage processes: start-up, imports, config and data loading", parts["start-up, imports, config and data loading"]),
            ("DVC (hashing, lock files, scheduling)", total - in_stages)]
    lines = ["## The default study end to end (`python benchmarks/study_split.py`)", "",
             f"{machine_line()}. `dvc repro{'' if args.no_force else ' --force'}`: {len(stages)} stages, "
             f"**{total / 60:.1f} min** wall time"
             + (f", {total / args.calibration:.0f}x the host calibration of the day ({args.calibration:.2f} s)"
                if args.calibration else "") + ".", "", "| part | seconds | share |", "|---|---|---|"]
    lines += [f"| {name} | {seconds:.1f} | {seconds / total:.1%} |" for name, seconds in rows]
    overhead = parts["mlflow_s"] + parts["tracking_check_s"] + (total - in_stages)
    lines += ["", f"Tracking + DVC overhead: {overhead:.1f} s = **{overhead / total:.1%}** of the wall time "
              "(target ≤ 5%). Start-up is separate: every stage is a fresh Python process importing torch."]
    write_section("study", "\n".join(lines))


if __name__ == "__main__":
    main()

"""DVC stage: one task x model's critical-length search -> searches/<task>/<model>/
(rnnbench.steps.search.search).

Reads exactly its plan (configs/search/<task>/<model>.json, written by configure) and builds each
length's data as generate would. Its runs are kept between invocations (the output is persisted):
a search that was stopped, killed or forced continues from its finished runs and trains only the
missing ones (rnnbench/search/runner.py). A failed run stops the search with its cause and the stage
exits 1, so that DVC never records a failure; `dvc repro` then resumes it.
"""
import argparse
from pathlib import Path

from rnnbench.config import EXECUTION_FILE, Execution, require_inside
from rnnbench.process_exit import stage_main
from rnnbench.steps.search import search


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("plan", type=Path, help="the search's plan file")
    parser.add_argument("--out", type=Path, required=True, help="the search's folder")
    args = parser.parse_args()
    require_inside("PLAN", args.plan, Path.cwd())  # names from params.yaml reach these paths
    require_inside("--out", args.out, Path.cwd())
    return search(args.plan, args.out, Execution.read(EXECUTION_FILE))


if __name__ == "__main__":
    stage_main(main)

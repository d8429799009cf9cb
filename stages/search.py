"""DVC stage: every task x model's critical-length search -> searches/<task>/<model>/, their runs
sharing one pool of workers (rnnbench.steps.search.search, rnnbench/search/pool.py).

Reads exactly the plans (configs/search/<task>/<model>.json, written by configure) and builds each
length's data as generate would. The runs are kept between invocations (the output is persisted):
a search that was stopped, killed or forced continues from its finished runs and trains only the
missing ones (rnnbench/search/runner.py), and a search whose plan did not change reads all of its
runs. A failed run stops its search with its cause, the others go on, and the stage exits 1, so that
DVC never records a failure; `dvc repro` then resumes it. The searches' runs are logged to MLflow as
the stage ends (the tracking server is checked before any training).
"""
import argparse
from pathlib import Path

from rnnbench.config import EXECUTION_FILE, Execution, require_inside
from rnnbench.process_exit import stage_main
from rnnbench.steps.search import search


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("plans", type=Path, help="the searches' plans folder (<task>/<model>.json)")
    parser.add_argument("--out", type=Path, required=True, help="the searches' folder (<task>/<model>/ each)")
    args = parser.parse_args()
    require_inside("PLANS", args.plans, Path.cwd())  # names from params.yaml reach these paths
    require_inside("--out", args.out, Path.cwd())
    return search(args.plans, args.out, Execution.read(EXECUTION_FILE), track=True)


if __name__ == "__main__":
    stage_main(main)

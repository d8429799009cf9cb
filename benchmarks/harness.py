"""Every benchmark in one command; each writes its section of benchmarks/results.md.

    python benchmarks/harness.py                    # all parts on this machine's device
    python benchmarks/harness.py --parts data trainer seeds cells     # skip the ~11 min study
On a GPU machine (torch + numpy only, no dvc/mlflow) the same command runs the training parts on
cuda and skips the study, which needs dvc.
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent
PARTS = ("data", "trainer", "seeds", "cells", "study")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    commands = {
        "data": [["data_generation.py"]],
        "trainer": [["trainer_vs_tutorial.py", "--device", device]],
        "seeds": [["seeds_together.py", "--device", device, "--model", m] for m in ("lstm", "gru")],
        "cells": [["cell_seeds.py"]],
        "study": [["study_split.py"]] if shutil.which("dvc") else [],
    }
    for part in args.parts:
        if not commands[part]:
            print(f"skipping {part}: needs dvc on PATH", file=sys.stderr)
        for command in commands[part]:
            subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=True, cwd=HERE.parent)


if __name__ == "__main__":
    main()

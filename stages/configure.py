"""DVC stage: every cell's resolved run configs -> configs/<task>/<model>/T<len>.json.

A train stage depends on its cell's file rather than on the params sections that make it up: DVC
reruns the cell exactly when its configs change, and its dvc.lock entry is one file hash instead of
every params value (DVC rewrites the whole lock after each stage, so entry length is time).
"""
import time

from rnnbench.cli import stage_main
from rnnbench.stage_timing import record
from rnnbench.study import load_study


def main() -> None:
    start = time.perf_counter()
    study = load_study("params.yaml")
    for cell in study.cells():
        study.write_configs(cell)
    record("configure", configure_s=time.perf_counter() - start)
    print(f"configured {len(study.cells())} cells x {len(study.seeds)} seeds -> configs/")


if __name__ == "__main__":
    stage_main(main)

"""DVC stage: generate every dataset the study trains on -> data/<task>/T<len>/.

One stage for all of them: generation takes well under a second, while each extra DVC stage costs
a rewrite of dvc.lock. Every (task, length) has its own seeded stream, so a dataset's bytes do not
depend on which others are generated beside it.
"""
import time

from rnnbench.cli import stage_main
from rnnbench.stage_timing import record
from rnnbench.study import data_folder, load_study
from rnnbench.tasks import TASKS


def main() -> None:
    study = load_study("params.yaml")
    start = time.perf_counter()
    for task, plan in study.tasks.items():
        for length in plan.lengths:
            dataset = TASKS[task].build(length, study.data, plan.options)
            folder = data_folder(task, length)
            dataset.save(folder)
            print(f"generated {task} T={length} -> {folder} (checksum {dataset.checksum()})")
    record("generate", generate_s=time.perf_counter() - start)


if __name__ == "__main__":
    stage_main(main)

"""DVC stage: generate every point's dataset -> data/<task>-<length>/.

One stage for all of them: generation takes well under a second, while each extra DVC stage costs
a rewrite of dvc.lock. Every (task, length) has its own seeded stream, so a dataset's bytes do not
depend on which others are generated beside it.
"""
import time

from rnnbench.process_exit import stage_main
from rnnbench.progress import stage_done
from rnnbench.study import Cell, load_study
from rnnbench.tasks import resolve_task


def main() -> None:
    study = load_study("params.yaml")
    start = time.perf_counter()
    for task, length in study.all_points():
        folder = Cell(task, "", length).data_folder
        dataset = resolve_task(task).build(length, study.data, study.task_plan(task).options)
        dataset.save(folder)
        print(f"generated {task} T={length} -> {folder} (checksum {dataset.checksum()})")
    stage_done("generate", generate=time.perf_counter() - start)


if __name__ == "__main__":
    stage_main(main)

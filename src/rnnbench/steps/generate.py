"""Step generate: every point's dataset -> data/<task>-<length>/."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..progress import say, stage_done
from ..study import Cell, Study, require_watched_corpora
from ..tasks import resolve_task


def generate(study: Study, root: Path = Path(".")) -> int:
    """Each (task, length) has its own seeded stream: a dataset's bytes do not depend on which others
    are generated beside it."""
    start = time.perf_counter()
    require_watched_corpora(study)
    for task, length in study.all_points():
        folder = Cell(task, "", length).data_folder
        dataset = resolve_task(task).build(length, study.data, study.task_plan(task).options)
        dataset.save(root / folder)
        say(f"generated {task} T={length} -> {folder} (checksum {dataset.checksum()})", sys.stdout)
    stage_done("generate", generate=time.perf_counter() - start)
    return 0

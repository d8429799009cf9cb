"""Step search: one task x model's critical-length search -> searches/<task>/<model>/."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..config import Execution
from ..process_exit import EXIT_FAILED_RUN
from ..progress import stage_done
from ..search.runner import Search, SearchFailed, SearchPlan


def search(plan: Path, out: Path, execution: Execution) -> int:
    """Resumed from its finished runs; a failed run stops it with its cause (EXIT_FAILED_RUN)."""
    start = time.perf_counter()
    searching = Search(SearchPlan.read(plan), out, execution)
    try:
        found = searching.run()
    except SearchFailed as err:
        print(f"rnnbench: the search {out} stopped: {err}; `dvc repro` resumes it from its finished runs",
              file=sys.stderr, flush=True)
        return EXIT_FAILED_RUN
    print(f"search {out}: bracket lo={found.lo} hi={found.hi} (censored: {found.censored}); "
          f"{searching.trained} runs trained, {searching.reused} read", file=sys.stderr, flush=True)
    stage_done(f"search {out}", search=time.perf_counter() - start)
    return 0

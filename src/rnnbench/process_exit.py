"""How a DVC stage's process ends: its exit statuses and the runner every stage script uses.

Stage scripts import this and the modules they run, never the CLI (which imports everything), so
that a stage's code dependencies in dvc.yaml can cover what it imports (tests/test_layout.py).
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from typing import Callable

from .config import ConfigError

EXIT_BAD_INPUT = 2
EXIT_FAILED_RUN = 1  # a run raised: its record says why; never cached as a result
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def interrupted_with_parent() -> None:
    """On Linux, a stage whose parent (dvc) dies is sent SIGINT: it ends as an interrupted stage
    does (its workers end, its previous outputs stay), never running on and writing after DVC is
    gone. A parent already gone by now interrupts it at once. Elsewhere this does nothing.

    SIGINT is handled whatever the stage inherited: a shell without job control (a script's
    `dvc repro &`, `nohup ... &`) starts its background commands with SIGINT ignored, and Python
    then keeps it ignored, so neither Ctrl-C nor its parent's death would end the stage."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGINT)


def stage_main(body: Callable[[], int | None]) -> None:
    """Run a DVC stage body; bad input is one line on stderr and exit status 2; a body's own
    non-zero return is the exit status.

    A stage that ends (done or refused) leaves through os._exit: after importing torch, Python's
    own shutdown (final garbage collection, module teardown) costs a noticeable fraction of a
    second per stage (docs/architecture.md). Every file a stage writes is closed when its `with`
    block ends and its pools are joined by then; stdio and logging are flushed here. Any other
    exception keeps Python's normal exit, traceback first.
    """
    try:
        interrupted_with_parent()
        code = body() or 0
    except ConfigError as err:
        print(f"rnnbench: error: {err}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    except KeyboardInterrupt:  # the staged outputs are already discarded; what was there stays
        print("rnnbench: interrupted; the stage's previous outputs are as they were", file=sys.stderr)
        code = EXIT_INTERRUPTED
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""Progress lines for long work: a bar per training (updated at evaluation points) and one line per
finished run. Written to stderr so stdout stays parseable.

How much is said is the verbosity (`rnnbench --quiet` / `--verbose`, carried to stages and
workers by the environment variable RNNBENCH_VERBOSITY): quiet keeps failures, warnings and each
stage's last line; normal adds every run's start and end, each cell and a line per quarter of a
run's budget in a log; verbose a line per evaluation in a log. Every line but a bar is time-stamped."""
from __future__ import annotations

import os
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

VERBOSITY_ENV = "RNNBENCH_VERBOSITY"
VERBOSITIES = ("quiet", "normal", "verbose")


def verbosity() -> str:
    """This process's verbosity (normal unless RNNBENCH_VERBOSITY says quiet or verbose)."""
    value = os.environ.get(VERBOSITY_ENV, "normal")
    return value if value in VERBOSITIES else "normal"


def stamped(line: str) -> str:
    """`HH:MM:SS line` (local time): when it happened, in a log read later."""
    return f"{time.strftime('%H:%M:%S')} {line}"


def say(line: str, stream: TextIO | None = None) -> None:
    """A line of progress (hidden by --quiet)."""
    if verbosity() != "quiet":
        emit(stamped(line), stream)


def warn(line: str, stream: TextIO | None = None) -> None:
    """A failure, a retry, something a user must not miss (shown at every verbosity)."""
    emit(stamped(line), stream)


def emit(line: str, stream: TextIO | None = None) -> None:
    """Write a line to `stream` (stderr by default). While a pool's bars are drawn on stderr (in the
    pool's worker, or in the process that draws them) the line goes to the drawing thread, which
    writes it between the bars: printed beside them it would tear one."""
    if stream is None or stream is sys.stderr:
        relay = WORKER_RELAY or (ACTIVE_DISPLAY.queue if ACTIVE_DISPLAY is not None else None)
        if relay is not None:
            relay.put(("write", "", line))
            return
    print(line, file=stream or sys.stderr, flush=True)


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class TrainingBar:
    """One run's progress. On a terminal a tqdm bar, redrawn at each evaluation, its total the run's
    budget from the start; in a log (CI, a file, a pipe) a plain line at each quarter of the budget,
    so that a study's log stays readable. In a pool's worker (`PoolDisplay`) the bar is drawn by the
    process that owns the terminal. tqdm is imported only for a terminal: the training core needs
    torch and numpy alone, and without tqdm a terminal gets the plain lines."""

    def __init__(self, label: str, metric: str, stream: TextIO | None = None, redraw: bool = True,
                 position: int | None = None, total: int | None = None):
        stream = stream or sys.stderr  # looked up per bar: a default argument would pin the one at import
        self.label, self.metric, self.stream = label, metric, stream
        self.bar = None
        self.level = verbosity()
        quiet = self.level == "quiet"
        self.relay = WORKER_RELAY if redraw and not quiet else None  # in a pool's worker: the display places its bar
        self.key = f"{os.getpid()}:{id(self)}"
        self.next_quarter = 1
        if quiet:
            return
        if self.relay is not None:
            self.relay.put(("open", self.key, label, total))
            return
        if redraw and stream.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, desc=label, file=stream, position=position, leave=position is None,
                            dynamic_ncols=True, unit="step", bar_format=BAR_FORMAT)

    def __call__(self, record: dict[str, float], total_steps: int) -> None:
        value = f"val_{self.metric}={format_value(record['val_' + self.metric])}"
        if self.relay is not None:
            self.relay.put(("update", self.key, int(record["step"]), total_steps, value))
            return
        if self.bar is not None:
            self.bar.total = total_steps
            self.bar.update(int(record["step"]) - self.bar.n)
            self.bar.set_postfix_str(value, refresh=True)
            return
        if self.level == "quiet":
            return
        if (self.level != "verbose" and record["step"] * 4 < self.next_quarter * total_steps
                and record["step"] < total_steps):
            return
        self.next_quarter = int(record["step"] * 4 // total_steps) + 1
        self.write(f"{self.label}: {record['step']}/{total_steps} steps, {value}, "
                   f"{record['steps_per_s']:.0f} steps/s")

    def write(self, line: str) -> None:
        """A line of this run's progress, time-stamped, that does not tear a bar drawn on the
        terminal (hidden by --quiet)."""
        if self.level == "quiet":
            return
        line = stamped(line)
        if self.relay is not None:
            self.relay.put(("write", self.key, line))
        elif self.bar is not None:
            self.bar.write(LINE_START + line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.relay is not None:
            self.relay.put(("close", self.key))
        elif self.bar is not None:
            self.bar.close()


# Set in a pool's worker process (`PoolDisplay.worker_started`): where its bars send what they draw.
WORKER_RELAY = None
# Set in the process that draws a pool's bars, while it draws them.
ACTIVE_DISPLAY = None


class PoolDisplay:
    """The bars of a pool's workers, drawn by the one process that owns the terminal. Each worker's
    TrainingBar sends what it would draw (open, update, a line, close) to a queue; a thread here
    draws it with tqdm. One process draws every bar, so a line never tears a bar and bars never
    overwrite each other (tqdm's own positions across processes did: a "done" line lost its first
    letter, bar fragments stayed on start lines). A worker that is killed can lose its last messages,
    never the training: its queue is never waited for at exit."""

    def __init__(self, context, stream: TextIO | None = None):
        self.queue = context.Queue()
        self.stream = stream or sys.stderr
        self.bars: dict[str, object] = {}
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self.draw, name="pool-display", daemon=True)
        self.thread.start()
        global ACTIVE_DISPLAY
        ACTIVE_DISPLAY = self

    @staticmethod
    def worker_started(queue) -> None:
        """In a worker: send this process's bars to `queue`."""
        global WORKER_RELAY
        queue.cancel_join_thread()  # a worker's exit never waits on the terminal
        WORKER_RELAY = queue

    def draw(self) -> None:
        from tqdm import tqdm

        while True:
            try:  # in slices: close() sets `closing` and never puts (see close)
                message = self.queue.get(timeout=0.1)
            except queue.Empty:
                if self.closing.is_set():
                    return
                continue
            except (EOFError, OSError, ValueError):  # the queue was closed
                return
            kind, key, *rest = message
            bar = self.bars.get(key)
            if kind == "open":
                label, total = rest
                self.bars[key] = tqdm(total=total, desc=label, file=self.stream, leave=False, dynamic_ncols=True,
                                      unit="step", bar_format=BAR_FORMAT)
            elif kind == "update" and bar is not None:
                step, total, value = rest
                bar.total = total
                bar.update(step - bar.n)
                bar.set_postfix_str(value, refresh=True)
            elif kind == "write":
                tqdm.write(LINE_START + rest[0], file=self.stream)
            elif kind == "close" and bar is not None:
                self.bars.pop(key).close()

    def close(self) -> None:
        """Draw what is queued, then stop (the bars of workers that died are cleared), and leave the
        cursor at the start of a line for whatever is printed next."""
        global ACTIVE_DISPLAY
        if ACTIVE_DISPLAY is self:
            ACTIVE_DISPLAY = None
        # Never a put from here: a worker ends without flushing its queue (cancel_join_thread), so one
        # that exits mid-send leaves the queue's shared write lock held; a put here would start a
        # feeder thread that waits on that lock forever, and the interpreter joins feeder threads at
        # exit: the stage hung after its last seed (seen once under load, 2026-12-07, test_progress).
        self.closing.set()
        self.thread.join(timeout=5)
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
        self.stream.write(LINE_START)
        self.stream.flush()


# Before a line written between bars: tqdm clearing a closed bar below the others leaves the cursor
# at the end of the cleared row, so a line written next began in the last column and lost its
# first letter to the wrap ("one adding gru ...", seen on a terminal emulator, tests/test_progress.py).
LINE_START = "\r"
BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}] {postfix}"


def start_line(config, n_params: int, device: str, folder: Path | str) -> str:
    """The line a run starts with: what trains, with what, where its outputs go."""
    train = config.train
    return (f"start {config.model.name} {config.task.name} T={config.task.length} seed={config.seed}: "
            f"{n_params:,} parameters, lr {train.lr:g}, up to {train.steps} steps of batch {train.batch_size}"
            f"{' (early stop)' if train.early_stop else ''}, {device} -> {folder}")


def cell_line(records: list[dict], seconds: float, reused: int = 0) -> str:
    """A cell's summary once its seeds are done."""
    done = [r for r in records if not r.get("failed")]
    first = (done or records)[0]
    values = [r["test_metric"] for r in done if r.get("test_metric") is not None]
    failed = len(records) - len(done)
    return (f"cell {first['task']}-{first['length']} {first['model']}: {sum(bool(r.get('solved')) for r in done)}/"
            f"{len(records)} seeds solved, median test {first.get('metric', 'metric')} "
            f"{format_value(statistics.median(values)) if values else 'n/a'}"
            f"{f', {failed} FAILED' if failed else ''}{f', {reused} reused' if reused else ''}, {seconds:.1f} s")


def finished_line(final: dict) -> str:
    if final["diverged"]:
        status = "DIVERGED"
    elif final["solved"]:
        status = f"solved (validation at step {final['solved_step']})"
    elif final.get("solved_step"):
        status = f"not solved on test (validation met the rule at step {final['solved_step']})"
    else:
        status = "not solved"
    return (f"done {final['task']} {final['model']} T={final['length']} seed={final['seed']}: "
            f"test {final['metric']}={format_value(final['test_metric'])} "
            f"(baseline {format_value(final['baseline'])}) {status}, "
            f"{final['steps']} steps in {final['wall_s']:.1f}s")


def proc_stat(pid: int | str = "self") -> list[str] | None:
    """A process's /proc/<pid>/stat fields after its name (state first: the parent's pid is [1], the
    start time in clock ticks since boot [19]); None when it is gone or there is no /proc. The name
    is split off at its last ")": it may hold spaces and parentheses."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_age_s() -> float | None:
    """Seconds since this process started, interpreter start-up and imports included (Linux)."""
    try:
        ticks = int(proc_stat()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def stage_done(stage: str, stream: TextIO | None = None, **parts_s: float) -> str:
    """A stage's last line: its whole life and named parts, e.g.
    `stage train@lstm-adding-200 done: 14.2 s in all (cell 12.0 s, tracking check 0.0 s)`.
    benchmarks/study_split.py reads these lines to split a study's wall time."""
    age = process_age_s()
    parts = ", ".join(f"{name.replace('_', ' ')} {seconds:.2f} s" for name, seconds in parts_s.items())
    line = f"stage {stage} done: {age if age is not None else float('nan'):.2f} s in all ({parts})"
    warn(line, stream)  # at every verbosity: what each stage cost
    return line

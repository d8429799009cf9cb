"""Progress lines for long work: a bar per training (updated at evaluation points) and one line per
finished run. Written to stderr so stdout stays parseable."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class TrainingBar:
    def __init__(self, label: str, metric: str, stream: TextIO | None = None, width: int = 24, redraw: bool = True):
        """redraw=False prints a line per update even on a terminal: bars of concurrent processes
        redrawing one line would overwrite each other."""
        stream = stream or sys.stderr  # looked up per bar: a default argument would pin the one at import
        self.label, self.metric, self.stream, self.width = label, metric, stream, width
        self.interactive = redraw and stream.isatty()

    def __call__(self, record: dict[str, float], total_steps: int) -> None:
        done = record["step"] / total_steps
        filled = int(done * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        line = (f"{self.label} [{bar}] {record['step']}/{total_steps} "
                f"val_{self.metric}={format_value(record['val_' + self.metric])} "
                f"{record['steps_per_s']:.0f} steps/s")
        # On a terminal redraw one line; in a log (CI, dvc) print each update on its own line.
        self.stream.write(("\r" + line) if self.interactive else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")


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


def process_age_s() -> float | None:
    """Seconds since this process started, interpreter start-up and imports included (Linux)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def stage_done(stage: str, stream: TextIO | None = None, **parts_s: float) -> str:
    """A stage's last line: its whole life and named parts, e.g.
    `stage train@lstm-adding-200 done: 14.2 s in all (cell 12.0 s, tracking check 0.0 s)`.
    benchmarks/study_split.py reads these lines to split a study's wall time."""
    age = process_age_s()
    parts = ", ".join(f"{name.replace('_', ' ')} {seconds:.2f} s" for name, seconds in parts_s.items())
    line = f"stage {stage} done: {age if age is not None else float('nan'):.2f} s in all ({parts})"
    print(line, file=stream or sys.stderr, flush=True)
    return line

"""How a study that runs in pieces ran: its root's pieces.log (appended to by `make long-piece`) as a
table, one row per piece. The log's lines, in time order:

    piece start 2026-12-06T09:43:54Z commit 64efed3
    paused 2026-12-06T10:27:53Z          (the piece's processes stopped, e.g. to free the host)
    resumed 2026-12-06T10:44:01Z
    piece end 2026-12-06T12:00:00Z rc 0

A piece's running time leaves its pauses out. A piece whose end is not logged (killed with its shell)
ended at its last pause if it ended paused; otherwise its running time is unknown and says so, never
a guess."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from ..config import ConfigError

PIECES_FILE = "pieces.log"
PIECE_COLUMNS = ["piece", "started", "ended", "commit", "rc", "running_s", "paused_s", "pauses", "end_logged"]
TIME = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ?)"
LINES = {"start": re.compile(rf"piece start {TIME} commit (\w+)$"),
         "end": re.compile(rf"piece end {TIME} rc (-?\d+)$"),
         "paused": re.compile(rf"paused {TIME}$"),
         "resumed": re.compile(rf"resumed {TIME}$")}
FORMS = "piece start <time> commit <sha> | paused <time> | resumed <time> | piece end <time> rc <n>"


def parse_time(text: str) -> pd.Timestamp:
    return pd.Timestamp(text.rstrip("Z"), tz="UTC")


def read_pieces(path: Path) -> list[tuple[str, pd.Timestamp, str]]:
    """The log's events (kind, time, the commit or rc); a line of no known form or out of time order is
    a ConfigError naming the file and line."""
    events, last = [], None
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        for kind, form in LINES.items():
            match = form.match(line.strip())
            if match:
                break
        else:
            raise ConfigError(f"{path}: line {number} {line.strip()!r} is not one of: {FORMS}")
        when = parse_time(match[1])
        if last is not None and when < last:
            raise ConfigError(f"{path}: line {number} goes back in time ({match[1]})")
        events.append((kind, when, match[2] if match.lastindex == 2 else ""))
        last = when
    if events and events[0][0] != "start":
        raise ConfigError(f"{path}: the first line must be 'piece start <time> commit <sha>'")
    return events


def piece_row(number: int, events: list[tuple[str, pd.Timestamp, str]]) -> dict:
    """One piece's row from its events (its start first)."""
    started, commit = events[0][1], events[0][2]
    running = paused = 0.0
    since, state, ended, rc, pauses = started, "running", None, None, 0
    for kind, when, value in events[1:]:
        if kind == "paused" and state == "running":
            running, since, state, pauses = running + (when - since).total_seconds(), when, "paused", pauses + 1
        elif kind == "resumed" and state == "paused":
            paused, since, state = paused + (when - since).total_seconds(), when, "running"
        elif kind == "end":
            span = (when - since).total_seconds()
            running, paused = (running + span, paused) if state == "running" else (running, paused + span)
            ended, rc, state = when, int(value), "ended"
    if state == "paused":  # killed while paused: it ran until its last pause
        ended = since
    return {"piece": number, "started": started, "ended": ended, "commit": commit, "rc": rc,
            "running_s": running if ended is not None else math.nan, "paused_s": paused, "pauses": pauses,
            "end_logged": rc is not None}


def pieces_table(root: Path) -> pd.DataFrame:
    """One row per piece of the study under root; empty when it has no pieces.log (a study run whole)."""
    path = Path(root) / PIECES_FILE
    if not path.exists():
        return pd.DataFrame(columns=PIECE_COLUMNS)
    events = read_pieces(path)
    starts = [i for i, event in enumerate(events) if event[0] == "start"] + [len(events)]
    return pd.DataFrame([piece_row(n, events[a:b]) for n, (a, b) in enumerate(zip(starts, starts[1:]), start=1)],
                        columns=PIECE_COLUMNS)


def pieces_line(pieces: pd.DataFrame) -> str:
    """The report header's sentence on how the study ran, "" for a study run whole."""
    if pieces.empty:
        return ""
    known = pieces["running_s"].dropna()
    hours = known.sum() / 3600
    total = f"{hours:.1f} h of running time" if len(known) == len(pieces) else \
        f"at least {hours:.1f} h of running time ({len(pieces) - len(known)} piece(s) ended unlogged and uncounted)"
    return (f"This study ran in {len(pieces)} piece(s) from {pieces['started'].min():%Y-%m-%d %H:%M} UTC, "
            f"{total}, pauses left out (reports/pieces.csv: each piece's start, end, commit and times); "
            "each piece continued from the finished runs of the ones before.")

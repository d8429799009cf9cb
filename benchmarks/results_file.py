"""benchmarks/results.md is assembled from sections, one per benchmark, each replaced in place
when its benchmark reruns (so one part can be remeasured without losing the others)."""
from __future__ import annotations

import platform
import re
from datetime import datetime, timezone
from pathlib import Path

import torch

from rnnbench.training.host import describe, one_line

RESULTS = Path(__file__).parent / "results.md"
TITLE = "# Benchmark results\n\nEach section names the command that produced it, the machine and the date.\n"


def machine_line(device: str = "cpu") -> str:
    return (f"{one_line(describe(device))}, torch threads {torch.get_num_threads()}, {platform.system()}; "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    text = path.read_text() if path.is_file() else TITLE
    block = f"<!-- section:{name} -->\n{body.rstrip()}\n<!-- /section:{name} -->"
    pattern = re.compile(rf"<!-- section:{re.escape(name)} -->.*?<!-- /section:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    print(body)

"""What machine a run or benchmark ran on, in words a reader can compare."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: torch.device | str = "cpu") -> dict[str, str | int]:
    # torch_threads: CPU kernels can round differently with another thread count (docs/architecture.md)
    # cpu_capability: the instruction set torch's CPU kernels use (AVX2, AVX512, ...): kernels for
    # another one can round differently, so runs are bit-identical only on the same capability.
    info: dict[str, str | int] = {"cpu": cpu_name(), "cores": os.cpu_count() or 0, "torch": torch.__version__,
                                  "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
                                  "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def one_line(info: dict) -> str:
    where = f"{info['gpu']} GPU + " if info.get("gpu") else ""
    capability = f", {info['cpu_capability']}" if info.get("cpu_capability") else ""
    return f"{where}{info['cpu']} ({info['cores']} cores{capability}), torch {info['torch']}, Python {info['python']}"


def git_commit(root: Path) -> str:
    """The commit the code at `root` is on (the full hash), or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"

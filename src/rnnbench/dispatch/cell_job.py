"""One train cell as a job an executor can run anywhere: its inputs travel with it, its outputs
come back as bytes, and it writes nothing outside a temporary folder of its own."""
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import Execution, RunConfig
from ..tasks import Dataset
from ..training.run_outputs import pid_alive
from ..training.sweep import train_cell_into

CELL_TEMP = "rnnbench-cell-"  # + the worker's pid: a killed worker's folder is removed by the next job


def remove_orphans(prefix: str) -> None:
    """Remove the temp folders `<prefix><pid>-*` whose process is gone (killed before it could)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = folder.name[len(prefix):].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class CellJob:
    """Seeds of one cell: all of them, or (as dispatch sends them) one."""
    stage: str              # the DVC stage, e.g. train@lstm-adding-100
    run_folder: Path        # where the cell lands, relative to the repository root
    configs: tuple[RunConfig, ...]
    dataset: Dataset        # loaded (and checksum-checked) by the driver from the stage's data folder
    engine: str = "auto"    # Execution.engine: on a GPU worker, a whole cell's seeds train as one stack
    configs_file: Path | None = None  # the cell's configs file, which the driver checks again at landing


@dataclass(frozen=True)
class CellOutput:
    stage: str
    records: list[dict]          # each seed's final record, in seed order (a failed seed's says why)
    files: dict[str, bytes]      # the cell's folder: path relative to it -> content

    @property
    def failed_seeds(self) -> list[int]:
        return [record["seed"] for record in self.records if record.get("failed")]

    def cause(self) -> str:
        return "; ".join(f"seed {r['seed']}: {r.get('error', 'failed')}" for r in self.records if r.get("failed"))


def merged(parts: list[CellOutput]) -> CellOutput:
    """One cell from the outputs of jobs that each trained some of its seeds, in seed order."""
    records = sorted((record for part in parts for record in part.records), key=lambda record: record["seed"])
    return CellOutput(parts[0].stage, records, {name: content for part in parts for name, content in part.files.items()})


def run_cell_job(job: CellJob) -> CellOutput:
    """Train the job's seeds (one after another, or on a GPU as one stack: `job.engine`) into a
    temporary folder, and return its files. The lines name the cell's real folder; a seed already
    in that folder with the same config, data and code (on a worker that shares the repository's
    disk) is copied, not retrained, exactly as the train stage does."""
    remove_orphans(CELL_TEMP)
    with tempfile.TemporaryDirectory(prefix=f"{CELL_TEMP}{os.getpid()}-") as tmp:
        out = Path(tmp) / "cell"
        out.mkdir()
        records = train_cell_into(list(job.configs), job.dataset, out, Execution(1, job.engine),
                                  previous=job.run_folder)
        files = {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*"))
                 if path.is_file()}
    return CellOutput(job.stage, records, files)

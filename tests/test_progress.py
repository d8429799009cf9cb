"""Progress as a user reads it: a plain log gets a line per quarter of a run's budget, not one per
evaluation; a run starts with a line that says what trains and where; a cell ends with its summary."""
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnnbench.config import ModelConfig, RunConfig, TaskConfig, TrainConfig
from rnnbench.progress import TrainingBar, cell_line, proc_stat, process_age_s, start_line


def evaluations(bar, steps=3000, every=100):
    for step in range(every, steps + 1, every):
        bar({"step": step, "val_mse": 1 / step, "steps_per_s": 250.0}, steps)


def test_a_log_gets_one_line_per_quarter_of_the_budget():
    stream = io.StringIO()  # not a terminal
    evaluations(TrainingBar("lstm adding T=10 s0", "mse", stream=stream))
    lines = stream.getvalue().splitlines()
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == ["800/3000", "1500/3000", "2300/3000", "3000/3000"]
    assert re.fullmatch(r"\d\d:\d\d:\d\d lstm adding T=10 s0: 3000/3000 steps, val_mse=0.0003333, 250 steps/s", lines[-1])


def test_quiet_says_nothing_of_a_run_and_verbose_a_line_per_evaluation(monkeypatch):
    from rnnbench.progress import say, warn

    for level, lines in (("quiet", 0), ("verbose", 30), ("normal", 4)):
        monkeypatch.setenv("RNNBENCH_VERBOSITY", level)
        stream = io.StringIO()
        evaluations(TrainingBar("x", "mse", stream=stream))
        say("a cell's line", stream)
        warn("FAILED a seed", stream)
        got = stream.getvalue().splitlines()
        assert len(got) == lines + (level != "quiet") + 1, (level, got)
        assert got[-1].endswith(" FAILED a seed")


def test_a_run_stopped_early_still_gets_its_lines_up_to_where_it_stopped():
    stream = io.StringIO()
    evaluations(TrainingBar("x", "mse", stream=stream), steps=3000, every=1000)
    assert len(stream.getvalue().splitlines()) == 3


def test_the_start_line_names_model_task_parameters_lr_budget_device_and_folder():
    config = RunConfig(task=TaskConfig("adding", 100, {}), model=ModelConfig("lstm"),
                       train=TrainConfig(steps=3000, lr=0.003, batch_size=64), seed=2)
    assert start_line(config, 17473, "cpu", "runs/adding-100/lstm/seed2") == (
        "start lstm adding T=100 seed=2: 17,473 parameters, lr 0.003, up to 3000 steps of batch 64 (early stop), "
        "cpu -> runs/adding-100/lstm/seed2")


def test_the_cell_line_counts_solved_and_failed_seeds_and_gives_the_median():
    records = [{"task": "adding", "length": 50, "model": "rnn", "metric": "mse", "test_metric": v, "solved": v < 0.01}
               for v in (0.005, 0.2, 0.17)] + [{"task": "adding", "length": 50, "model": "rnn", "failed": True}]
    assert cell_line(records, 12.34, reused=1) == (
        "cell adding-50 rnn: 1/4 seeds solved, median test mse 0.17, 1 FAILED, 1 reused, 12.3 s")


def on_a_terminal(args, columns, tmp_path, rows=400):
    """Run `args` with stderr and stdout on a pseudo-terminal of `columns` x `rows`; the screen a
    user would see (a terminal emulator, pyte, draws every byte), one string per row."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    pyte = pytest.importorskip("pyte")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "rnnbench.entry", *args], stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, cwd=tmp_path, close_fds=True,
                               env={**os.environ, "COLUMNS": str(columns), "LINES": str(rows)})
    os.close(follower)
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the last writer closed
            break
        if not chunk:
            break
        stream.feed(chunk.replace(b"\n", b"\r\n"))  # as a terminal's onlcr: the pty itself does it for output
    os.close(leader)
    assert process.wait(timeout=600) == 0
    return [line.rstrip() for line in screen.display]


@pytest.mark.parametrize("columns", [120, 200])
def test_seeds_training_at_once_on_a_terminal_never_tear_a_line_and_show_their_budget(tmp_path, columns):
    """Three seeds in three processes, each with its bar: every start and done line reads whole
    (no bar fragment on it, no first letter lost) and no bar shows an unknown total."""
    import yaml

    tiny = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny.yaml").read_text())
    # One cell and nothing else: no lr sweep (train.lr) and no speed step (it times adding only)
    params = {**tiny, "seeds": [0, 1, 2], "seed_processes": 3, "models": ["gru"], "points": ["xor-5"],
              "train": {**tiny["train"], "steps": 200, "early_stop": False},
              "tune": {**tiny["tune"], "lrs": [], "points": []}, "side_grids": {}, "search": {"models": [], "tasks": []},
              "per_model": {}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    screen = on_a_terminal(["study", "--params", "params.yaml", "--root", ".", "--no-report"], columns, tmp_path)
    lines = [line for line in screen if line]
    starts = [line for line in lines if "start gru xor T=5 seed=" in line]
    dones = [line for line in lines if "gru T=5 seed=" in line and "test accuracy=" in line]
    assert len(starts) == 3 and len(dones) == 3, "\n".join(lines)
    assert all(re.match(r"\d\d:\d\d:\d\d start gru xor", line) and "%|" not in line for line in starts), starts
    assert all(re.match(r"\d\d:\d\d:\d\d done xor gru", line) and "%|" not in line for line in dones), dones
    assert not [line for line in lines if "/?" in line]
    stamps = re.compile(r"\d\d:\d\d:\d\d ")
    wrapped = {i + 1 for i, line in enumerate(lines) if len(line) == columns}  # rows that go on a full one
    torn = [line for i, line in enumerate(lines) if (stamps.search(line) and not stamps.match(line))  # a stamp mid-line
            or (stamps.match(line) and "%|" in line)  # a bar drawn over a line
            or (re.fullmatch(r"\s*\S{1,2}", line) and i not in wrapped)]  # a fragment no wrap explains
    assert not torn, "\n".join(lines)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_process_stat_gives_its_parent_and_start_and_none_once_it_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    fields = proc_stat(child.pid)
    assert int(fields[1]) == os.getpid() and int(fields[19]) >= int(proc_stat()[19])  # started after us
    child.communicate(b"")
    assert proc_stat(child.pid) is None and 0 < process_age_s() < 24 * 3600


def test_a_stage_exits_after_its_pool_display_even_when_a_dead_worker_held_the_queues_lock(tmp_path):
    """A seed worker ends without flushing its queue, so one that exits mid-send leaves the queue's
    shared write lock held. Closing the display must not wait on that lock, or the interpreter's exit
    does (it joins every queue feeder thread the process started)."""
    script = tmp_path / "stage.py"
    script.write_text(
        "import multiprocessing, os, sys\n"
        "from rnnbench.progress import PoolDisplay\n"
        "context = multiprocessing.get_context('fork')\n"
        "display = PoolDisplay(context, stream=sys.stdout)\n"
        "child = context.Process(target=lambda: (display.queue._wlock.acquire(), os._exit(0)))\n"
        "child.start(); child.join()\n"
        "display.close()\n"
        "print('closed')\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "closed" in result.stdout, result.stderr

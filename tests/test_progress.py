"""Progress as a user reads it: a plain log gets a line per quarter of a run's budget, not one per
evaluation; a run starts with a line that says what trains and where; a cell ends with its summary."""
import io

from rnnbench.config import ModelConfig, RunConfig, TaskConfig, TrainConfig
from rnnbench.progress import TrainingBar, cell_line, start_line


def evaluations(bar, steps=3000, every=100):
    for step in range(every, steps + 1, every):
        bar({"step": step, "val_mse": 1 / step, "steps_per_s": 250.0}, steps)


def test_a_log_gets_one_line_per_quarter_of_the_budget():
    stream = io.StringIO()  # not a terminal
    evaluations(TrainingBar("lstm adding T=10 s0", "mse", stream=stream))
    lines = stream.getvalue().splitlines()
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == ["800/3000", "1500/3000", "2300/3000", "3000/3000"]
    assert lines[-1] == "lstm adding T=10 s0: 3000/3000 steps, val_mse=0.0003333, 250 steps/s"


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

import pytest

from rnnbench.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from rnnbench.tasks import resolve_task



def make_config(task="adding", length=20, model="lstm", seed=0, options=None, data=None, hidden_size=16, **train):
    train_cfg = TrainConfig(**{"steps": 60, "eval_every": 20, "lr": 1e-2, "device": "cpu", **train})
    return RunConfig(
        task=TaskConfig(task, length, resolve_task(task).resolved_options(options or {}, "task.options")),
        model=ModelConfig(model, hidden_size=hidden_size),
        train=train_cfg,
        data=data or DataConfig(n_train=256, n_val=128, n_test=128),
        seed=seed,
    ).validate()


def build_dataset(config):
    return resolve_task(config.task.name).build(config.task.length, config.data, config.task.options)


def pytest_collection_modifyitems(items):
    """The end-to-end files first (in file order): under `make test` (pytest-xdist, one file per
    worker at a time) each starts on a worker at once and the unit files fill in around them."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


@pytest.fixture
def small_config():
    return make_config

"""Text from a trained charlm run, sampled with a temperature: by the NumPy reference for the cells
it implements (rnn, lstm: the from-scratch forward pass reads the trained weights), by the torch
model itself for every other model."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from .config import ConfigError, ModelConfig
from .models import MODELS, build_network
from .models.reference.network import ReferenceNet
from .training.run_outputs import MODEL_FILE, UnreadableRun, read_run

REFERENCE_CELLS = ("rnn", "lstm", "rnn-numpy", "lstm-numpy")  # the cells the NumPy reference implements


class TorchSampler:
    """ReferenceNet.sample's contract for any torch network: the whole text so far is fed at each
    step (quadratic in the sample's length, which is short), so no model needs a step API."""

    def __init__(self, net: torch.nn.Module):
        self.net = net.eval()

    @torch.no_grad()
    def sample(self, prime: list[int], length: int, temperature: float, rng: np.random.Generator) -> list[int]:
        codes = list(prime)
        for _ in range(length):
            logits = self.net(torch.tensor([codes]))[0, -1].double().numpy() / temperature
            p = np.exp(logits - logits.max())
            codes.append(int(rng.choice(p.size, p=p / p.sum())))
        return codes[len(prime):]


def load_charlm_run(folder: Path, trusted: Iterable[str] = ()) -> tuple[ReferenceNet | TorchSampler, str]:
    """The run's trained weights in a sampler (the NumPy reference where it applies), and its
    vocabulary (code -> character). A run record is data, never code: a model it names by import
    path is built only when the caller trusts that name (`trusted`: the study's own models, or
    `rnnbench sample --trust-model`); a registry name is built from our own code."""
    try:
        run = read_run(folder)
    except UnreadableRun as err:
        raise ConfigError(f"--run: {err}") from None
    record = run.record
    config = record["config"]  # a dict: read_run checks every field's type
    task = config.get("task") if isinstance(config.get("task"), dict) else {}
    if task.get("name") != "charlm":
        raise ConfigError(f"run: {str(folder)!r} is a {task.get('name')!r} run; sampling needs a charlm run")
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    name = model.get("name")
    if not isinstance(name, str) or (name not in MODELS.entries and name not in set(trusted)):
        raise ConfigError(f"--run: {str(folder)!r} names the model {name!r}, which is not a registry model: building it "
                          "would import code the run folder names; pass --trust-model "
                          f"{name if isinstance(name, str) else '<name>'} if you trust that code")
    vocab = record.get("vocab")  # the run's own: the corpus file may have changed since
    if not vocab:
        raise ConfigError(f"--run: {str(folder)!r} records no vocabulary (trained by an older rnnbench); train it again")
    try:
        net = build_network(ModelConfig(model["name"], model["hidden_size"], model["num_layers"]), len(vocab),
                            len(vocab), per_step=True)
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise ConfigError(f"--run: {str(folder)!r} records a model config that does not build "
                          f"({type(err).__name__}: {err})") from None
    try:
        net.load_state_dict(run.weights())
    except UnreadableRun as err:
        raise ConfigError(f"--run: {err}") from None
    except (OSError, RuntimeError) as err:
        raise ConfigError(f"--run: {str(folder / MODEL_FILE)!r} does not load into this run's model "
                          f"({type(err).__name__})") from None
    return (ReferenceNet.from_torch(net) if model["name"] in REFERENCE_CELLS else TorchSampler(net)), vocab


def sample_text(net: ReferenceNet | TorchSampler, vocab: str, prime: str, length: int, temperature: float, seed: int) -> str:
    unknown = sorted(set(prime) - set(vocab))
    if unknown:
        raise ConfigError(f"prime: characters {unknown!r} are not in the run's vocabulary")
    if not prime:
        raise ConfigError("prime: needs at least one character")
    if temperature <= 0:
        raise ConfigError(f"temperature: must be a positive number, got {temperature!r}")
    lookup = {ch: i for i, ch in enumerate(vocab)}
    codes = net.sample([lookup[ch] for ch in prime], length, temperature, np.random.default_rng(seed))
    return prime + "".join(vocab[c] for c in codes)

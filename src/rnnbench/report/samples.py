"""Text sampled from each main-grid model's charlm run (tutorials 002 and 004) at three
temperatures: the first seed's run at each charlm length, the same prime and sampling seed for
every model, so the samples differ only by the model."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import ConfigError
from ..sampling import TorchSampler, load_charlm_run, sample_text
from ..study import Study

TEMPERATURES = (0.5, 1.0, 1.5)  # sharper than the model, the model's own distribution, flatter
PRIME = "ROMEO:"   # a speaker's cue in the bundled Tiny Shakespeare
CHARACTERS = 200
SAMPLING_SEED = 0
COLUMNS = ["model", "length", "seed", "sampler", "prime", "temperature", "text"]


def prime_for(vocab: str) -> str:
    """PRIME where the run's corpus has its characters; for a user corpus that lacks them, a line
    break (the start of a line) or else the vocabulary's first character, so a report never fails
    on the corpus it was given."""
    if set(PRIME) <= set(vocab):
        return PRIME
    return "\n" if "\n" in vocab else vocab[0]


def charlm_samples(study: Study, root: Path) -> pd.DataFrame:
    rows = []
    for cell in study.cells():
        if cell.task != "charlm" or cell.group:
            continue
        seed = study.seeds[0]
        try:
            net, vocab = load_charlm_run(root / cell.seed_folder(seed), trusted=(cell.model,))  # params name it
        except ConfigError:  # the run failed or is missing: the report says so elsewhere
            continue
        sampler = "torch" if isinstance(net, TorchSampler) else "NumPy reference"
        prime = prime_for(vocab)
        for temperature in TEMPERATURES:
            text = sample_text(net, vocab, prime, CHARACTERS, temperature, SAMPLING_SEED)
            rows.append({"model": cell.model, "length": cell.length, "seed": seed, "sampler": sampler,
                         "prime": prime, "temperature": temperature, "text": text})
    return pd.DataFrame(rows, columns=COLUMNS)

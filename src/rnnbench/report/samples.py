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
PRIME = "ROMEO:"
CHARACTERS = 200
SAMPLING_SEED = 0
COLUMNS = ["model", "length", "seed", "sampler", "temperature", "text"]


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
        for temperature in TEMPERATURES:
            text = sample_text(net, vocab, PRIME, CHARACTERS, temperature, SAMPLING_SEED)
            rows.append({"model": cell.model, "length": cell.length, "seed": seed, "sampler": sampler,
                         "temperature": temperature, "text": text})
    return pd.DataFrame(rows, columns=COLUMNS)

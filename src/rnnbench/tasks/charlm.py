"""Character-level language modelling: predict the next character at every step.

Default corpus: the Python standard library's own top-level source files, read in sorted order and
cut to `corpus_chars` -- text that every machine with Python has, no download. Any UTF-8 file by
path works too. Contiguous 90/5/5 regions of the text are the train/val/test splits, so no window of
test text is ever seen in training. Baseline: the corpus' unigram entropy in bits per character.
"""
from __future__ import annotations

import math
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError, require_positive
from .base import CLASS_SEQ, TASKS, Metric, Task, split_rng
from .dataset import SPLITS

SPLIT_FRACTIONS = {"train": (0.0, 0.9), "val": (0.9, 0.95), "test": (0.95, 1.0)}


@dataclass(frozen=True)
class CharLmOptions:
    corpus: str = ""  # empty: the Python standard library's source
    corpus_chars: int = 1_000_000
    solved_bpc: float = 2.5


def stdlib_text(limit: int) -> str:
    parts, size = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text)
        if size >= limit:
            break
    return "".join(parts)[:limit]


def read_corpus(options: CharLmOptions, key: str = "task.options") -> str:
    """The first `corpus_chars` characters, never more: a huge file costs only what is used."""
    if not options.corpus:
        return stdlib_text(options.corpus_chars)
    path = Path(options.corpus)
    if path.is_dir():
        raise ConfigError(f"{key}.corpus: {options.corpus!r} is a directory; give a UTF-8 text file or '' for the stdlib corpus")
    if not path.is_file():
        raise ConfigError(f"{key}.corpus: no such file {options.corpus!r}; give a UTF-8 text file or '' for the stdlib corpus")
    try:
        with path.open(encoding="utf-8") as handle:
            text = handle.read(options.corpus_chars)
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{key}.corpus: cannot read {options.corpus!r} as UTF-8 text ({err.__class__.__name__})") from None
    if not text:
        raise ConfigError(f"{key}.corpus: {options.corpus!r} is empty; give a UTF-8 text file with text in it")
    if "\x00" in text:
        raise ConfigError(f"{key}.corpus: {options.corpus!r} contains NUL bytes, so it is not text; give a UTF-8 text file")
    return text


def unigram_entropy_bits(codes: np.ndarray, vocab_size: int) -> float:
    p = np.bincount(codes, minlength=vocab_size) / codes.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


@TASKS.register("charlm")
class CharLanguageModel(Task):
    output_kind = CLASS_SEQ
    min_length = 2
    metrics = (Metric("bpc", higher_is_better=False, label="bits per character"),)
    Options = CharLmOptions
    solved_option = "solved_bpc"

    def validate_options(self, options, key):
        require_positive(f"{key}.corpus_chars", options.corpus_chars)
        require_positive(f"{key}.solved_bpc", options.solved_bpc, integer=False)
        if options.corpus:
            read_corpus(options, key)

    def build(self, length, data, options):
        options = self.parse_options(options, "task.options")
        text = read_corpus(options)
        vocab = sorted(set(text))
        lookup = {ch: i for i, ch in enumerate(vocab)}
        codes = np.fromiter((lookup[ch] for ch in text), dtype=np.int64, count=len(text))
        sizes = {"train": data.n_train, "val": data.n_val, "test": data.n_test}
        splits = {}
        for split in SPLITS:
            lo, hi = (int(f * codes.size) for f in SPLIT_FRACTIONS[split])
            if hi - lo < length + 1:
                raise ConfigError(
                    f"task.options.corpus: the corpus has {codes.size} characters, so its {split} region "
                    f"({SPLIT_FRACTIONS[split][1] - SPLIT_FRACTIONS[split][0]:.0%}) has {hi - lo}, fewer than length+1 = {length + 1}; "
                    "give a longer corpus (or corpus_chars) or a shorter length"
                )
            starts = lo + split_rng(data, self.name, length, split).integers(0, hi - lo - length, sizes[split])
            windows = codes[starts[:, None] + np.arange(length + 1)[None, :]]
            splits[split] = (windows[:, :-1], windows[:, 1:])
        return self.dataset(length, options, splits, input_size=len(vocab), output_size=len(vocab),
                            baseline=unigram_entropy_bits(codes, len(vocab)),
                            extra={"vocab": "".join(vocab), "corpus_chars": int(codes.size),
                                   "corpus": options.corpus or "python-stdlib"})

    def evaluate(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        result = super().evaluate(out, y)
        result["bpc"] = result["cross_entropy"] / math.log(2)
        return result

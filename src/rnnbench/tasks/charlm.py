"""Character-level language modelling: predict the next character at every step.

Default corpus: Tiny Shakespeare (Karpathy's char-rnn, 1,115,394 characters of Shakespeare's plays;
the text is in the public domain), shipped gzipped in this package and checked against its pinned
SHA-256 on every read: the same bytes on every machine and Python version, no download. Any UTF-8
file by path works too.

Splits interleave blocks of 10,000 characters (fewer for a corpus under 200,000, so that it still
has 20 blocks), 18 train : 1 validation : 1 test in every 20, so the
three splits sample the whole corpus (one play's style never lands in test alone) and no window of
validation or test text is ever seen in training. Baselines: count-based n-gram models (`ngram`)
fitted on the training blocks and read on the same test windows as the models; the dataset's
baseline is the unigram one.
"""
from __future__ import annotations

import gzip
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError, require_positive
from .base import CLASS_SEQ, TASKS, Metric, Task, split_rng
from .dataset import SPLITS
from .ngram import ngram_bits

BUNDLED = Path(__file__).parent / "corpora" / "tinyshakespeare.txt.gz"
BUNDLED_NAME = "tinyshakespeare"
BUNDLED_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # the uncompressed bytes
BLOCK = 10_000
BLOCK_SPLITS = ("train",) * 9 + ("val",) + ("train",) * 9 + ("test",)  # block b belongs to BLOCK_SPLITS[b % 20]
NGRAM_ORDERS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class CharLmOptions:
    corpus: str = ""  # empty: the bundled Tiny Shakespeare
    corpus_chars: int = 1_200_000
    solved_bpc: float = 2.0  # below the 3-gram baseline on the bundled corpus (2.9), above the 5-gram (2.2)


def bundled_text(limit: int) -> str:
    """The bundled corpus, refused if its bytes are not the pinned ones."""
    raw = gzip.decompress(BUNDLED.read_bytes())
    if hashlib.sha256(raw).hexdigest() != BUNDLED_SHA256:
        raise ConfigError(f"task.options.corpus: the bundled {BUNDLED.name} does not match its pinned SHA-256; "
                          "reinstall rnnbench")
    return raw.decode("utf-8")[:limit]


def read_corpus(options: CharLmOptions, key: str = "task.options") -> str:
    """The first `corpus_chars` characters, never more: a huge file costs only what is used."""
    if not options.corpus:
        return bundled_text(options.corpus_chars)
    path = Path(options.corpus)
    if path.is_dir():
        raise ConfigError(f"{key}.corpus: {options.corpus!r} is a directory; give a UTF-8 text file or '' for the bundled corpus")
    if not path.is_file():
        raise ConfigError(f"{key}.corpus: no such file {options.corpus!r}; give a UTF-8 text file or '' for the bundled corpus")
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


def block_regions(size: int) -> dict[str, list[tuple[int, int]]]:
    """Each split's [start, end) character regions: blocks of BLOCK characters (or size/20, whichever
    is smaller, so every split gets a block) dealt out by BLOCK_SPLITS."""
    block = max(1, min(BLOCK, size // len(BLOCK_SPLITS)))
    regions: dict[str, list[tuple[int, int]]] = {split: [] for split in SPLITS}
    for b, lo in enumerate(range(0, size, block)):
        regions[BLOCK_SPLITS[b % len(BLOCK_SPLITS)]].append((lo, min(lo + block, size)))
    return regions


def window_starts(regions: list[tuple[int, int]], length: int) -> np.ndarray:
    """Every start of a (length+1)-character window that lies inside one region."""
    spans = [np.arange(lo, hi - length) for lo, hi in regions if hi - lo > length]
    return np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)


@TASKS.register("charlm")
class CharLanguageModel(Task):
    output_kind = CLASS_SEQ
    min_length = 2
    metrics = (Metric("bpc", higher_is_better=False, label="bits per character"),)
    Options = CharLmOptions
    solved_option = "solved_bpc"
    memory_task = False

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
        regions = block_regions(codes.size)
        splits = {}
        for split in SPLITS:
            starts = window_starts(regions[split], length)
            if starts.size == 0:
                raise ConfigError(
                    f"task.options.corpus: the corpus has {codes.size} characters, too few for a {split} window of "
                    f"length+1 = {length + 1} (splits are blocks of up to {BLOCK} characters, 1 in 20 each for val "
                    "and test); give a longer corpus (or corpus_chars) or a shorter length")
            picked = starts[split_rng(data, self.name, length, split).integers(0, starts.size, sizes[split])]
            windows = codes[picked[:, None] + np.arange(length + 1)[None, :]]
            splits[split] = (windows[:, :-1], windows[:, 1:])
        train_text = np.concatenate([codes[lo:hi] for lo, hi in regions["train"]])
        x_test, y_test = splits["test"]
        ngram = {str(order): ngram_bits(train_text, x_test, y_test, len(vocab), order) for order in NGRAM_ORDERS}
        return self.dataset(length, options, splits, input_size=len(vocab), output_size=len(vocab),
                            baseline=ngram["1"],
                            extra={"vocab": "".join(vocab), "corpus_chars": int(codes.size),
                                   "corpus": options.corpus or BUNDLED_NAME, "ngram_bpc": ngram})

    def evaluate(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        result = super().evaluate(out, y)
        result["bpc"] = result["cross_entropy"] / math.log(2)
        return result

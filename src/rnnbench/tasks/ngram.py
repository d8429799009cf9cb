"""Count-based character n-gram models: the baselines a character-level LM must beat.

Interpolated Witten-Bell smoothing (Witten & Bell 1991; Chen & Goodman 1998, section 2.6): an
order-n estimate mixes the context's counts with the order-(n-1) estimate, weighted by how many
distinct characters followed that context,

    P_n(c | h) = (C(h c) + N(h) P_{n-1}(c | h')) / (C(h) + N(h)),   h' = h without its first character,

down to an add-one unigram. A context never seen in training falls back to the lower order whole.
Counting and lookup are vectorised: an n-character string is one int64 (base = vocabulary size).
"""
from __future__ import annotations

import numpy as np


def context_keys(codes: np.ndarray, width: int, vocab_size: int) -> np.ndarray:
    """key[i] = codes[i .. i+width-1] read as a base-`vocab_size` number (one per window start)."""
    keys = np.zeros(codes.size - width + 1, dtype=np.int64)
    for k in range(width):
        keys = keys * vocab_size + codes[k:codes.size - width + 1 + k]
    return keys


def counts_of(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, counts = np.unique(keys, return_counts=True)
    return unique, counts


def lookup(table: tuple[np.ndarray, np.ndarray], keys: np.ndarray) -> np.ndarray:
    """The count of each key in (sorted unique keys, counts); 0 for keys never seen."""
    unique, counts = table
    if unique.size == 0:
        return np.zeros(keys.shape, dtype=np.int64)
    at = np.minimum(np.searchsorted(unique, keys), unique.size - 1)
    return np.where(unique[at] == keys, counts[at], 0)


def ngram_bits(train: np.ndarray, x: np.ndarray, y: np.ndarray, vocab_size: int, order: int) -> float:
    """Mean bits per character of an order-`order` model counted on `train` (1-D codes), on the
    targets y[:, t] of windows whose inputs are x[:, :t+1]: the same predictions, position by
    position, that a recurrent model reading x makes (so early positions see a shorter context)."""
    if vocab_size ** order >= 2 ** 62:
        raise ValueError(f"order {order} with {vocab_size} symbols does not fit an int64 key")
    n, length = y.shape
    unigram = np.bincount(train, minlength=vocab_size)
    prob = (unigram[y] + 1.0) / (train.size + vocab_size)  # [n, T]
    history = np.concatenate([x, y[:, -1:]], axis=1)  # history[:, t+1] == y[:, t]
    for width in range(1, order):  # context width = order of this level - 1
        joint = counts_of(context_keys(train, width + 1, vocab_size))
        contexts = counts_of(context_keys(train[:-1], width, vocab_size))
        followers = counts_of(joint[0] // vocab_size)  # distinct characters seen after each context
        for t in range(width - 1, length):  # y[:, t] has t+1 characters of context
            h = np.zeros(n, dtype=np.int64)
            for k in range(t + 1 - width, t + 1):
                h = h * vocab_size + history[:, k]
            seen = lookup(contexts, h).astype(np.float64)
            kinds = lookup(followers, h).astype(np.float64)
            count = lookup(joint, h * vocab_size + y[:, t]).astype(np.float64)
            mixed = (count + kinds * prob[:, t]) / np.maximum(seen + kinds, 1.0)
            prob[:, t] = np.where(seen > 0, mixed, prob[:, t])
    return float(-np.log2(prob).mean())

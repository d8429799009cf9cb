"""Specifications of the task generators: shapes, targets, and every chance baseline measured."""
import collections
import math

import numpy as np
import pytest

from rnnbench.config import DataConfig
from rnnbench.tasks import TASKS, resolve_task
from rnnbench.config import ConfigError
from rnnbench.tasks import charlm
from rnnbench.tasks.charlm import bundled_text, block_regions
from rnnbench.tasks.copy import DELIMITER, memoryless_cross_entropy
from rnnbench.tasks.ngram import ngram_bits
from rnnbench.tasks.sine import autoregressive_mse

BIG = 100_000


def generate(task, n, length, seed=0, **options):
    t = resolve_task(task)
    return t.generate(n, length, np.random.default_rng(seed), t.parse_options(options, "task.options"))


def test_adding_has_exactly_two_distinct_markers_and_sums_their_values():
    x, y = generate("adding", 5000, 30)
    assert x.shape == (5000, 30, 2) and y.shape == (5000,)
    markers = x[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert (markers.sum(1) == 2).all()
    np.testing.assert_allclose(y, (x[..., 0] * markers).sum(1), rtol=1e-6)
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()


def test_adding_markers_cover_every_position_pair_uniformly():
    x, _ = generate("adding", BIG, 10)
    per_position = x[..., 1].sum(0) / BIG  # each position is marked with probability 2/T
    np.testing.assert_allclose(per_position, 0.2, atol=0.01)


def test_adding_strict_variant_puts_one_marker_in_each_half():
    x, _ = generate("adding", 2000, 21, strict_markers=True)
    m = x[..., 1]
    assert (m[:, :10].sum(1) == 1).all() and (m[:, 10:].sum(1) == 1).all()


def test_adding_baseline_predicting_one_is_one_sixth():
    _, y = generate("adding", BIG, 50)
    # standard error of mean((y-1)^2) is about 0.0005 at 100k samples
    assert abs(np.mean((y - 1.0) ** 2) - 1 / 6) < 0.003
    assert resolve_task("adding").describe(50, resolve_task("adding").Options(), None)["baseline"] == pytest.approx(1 / 6)


@pytest.mark.parametrize("n, length", [(1, 2), (7, 3), (5000, 30), (300, 1001)])
def test_adding_data_are_the_stream_of_one_values_draw_then_the_marker_draws(n, length, monkeypatch):
    # Cached runs depend on these bytes: chunked drawing must give exactly what one draw of all
    # values, then the marker positions, gives (odd chunk sizes included: float32 draws pair up).
    import rnnbench.tasks.adding as adding

    monkeypatch.setattr(adding, "CHUNK_VALUES", 3 * length)
    x, y = generate("adding", n, length, seed=3)
    rng = np.random.default_rng(3)
    values = rng.random((n, length), dtype=np.float32)
    first = rng.integers(0, length, n)
    second = rng.integers(0, length - 1, n)
    second += second >= first
    markers = np.zeros((n, length), dtype=np.float32)
    markers[np.arange(n), first] = markers[np.arange(n), second] = 1.0
    np.testing.assert_array_equal(x, np.stack([values, markers], axis=-1))
    np.testing.assert_array_equal(y, values[np.arange(n), first] + values[np.arange(n), second])


def test_xor_target_is_xor_of_first_and_last_bits():
    x, y = generate("xor", 3000, 12)
    first, last = x[:, 0, 0], x[:, -1, 0]
    assert set(np.unique(first)) <= {0.0, 1.0} and set(np.unique(last)) <= {0.0, 1.0}
    np.testing.assert_array_equal(y, first.astype(int) ^ last.astype(int))


def test_xor_classes_are_balanced_so_chance_is_one_half():
    _, y = generate("xor", BIG, 12)
    assert abs(y.mean() - 0.5) < 0.005


def test_copy_sequence_layout():
    length = 7
    x, y = generate("copy", 500, length)
    assert x.shape == y.shape == (500, length + 20)
    assert (x[:, length + 9] == DELIMITER).all()
    assert ((x[:, :10] >= 1) & (x[:, :10] <= 8)).all()
    np.testing.assert_array_equal(y[:, -10:], x[:, :10])
    assert (y[:, :-10] == 0).all()
    assert (x[:, 10 : length + 9] == 0).all() and (x[:, -10:] == 0).all()


def test_copy_memoryless_baseline_matches_best_per_position_guess():
    length = 30
    _, y = generate("copy", BIG, length)
    # The best memoryless predictor knows only the position: use each position's empirical marginal.
    ce = 0.0
    for t in range(y.shape[1]):
        p = np.bincount(y[:, t], minlength=9) / BIG
        nz = p[p > 0]
        ce -= (nz * np.log(nz)).sum()
    ce /= y.shape[1]
    assert ce == pytest.approx(memoryless_cross_entropy(length), rel=0.01)
    assert memoryless_cross_entropy(1000) == pytest.approx(10 * math.log(8) / 1020)


def test_sine_target_is_input_shifted_by_one():
    x, y = generate("sine", 100, 40)
    assert x.shape == (100, 40, 1) and y.shape == (100, 40)
    np.testing.assert_array_equal(x[:, 1:, 0], y[:, :-1])


def test_sine_repeat_last_baseline_is_stable_over_large_samples():
    task = resolve_task("sine")
    opts = task.Options()
    small = task.build(50, DataConfig(10, 10, 20_000, seed=1), opts).baseline
    x, y = generate("sine", BIG, 50, seed=7)
    big = float(np.mean((x[..., 0] - y) ** 2))
    assert small == pytest.approx(big, rel=0.03)
    # The repeat-last baseline must be worse than the noise floor, or the task would be trivial.
    assert big > 2 * opts.noise_std**2


def test_charlm_windows_are_next_character_pairs_from_the_corpus():
    ds = resolve_task("charlm").build(16, DataConfig(50, 10, 10), resolve_task("charlm").Options(corpus_chars=50_000))
    x, y = ds.splits["train"]
    assert x.shape == y.shape == (50, 16)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    vocab = ds.extra["vocab"]
    text = "".join(vocab[i] for i in np.concatenate([x[0], y[0, -1:]]))
    assert text in bundled_text(50_000)


def test_charlm_baseline_is_the_unigram_count_model_which_matches_the_corpus_entropy(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abracadabra " * 1000, encoding="utf-8")
    ds = resolve_task("charlm").build(8, DataConfig(20, 5, 200), resolve_task("charlm").Options(corpus=str(corpus)))
    counts = collections.Counter(corpus.read_text())
    n = sum(counts.values())
    expected = -sum(c / n * math.log2(c / n) for c in counts.values())
    assert ds.baseline == ds.extra["ngram_bpc"]["1"] == pytest.approx(expected, rel=0.02)
    assert ds.input_size == ds.output_size == len(counts)
    # The text is periodic: a few characters of context nearly fix the next one (only a window's
    # first positions, with less context, still cost bits).
    assert ds.extra["ngram_bpc"]["5"] < 0.15 * ds.baseline < ds.extra["ngram_bpc"]["1"]


def test_the_bundled_corpus_is_the_pinned_bytes_and_a_changed_copy_is_refused(tmp_path, monkeypatch):
    import gzip
    import hashlib

    text = bundled_text(10**7)
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")
    assert hashlib.sha256(text.encode()).hexdigest() == charlm.BUNDLED_SHA256
    changed = tmp_path / "changed.txt.gz"
    changed.write_bytes(gzip.compress(text.replace("ROMEO", "ROMEA", 1).encode()))
    monkeypatch.setattr(charlm, "BUNDLED", changed)
    with pytest.raises(ConfigError, match="does not match its pinned SHA-256"):
        bundled_text(100)


def test_charlm_splits_are_interleaved_blocks_so_validation_and_test_span_the_corpus_apart_from_training():
    size = 1_115_394
    regions = block_regions(size)
    covered = sorted(r for split in regions.values() for r in split)
    assert covered[0][0] == 0 and covered[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))  # a partition: no character twice
    for split in ("val", "test"):
        starts = [lo for lo, _ in regions[split]]
        assert len(starts) >= 5 and max(starts) - min(starts) > 0.7 * size  # spread over the whole text
    ds = resolve_task("charlm").build(50, DataConfig(200, 100, 100), resolve_task("charlm").Options())
    train_text = {tuple(w) for w in ds.splits["train"][0][:, :20]}
    assert not any(tuple(w) in train_text for w in ds.splits["test"][0][:, :20])
    # A small corpus still gets every split: blocks shrink to a twentieth of it.
    assert all(block_regions(50_000)[split] for split in ("train", "val", "test"))


def naive_witten_bell(train: str, context: str, char: str, order: int, vocab: str) -> float:
    """P(char | context) by the textbook recursion over dictionaries: the specification of ngram_bits."""
    if order == 1:
        return (train.count(char) + 1) / (len(train) + len(vocab))
    lower = naive_witten_bell(train, context, char, order - 1, vocab)
    if len(context) < order - 1:
        return lower
    h = context[len(context) - (order - 1):]
    followers = [train[i + len(h)] for i in range(len(train) - len(h)) if train[i:i + len(h)] == h]
    if not followers:
        return lower
    return (followers.count(char) + len(set(followers)) * lower) / (len(followers) + len(set(followers)))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_bits_is_the_witten_bell_recursion_position_by_position(order):
    rng = np.random.default_rng(order)
    vocab = "abcd"
    train = "".join(rng.choice(list("aabbbcd"), 400))
    windows = ["".join(rng.choice(list(vocab), 7)) for _ in range(5)]
    codes = {c: i for i, c in enumerate(vocab)}
    arr = np.array([[codes[c] for c in w] for w in windows])
    bits = [-math.log2(naive_witten_bell(train, w[:t + 1], w[t + 1], order, vocab))
            for w in windows for t in range(6)]
    got = ngram_bits(np.array([codes[c] for c in train]), arr[:, :-1], arr[:, 1:], len(vocab), order)
    assert got == pytest.approx(np.mean(bits), rel=1e-9)


def test_sine_ar_baselines_fall_with_order_but_stay_above_the_noise_floor():
    ds = resolve_task("sine").build(50, DataConfig(2000, 10, 2000), resolve_task("sine").Options())
    ar = ds.extra["ar_mse"]
    assert ds.extra["noise_floor"] == pytest.approx(0.01)
    assert ds.extra["noise_floor"] < ar["8"] <= ar["4"] <= ar["2"] < ar["1"] <= ds.baseline * 1.01
    assert ar["2"] < 0.7 * ds.baseline  # two past values already carry most of the signal


def test_ar2_predicts_a_noiseless_sinusoid_of_known_frequency_almost_exactly():
    x, y = generate("sine", 500, 40, min_frequency=0.05, max_frequency=0.05, noise_std=0.0)
    repeat_last = float(np.mean((x[..., 0] - y) ** 2))
    # Only position 0 (one value seen, AR(1)) cannot be exact.
    assert autoregressive_mse(x[..., 0], y, x[..., 0], y, 2) < 0.05 * repeat_last


def test_copy_holds_as_many_symbols_as_asked_and_recall_accuracy_reads_only_the_recall_steps():
    import torch

    x, y = generate("copy", 200, 7, symbols=3)
    assert x.shape == y.shape == (200, 13)
    np.testing.assert_array_equal(y[:, -3:], x[:, :3])
    assert (x[:, 9] == DELIMITER).all() and (y[:, :-3] == 0).all()
    task = resolve_task("copy")
    yt = torch.from_numpy(y)
    perfect = torch.nn.functional.one_hot(yt, 9).float()
    blanks = torch.nn.functional.one_hot(torch.zeros_like(yt), 9).float()
    assert float(task.evaluate(perfect, yt)["recall_accuracy"]) == 1.0
    assert float(task.evaluate(blanks, yt)["recall_accuracy"]) == 0.0
    assert float(task.evaluate(blanks, yt)["accuracy"]) == pytest.approx(10 / 13)
    assert memoryless_cross_entropy(7, 3) == pytest.approx(3 * math.log(8) / 13)


def test_a_per_step_run_records_its_test_metric_at_every_position(tmp_path):
    from rnnbench.cli import main

    out = tmp_path / "run"
    assert main(["train", "--task", "copy", "--model", "gru", "--length", "4", "--option", "symbols=2", "--steps", "20",
                 "--eval-every", "10", "--hidden-size", "8", "--out", str(out)]) == 0
    import json
    record = json.loads((out / "metrics.json").read_text())
    assert len(record["test_by_position"]) == 4 + 2 * 2
    assert np.mean(record["test_by_position"]) == pytest.approx(record["test_accuracy"], abs=1e-6)
    assert np.mean(record["test_by_position"][-2:]) == pytest.approx(record["test_recall_accuracy"], abs=1e-6)


@pytest.mark.parametrize("task", sorted(TASKS.names()))
def test_generation_is_deterministic_per_seed_and_differs_between_splits(task):
    data = DataConfig(64, 32, 32, seed=3)
    opts = resolve_task(task).Options() if task != "charlm" else resolve_task(task).Options(corpus_chars=50_000)
    a, b = resolve_task(task).build(12, data, opts), resolve_task(task).build(12, data, opts)
    assert a.checksum() == b.checksum()
    assert not np.array_equal(a.splits["val"][0], a.splits["test"][0])
    other = resolve_task(task).build(12, DataConfig(64, 32, 32, seed=4), opts)
    assert other.checksum() != a.checksum()


def test_saved_dataset_loads_back_identically(tmp_path):
    ds = resolve_task("copy").build(5, DataConfig(16, 8, 8), resolve_task("copy").Options())
    ds.save(tmp_path / "d")
    back = type(ds).load(tmp_path / "d")
    assert back.checksum() == ds.checksum()
    assert back.solved == ds.solved and back.baseline == ds.baseline and back.extra == ds.extra


def test_selective_copy_scatters_the_symbols_in_order_over_the_delay_and_keeps_the_copy_target():
    length, held = 30, 4
    x, y = generate("selective-copy", 2000, length, symbols=held)
    before = x[:, : length + held - 1]
    assert ((before > 0).sum(axis=1) == held).all()  # exactly the symbols, nowhere else before the delimiter
    assert (x[:, length + held - 1] == DELIMITER).all() and (x[:, length + held :] == 0).all()
    recalled = np.stack([row[row > 0] for row in before])
    np.testing.assert_array_equal(y[:, -held:], recalled)  # in the order they appeared
    first = np.argmax(before > 0, axis=1)
    assert first.min() == 0 and first.max() > length // 2  # positions spread over the delay
    plain, _ = generate("copy", 2000, length, symbols=held)
    np.testing.assert_array_equal(plain[:, :held], generate("copy", 2000, length, symbols=held, selective=True)[1][:, -held:])

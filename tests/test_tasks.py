"""Specifications of the task generators: shapes, targets, and every chance baseline measured."""
import collections
import math

import numpy as np
import pytest

from rnnbench.config import DataConfig
from rnnbench.tasks import TASKS, resolve_task
from rnnbench.tasks.charlm import stdlib_text
from rnnbench.tasks.copy import DELIMITER, memoryless_cross_entropy

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
    assert text in stdlib_text(50_000)


def test_charlm_baseline_is_the_corpus_unigram_entropy(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abracadabra " * 1000, encoding="utf-8")
    ds = resolve_task("charlm").build(8, DataConfig(20, 5, 5), resolve_task("charlm").Options(corpus=str(corpus)))
    counts = collections.Counter(corpus.read_text())
    n = sum(counts.values())
    expected = -sum(c / n * math.log2(c / n) for c in counts.values())
    assert ds.baseline == pytest.approx(expected, abs=1e-9)
    assert ds.input_size == ds.output_size == len(counts)


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

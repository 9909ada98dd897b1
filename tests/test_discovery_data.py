"""Tests for the discovery experiments' data (symjax.data.discovery).

Expected values come from brute force over the generated examples (sums,
pixel counts, cyclic rotations, bounding boxes, row sums of adjacency
matrices), never from the generators' own code paths.
"""

import itertools

import numpy as np
import pytest

from symjax.data import discovery as dd


def _check_split_layout(s, sizes):
    assert (s.train_idx.size, s.val_idx.size, s.test_idx.size) == sizes
    every = np.concatenate([s.train_idx, s.val_idx, s.test_idx])
    assert np.array_equal(np.sort(every), np.arange(s.x.shape[0]))  # disjoint and covering


def test_set_sum_targets_are_python_sums_and_splits_partition_the_pool():
    s = dd.set_sum(3, n_train=40, n_val=7, n_test=9)
    _check_split_layout(s, (40, 7, 9))
    assert s.x.shape == (56, 10) and s.x.dtype == np.float32 and s.y.shape == (56, 1)
    assert s.x.min() >= 0.0 and s.x.max() < 1.0
    for row, target in zip(s.x, s.y[:, 0]):
        assert target == pytest.approx(sum(float(v) for v in row), abs=1e-5)


def test_generators_are_deterministic_in_the_seed():
    a, b, c = dd.set_sum(1, 5, 1, 1), dd.set_sum(1, 5, 1, 1), dd.set_sum(2, 5, 1, 1)
    assert np.array_equal(a.x, b.x) and not np.array_equal(a.x, c.x)
    d1, d2 = dd.degree(5, n_graphs=12, n_val_graphs=2, n_test_graphs=2), dd.degree(5, n_graphs=12, n_val_graphs=2,
                                                                                 n_test_graphs=2)
    assert np.array_equal(d1.x, d2.x) and np.array_equal(d1.test_idx, d2.test_idx)


def _is_cyclic_run(image):
    """Brute force: some rotation of the image is k ones followed by zeros."""
    k = int(image.sum())
    run = np.array([1.0] * k + [0.0] * (image.size - k))
    return any(np.array_equal(np.roll(image, r), run) for r in range(image.size))


def test_translation_1d_classes_have_their_pixel_counts_and_arrangements():
    s = dd.translation_1d(0, n_train=300, n_val=50, n_test=50)
    _check_split_layout(s, (300, 50, 50))
    assert s.x.shape == (400, 10) and set(np.unique(s.x)) == {0.0, 1.0}
    assert np.bincount(s.y).tolist() == [80] * 5  # balanced
    for image, label in zip(s.x, s.y):
        assert image.sum() == label + 1
        if label in (1, 3):
            assert _is_cyclic_run(image)
        elif label in (2, 4):
            assert not _is_cyclic_run(image)
    # every start position of a run occurs: the classes are spread over all translations
    starts = {int(np.argmax(np.roll(img, 0) * (1 - np.roll(img, 1)))) for img, l in zip(s.x, s.y) if l == 3}
    assert len(starts) == 10


def _canonical(image):
    """The cyclic roll of a 2-D image whose bounding box is smallest, cropped to it."""
    best = None
    for dr, dc in itertools.product(range(image.shape[0]), range(image.shape[1])):
        rolled = np.roll(image, (dr, dc), axis=(0, 1))
        rows, cols = np.nonzero(rolled)
        box = rolled[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        if best is None or box.size < best.size:
            best = box
    return best


def test_translation_2d_shapes_are_lines_triangles_and_squares():
    s = dd.translation_2d(1, n_train=60, n_val=15, n_test=15)
    _check_split_layout(s, (60, 15, 15))
    assert s.x.shape == (90, 10, 10) and np.bincount(s.y).tolist() == [30, 30, 30]
    seen = {0: set(), 1: set(), 2: set()}
    for image, label in zip(s.x, s.y):
        box = _canonical(image)
        h, w = box.shape
        if label == 0:
            assert min(h, w) == 1 and 3 <= max(h, w) <= 6 and box.all()
            seen[0].add((h, w))
        elif label == 1:
            assert h == w and 3 <= h <= 5 and box.sum() == h * (h + 1) // 2
            assert sorted(box.sum(axis=1).tolist()) == list(range(1, h + 1))
            assert sorted(box.sum(axis=0).tolist()) == list(range(1, h + 1))
            seen[1].add(h)
        else:
            assert h == w and 2 <= h <= 4 and box.all()
            seen[2].add(h)
    assert len(seen[0]) >= 4 and len(seen[1]) == 3 and len(seen[2]) == 3


def test_translation_2d_classes_share_no_pattern_up_to_cyclic_translation():
    """23 patterns up to translation (lines: 4 lengths x 2 directions, triangles: 3 legs x 4 corners, squares:
    3 sides), each in one class only: 100% accuracy is possible for a translation-invariant classifier."""
    s = dd.translation_2d(2, n_train=600, n_val=0, n_test=0)
    classes = {}
    for image, label in zip(s.x.astype(np.uint8), s.y):
        key = min(np.roll(image, (a, b), (0, 1)).tobytes() for a in range(10) for b in range(10))
        classes.setdefault(key, set()).add(int(label))
    per_class = [sum(labels == {c} for labels in classes.values()) for c in range(3)]
    assert per_class == [8, 12, 3] and all(len(labels) == 1 for labels in classes.values())


def test_mnist_canvas_pastes_each_digit_once_at_its_corner():
    rng = np.random.default_rng(0)
    digits = rng.integers(1, 256, size=(30, 28, 28)).astype(np.uint8)  # no zero pixel: the paste is visible
    labels = np.arange(30) % 10
    s = dd.mnist_canvas(4, digits, labels, 10, 5, 5, test_start=20)
    _check_split_layout(s, (10, 5, 5))
    source, corners = s.info["source_index"], s.info["corners"]
    assert set(source[:15]) <= set(range(20)) and set(source[15:]) <= set(range(20, 30))
    assert len(set(source.tolist())) == 20
    for i in range(20):
        r, c = corners[i]
        assert 0 <= r <= 28 and 0 <= c <= 28
        canvas = s.x[i].copy()
        np.testing.assert_allclose(canvas[r:r + 28, c:c + 28] * 255.0, digits[source[i]], atol=1e-3)
        canvas[r:r + 28, c:c + 28] = 0
        assert not canvas.any()
        assert s.y[i] == labels[source[i]]
    with pytest.raises(ValueError, match="test = 11 digits requested, the pool holds 10"):
        dd.mnist_canvas(0, digits, labels, 10, 5, 11, test_start=20)


def test_degree_targets_are_row_sums_and_copies_are_relabellings():
    s = dd.degree(2, split="random", n_graphs=40, n_copies=5, n_val_graphs=5, n_test_graphs=10)
    _check_split_layout(s, (25 * 6, 5 * 6, 10 * 6))
    assert s.x.shape == (240, 10, 10) and s.y.shape == (240, 10)
    for a, deg in zip(s.x, s.y):
        assert np.array_equal(a, a.T) and not np.diag(a).any()
        assert [sum(a[i, j] for j in range(10)) for i in range(10)] == deg.tolist()
    source = s.info["source"]
    for k in range(40):
        copies = s.x[source == k]
        assert copies.shape[0] == 6
        # isomorphic to copy 0: brute force over the permutations consistent with the degrees would be slow;
        # equal sorted degree sequences and equal sorted (degree, sorted neighbour degrees) signatures suffice
        def signature(a):
            d = a.sum(axis=1)
            return sorted((d[i], tuple(sorted(d[a[i] > 0]))) for i in range(10))
        assert all(signature(c) == signature(copies[0]) for c in copies)
    assert np.mean([not np.array_equal(c, s.x[source == source[i]][0]) for i, c in enumerate(s.x)]) > 0.5


def test_degree_split_by_graph_keeps_all_copies_together_and_random_split_does_not():
    kwargs = dict(n_graphs=60, n_val_graphs=10, n_test_graphs=20)
    by_graph = dd.degree(0, split="by_graph", **kwargs)
    src = by_graph.info["source"]
    train, val, test = (set(src[i].tolist()) for i in (by_graph.train_idx, by_graph.val_idx, by_graph.test_idx))
    assert not (train & test) and not (train & val) and not (val & test)
    assert (len(train), len(val), len(test)) == (30, 10, 20)
    rand = dd.degree(0, split="random", **kwargs)
    src = rand.info["source"]
    assert set(src[rand.train_idx].tolist()) & set(src[rand.test_idx].tolist())


def test_train_subset_is_a_prefix_and_too_large_a_size_is_an_error():
    s = dd.set_sum(0, 20, 2, 2)
    assert np.array_equal(dd.train_subset(s, 5), s.train_idx[:5])
    with pytest.raises(ValueError, match=r"training-set size must be in 1..20 .*got 21"):
        dd.train_subset(s, 21)


@pytest.mark.parametrize("call, message", [
    (lambda: dd.set_sum(0, n_train=-1), "n_train must be an integer >= 0"),
    (lambda: dd.set_sum(0, n_train=0), "at least one example"),
    (lambda: dd.translation_1d(0, 5, 1, 1, width=5), "width must be an integer >= 7"),
    (lambda: dd.degree(0, split="by_source"), "split must be one of"),
    (lambda: dd.degree(0, n_graphs=10, n_val_graphs=5, n_test_graphs=5), "leaves no training graph"),
    (lambda: dd.degree(0, edge_prob=1.5), "edge_prob must be in"),
])
def test_bad_sizes_and_options_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_choices_name_every_experiment():
    assert set(dd.CHOICES) == set(dd.REFERENCE_SIZES) == {"set_sum", "translation_1d", "translation_2d", "mnist",
                                                           "degree"}


def test_translation_1d_label_is_the_number_of_bright_pixels_so_s10_keeps_it():
    s = dd.translation_1d(3, 100, 20, 20)
    np.testing.assert_array_equal(s.y, s.x.sum(axis=1).astype(int) - 1)
    assert dd.LABEL_SYMMETRY["translation_1d"] == "S_10"

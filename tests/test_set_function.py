"""Tests for the Task 1 data (symjax.data.set_function)."""

import math

import numpy as np
import pytest

from symjax.data import set_function as sf


def _phi_reference(v: float) -> float:
    return math.sin(v) + math.exp(v) + math.log(abs(v))


def test_phi_hand_computed_points():
    # x = 1: sin 1 + e + log 1 = sin 1 + e.
    assert sf.phi(1.0) == pytest.approx(math.sin(1.0) + math.e, rel=1e-15)
    # x = -1: sin(-1) + 1/e + log 1 = -sin 1 + 1/e.
    assert sf.phi(-1.0) == pytest.approx(-math.sin(1.0) + 1.0 / math.e, rel=1e-15)
    # x = 2: sin 2 + e^2 + log 2.
    assert sf.phi(2.0) == pytest.approx(math.sin(2.0) + math.e**2 + math.log(2.0), rel=1e-15)
    # x = -0.5: -sin 0.5 + e^-0.5 + log 0.5.
    expected = -math.sin(0.5) + math.exp(-0.5) - math.log(2.0)
    assert sf.phi(-0.5) == pytest.approx(expected, rel=1e-14)
    assert sf.phi(0.0) == -np.inf


def test_set_function_hand_computed():
    x = np.array([1.0, -1.0])
    expected = (math.sin(1.0) + math.e) + (-math.sin(1.0) + 1.0 / math.e)
    assert sf.set_function(x) == pytest.approx(expected, rel=1e-15)
    assert expected == pytest.approx(math.e + 1.0 / math.e)


def test_set_function_batched_against_math_module():
    rng = np.random.default_rng(0)
    x = sf.sample_inputs(rng, 7, 5)
    got = sf.set_function(x)
    assert got.shape == (7,)
    assert got.dtype == np.float64
    for row, value in zip(x, got):
        expected = math.fsum(_phi_reference(float(v)) for v in row)
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_set_function_additive_over_blocks():
    rng = np.random.default_rng(1)
    a = sf.sample_inputs(rng, 20, 3)
    b = sf.sample_inputs(rng, 20, 4)
    joined = np.concatenate([a, b], axis=1)
    np.testing.assert_allclose(
        sf.set_function(joined), sf.set_function(a) + sf.set_function(b), rtol=1e-13, atol=1e-13
    )
    single = sf.set_function(joined[:, :1])
    np.testing.assert_allclose(single, sf.phi(joined[:, 0]), rtol=0, atol=0)


def test_set_function_permutation_invariant():
    rng = np.random.default_rng(2)
    x = sf.sample_inputs(rng, 50, 6)
    base = sf.set_function(x)
    for _ in range(5):
        perm = rng.permutation(6)
        np.testing.assert_allclose(sf.set_function(x[:, perm]), base, rtol=1e-13, atol=1e-13)


def test_sample_inputs_shape_range_dtype():
    rng = np.random.default_rng(3)
    x = sf.sample_inputs(rng, 10000, 4)
    assert x.shape == (10000, 4)
    assert x.dtype == np.float64
    assert np.all(x >= -2.0) and np.all(x <= 2.0)
    assert np.all(x != 0.0)
    # Uniform on [-2, 2]: mean 0, variance 16/12 = 4/3.
    assert abs(x.mean()) < 0.05
    assert x.var() == pytest.approx(4.0 / 3.0, rel=0.05)


def test_zero_guard_with_fake_draw():
    calls = []
    queue = [np.array([0.0, 1.5, 0.0, -0.25]), np.array([0.0, 0.75]), np.array([-1.0])]

    def draw(size):
        calls.append(size)
        out = queue.pop(0)
        assert out.shape == (size,)
        return out

    x = sf._draw_nonzero(draw, (2, 2))
    assert calls == [4, 2, 1]
    np.testing.assert_array_equal(x, np.array([[-1.0, 1.5], [0.75, -0.25]]))


def test_zero_guard_through_generator():
    class ZerosFirst:
        """Generator stand-in whose first uniform draw is all zeros."""

        def __init__(self):
            self.inner = np.random.default_rng(4)
            self.calls = 0

        def uniform(self, low, high, size):
            assert (low, high) == (-2.0, 2.0)
            self.calls += 1
            if self.calls == 1:
                return np.zeros(size)
            return self.inner.uniform(low, high, size)

    fake = ZerosFirst()
    x = sf.sample_inputs(fake, 3, 2)
    assert fake.calls == 2
    assert x.shape == (3, 2)
    assert np.all(x != 0.0)
    assert np.all(np.isfinite(sf.set_function(x)))


@pytest.mark.parametrize(
    "train_size, val_size, batch_size",
    [(40, 10, 4), (80, 20, 8), (400, 100, 16), (800, 200, 32), (4000, 1000, 128), (8000, 2000, 256)],
)
def test_table2_sizes(train_size, val_size, batch_size):
    assert sf.TABLE2[train_size] == (val_size, val_size, batch_size)
    splits = sf.make_splits(seed=0, train_size=train_size, n_blocks=3)
    assert set(splits) == {"train", "val", "test"}
    for name, n in (("train", train_size), ("val", val_size), ("test", val_size)):
        x, y = splits[name]
        assert x.shape == (n, 3) and x.dtype == np.float32
        assert y.shape == (n, 1) and y.dtype == np.float32
        assert np.all(np.abs(x) <= 2.0)
        np.testing.assert_allclose(y[:, 0], sf.set_function(x.astype(np.float64)), rtol=1e-5, atol=1e-4)


def test_table2_keys():
    assert sorted(sf.TABLE2) == [40, 80, 400, 800, 4000, 8000]


def test_make_splits_deterministic_and_fresh():
    a = sf.make_splits(seed=7, train_size=40, n_blocks=4)
    b = sf.make_splits(seed=7, train_size=40, n_blocks=4)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(a[name][0], b[name][0])
        np.testing.assert_array_equal(a[name][1], b[name][1])
    other_seed = sf.make_splits(seed=8, train_size=40, n_blocks=4)
    assert not np.array_equal(a["train"][0], other_seed["train"][0])
    other_size = sf.make_splits(seed=7, train_size=80, n_blocks=4)
    assert not np.array_equal(a["train"][0], other_size["train"][0][:40])
    other_blocks = sf.make_splits(seed=7, train_size=40, n_blocks=5)
    assert not np.array_equal(a["train"][0], other_blocks["train"][0][:, :4])
    # Splits within one condition are different draws.
    assert not np.array_equal(a["val"][0], a["test"][0])


def test_make_splits_non_table_size():
    splits = sf.make_splits(seed=0, train_size=10, n_blocks=1)
    assert splits["train"][0].shape == (10, 1)
    assert splits["val"][0].shape == (2, 1)
    assert splits["test"][0].shape == (2, 1)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(seed=0, train_size=40, n_blocks=0), "n_blocks"),
        (dict(seed=0, train_size=0, n_blocks=3), "train_size"),
        (dict(seed=0, train_size=-5, n_blocks=3), "train_size"),
        (dict(seed=-1, train_size=40, n_blocks=3), "seed"),
    ],
)
def test_make_splits_validation(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        sf.make_splits(**kwargs)
    actual = kwargs[name]
    assert f"got {actual}" in str(info.value)


def test_sample_inputs_validation():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_blocks must be >= 1; got 0"):
        sf.sample_inputs(rng, 3, 0)
    with pytest.raises(ValueError, match="num must be >= 0; got -1"):
        sf.sample_inputs(rng, -1, 2)

"""Bad input a new user may give: each case ends in a one-line error (or a documented promotion).

Every test here failed before the fix it covers (silent broadcasting, wrapped
indices, NaN from out-of-range gathers, tracebacks instead of messages).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symjax.train import Lane, TrainConfig, sweep
from symjax.train.losses import per_example_loss
from symjax.train.validate import validate_pool, validate_predictions

# ---------------------------------------------------------------- 1. losses and labels


def _column_model():
    """A linear model returning predictions of shape (B, 1)."""
    init_fn = lambda key: {"w": jax.random.normal(key, (3, 1))}
    apply_fn = lambda params, x: x @ params["w"]
    return init_fn, apply_fn


def _one_lane(n=12):
    return [Lane(seed=0, train_idx=np.arange(8), val_idx=np.arange(8, 10), test_idx=np.arange(10, n),
                 batch_size=4, augment=False, meta={})]


def test_sweep_refuses_column_predictions_against_flat_targets():
    init_fn, apply_fn = _column_model()
    x = np.ones((12, 3), np.float32)
    y = np.zeros((12,), np.float32)
    config = TrainConfig(loss="mse", max_epochs=1, quiet=True)
    with pytest.raises(ValueError, match=r"predictions \(4, 1\) and targets \(4,\)"):
        sweep(init_fn, apply_fn, x, y, _one_lane(), config)


def test_mse_of_matching_shapes_is_the_hand_computed_mean():
    pred = jnp.array([[1.0, 3.0], [0.0, 0.0]])
    y = jnp.array([[0.0, 1.0], [2.0, 0.0]])
    np.testing.assert_allclose(per_example_loss("mse", pred, y), [(1 + 4) / 2, 4 / 2])


def test_cross_entropy_refuses_labels_with_an_extra_axis():
    with pytest.raises(ValueError, match=r"logits \(4, 2\) and labels \(4, 1\)"):
        per_example_loss("cross_entropy", jnp.zeros((4, 2)), jnp.zeros((4, 1), jnp.int32))


def test_validate_pool_refuses_negative_labels():
    x = np.zeros((5, 3), np.float32)
    y = np.array([0, 1, -1, 1, 0])
    with pytest.raises(ValueError, match=r"labels in \[0, inf\).*range \[-1, 1\].*-1 at pool_y\[2\]"):
        validate_pool(x, y, "cross_entropy")


def test_validate_pool_refuses_labels_past_num_classes():
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\).*range \[0, 5\]"):
        validate_pool(x, np.array([0, 1, 5, 1, 0]), "cross_entropy", num_classes=2)
    assert validate_pool(x, np.array([0, 1, 1, 1, 0]), "cross_entropy", num_classes=2) == 5


def test_validate_predictions_reads_the_class_count_from_the_model():
    init_fn = lambda key: {"w": jax.random.normal(key, (3, 2))}
    apply_fn = lambda params, x: x @ params["w"]
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\).*first bad: 5 at pool_y\[2\]"):
        validate_predictions(init_fn, apply_fn, x, np.array([0, 1, 5, 1, 0]), "cross_entropy")
    validate_predictions(init_fn, apply_fn, x, np.array([0, 1, 1, 1, 0]), "cross_entropy")


def test_validate_predictions_refuses_shapes_that_would_broadcast():
    init_fn, apply_fn = _column_model()
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"predictions \(1, 1\) and targets \(1,\)"):
        validate_predictions(init_fn, apply_fn, x, np.zeros(5, np.float32), "mse")
    validate_predictions(init_fn, apply_fn, x, np.zeros((5, 1), np.float32), "mse")

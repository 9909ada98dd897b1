"""Per-example losses and masked means."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def _mean_trailing(values: jnp.ndarray) -> jnp.ndarray:
    """(B, ...) -> (B,): mean over all axes but the first."""
    return values.reshape(values.shape[0], -1).mean(axis=1)


def per_example_loss(loss: str, pred: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """Loss of each example, (B,).

    mse: pred and y (B, ...) -> mean squared error over the trailing axes.
    cross_entropy: logits (B, ..., C) and integer labels (B, ...) -> mean over the trailing label axes.
    """
    if loss == "mse":
        return _mean_trailing(jnp.square(pred - y.astype(pred.dtype)))
    if loss == "cross_entropy":
        return _mean_trailing(optax.softmax_cross_entropy_with_integer_labels(pred, y))
    raise ValueError(f"unknown loss: expected 'mse' or 'cross_entropy', got {loss!r}")


def per_example_accuracy(pred: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """(B,) fraction of correct argmax predictions per example (logits (B, ..., C), labels (B, ...))."""
    return _mean_trailing((jnp.argmax(pred, axis=-1) == y).astype(jnp.float32))


def masked_mean(values: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """sum(values over mask) / max(sum(mask), 1); masked-out entries never enter (even NaN ones)."""
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return total / jnp.maximum(jnp.sum(mask), 1).astype(total.dtype)

"""Per-example losses and masked means."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def _mean_trailing(values: jnp.ndarray) -> jnp.ndarray:
    """(B, ...) -> (B,): mean over all axes but the first."""
    return values.reshape(values.shape[0], -1).mean(axis=1)


def check_prediction_shape(loss: str, pred_shape: tuple, y_shape: tuple) -> None:
    """Raises ValueError unless predictions and targets fit ``loss`` without broadcasting.

    mse, l1: pred (B, ...) and y of the same shape (B, ...); a (B, 1) prediction
    against (B,) targets would otherwise broadcast to (B, B).
    cross_entropy: logits (B, ..., C) and labels (B, ...), i.e. pred.shape[:-1] == y.shape.
    Shapes are static, so under jit this costs nothing at run time.
    """
    pred_shape, y_shape = tuple(pred_shape), tuple(y_shape)
    if loss in ("mse", "l1") and pred_shape != y_shape:
        raise ValueError(f"loss {loss!r}: expected predictions and targets of one shape, got predictions "
                         f"{pred_shape} and targets {y_shape} (reshape one of them; they would broadcast)")
    if loss == "cross_entropy" and (len(pred_shape) < 1 or pred_shape[:-1] != y_shape):
        raise ValueError(f"loss 'cross_entropy': expected logits (B, ..., C) and labels (B, ...) with "
                         f"logits.shape[:-1] == labels.shape, got logits {pred_shape} and labels {y_shape}")


def per_example_loss(loss: str, pred: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """Loss of each example, (B,).

    mse: pred and y (B, ...) of one shape -> mean squared error over the trailing axes.
    l1: pred and y (B, ...) of one shape -> mean absolute error over the trailing axes.
    cross_entropy: logits (B, ..., C) and integer labels (B, ...) in [0, C) -> mean over the trailing label axes.
    Mismatched shapes raise ValueError at trace time (see ``check_prediction_shape``).
    """
    if loss == "mse":
        check_prediction_shape(loss, pred.shape, y.shape)
        return _mean_trailing(jnp.square(pred - y.astype(pred.dtype)))
    if loss == "l1":
        check_prediction_shape(loss, pred.shape, y.shape)
        return _mean_trailing(jnp.abs(pred - y.astype(pred.dtype)))
    if loss == "cross_entropy":
        check_prediction_shape(loss, pred.shape, y.shape)
        return _mean_trailing(optax.softmax_cross_entropy_with_integer_labels(pred, y))
    raise ValueError(f"unknown loss: expected 'mse', 'l1' or 'cross_entropy', got {loss!r}")


def per_example_accuracy(pred: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """(B,) fraction of correct argmax predictions per example (logits (B, ..., C), labels (B, ...))."""
    check_prediction_shape("cross_entropy", pred.shape, y.shape)
    return _mean_trailing((jnp.argmax(pred, axis=-1) == y).astype(jnp.float32))


def masked_mean(values: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """sum(values over mask) / max(sum(mask), 1); masked-out entries never enter (even NaN ones)."""
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return total / jnp.maximum(jnp.sum(mask), 1).astype(total.dtype)

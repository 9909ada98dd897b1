"""Checks of a sweep's inputs, run before anything is compiled."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import jax
import numpy as np

from symjax.train.config import AUGMENT_PER, LOSSES, Lane, TrainConfig, check_learning_rate
from symjax.train.execution import validate_execution
from symjax.train.losses import check_prediction_shape


def validate_config(config: TrainConfig) -> None:
    """Raises ValueError for a config that cannot run."""
    if config.loss not in LOSSES:
        raise ValueError(f"unknown loss: expected one of {LOSSES}, got {config.loss!r}")
    validate_execution(config.execution)
    if config.augment_per not in AUGMENT_PER:
        raise ValueError(f"TrainConfig.augment_per: expected one of {AUGMENT_PER}, got {config.augment_per!r}")
    positive = {
        "max_epochs": config.max_epochs,
        "patience": config.patience,
        "keep_checkpoints": config.keep_checkpoints,
        "sym_samples": config.sym_samples,
    }
    for name, value in positive.items():
        if not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"TrainConfig.{name}: expected an integer >= 1, got {value!r}")
    if not isinstance(config.checkpoint_every, numbers.Integral) or config.checkpoint_every < 0:
        raise ValueError(f"TrainConfig.checkpoint_every: expected an integer >= 0 (0: by time), got "
                         f"{config.checkpoint_every!r}")
    if not isinstance(config.checkpoint_seconds, numbers.Real) or not config.checkpoint_seconds >= 0:
        raise ValueError(f"TrainConfig.checkpoint_seconds: expected a number >= 0, got {config.checkpoint_seconds!r}")
    check_learning_rate(config.learning_rate)
    if config.resume and config.checkpoint_dir is None:
        raise ValueError("TrainConfig.resume=True: expected a checkpoint_dir, got None")


def validate_pool(pool_x, pool_y, loss: str, num_classes: int | None = None) -> int:
    """Checks the data pool and returns its size N.

    Args:
      pool_x: pytree of arrays, each (N, ...).
      pool_y: array (N, ...); integer labels for 'cross_entropy', in [0, num_classes)
        (only >= 0 is checked when num_classes is None; ``validate_predictions``
        reads C from the model).
    """
    leaves = jax.tree_util.tree_leaves_with_path(pool_x)
    if not leaves:
        raise ValueError("pool_x: expected a pytree with at least one array, got no leaves")
    named = [(f"pool_x{jax.tree_util.keystr(path)}", np.asarray(leaf)) for path, leaf in leaves]
    named.append(("pool_y", np.asarray(pool_y)))
    n = None
    for name, arr in named:
        if arr.ndim < 1:
            raise ValueError(f"{name}: expected a leading pool axis, got a scalar")
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise ValueError(f"{name}: expected leading size {n} (the pool size), got shape {arr.shape}")
        if np.issubdtype(arr.dtype, np.inexact):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            if bad:
                raise ValueError(f"{name}: expected finite values, got {bad} NaN/inf entries")
    y_dtype = named[-1][1].dtype
    if loss == "cross_entropy" and not np.issubdtype(y_dtype, np.integer):
        raise ValueError(f"pool_y: loss 'cross_entropy' expects integer labels, got dtype {y_dtype}")
    if n == 0:
        raise ValueError("pool: expected at least one example, got N=0")
    if loss == "cross_entropy":
        check_label_range(named[-1][1], num_classes)
    return n


def check_label_range(labels: np.ndarray, num_classes: int | None) -> None:
    """Raises ValueError unless every label is in [0, num_classes) ([0, inf) when num_classes is None).

    Out-of-range labels never fail inside jit: -1 indexes the last class and a
    label >= C gives a NaN loss.
    """
    labels = np.asarray(labels)
    bad = labels < 0 if num_classes is None else (labels < 0) | (labels >= num_classes)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        upper = "inf" if num_classes is None else num_classes
        raise ValueError(f"pool_y: loss 'cross_entropy' expects labels in [0, {upper}) (the model's classes), "
                         f"got range [{labels.min()}, {labels.max()}] (first bad: {labels[where]} at "
                         f"pool_y{list(where)})")


def validate_predictions(init_fn, apply_fn, pool_x, pool_y, loss: str) -> None:
    """Checks that the model's predictions fit the targets, without compiling anything.

    The model is traced abstractly (``jax.eval_shape``) on the first pool
    example: params = init_fn(key), pred = apply_fn(params, x[:1]). Then
    mse needs pred.shape == y[:1].shape, and cross_entropy needs logits
    (1, ..., C) over labels (1, ...) and every label of pool_y in [0, C).

    Args:
      init_fn: key -> params pytree.
      apply_fn: (params, x_batch) -> predictions.
      pool_x: pytree of arrays (N, ...); pool_y: array (N, ...).
    """
    def first_example(a):  # abstract (1, ...) of a leaf; a device array's dtype is read without a copy
        dtype = a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype
        return jax.ShapeDtypeStruct((1,) + np.shape(a)[1:], dtype)

    first_x = jax.tree.map(first_example, pool_x)
    params = jax.eval_shape(init_fn, jax.random.key(0))
    pred = jax.eval_shape(apply_fn, params, first_x)
    if not hasattr(pred, "shape"):
        raise ValueError(f"apply_fn: expected predictions as one array, got {type(pred).__name__}")
    y_shape = (1,) + np.shape(pool_y)[1:]
    check_prediction_shape(loss, pred.shape, y_shape)
    if loss == "cross_entropy":
        check_label_range(pool_y, int(pred.shape[-1]))


def validate_lanes(lanes: list[Lane], pool_size: int, has_augment_fn: bool) -> None:
    """Raises ValueError for an empty list or a lane that cannot train."""
    if not lanes:
        raise ValueError("lanes: expected at least one Lane, got an empty list")
    for i, lane in enumerate(lanes):
        if not isinstance(lane, Lane):
            raise ValueError(f"lanes[{i}]: expected a Lane, got {type(lane).__name__}")
        where = f"lanes[{i}] (seed={lane.seed!r})"
        if not isinstance(lane.seed, numbers.Integral):
            raise ValueError(f"{where}: expected an integer seed, got {type(lane.seed).__name__}")
        if not isinstance(lane.meta, dict):
            raise ValueError(f"{where}: expected meta to be a dict, got {type(lane.meta).__name__}")
        for field in ("train_idx", "val_idx", "test_idx"):
            idx = np.asarray(getattr(lane, field))
            if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
                raise ValueError(
                    f"{where}.{field}: expected a 1-D integer array, got shape {idx.shape} dtype {idx.dtype}")
            if idx.size == 0:
                raise ValueError(f"{where}.{field}: expected at least one index, got size 0")
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= pool_size:
                raise ValueError(
                    f"{where}.{field}: expected indices in [0, {pool_size}) (the pool size), got range [{lo}, {hi}]")
        n_train = np.asarray(lane.train_idx).size
        if not isinstance(lane.batch_size, numbers.Integral) or lane.batch_size < 1:
            raise ValueError(f"{where}: expected batch_size >= 1, got {lane.batch_size!r}")
        if lane.batch_size > n_train:
            raise ValueError(f"{where}: expected batch_size <= train size {n_train}, got {lane.batch_size}")
        if lane.augment and not has_augment_fn:
            raise ValueError(f"{where}: augment=True expects an augment_fn, got augment_fn=None")
        if lane.learning_rate is not None and not (isinstance(lane.learning_rate, numbers.Real)
                                                   and np.isfinite(lane.learning_rate) and lane.learning_rate > 0):
            raise ValueError(f"{where}: expected learning_rate None or a finite number > 0, "
                             f"got {lane.learning_rate!r}")
        if not isinstance(lane.hyper, Mapping):
            raise ValueError(f"{where}: expected hyper to be a mapping of names to floats, "
                             f"got {type(lane.hyper).__name__}")
        if sorted(lane.hyper) != sorted(lanes[0].hyper):
            raise ValueError(f"{where}: expected hyper names {sorted(lanes[0].hyper)} (those of lanes[0]; "
                             f"every lane of a sweep has the same), got {sorted(lane.hyper)}")
        for name, value in lane.hyper.items():
            if not (isinstance(value, numbers.Real) and np.isfinite(value)):
                raise ValueError(f"{where}: expected hyper[{name!r}] to be a finite number, got {value!r}")

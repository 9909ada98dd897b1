"""Task 1 data: a permutation-invariant set function of n scalars.

The input is a vector x = (x_1, ..., x_n) in [-2, 2]^n with i.i.d. uniform
entries, one scalar per block (n = ``n_blocks``). The target is the sum of a
fixed scalar function over the entries (study, eq. 21):

    f(x) = sum_{i=1}^{n} phi(x_i),    phi(x) = sin(x) + exp(x) + log|x|.

f is invariant under every permutation of the blocks, which is the symmetry
the models are meant to share parameters over.

Split sizes follow the study's Table 2: training sets of 40, 80, 400, 800,
4000 and 8000 points, validation and test sets of a quarter of the training
size each, and the batch size that goes with each training size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

LOW = -2.0
HIGH = 2.0

# Study, Table 2: train_size -> (val_size, test_size, batch_size).
TABLE2: dict[int, tuple[int, int, int]] = {
    40: (10, 10, 4),
    80: (20, 20, 8),
    400: (100, 100, 16),
    800: (200, 200, 32),
    4000: (1000, 1000, 128),
    8000: (2000, 2000, 256),
}

# First entry of the seed material used by ``make_splits``; it keeps this
# task's streams apart from any other use of the same integer seed.
_SEED_TAG = 21


def phi(x) -> np.ndarray:
    """phi(x) = sin(x) + exp(x) + log|x| (study, eq. 21), elementwise, float64.

    phi(0) = -inf because of the log term.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.sin(x) + np.exp(x) + np.log(np.abs(x))


def set_function(x) -> np.ndarray:
    """f(x) = sum_i phi(x_i) over the last axis (study, eq. 21).

    Args:
      x: array of shape (..., n_blocks).

    Returns:
      float64 array of shape (...).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ValueError(
            f"x must have at least one axis (..., n_blocks); got shape {x.shape}"
        )
    return np.sum(phi(x), axis=-1)


def _draw_nonzero(draw: Callable[[int], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Draws ``shape`` values with ``draw(size)`` and redraws exact zeros.

    ``draw(size)`` must return a 1-D float array of ``size`` values. Every
    entry equal to 0.0 is replaced by a fresh draw, repeatedly, until none is
    left, so the result never contains 0.0.
    """
    size = int(np.prod(shape, dtype=np.int64))
    values = np.array(draw(size), dtype=np.float64).reshape(-1)
    if values.shape != (size,):
        raise ValueError(
            f"draw({size}) must return {size} values; got shape {values.shape}"
        )
    zeros = values == 0.0
    while np.any(zeros):
        count = int(np.sum(zeros))
        values[zeros] = np.asarray(draw(count), dtype=np.float64).reshape(-1)
        zeros = values == 0.0
    return values.reshape(shape)


def sample_inputs(rng: np.random.Generator, num: int, n_blocks: int) -> np.ndarray:
    """Samples ``num`` inputs x ~ Uniform[-2, 2)^n_blocks.

    log|x| is -inf at x = 0. A uniform float64 draw hits exactly 0.0 with
    probability of order 2^-53 per entry, so it does not happen in practice,
    but it is still guarded: every entry that is exactly 0.0 is resampled
    (from the same generator) until it is non-zero. Conditioned on being
    non-zero the entries stay i.i.d. uniform.

    Args:
      rng: numpy random generator.
      num: number of inputs, >= 0.
      n_blocks: number of blocks n, >= 1.

    Returns:
      float64 array of shape (num, n_blocks) with entries in [-2, 2) \\ {0}.
    """
    if num < 0:
        raise ValueError(f"num must be >= 0; got {num}")
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be >= 1; got {n_blocks}")
    return _draw_nonzero(lambda size: rng.uniform(LOW, HIGH, size=size), (num, n_blocks))


def split_sizes(train_size: int) -> tuple[int, int, int]:
    """(val_size, test_size, batch_size) for a training size.

    Sizes in ``TABLE2`` use the study's values. For any other training size
    the validation and test sizes are max(1, train_size // 4), as in Table 2,
    and the batch size is min(train_size, 32).
    """
    if train_size <= 0:
        raise ValueError(f"train_size must be > 0; got {train_size}")
    if train_size in TABLE2:
        return TABLE2[train_size]
    quarter = max(1, train_size // 4)
    return quarter, quarter, min(train_size, 32)


def make_splits(seed: int, train_size: int, n_blocks: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train/validation/test data for one condition of Task 1.

    The generator is ``np.random.default_rng([21, seed, n_blocks, train_size])``
    (a numpy SeedSequence over the four integers; 21 tags this task), so every
    (seed, n_blocks, train_size) condition gets its own independent data. From
    that generator the train, validation and test inputs are drawn in this
    order with ``sample_inputs``; targets are ``set_function`` of the inputs.

    Args:
      seed: non-negative integer seed.
      train_size: number of training points, > 0. Validation and test sizes
        come from ``split_sizes`` (Table 2: train_size / 4 each).
      n_blocks: number of blocks n, >= 1.

    Returns:
      {'train': (x, y), 'val': (x, y), 'test': (x, y)} with x float32 of shape
      (N, n_blocks) and y float32 of shape (N, 1). Targets are computed in
      float64 and then rounded to float32.
    """
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be >= 1; got {n_blocks}")
    if train_size <= 0:
        raise ValueError(f"train_size must be > 0; got {train_size}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")
    val_size, test_size, _ = split_sizes(train_size)
    rng = np.random.default_rng([_SEED_TAG, int(seed), int(n_blocks), int(train_size)])
    splits = {}
    for name, num in (("train", train_size), ("val", val_size), ("test", test_size)):
        x = sample_inputs(rng, num, n_blocks)
        y = set_function(x)[:, None]
        splits[name] = (x.astype(np.float32), y.astype(np.float32))
    return splits

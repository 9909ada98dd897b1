"""Soft-sharing and sparsity penalties on plain weights (reference 001 §1.4.1, §1.4.2, §3.1, §3.2).

Each penalty maps a weight array (any shape unless stated) to a scalar and is
differentiable; multiply by a weight λ >= 0 and add it to the task loss.
``orbit_tie`` (sharing under a named group) lives in
``symjax.discovery.projection``.

Example (three weights 0, 1, 3):
    >>> import jax.numpy as jnp
    >>> w = jnp.array([0.0, 1.0, 3.0])
    >>> float(pairwise_tie(w))                # |0 - 1| + |0 - 3| + |1 - 3|
    6.0
    >>> round(float(pairwise_tie(w, p=2)), 4)  # 1 + 9 + 4
    14.0
    >>> float(offset_tie(w, 1, 0)), float(offset_tie(w, 1, 0, wrap=False))  # + |3 - 0| with the cyclic pair
    (6.0, 3.0)
    >>> float(l1(w - 1.0)), float(sigmoid_sparsity(jnp.zeros(4)))
    (3.0, 2.0)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from symjax.discovery import checks, shifts as shifts_lib


def pairwise_tie(w, p: int = 1) -> jax.Array:
    """sum_{j<k} |w_j - w_k|^p over all entries of ``w`` (reference 001 §1.4.1, one λ).

    Never builds the n^2 pairs:

      p = 2:  sum_{j<k} (w_j - w_k)^2 = n sum_j w_j^2 - (sum_j w_j)^2
                                       = n sum_j (w_j - mean(w))^2     (centred: no cancellation)
      p = 1:  with w_(0) <= ... <= w_(n-1) sorted,
              sum_{j<k} |w_j - w_k| = sum_k (2k - n + 1) w_(k)        (O(n log n))

    since the k-th smallest value is the larger one of k pairs and the smaller
    of n - 1 - k. Gradient (p = 1): entry j gets (#entries below it) - (#above);
    among equal entries the tie is split as ``jax.grad`` splits it for the
    pairwise form (jax takes d|x|/dx = 1 at x = 0, so of two equal entries the
    one earlier in row-major order gets +1, the later -1), so the gradient equals
    ``jax.grad`` of the brute-force sum exactly, ties included.

    Args:
      w: weights, any shape (flattened in row-major order); n = w.size.
      p: 1 or 2.
    Returns:
      A scalar.
    """
    p = checks.exponent(p)
    flat = checks.weights(w).ravel()
    n = flat.size
    if p == 2:
        return n * jnp.sum(jnp.square(flat - jnp.mean(flat))) if n else jnp.zeros((), flat.dtype)
    # ascending by value, equal values in descending index order (jax's subgradient, see above)
    _, minus_index = lax.sort((_ordered_int_keys(flat), -lax.iota(jnp.int32, n)), num_keys=2, is_stable=False)
    coefficient = (2 * jnp.arange(n) - n + 1).astype(flat.dtype)
    return jnp.sum(coefficient * flat[-minus_index])


def _ordered_int_keys(flat: jax.Array) -> jax.Array:
    """Signed integers of the floats' width, ordered as the (non-NaN) floats are, with -0 == +0.

    The IEEE bit pattern read as a signed integer orders non-negative floats;
    flipping the magnitude bits of negative ones reverses their order. (XLA's
    CPU sort compares such integers faster than floats.)
    """
    bits = lax.bitcast_convert_type(jnp.where(flat == 0, jnp.zeros_like(flat), flat),
                                    jnp.dtype(f"int{8 * flat.dtype.itemsize}"))
    magnitude = jnp.array(np.iinfo(bits.dtype).max, bits.dtype)
    return bits ^ ((bits >> (bits.dtype.itemsize * 8 - 1)) & magnitude)


def offset_tie(w, shifts, axes, wrap: bool = True, p: int = 1) -> jax.Array:
    """sum_i |w[i] - w[i + s]|^p summed over every shift s in ``shifts`` (reference 001 §3.2).

    Reference 001 §3.2's λ sum_k |w[k,i,j,m,n] - w[k,i+b,j+b,m+b',n+b']| is
    ``offset_tie(w, (b, b, b2, b2), axes=(1, 2, 3, 4))`` (b2 = b'): one shift
    tuple moves several axes together.

    Border (see ``symjax.discovery.shifts``): wrap=True compares with the cyclic
    shift (``shifts.cyclic_shift``; every entry has a partner), wrap=False only over the
    overlap (entries whose partner i + s falls outside the array are left out).

    Args:
      w: weights of any shape.
      shifts: one shift (a tuple of ints, one per axis in ``axes``; an int for
        one axis) or a sequence of such tuples (their penalties are summed).
        Each |offset| must be smaller than its axis.
      axes: the shifted axes (an int or a tuple of distinct ints).
      wrap: cyclic border (True) or cut (False).
      p: 1 or 2.
    Returns:
      A scalar.
    """
    p = checks.exponent(p)
    w = checks.weights(w)
    shift_list, axes = shifts_lib.normalize(shifts, axes, w.shape)
    total = jnp.zeros((), w.dtype)
    for shift in shift_list:
        here, there = shifts_lib.pair(w, shift, axes, bool(wrap))
        diff = here - there
        total = total + jnp.sum(jnp.abs(diff) if p == 1 else jnp.square(diff))
    return total


def sigmoid_sparsity(w, scale: float = 100.0) -> jax.Array:
    """sum_i sigmoid(scale * w_i) (reference 001 §3.1, which uses scale 100 and weight 0.01).

    A smooth count of the positive weights: each term is ~1 for w_i >> 1/scale
    and ~0 for w_i << -1/scale. ``scale`` >= 0.
    """
    checks.nonnegative(scale, "scale")
    return jnp.sum(jax.nn.sigmoid(scale * checks.weights(w)))


def l1(w) -> jax.Array:
    """sum_i |w_i| (reference 001 §1.4.2)."""
    return jnp.sum(jnp.abs(checks.weights(w)))

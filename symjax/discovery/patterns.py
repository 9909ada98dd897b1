"""Reference 001's own weight-pattern measures (§3.1 set sum, §3.2 translations).

``column_sum_deviation``: the set-sum model of §3.1 is y = sum_i (W x)_i, so
it computes sum_j x_j (sum_i W[i, j]) and equals the set sum for every input
iff every input j's weights summed over the outputs i are 1. The reference
reads this off the learned 10 x 10 matrix ("each of the columns sum up to 1",
reported deviation 0.1145).

``translation_correlation``: the generic translation model of §3.2 holds per
class c a weight w[c, t, p] (t a translation on a grid, p a pixel). A
convolution has w[c, t + e_a, p + s_a e_a] = w[c, t, p] (shift the
translation by one grid step and the image by the stride s_a); the measure is
how close the learned weight is to that, as a correlation.

Example:
    >>> import jax.numpy as jnp
    >>> float(column_sum_deviation(jnp.eye(4), layout="out_in"))       # every input's weights sum to 1
    0.0
    >>> f = jnp.array([1.0, 2.0, 0.0, -1.0])
    >>> conv = jnp.stack([jnp.roll(f, t) for t in range(4)])[None]      # w[0, t, p] = f(p - t): a convolution
    >>> round(float(translation_correlation(conv)), 6)
    1.0
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from symjax.discovery import checks, shifts as shifts_lib


def column_sum_deviation(w, *, layout: checks.Layout, target: float = 1.0) -> jax.Array:
    """mean_j |sum_i W[i, j] - target|: for each input j, its weights summed over the outputs i.

    With W in 'out_in' layout (out, in) these are the column sums (axis 0);
    with a Flax kernel in 'in_out' layout (in, out) the row sums (axis 1).
    0 means the sum-pooled layer sum_i (W x)_i is exactly ``target`` * sum_j x_j
    (reference 001 §3.1, target 1: the set sum; reported 0.1145).

    Args:
      w: a 2-D weight matrix.
      layout: 'out_in' or 'in_out'.
      target: the sum each input's weights should have.
    Returns:
      A scalar.
    """
    checks.layout(layout)
    w = checks.weights(w)
    if w.ndim != 2:
        raise ValueError(f"column_sum_deviation expects a 2-D weight matrix; got shape {tuple(w.shape)}")
    per_input = jnp.sum(w, axis=0 if layout == "out_in" else 1)
    return jnp.mean(jnp.abs(per_input - target))


def _correlation(a: jax.Array, b: jax.Array) -> jax.Array:
    """Pearson correlation of two equal-shape arrays (NaN when either is constant)."""
    a = a.ravel() - jnp.mean(a)
    b = b.ravel() - jnp.mean(b)
    return jnp.sum(a * b) / jnp.sqrt(jnp.sum(a * a) * jnp.sum(b * b))


def translation_correlation(w, *, stride: int | Sequence[int] = 1, wrap: bool = True) -> jax.Array:
    """Mean correlation of each class weight with its copy shifted by one translation step.

    For w of shape (C, T, P) (1-D images) or (C, T_1, T_2, P_1, P_2) (2-D;
    translations t on a grid, pixels p), and for every class c and spatial
    axis a, the Pearson correlation over all paired entries of

        w[c, t, p]   and   w[c, t + e_a, p + s_a e_a]

    (translation one grid step along axis a, pixels ``stride`` s_a along it):
    ``offset_tie``'s pairing with shift (1, s_a) on axes (t_a, p_a). Returned:
    the mean over classes and axes. 1 = every class weight is a (cyclic, with
    wrap=True) convolution; ~0 for unstructured weights. NaN when a class
    weight is constant (the correlation is undefined).

    Args:
      w: (C, T, P) or (C, T_1, T_2, P_1, P_2); one class: w[None].
      stride: s_a, an int or one per spatial axis, 0 <= s_a < P_a.
      wrap: cyclic border (True) or only the overlapping entries (False);
        see ``symjax.discovery.shifts``.
    Returns:
      A scalar.
    """
    w = checks.weights(w)
    if w.ndim not in (3, 5):
        raise ValueError(f"translation_correlation expects w of shape (C, T, P) or (C, T1, T2, P1, P2); "
                         f"got shape {tuple(w.shape)}")
    dims = (w.ndim - 1) // 2
    strides = (stride,) * dims if isinstance(stride, (int, np.integer)) else tuple(stride)
    if len(strides) != dims or not all(isinstance(s, (int, np.integer)) and s >= 0 for s in strides):
        raise ValueError(f"stride must be a non-negative int or {dims} of them; got {stride!r}")
    values = []
    for a in range(dims):
        shift, axes = shifts_lib.normalize((1, strides[a]), (a, dims + a), w.shape[1:])
        here, there = jax.vmap(lambda v: shifts_lib.pair(v, shift[0], axes, bool(wrap)))(w)
        values.append(jax.vmap(_correlation)(here, there))
    return jnp.mean(jnp.stack(values))

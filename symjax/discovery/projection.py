"""Orthogonal projection onto G-shared weights, and the soft-sharing penalty built on it.

For actions rho_out (m indices) and rho_in (n indices) of one group G, the
G-shared (equivariant) weights are the m x n matrices constant on the orbits
O_1..O_k of index pairs (``symjax.sharing.orbit_index_map``). The orthogonal
projection (Frobenius inner product) onto them replaces every weight by the
mean over its orbit:

    (P_G W)_ij = (1 / |O_l|) sum_{(a, b) in O_l} W_ab        for (i, j) in O_l

computed as a segment sum over the orbit numbers (k segments, k static) and a
gather, never with a dense (mn x mn) projector. P_G is symmetric and
idempotent, so

    orbit_tie(W) = ||W - P_G W||_F^2,     grad orbit_tie(W) = 2 (W - P_G W).

``orbit_tie`` is the soft end of the dial whose hard end is
``symjax.functional.SharedDense``: λ orbit_tie(W) added to a loss pulls W onto
the shared subspace, and as λ -> ∞ the minimiser is a G-shared W, i.e. the
hard-shared layer with coefficients ``orbit_coefficients(W)``.

``layout``: 'out_in' for symjax's W (m, n), 'in_out' for a Flax Dense kernel
(n, m); never guessed from the shape.

Example: under S_3 acting on rows and columns alike, the orbits are the
diagonal and the off-diagonal entries.
    >>> import jax.numpy as jnp
    >>> from symjax import actions, groups
    >>> s3 = actions.base(groups.symmetric(3))
    >>> w = jnp.diag(jnp.array([1.0, 1.0, 4.0]))
    >>> orbit_coefficients(w, s3, s3, layout="out_in").tolist()      # diagonal mean, off-diagonal mean
    [2.0, 0.0]
    >>> orbit_projection(w, s3, s3, layout="out_in").tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    >>> float(orbit_tie(w, s3, s3, layout="out_in"))                  # (1 - 2)^2 + (1 - 2)^2 + (4 - 2)^2
    6.0
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from symjax.actions import Action
from symjax.discovery import checks
from symjax.sharing import orbit_index_map


@functools.lru_cache(maxsize=64)
def orbit_ids(action_out: Action, action_in: Action, layout: checks.Layout) -> tuple[np.ndarray, np.ndarray, int]:
    """Orbit numbers of the weights in the layout's row-major order, and orbit sizes.

    Returns (ids int32 (m n,), sizes float64 (k,), k); read-only, cached.
    """
    index_map, k = orbit_index_map(action_out, action_in)
    ids = np.ascontiguousarray(index_map if checks.layout(layout) == "out_in" else index_map.T).ravel()
    sizes = np.bincount(ids, minlength=k).astype(np.float64)
    ids.setflags(write=False)
    sizes.setflags(write=False)
    return ids, sizes, k


def _orbit_means(w: jax.Array, ids: np.ndarray, sizes: np.ndarray, k: int) -> jax.Array:
    sums = jax.ops.segment_sum(w.ravel(), jnp.asarray(ids), num_segments=k)
    return sums / jnp.asarray(sizes, w.dtype)


def _project(w: jax.Array, ids: np.ndarray, sizes: np.ndarray, k: int) -> jax.Array:
    return jnp.take(_orbit_means(w, ids, sizes, k), jnp.asarray(ids)).reshape(w.shape)


def orbit_coefficients(w, action_out: Action, action_in: Action, *, layout: checks.Layout) -> jax.Array:
    """The orbit means (k,): the coefficients of the hard-shared layer nearest to W.

    Numbered as ``sharing.orbit_index_map(action_out, action_in)`` numbers
    the orbits, so the same for either layout:
    ``functional.expand(orbit_coefficients(W, ...), index_map)`` is P_G W in
    'out_in' layout, and the vector is ``SharedDense(action_in, action_out, parametrization='standard')``'s
    ``w`` (the default 'normalized' layer holds w_l sqrt(|O_l|) instead).
    """
    w = checks.matrix(w, action_out, action_in, layout)
    return _orbit_means(w, *orbit_ids(action_out, action_in, layout))


def orbit_projection(w, action_out: Action, action_in: Action, *, layout: checks.Layout) -> jax.Array:
    """P_G W: every weight replaced by the mean over its orbit; same shape and layout as ``w``.

    Args:
      w: (m, n) for layout 'out_in' or (n, m) for 'in_out', with m =
        action_out.size, n = action_in.size.
    """
    w = checks.matrix(w, action_out, action_in, layout)
    return _project(w, *orbit_ids(action_out, action_in, layout))


def orbit_tie(w, action_out: Action, action_in: Action, *, layout: checks.Layout) -> jax.Array:
    """||W - P_G W||_F^2: the squared distance of W from the G-shared weights (a scalar).

    Its gradient is 2 (W - P_G W) (P_G is an orthogonal projection); it is
    supplied directly, so a forward and backward pass cost one segment sum and
    one gather over W.
    """
    w = checks.matrix(w, action_out, action_in, layout)
    ids, sizes, k = orbit_ids(action_out, action_in, layout)

    def residual(v):
        return v - _project(v, ids, sizes, k)

    @jax.custom_jvp
    def squared_distance(v):
        return jnp.sum(jnp.square(residual(v)))

    @squared_distance.defjvp
    def squared_distance_jvp(primals, tangents):
        (v,), (dv,) = primals, tangents
        r = residual(v)
        return jnp.sum(jnp.square(r)), 2 * jnp.sum(r * dv)

    return squared_distance(w)

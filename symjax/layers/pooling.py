"""Invariant heads (study eq. 6): mean or sum over blocks or nodes.

``pool(h, axis, mask, kind)`` aggregates an equivariant representation into an
invariant one, f_inv(x) = Agg(Phi(x)). With a mask (padded graphs), only real
entries count: sum = sum_i m_i h_i and mean = sum_i m_i h_i / max(sum_i m_i, 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

KINDS = ("mean", "sum")


def pool(h, axis: int = -2, mask=None, kind: str = "mean"):
    """h (..., n, d) -> (..., d) over ``axis``; mask (..., n) marks real entries."""
    if kind not in KINDS:
        raise ValueError(f"pool kind must be one of {KINDS}; got {kind!r}")
    if mask is None:
        return jnp.mean(h, axis=axis) if kind == "mean" else jnp.sum(h, axis=axis)
    weights = jnp.expand_dims(mask.astype(h.dtype), -1)
    total = jnp.sum(h * weights, axis=axis)
    if kind == "sum":
        return total
    count = jnp.maximum(jnp.sum(weights, axis=axis), 1.0)
    return total / count


def segment_pool(h, segment_ids, num_segments: int, kind: str = "mean"):
    """Per-graph pooling of node rows h (N, d) with graph ids (N,) -> (num_segments, d).

    Concrete ids (not traced) are checked to lie in [0, num_segments): segment
    sums drop out-of-range ids silently. Traced ids (inside jit) cannot be checked.
    """
    if kind not in KINDS:
        raise ValueError(f"pool kind must be one of {KINDS}; got {kind!r}")
    if not isinstance(segment_ids, jax.core.Tracer):
        ids = np.asarray(segment_ids)
        bad = np.flatnonzero((ids < 0) | (ids >= num_segments))
        if bad.size:
            raise ValueError(f"segment_pool: expected segment_ids in [0, {num_segments}), got {ids.ravel()[bad[0]]} "
                             f"at row {bad[0]}")
    total = jax.ops.segment_sum(h, segment_ids, num_segments)
    if kind == "sum":
        return total
    count = jax.ops.segment_sum(jnp.ones(h.shape[:1], h.dtype), segment_ids, num_segments)
    return total / jnp.maximum(count, 1.0)[:, None]

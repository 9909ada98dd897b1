"""Orbit index maps: which weights share a coefficient (study eq. 4–5, Appendix 1).

For actions rho_out (m indices) and rho_in (n indices) of one group G, the
weights W (m, n) with W rho_in(g) = rho_out(g) W for all g (eq. 2) are exactly
those constant on the orbits of index pairs under

    g . (i, j) = (rho_out(g) i, rho_in(g) j)                        (eq. 24)

(Theorem 1, Ravanbakhsh, Schneider and Poczos 2017). ``orbit_index_map``
returns an int32 array ``M`` (m, n) with ``M[i, j]`` the orbit number of
``(i, j)``; a layer stores one coefficient per orbit and expands
``W = coeffs[M]``.

Orbits are the connected components of the graph on index pairs with an edge
from each pair to its image under each generator (a finite group's orbits
under its generators). Structure is exploited: a component of an action is a
point action times channels that G leaves alone, so the orbits of a component
pair are (orbits of point pairs) x (channel pairs). Only point pairs go through
the graph search; S_100 on 16 channels (1600 x 1600 weights) needs 10^4 point
pairs, not 2.6 * 10^6 index pairs.

Numbering is canonical: orbits are numbered in order of their first
occurrence in row-major order of M, so equal inputs give equal maps.
Results are cached per (action_out, action_in) and returned read-only.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from symjax.actions import Action, Component, align, trivial


def point_pair_orbits(images_out: np.ndarray, images_in: np.ndarray) -> tuple[np.ndarray, int]:
    """Orbits of point pairs (p, q) under (g p, g q) for the given generator images.

    Args:
      images_out: int (num_generators, P_out) point images.
      images_in: int (num_generators, P_in) point images.
    Returns:
      (labels int64 (P_out, P_in) numbered by first occurrence in row-major
      order, number of orbits).
    """
    images_out, images_in = np.asarray(images_out), np.asarray(images_in)
    if images_out.ndim != 2 or images_in.ndim != 2 or images_out.shape[0] != images_in.shape[0]:
        raise ValueError(f"expected images (num_generators, points) of the same generators on both sides, got "
                         f"shapes {images_out.shape} and {images_in.shape}")
    for name, images in (("images_out", images_out), ("images_in", images_in)):
        if not np.issubdtype(images.dtype, np.integer) or (images.size and (
                images.min() < 0 or images.max() >= images.shape[1])):
            raise ValueError(f"{name}: expected integer point images in [0, {images.shape[1]}), got dtype "
                             f"{images.dtype} and range [{images.min(initial=0)}, {images.max(initial=0)}]")
    p_out, p_in = images_out.shape[1], images_in.shape[1]
    num_pairs = p_out * p_in
    pair = np.arange(num_pairs).reshape(p_out, p_in)
    sources, targets = [], []
    for g_out, g_in in zip(images_out, images_in):
        sources.append(pair.ravel())
        targets.append((g_out[:, None] * p_in + g_in[None, :]).ravel())
    if sources:
        rows = np.concatenate(sources)
        cols = np.concatenate(targets)
        graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(num_pairs, num_pairs))
        _, labels = connected_components(graph, directed=True, connection="weak")
    else:
        labels = np.arange(num_pairs)
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    canonical = np.empty(len(order), np.int64)
    canonical[order] = np.arange(len(order))
    return canonical[labels].reshape(p_out, p_in), len(order)


@functools.lru_cache(maxsize=256)
def _component_orbits(out: Component, inp: Component):
    return point_pair_orbits(out.generator_images, inp.generator_images)


@dataclasses.dataclass(frozen=True, eq=False)
class OrbitBlock:
    """The orbit map of one (output component, input component) pair, in factored form.

    The block's rows are ``row0 + p * out_channels + c`` and its columns ``col0 + q * in_channels + d`` for
    points p < P_out, q < P_in and channels c, d. G acts on the points only, so

        M[row0 + p C_out + c, col0 + q C_in + d] = coefficient_ids[point_labels[p, q], c, d]

    point_labels: int (P_out, P_in), the orbit of each point pair (k_p orbits); coefficient_ids: int32
    (k_p, C_out, C_in), the coefficient number of each (point-pair orbit, channel pair).
    """

    row0: int
    col0: int
    point_labels: np.ndarray
    coefficient_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """(k_p, P_out, C_out, P_in, C_in)."""
        k, c_out, c_in = self.coefficient_ids.shape
        p_out, p_in = self.point_labels.shape
        return k, p_out, c_out, p_in, c_in


@functools.lru_cache(maxsize=64)
def _orbit_blocks_cached(action_out: Action, action_in: Action) -> tuple[tuple[OrbitBlock, ...], int]:
    n_in = action_in.size
    blocks = []  # (row offset, col offset, out comp, in comp, point labels, number of point-pair orbits)
    keys = []
    for out, row0 in zip(action_out.components, action_out.offsets):
        for inp, col0 in zip(action_in.components, action_in.offsets):
            labels, k = _component_orbits(out, inp)
            flat_first = np.full(k, labels.size, np.int64)
            np.minimum.at(flat_first, labels.ravel(), np.arange(labels.size))
            first_p, first_q = np.divmod(flat_first, inp.points)
            # first occurrence of orbit (o, c, c') is at row row0 + p_o*C + c, col col0 + q_o*C' + c'
            rows = row0 + first_p[:, None, None] * out.channels + np.arange(out.channels)[None, :, None]
            cols = col0 + first_q[:, None, None] * inp.channels + np.arange(inp.channels)[None, None, :]
            keys.append((rows * n_in + cols).ravel())
            blocks.append((row0, col0, out, inp, labels, k))
    all_keys = np.concatenate(keys)
    rank = np.empty(len(all_keys), np.int64)
    rank[np.argsort(all_keys, kind="stable")] = np.arange(len(all_keys))
    factored = []
    start = 0
    for (row0, col0, out, inp, labels, k), block_keys in zip(blocks, keys):
        ids = rank[start:start + len(block_keys)].reshape(k, out.channels, inp.channels).astype(np.int32)
        start += len(block_keys)
        labels = labels.astype(np.int32)
        for array in (ids, labels):
            array.setflags(write=False)
        factored.append(OrbitBlock(int(row0), int(col0), labels, ids))
    return tuple(factored), len(all_keys)


def orbit_blocks(action_out: Action, action_in: Action) -> tuple[tuple[OrbitBlock, ...], int]:
    """The orbit map of ``orbit_index_map`` in factored form: one ``OrbitBlock`` per pair of components.

    Returns (blocks, num_orbits); the blocks tile the (m, n) map. Cached.
    """
    action_out, action_in = align(action_out, action_in, names=("action_out", "action_in"))
    return _orbit_blocks_cached(action_out, action_in)


@functools.lru_cache(maxsize=64)
def _orbit_index_map_cached(action_out: Action, action_in: Action) -> tuple[np.ndarray, int]:
    blocks, num_orbits = _orbit_blocks_cached(action_out, action_in)
    index_map = np.empty((action_out.size, action_in.size), np.int32)
    for block in blocks:
        _, p_out, c_out, p_in, c_in = block.shape
        # index_map[(p, c), (q, c')] = ids[labels[p, q], c, c'], one output point p at a time
        # (a single gather-and-transpose of the whole map is several times slower: cache misses)
        width = p_in * c_in
        for p in range(p_out):
            rows = slice(block.row0 + p * c_out, block.row0 + (p + 1) * c_out)
            index_map[rows, block.col0:block.col0 + width] = (
                block.coefficient_ids[block.point_labels[p]].transpose(1, 0, 2).reshape(c_out, width))
    index_map.setflags(write=False)
    return index_map, num_orbits


def orbit_index_map(action_out: Action, action_in: Action) -> tuple[np.ndarray, int]:
    """Orbit numbers of weight positions (study eq. 24–26).

    Args:
      action_out: the group's action on the layer's output indices (m).
      action_in: the same group's action on the input indices (n); its group may
        be given by other generators (``actions.align``).
    Returns:
      (index_map int32 (m, n) with values in [0, num_orbits), num_orbits).
      ``index_map`` is constant exactly on the orbits of pairs (i, j) under
      g.(i, j) = (rho_out(g) i, rho_in(g) j); read-only and cached.

    Example:
      >>> from symjax import actions, groups
      >>> s3 = groups.symmetric(3)
      >>> index_map, k = orbit_index_map(actions.base(s3), actions.base(s3))
      >>> index_map.tolist(), k
      ([[0, 1, 1], [1, 0, 1], [1, 1, 0]], 2)
    """
    action_out, action_in = align(action_out, action_in, names=("action_out", "action_in"))
    return _orbit_index_map_cached(action_out, action_in)


def bias_index_map(action_out: Action) -> tuple[np.ndarray, int]:
    """Orbit numbers of output indices, int32 (m,), and their count.

    A bias b is equivariant iff rho_out(g) b = b, i.e. constant on orbits of
    output indices; these are the orbits of pairs (i, 0) against a trivial
    one-index input, so the same engine serves.
    """
    if not isinstance(action_out, Action):
        raise TypeError(f"action_out must be a symjax.actions.Action; got {type(action_out).__name__}")
    index_map, k = orbit_index_map(action_out, trivial(action_out.group, 1))
    column = np.ascontiguousarray(index_map[:, 0])
    column.setflags(write=False)
    return column, k

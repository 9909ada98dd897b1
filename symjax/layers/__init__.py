"""Closed-form fast paths of orbit-shared layers, each proven equal to ``functional.SharedDense`` by tests.

SetLayer and SwapBlockLayer take point x channel inputs (..., p, c) and, like
SharedDense, ``parametrization='normalized'`` (default) or 'standard'
(docs/parametrization.md); all follow Flax's dtype promotion (``dtype=``).

* ``SetLayer``   — S_n on sets of any size n (study eq. 10–11), O(n d_in d_out).
* ``GraphLayer`` — S_n on graphs, 5 basis operators (eq. 13–18), jraph's message direction; dense
  (A, X, mask) and jraph.GraphsTuple (``check_graphs`` validates a GraphsTuple of concrete arrays).
* ``SwapBlockLayer`` — S_2 swapping blocks 1 and 2 of three (eq. 20).
* ``pool``       — invariant heads: mean or sum over blocks / nodes (eq. 6).
"""

from symjax.layers.blocks import SwapBlockLayer
from symjax.layers.graph import GraphLayer, check_graphs, graph_basis_dense, graph_basis_sparse
from symjax.layers.pooling import pool, segment_pool
from symjax.layers.set import SetLayer

__all__ = ["SetLayer", "GraphLayer", "SwapBlockLayer", "check_graphs", "graph_basis_dense", "graph_basis_sparse",
           "pool", "segment_pool"]

"""Fixed-shape batches of TU graphs for the sparse (jraph) graph model, and the relabelling of their nodes.

* ``pad_sparse_graphs(ds, indices)``: graphs of a ``symjax.data.tu.TUDataset`` as
  dense-shaped arrays (nodes and directed edges in their own padded slots), the
  pool the training engine gathers batches from;
* ``permute_sparse_example(key, x)``: the same graphs with their real nodes
  renumbered by a uniform random permutation (the symmetry of task 2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from symjax.groups import inverse_by_matching, stable_argsort_by_ranking


def pad_sparse_graphs(ds, indices, max_nodes: int | None = None, max_edges: int | None = None) -> dict:
    """Fixed-shape storage of TU graphs for ``SparseSharedGraphModel``; B = len(indices).

    Each graph keeps its nodes in slots 0..n_b-1 (file order) and its directed
    edges in slots 0..e_b-1 (local node numbers); the rest is padding:

      node_labels int32 (B, N): atom type of each real node, 0 for padding;
      node_mask float32 (B, N): 1 for real nodes, then 0 (real nodes come first);
      senders, receivers int32 (B, E): local node numbers; padding edges are
        self-loops on slot N - 1;
      edge_mask float32 (B, E): 1 for real edges, 0 for padding (edge weight).

    N = max_nodes (default: the largest graph of ``indices``), E = max_edges
    (default: the most edges). Raises ValueError for a graph that does not fit.
    """
    idx = np.asarray(indices, dtype=np.int64)
    n_count = ds.node_counts[idx]
    e_count = ds.edge_counts[idx]
    n_max = int(n_count.max()) if max_nodes is None else int(max_nodes)
    e_max = int(e_count.max()) if max_edges is None else int(max_edges)
    if n_count.max() > n_max or e_count.max() > e_max:
        b = int(np.argmax((n_count > n_max) | (e_count > e_max)))
        raise ValueError(f"graph {idx[b]} has {n_count[b]} nodes and {e_count[b]} edges; expected at most "
                         f"max_nodes={n_max} and max_edges={e_max}")
    batch = len(idx)
    out = {
        "node_labels": np.zeros((batch, n_max), np.int32),
        "node_mask": np.zeros((batch, n_max), np.float32),
        "senders": np.full((batch, e_max), n_max - 1, np.int32),
        "receivers": np.full((batch, e_max), n_max - 1, np.int32),
        "edge_mask": np.zeros((batch, e_max), np.float32),
    }
    node_batch = np.repeat(np.arange(batch), n_count)
    node_slot = np.arange(node_batch.size) - np.repeat(np.cumsum(n_count) - n_count, n_count)
    node_ids = np.repeat(ds.node_offsets[idx], n_count) + node_slot
    out["node_labels"][node_batch, node_slot] = ds.node_labels[node_ids]
    out["node_mask"][node_batch, node_slot] = 1.0
    edge_batch = np.repeat(np.arange(batch), e_count)
    edge_slot = np.arange(edge_batch.size) - np.repeat(np.cumsum(e_count) - e_count, e_count)
    edge_ids = ds.edge_order[np.repeat(ds.edge_offsets[idx], e_count) + edge_slot]
    first = np.repeat(ds.node_offsets[idx], e_count)
    out["senders"][edge_batch, edge_slot] = ds.senders[edge_ids] - first
    out["receivers"][edge_batch, edge_slot] = ds.receivers[edge_ids] - first
    out["edge_mask"][edge_batch, edge_slot] = 1.0
    return out


def permute_sparse_example(key, x):
    """Relabels the real nodes of each padded example by a uniform random permutation.

    x = {key: (B, ...)} as from ``pad_sparse_graphs``. For each example a
    permutation pi of its n_b real slots is drawn (stable argsort of iid uniforms, by
    pairwise ranking: XLA:CPU's sort is slow; padding slots keep their places at the end) and
        node_labels'[i] = node_labels[pi(i)],  senders' = pi^{-1}[senders]  (receivers alike),
    i.e. the same graph with its nodes renumbered (the symmetry of task 2).
    """
    labels = x["node_labels"]
    batch, n_max = labels.shape
    u = jax.random.uniform(key, (batch, n_max))
    order = jnp.where(x["node_mask"] > 0, u, 2.0 + jnp.arange(n_max))            # padding sorts last, in place
    perm = jax.vmap(stable_argsort_by_ranking)(order)                            # new slot i holds old perm[i]
    inv = inverse_by_matching(perm)
    relabel = lambda e: jnp.take_along_axis(inv, e, axis=-1)
    return {
        "node_labels": jnp.take_along_axis(labels, perm, axis=-1),
        "node_mask": jnp.take_along_axis(x["node_mask"], perm, axis=-1),
        "senders": relabel(x["senders"]),
        "receivers": relabel(x["receivers"]),
        "edge_mask": x["edge_mask"],
    }

"""The permutation-equivariant graph layer in closed form (study eq. 13–18, Appendix 3).

The most general linear map (A, X) -> Y that is linear in X for fixed A is
Y_i = sum_{j,k} T_ijk A_jk X_k (eq. 35); equivariance under node relabelling
makes T constant on the five orbits of index triples under S_n (eq. 37), one
basis operator each (A[j, k] = 1 for an edge j -> k):

    O1  i = j = k           B1_i = A_ii X_i                               (eq. 13)
    O2  i = j != k          B2_i = (A X)_i - B1_i                         (eq. 14)
    O3  i = k != j          B3_i = (sum_j A_ji - A_ii) X_i                (eq. 15)
    O4  j = k != i          B4_i = sum_j A_jj X_j - B1_i                  (eq. 16)
    O5  i, j, k distinct    B5_i = sum_jk A_jk X_k - B1_i - ... - B4_i    (eq. 17)

    Y = sum_l B_l W_l + b,  W_l (d_in, d_out)                             (eq. 18)

B3 uses column sums (in-degrees), so the layer is exact for directed graphs
too; for the undirected graphs of the study they equal the degrees of eq. 15.
Parameters: 5 d_in d_out + d_out.

``global_aggregation='mean'`` divides the two global operators B4 and B5 by
the graph's number of (real) nodes n. The layer stays exactly equivariant (n
is invariant) with the same parameters; it keeps activations of the order of
the node degree instead of the edge count, which compounds over layers with
sums (on NCI1, logits of order 1e2 at initialisation with three layers).
The default, 'sum', is eq. 16–17 as printed and the form the orbit engine
produces.

Three evaluations, tested equal to each other and to the orbit engine
(``SharedDense`` from ``blocks(tuples(S_n, 2), d_in)`` to ``blocks(S_n, d_out)``
on Z_jk = A_jk X_k):

* dense (A (..., n, n), X (..., n, d), mask (..., n)): padded nodes are zeroed
  on the way in and out, so they stay exactly zero and never change real nodes;
* sparse on ``jraph.GraphsTuple`` (segment sums over edges and graphs, no
  padding, O(E d + N d_in d_out)).

Segment sums never fail on bad indices: inside jit an out-of-range sender is
dropped or clamped and an ``n_node`` that does not sum to the node count
shifts nodes between graphs. ``check_graphs`` validates a GraphsTuple on the
host (concrete arrays, outside jit) with a one-line error; ``to_graphs_tuple``
(symjax.data.tu) and ``GraphLayer.apply_sparse`` called eagerly run it, and
anyone building GraphsTuples by hand should call it where they are built.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from symjax.functional import check_last_axis, check_params, float_input, normal, zeros


def _check_dense(adjacency, features, mask):
    if adjacency.ndim < 2 or adjacency.shape[-1] != adjacency.shape[-2]:
        raise ValueError(f"adjacency must be (..., n, n); got shape {tuple(adjacency.shape)}")
    n = adjacency.shape[-1]
    if features.ndim < 2 or features.shape[-2] != n or features.shape[:-2] != adjacency.shape[:-2]:
        raise ValueError(
            f"node features must be (..., n={n}, d) matching adjacency {tuple(adjacency.shape)}; "
            f"got {tuple(features.shape)}")
    if mask is not None and tuple(mask.shape) != tuple(adjacency.shape[:-1]):
        raise ValueError(
            f"node mask must have shape {tuple(adjacency.shape[:-1])} to match adjacency "
            f"{tuple(adjacency.shape)}; got {tuple(mask.shape)}")


def _is_traced(tree) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def _int_vector(graphs: jraph.GraphsTuple, field: str) -> np.ndarray:
    value = np.asarray(getattr(graphs, field))
    if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
        raise ValueError(f"GraphsTuple.{field}: expected a 1-D integer array, got shape {value.shape} "
                         f"dtype {value.dtype}")
    return value


def check_graphs(graphs: jraph.GraphsTuple) -> None:
    """Raises ValueError for a GraphsTuple the sparse layer would compute silently wrong.

    Checks, on concrete (host or device) arrays, never tracers:
      n_node, n_edge: 1-D integers >= 0 of one length G; sum(n_node) = N, the
        leading size of ``nodes``; sum(n_edge) = E, the number of edges;
      senders, receivers: 1-D integers (E,) in [0, N);
      edges (weights): None or E values;
      each edge of non-zero weight inside one graph (graph g owns the n_node[g]
        nodes after n_node[0] + ... + n_node[g-1]); weight-0 edges add nothing,
        so padding edges may point anywhere in range.
    Call it where GraphsTuples are built, outside jit. Under jit the arrays are
    tracers without values, so it raises TypeError rather than pass unchecked.
    """
    if not isinstance(graphs, jraph.GraphsTuple):
        raise TypeError(f"check_graphs: expected a jraph.GraphsTuple, got {type(graphs).__name__}")
    if _is_traced(graphs):
        raise TypeError("check_graphs: expected concrete arrays, got tracers (it cannot run inside jit/vmap; "
                        "call it where the GraphsTuple is built)")
    n_node, n_edge = _int_vector(graphs, "n_node"), _int_vector(graphs, "n_edge")
    senders, receivers = _int_vector(graphs, "senders"), _int_vector(graphs, "receivers")
    node_leaves = jax.tree_util.tree_leaves(graphs.nodes)
    if not node_leaves:
        raise ValueError("GraphsTuple.nodes: expected node features (N, d), got None")
    num_nodes = int(np.shape(node_leaves[0])[0])
    if n_edge.shape != n_node.shape:
        raise ValueError(f"GraphsTuple.n_edge: expected one count per graph, shape {n_node.shape} like n_node, "
                         f"got {n_edge.shape}")
    for field, counts in (("n_node", n_node), ("n_edge", n_edge)):
        if counts.size and counts.min() < 0:
            raise ValueError(f"GraphsTuple.{field}: expected counts >= 0, got {counts.min()} at graph "
                             f"{int(np.argmin(counts))}")
    if int(n_node.sum()) != num_nodes:
        raise ValueError(f"GraphsTuple.n_node: expected counts summing to {num_nodes} (the rows of nodes), "
                         f"got sum {int(n_node.sum())}")
    num_edges = senders.shape[0]
    if receivers.shape[0] != num_edges or int(n_edge.sum()) != num_edges:
        raise ValueError(f"GraphsTuple: expected as many receivers and sum(n_edge) as senders ({num_edges}), "
                         f"got {receivers.shape[0]} receivers and sum(n_edge) {int(n_edge.sum())}")
    for field, ids in (("senders", senders), ("receivers", receivers)):
        bad = np.flatnonzero((ids < 0) | (ids >= num_nodes))
        if bad.size:
            raise ValueError(f"GraphsTuple.{field}: expected node ids in [0, {num_nodes}), got {ids[bad[0]]} "
                             f"at edge {bad[0]}")
    if graphs.edges is not None and np.size(graphs.edges) != num_edges:
        raise ValueError(f"GraphsTuple.edges: expected one weight per edge ({num_edges}), got shape "
                         f"{np.shape(graphs.edges)}")
    weighted = np.ones(num_edges, bool) if graphs.edges is None else np.reshape(graphs.edges, -1) != 0
    node_graph = np.repeat(np.arange(n_node.size), n_node)
    cross = np.flatnonzero((node_graph[senders] != node_graph[receivers]) & weighted)
    if cross.size:
        e = int(cross[0])
        raise ValueError(f"GraphsTuple.senders/receivers: expected each edge inside one graph, got edge {e} "
                         f"from node {senders[e]} (graph {node_graph[senders[e]]}) to node {receivers[e]} "
                         f"(graph {node_graph[receivers[e]]})")


GLOBAL_AGGREGATIONS = ("sum", "mean")


def _check_global(global_aggregation):
    if global_aggregation not in GLOBAL_AGGREGATIONS:
        raise ValueError(f"global_aggregation must be one of {GLOBAL_AGGREGATIONS}; got {global_aggregation!r}")


def graph_basis_dense(adjacency, features, mask=None, global_aggregation: str = "sum"):
    """The five basis operators on dense graphs, stacked: (..., 5, n, d).

    adjacency (..., n, n), features (..., n, d), mask (..., n) or None.
    """
    _check_dense(adjacency, features, mask)
    _check_global(global_aggregation)
    if mask is not None:
        m = mask.astype(features.dtype)
        features = features * m[..., :, None]
        adjacency = adjacency * m[..., :, None] * m[..., None, :]
    diag = jnp.diagonal(adjacency, axis1=-2, axis2=-1)                 # (..., n)
    in_degree = jnp.sum(adjacency, axis=-2)                            # column sums
    ax = adjacency @ features
    b1 = diag[..., None] * features
    b2 = ax - b1
    b3 = (in_degree - diag)[..., None] * features
    b4 = jnp.sum(b1, axis=-2, keepdims=True) - b1
    b5 = jnp.sum(ax, axis=-2, keepdims=True) - b1 - b2 - b3 - b4
    if global_aggregation == "mean":
        n = jnp.sum(mask.astype(features.dtype), axis=-1) if mask is not None else features.shape[-2]
        scale = 1.0 / jnp.maximum(jnp.asarray(n, features.dtype), 1.0)[..., None, None]
        b4, b5 = b4 * scale, b5 * scale
    return jnp.stack([b1, b2, b3, b4, b5], axis=-3)


def graph_basis_sparse(graph: jraph.GraphsTuple, features=None, global_aggregation: str = "sum"):
    """The five basis operators on a batched ``jraph.GraphsTuple``: (5, N, d).

    Edge s -> r contributes A_sr = w (``graph.edges`` as weights (E,) or
    (E, 1); 1 when None). ``features`` defaults to ``graph.nodes`` (N, d).
    A graph of concrete arrays is checked by ``check_graphs``; under jit (tracers)
    it cannot be, so whoever builds the GraphsTuple must check it there.
    """
    _check_global(global_aggregation)
    if not _is_traced(graph):
        check_graphs(graph)
    x = graph.nodes if features is None else features
    num_nodes = x.shape[0]
    num_graphs = graph.n_node.shape[0]
    senders, receivers = graph.senders, graph.receivers
    weights = jnp.ones(senders.shape, x.dtype) if graph.edges is None else jnp.reshape(graph.edges, senders.shape)
    node_graph = jnp.repeat(jnp.arange(num_graphs), graph.n_node, total_repeat_length=num_nodes)
    loop = jnp.where(senders == receivers, weights, 0).astype(x.dtype)
    diag = jax.ops.segment_sum(loop, senders, num_nodes)
    in_degree = jax.ops.segment_sum(weights.astype(x.dtype), receivers, num_nodes)
    ax = jax.ops.segment_sum(weights[:, None] * x[receivers], senders, num_nodes)
    b1 = diag[:, None] * x
    b2 = ax - b1
    b3 = (in_degree - diag)[:, None] * x
    per_graph = lambda v: jax.ops.segment_sum(v, node_graph, num_graphs)[node_graph]
    b4 = per_graph(b1) - b1
    b5 = per_graph(ax) - b1 - b2 - b3 - b4
    if global_aggregation == "mean":
        n = jnp.maximum(graph.n_node.astype(x.dtype), 1.0)[node_graph][:, None]
        b4, b5 = b4 / n, b5 / n
    return jnp.stack([b1, b2, b3, b4, b5])


@dataclasses.dataclass(frozen=True)
class GraphLayer:
    """Equivariant graph layer; params W (5, d_in, d_out), bias (d_out,).

    ``apply(params, (A, X, mask))`` -> Y (..., n, d_out) with padded rows zero;
    ``apply(params, graphs_tuple)`` -> node features (N, d_out).
    global_aggregation: 'sum' (eq. 16–17) or 'mean' (B4, B5 divided by the node count).
    Init: W ~ N(0, 1/(5 d_in)) (LeCun over the concatenated basis), bias 0.
    A GraphsTuple given under jit is not checked: run ``check_graphs`` on it where it is built.
    """

    d_in: int
    d_out: int
    use_bias: bool = True
    global_aggregation: str = "sum"

    def param_info(self) -> dict:
        info = {"W": ((5, self.d_in, self.d_out), normal(1.0 / np.sqrt(5 * self.d_in)))}
        if self.use_bias:
            info["bias"] = ((self.d_out,), zeros)
        return info

    def _combine(self, params, basis):
        y = jnp.einsum("...lnd,lde->...ne", basis, params["W"])
        if self.use_bias:
            y = y + params["bias"]
        return y

    def apply_dense(self, params, adjacency, features, mask=None):
        check_params(params, self)
        features = float_input(features, params)
        check_last_axis(features, self.d_in, f"GraphLayer({self.d_in} -> {self.d_out}) node features")
        y = self._combine(params, graph_basis_dense(adjacency, features, mask, self.global_aggregation))
        if mask is not None:
            y = y * mask.astype(y.dtype)[..., None]
        return y

    def apply_sparse(self, params, graph: jraph.GraphsTuple, features=None):
        """Node features (N, d_out) of a batched GraphsTuple.

        Called eagerly, ``graph`` is checked by ``check_graphs`` (see ``graph_basis_sparse``).
        """
        check_params(params, self)
        x = float_input(graph.nodes if features is None else features, params)
        check_last_axis(x, self.d_in, f"GraphLayer({self.d_in} -> {self.d_out}) node features")
        return self._combine(params, graph_basis_sparse(graph, x, self.global_aggregation))

    def apply(self, params, inputs):
        if isinstance(inputs, jraph.GraphsTuple):
            return self.apply_sparse(params, inputs)
        if isinstance(inputs, (tuple, list)) and len(inputs) in (2, 3):
            return self.apply_dense(params, *inputs)
        raise TypeError(f"GraphLayer.apply takes (A, X), (A, X, mask) or a jraph.GraphsTuple; got {type(inputs)}")

"""Task 2 models: graph classification on NCI1 (study ch. 3 §4, ch. 4 §3, Table 3, Appendix 3).

Hidden settings (Table 3), the widths of the node-wise hidden layers:

    HIDDEN[3] = (64, 64, 16)
    HIDDEN[5] = (256, 256, 128, 64, 16)
    HIDDEN[7] = (256, 256, 256, 128, 128, 64, 16)

Every model ends in the same classifier (the study's "MLP 2층 classifier"):

    logits = Dense(h, 2)(LeakyReLU(Dense(h, h)(z)))       h = hidden[-1], z (..., h)

Activations are LeakyReLU(0.01) everywhere (after every hidden layer too).

* ``SharedGraphModel`` ("shared"): the S_n-equivariant graph layer of eq. 13-18
  (``symjax.layers.GraphLayer``) stacked 37 -> h_1 -> ... -> h_L on dense,
  padded graphs (A (..., n, n), X (..., n, 37), mask (..., n)), then the masked
  mean (or sum) over the real nodes (eq. 6) and the classifier. Padded node
  rows stay exactly zero through the stack (the layer zeros them) and are left
  out of the pooling, so padding never changes the logits; relabelling the node
  slots (A, X, mask) -> (P A P^T, P X, P mask) leaves the logits unchanged.
* ``VanillaGraphModel`` ("vanilla"): the study feeds the 50 x 50 adjacency and
  50 x 37 features (4350 numbers) to ordinary linear layers, then attention
  pooling. Here the 4350 numbers are read as one row per node slot,
  r_i = [A_i1 ... A_in, X_i] (n + 37 numbers), and each row goes through the
  same ordinary MLP with the hidden widths; attention pooling over the slots,

      s_i = Dense(h, 1)(H_i),   a = softmax over real slots of s,   z = sum_i a_i H_i,

  (padded slots get weight exactly 0), then the classifier. The MLP weights are
  shared across slots, but the row's adjacency entries are ordered by node
  number: relabelling the nodes permutes the entries *inside* each row, which
  an ordinary dense layer does not ignore. The model is therefore NOT
  permutation invariant; that is the point of the comparison.
* ``FlatVanillaGraphModel`` ("vanilla_flat"): the study's sentence read
  literally: the padded A (n x n) and X (n x 37) flattened into one vector
  (4350 numbers for n = 50) -> ordinary MLP with the hidden widths ->
  classifier. Not permutation invariant either.
* ``SparseSharedGraphModel`` ("shared_sparse"): the same graph layers and
  parameters as ``SharedGraphModel`` evaluated on a ``jraph.GraphsTuple`` with
  segment sums (O(E d + N d_in d_out) per layer, no node cap). See its
  docstring for the fixed-shape padded storage that the training engine needs
  and how padding is kept out of the math.

Parameters of the two shared models have the same pytree
({'graph_k': {'W', 'bias'}, 'head_0', 'head_1'}), so one params dict runs in
both (tested equal on NCI1).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from symjax import functional
from symjax.functional import Dense
from symjax.layers import GraphLayer, pool, segment_pool
from symjax.models.sequential import ACTIVATIONS

HIDDEN = {3: (64, 64, 16), 5: (256, 256, 128, 64, 16), 7: (256, 256, 256, 128, 128, 64, 16)}
NUM_NODE_LABELS = 37  # one-hot atom types of NCI1
NUM_CLASSES = 2
AGGREGATIONS = ("mean", "sum")

_act = ACTIVATIONS["leaky_relu"]


def hidden_widths(setting: int) -> tuple:
    """The Table 3 widths of a hidden setting (3, 5 or 7)."""
    if setting not in HIDDEN:
        raise ValueError(f"hidden setting must be one of {sorted(HIDDEN)}; got {setting!r}")
    return HIDDEN[setting]


def _check_widths(hidden):
    if not hidden or any((not isinstance(h, (int, np.integer))) or h < 1 for h in hidden):
        raise ValueError(f"hidden widths must be a non-empty tuple of positive integers; got {hidden!r}")


def _init_specs(key, specs: dict, dtype) -> dict:
    """{name: spec} -> {name: params}, one folded key per name (sorted order)."""
    return {name: functional.init(jax.random.fold_in(key, k), spec, dtype)
            for k, (name, spec) in enumerate(sorted(specs.items()))}


def _head_specs(width: int) -> dict:
    return {"head_0": Dense(width, width), "head_1": Dense(width, NUM_CLASSES)}


def _check_max_nodes(max_nodes) -> None:
    if not isinstance(max_nodes, (int, np.integer)) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive integer; got {max_nodes!r}")


def _mlp_specs(d_in: int, hidden: tuple) -> dict:
    """{'mlp_k': Dense(w_k, w_{k+1})} for the widths (d_in, *hidden)."""
    widths = (d_in,) + tuple(hidden)
    return {f"mlp_{k}": Dense(a, b) for k, (a, b) in enumerate(zip(widths[:-1], widths[1:]))}


def _apply_mlp(params, specs: dict, h, depth: int):
    """LeakyReLU(mlp_k(h)) for k = 0..depth-1."""
    for k in range(depth):
        h = _act(specs[f"mlp_{k}"].apply(params[f"mlp_{k}"], h))
    return h


def _check_padded_graphs(model: str, n: int, d_in: int, adjacency, features, mask) -> None:
    """Raises ValueError unless A (..., n, n), X (..., n, d_in), mask (..., n)."""
    if adjacency.shape[-2:] != (n, n) or features.shape[-2:] != (n, d_in) or mask.shape[-1] != n:
        raise ValueError(
            f"{model}(max_nodes={n}) expects A (..., {n}, {n}), X (..., {n}, {d_in}), "
            f"mask (..., {n}); got A {tuple(adjacency.shape)}, X {tuple(features.shape)}, "
            f"mask {tuple(mask.shape)}")


def _classify(params, z, width: int):
    """z (..., h) -> logits (..., 2): Dense(h, h), LeakyReLU, Dense(h, 2)."""
    heads = _head_specs(width)
    return heads["head_1"].apply(params["head_1"], _act(heads["head_0"].apply(params["head_0"], z)))


# ---------------------------------------------------------------------------
# Shared (dense, padded graphs)
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SharedGraphModel:
    """Equivariant graph layers -> masked pooling -> classifier.

    apply(params, (A, X, mask)): A (..., n, n), X (..., n, 37), mask (..., n)
    -> logits (..., 2); any n (padding size), as long as the mask marks real nodes.

        H^0 = X,  H^{l+1} = LeakyReLU(GraphLayer_l(A, H^l, mask))     (eq. 18)
        z = sum_i m_i H^L_i / max(sum_i m_i, 1)   (mean; sum without the division)
    """

    hidden: tuple = HIDDEN[3]
    aggregation: str = "mean"
    d_in: int = NUM_NODE_LABELS
    global_aggregation: str = "sum"  # of the graph layers' B4, B5: 'sum' (eq. 16-17) or 'mean'

    def __post_init__(self):
        _check_widths(self.hidden)
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}; got {self.aggregation!r}")

    def specs(self) -> dict:
        widths = (self.d_in,) + tuple(self.hidden)
        layers = {f"graph_{k}": GraphLayer(a, b, global_aggregation=self.global_aggregation,
                                             direction="receiver_to_sender", edge_normalization=None,
                                             self_edges=False, parametrization="standard")
                  for k, (a, b) in enumerate(zip(widths[:-1], widths[1:]))}
        return {**layers, **_head_specs(self.hidden[-1])}

    def init(self, key, dtype=jnp.float32) -> dict:
        return _init_specs(key, self.specs(), dtype)

    def node_features(self, params, inputs):
        """H^L (..., n, h_L); padded rows exactly zero."""
        adjacency, features, mask = inputs
        h = features
        specs = self.specs()
        for k in range(len(self.hidden)):
            h = _act(specs[f"graph_{k}"].apply_dense(params[f"graph_{k}"], adjacency, h, mask))
        return h

    def apply(self, params, inputs):
        adjacency, features, mask = inputs
        h = self.node_features(params, (adjacency, features, mask))
        z = pool(h, axis=-2, mask=mask, kind=self.aggregation)
        return _classify(params, z, self.hidden[-1])


# ---------------------------------------------------------------------------
# Vanilla (ordinary MLP on node-slot rows, attention pooling)
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _PaddedGraphMLP:
    """Fields, checks and init of the two vanilla models (dense graphs padded to max_nodes slots)."""

    max_nodes: int = 50
    hidden: tuple = HIDDEN[3]
    d_in: int = NUM_NODE_LABELS

    def __post_init__(self):
        _check_widths(self.hidden)
        _check_max_nodes(self.max_nodes)

    def specs(self) -> dict:
        raise NotImplementedError

    def init(self, key, dtype=jnp.float32) -> dict:
        return _init_specs(key, self.specs(), dtype)


@dataclasses.dataclass(frozen=True)
class VanillaGraphModel(_PaddedGraphMLP):
    """Ordinary MLP on slot rows [A_i, X_i] -> attention pooling -> classifier (NOT invariant).

    apply(params, (A, X, mask)): A (..., n, n) with n == max_nodes, X (..., n, 37),
    mask (..., n) -> logits (..., 2).

        R = [A, X]                          (..., n, n + 37)
        H = MLP(R)                          (..., n, h_L), LeakyReLU after every layer
        s = H w + c                         (..., n)   (Dense(h_L, 1))
        a_i = m_i exp(s_i) / sum_j m_j exp(s_j)        (padded slots: a_i = 0)
        z = sum_i a_i H_i                   (..., h_L)
    """


    def specs(self) -> dict:
        return {**_mlp_specs(self.max_nodes + self.d_in, self.hidden), "attention": Dense(self.hidden[-1], 1),
                **_head_specs(self.hidden[-1])}

    def apply(self, params, inputs):
        adjacency, features, mask = inputs
        _check_padded_graphs("VanillaGraphModel", self.max_nodes, self.d_in, adjacency, features, mask)
        specs = self.specs()
        h = _apply_mlp(params, specs, jnp.concatenate([adjacency, features], axis=-1), len(self.hidden))
        scores = specs["attention"].apply(params["attention"], h)[..., 0]          # (..., n)
        real = mask > 0
        top = jnp.max(jnp.where(real, scores, jnp.finfo(h.dtype).min), axis=-1, keepdims=True)
        weights = jnp.where(real, jnp.exp(jnp.where(real, scores - jax.lax.stop_gradient(top), 0.0)), 0.0)
        weights = weights / jnp.maximum(jnp.sum(weights, axis=-1, keepdims=True), jnp.finfo(h.dtype).tiny)
        z = jnp.sum(weights[..., None] * h, axis=-2)
        return _classify(params, z, self.hidden[-1])


# ---------------------------------------------------------------------------
# Vanilla, flat (the study's 4350-dimensional input read literally)
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FlatVanillaGraphModel(_PaddedGraphMLP):
    """Ordinary MLP on the flattened padded graph -> classifier (NOT invariant).

    The study (ch. 4 §3): "Vanilla MLP에서는 adjacency matrix 50×50 과 node
    feature 50×37 을 평탄화하여 총 4350차원 입력으로 사용하였다" (the 50 x 50
    adjacency and the 50 x 37 node features are flattened into one
    4350-dimensional input), and "Vanilla MLP도 Shared MLP와 동일한 은닉층
    구성을 가졌으며 ... 일반 linear layer에 통과시켰다. 이후 attention
    pooling을 거친 후 Shared MLP와 같은 크기의 classifier를 이용하였다" (the
    same hidden widths as the shared model, ordinary linear layers, then
    attention pooling and a classifier of the shared model's size).

    apply(params, (A, X, mask)): A (..., n, n) with n == max_nodes, X (..., n, 37),
    mask (..., n) -> logits (..., 2):

        v = [vec(A), vec(X)]                        (..., n^2 + 37 n)   (4350 for n = 50)
        z = MLP(v)                                  (..., h_L), LeakyReLU after every layer
        logits = Dense(h_L, 2)(LeakyReLU(Dense(h_L, h_L)(z)))

    with vec the row-major flattening. Attention pooling: after the flat MLP
    there is one vector per graph, and attention pooling over a set of one
    element is the identity (softmax of a single score is 1), so it is left
    out and the model has no attention parameters. The mask is not read: the
    padded rows and columns of A and X are zero, so the padding reaches the
    first layer as zeros. Relabelling the nodes permutes the entries of v, which
    an ordinary dense layer does not ignore: the model is not permutation
    invariant.

    Parameters (hidden h_1..h_L, D = n^2 + 37 n):
        (D + 1) h_1 + sum_l (h_l + 1) h_{l+1} + (h_L + 1) h_L + (h_L + 1) 2.
    """


    @property
    def input_size(self) -> int:
        """n^2 + d_in n: 4350 for n = 50 and 37 atom types."""
        return self.max_nodes * self.max_nodes + self.max_nodes * self.d_in

    def specs(self) -> dict:
        return {**_mlp_specs(self.input_size, self.hidden), **_head_specs(self.hidden[-1])}

    def apply(self, params, inputs):
        adjacency, features, mask = inputs
        _check_padded_graphs("FlatVanillaGraphModel", self.max_nodes, self.d_in, adjacency, features, mask)
        batch_shape = adjacency.shape[:-2]
        h = jnp.concatenate([adjacency.reshape(batch_shape + (-1,)), features.reshape(batch_shape + (-1,))],
                            axis=-1)
        return _classify(params, _apply_mlp(params, self.specs(), h, len(self.hidden)), self.hidden[-1])


# ---------------------------------------------------------------------------
# Shared on jraph.GraphsTuple (segment sums)
# ---------------------------------------------------------------------------

#: Keys of one padded sparse example (see ``SparseSharedGraphModel``).
SPARSE_KEYS = ("node_labels", "node_mask", "senders", "receivers", "edge_mask")


@dataclasses.dataclass(frozen=True)
class SparseSharedGraphModel:
    """``SharedGraphModel`` evaluated with segment sums on a ``jraph.GraphsTuple``.

    Two entry points, the same parameters as ``SharedGraphModel(hidden, aggregation)``:

    * ``apply_graphs(params, graphs)``: an ordinary (unpadded) GraphsTuple with
      one-hot ``nodes`` (N, 37) and ``edges`` None (weight 1) or weights (E,)
      -> logits (num_graphs, 2).
    * ``apply(params, x)``: a batch of padded examples x = {key: (B, ...)} as
      built by ``symjax.data.graph_batching.pad_sparse_graphs`` (the training engine gathers fixed-shape
      rows from a pool). It rebuilds one GraphsTuple of 2B graphs:

        nodes     one_hot(node_labels) * node_mask      (B N, 37)
        senders   senders + N b, receivers + N b        (B E,)   (example b's block)
        edges     edge_mask                             (B E,)   edge weights A_sr
        n_node    [n_0, N - n_0, n_1, N - n_1, ...]     (2B,)    n_b = sum(node_mask_b)

      Padding is kept out of the math in two ways: (1) padding edges have
      weight 0, so they add exactly 0 to every segment sum of eq. 13-17 (the
      A X products, the diagonal and the in-degrees); (2) each example's padding
      node slots form a separate dummy graph 2b + 1, so the per-graph sums of
      B4/B5 and the pooling of the real graph 2b never see them (their rows do
      become non-zero through the bias, but they stay inside the dummy graph).
      The logits of the real graphs (even graph ids) are returned: (B, 2).
      This needs the real nodes in slots 0..n_b-1 (``pad_sparse_graphs`` does so).

    Cost per layer O(B E d_in + B N d_in d_out) with N, E the padded sizes
    (NCI1: N = 111, E = 238), versus O(B N^2 d_in + B N d_in d_out) dense.
    """

    hidden: tuple = HIDDEN[3]
    aggregation: str = "mean"
    d_in: int = NUM_NODE_LABELS
    global_aggregation: str = "sum"

    @property
    def dense(self) -> SharedGraphModel:
        return SharedGraphModel(self.hidden, self.aggregation, self.d_in, self.global_aggregation)

    def init(self, key, dtype=jnp.float32) -> dict:
        return self.dense.init(key, dtype)

    def apply_graphs(self, params, graphs: jraph.GraphsTuple, features=None):
        """GraphsTuple (N nodes, G graphs) -> logits (G, 2)."""
        specs = self.dense.specs()
        h = graphs.nodes if features is None else features
        for k in range(len(self.hidden)):
            h = _act(specs[f"graph_{k}"].apply_sparse(params[f"graph_{k}"], graphs, h))
        num_graphs = graphs.n_node.shape[0]
        node_graph = jnp.repeat(jnp.arange(num_graphs), graphs.n_node, total_repeat_length=h.shape[0])
        z = segment_pool(h, node_graph, num_graphs, kind=self.aggregation)
        return _classify(params, z, self.hidden[-1])

    def batch_graphs(self, x, dtype=jnp.float32) -> jraph.GraphsTuple:
        """Padded examples {key: (B, ...)} -> one GraphsTuple of 2B graphs (real, dummy, real, ...)."""
        missing = [k for k in SPARSE_KEYS if k not in x]
        if missing:
            raise ValueError(f"sparse graph batch needs keys {SPARSE_KEYS}; missing {missing}")
        labels = x["node_labels"]
        if labels.ndim != 2:
            raise ValueError(f"node_labels must be (B, N); got shape {tuple(labels.shape)}")
        batch, n_max = labels.shape
        node_mask = x["node_mask"].astype(dtype)
        nodes = jax.nn.one_hot(labels, self.d_in, dtype=dtype) * node_mask[..., None]
        offset = (jnp.arange(batch, dtype=jnp.int32) * n_max)[:, None]
        n_real = jnp.round(jnp.sum(node_mask, axis=-1)).astype(jnp.int32)
        e_real = jnp.round(jnp.sum(x["edge_mask"], axis=-1)).astype(jnp.int32)
        e_max = x["senders"].shape[-1]
        return jraph.GraphsTuple(
            nodes=nodes.reshape(batch * n_max, self.d_in),
            edges=x["edge_mask"].astype(dtype).reshape(-1),
            senders=(x["senders"] + offset).reshape(-1),
            receivers=(x["receivers"] + offset).reshape(-1),
            n_node=jnp.stack([n_real, n_max - n_real], axis=-1).reshape(-1),
            n_edge=jnp.stack([e_real, e_max - e_real], axis=-1).reshape(-1),
            globals=None,
        )

    def apply(self, params, x):
        """Padded examples {key: (B, ...)} -> logits (B, 2)."""
        dtype = params["head_1"]["kernel"].dtype
        logits = self.apply_graphs(params, self.batch_graphs(x, dtype))
        return logits[0::2]


def graph_model(variant: str, hidden_setting: int, max_nodes: int = 50, aggregation: str = "mean",
                global_aggregation: str = "sum"):
    """'vanilla' | 'vanilla_flat' | 'shared' | 'shared_sparse' for a Table 3 hidden setting.

    (Augmentation is not a model.)
    """
    hidden = hidden_widths(hidden_setting)
    if variant == "vanilla":
        return VanillaGraphModel(max_nodes, hidden)
    if variant == "vanilla_flat":
        return FlatVanillaGraphModel(max_nodes, hidden)
    if variant == "shared":
        return SharedGraphModel(hidden, aggregation, global_aggregation=global_aggregation)
    if variant == "shared_sparse":
        return SparseSharedGraphModel(hidden, aggregation, global_aggregation=global_aggregation)
    raise ValueError(f"model variant must be 'vanilla', 'vanilla_flat', 'shared' or 'shared_sparse'; "
                     f"got {variant!r}")

"""Layers inside other people's Flax and jraph code: layouts, parametrisation, jraph's conventions, dtypes, checks."""

import inspect

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest
from flax import nnx

from symjax import actions, functional, groups, metrics
from symjax.layers import GraphLayer, SetLayer, SwapBlockLayer, check_graphs, graph_basis_sparse, segment_pool
from symjax.nn import nnx as sj_nnx


def path_graph(edges=None):
    """3 nodes, edges 0->1, 1->0, 1->2, 2->1 (both directions stored)."""
    return jraph.GraphsTuple(n_node=jnp.array([3]), n_edge=jnp.array([4]), nodes=jnp.ones((3, 2)), globals=None,
                             senders=jnp.array([0, 1, 1, 2]), receivers=jnp.array([1, 0, 2, 1]), edges=edges)


def directed_graph(key, n=5, d=2, k=None):
    rng = np.random.default_rng(key)
    s, r = np.nonzero(rng.random((n, n)) < 0.4)
    edges = None if k is None else jnp.asarray(rng.normal(size=(len(s), k)), jnp.float32)
    return jraph.GraphsTuple(n_node=jnp.array([n]), n_edge=jnp.array([len(s)]),
                             nodes=jnp.asarray(rng.normal(size=(n, d)), jnp.float32), globals=None,
                             senders=jnp.asarray(s), receivers=jnp.asarray(r), edges=edges)


# ---------------------------------------------------------------- 1. check_graphs under jit


def test_graph_closed_over_by_jit_with_jax_array_edge_weights():
    g = path_graph(edges=jnp.array([0.5, 0.5, 1.0, 1.0]))
    spec = GraphLayer(2, 4)
    params = functional.init(jax.random.key(0), spec)
    np.testing.assert_allclose(jax.jit(lambda p: spec.apply(p, g))(params), spec.apply(params, g), rtol=1e-6)
    bad = g._replace(senders=jnp.array([0, 1, 1, 3]))  # still checked when closed over
    with pytest.raises(ValueError, match="senders: expected node ids in"):
        jax.jit(lambda p: spec.apply(p, bad))(params)


# ---------------------------------------------------------------- 2. one layout story


def test_points_action_is_blocks_on_the_element_major_flattening():
    s4 = groups.symmetric(4)
    x = jax.random.normal(jax.random.key(0), (2, 4, 3))
    g = s4.sample(jax.random.key(1), 1)[0]
    flat = actions.blocks(s4, 3).act(g, x.reshape(2, 12))
    np.testing.assert_array_equal(actions.points(s4).act(g, x), flat.reshape(2, 4, 3))
    with pytest.raises(ValueError, match=r"reshape\(\*x.shape\[:-1\], 4, -1\)"):
        actions.points(s4).act(g, x.reshape(2, 12))


def test_shared_dense_wrong_shape_says_how_to_flatten():
    s4 = groups.symmetric(4)
    spec = functional.SharedDense(actions.blocks(s4, 3), actions.blocks(s4, 2))
    params = functional.init(jax.random.key(0), spec)
    with pytest.raises(ValueError, match=r"flatten element-major: x.reshape\(\*x.shape\[:-2\], 12\)"):
        spec.apply(params, jnp.ones((5, 4, 3)))


def test_set_and_swap_layers_say_how_to_reshape_flat_input():
    for spec, flat in ((SetLayer(4, 3, 2), jnp.ones((5, 12))), (SwapBlockLayer(3, 2), jnp.ones((5, 9)))):
        params = functional.init(jax.random.key(0), spec)
        points = flat.shape[-1] // 3
        with pytest.raises(ValueError, match=rf"element-major: x.reshape\(\*x.shape\[:-1\], {points}, 3\)"):
            spec.apply(params, flat)


def test_symmetry_error_covers_every_shipped_layer():
    key = jax.random.key(0)
    s4, s2 = groups.symmetric(4), groups.symmetric(2)
    x = jax.random.normal(key, (3, 4, 2))
    dense = functional.Dense(8, 8)
    cases = []
    shared = functional.SharedDense(actions.blocks(s4, 2), actions.blocks(s4, 2))
    cases.append((shared, x.reshape(3, 8), actions.blocks(s4, 2), actions.blocks(s4, 2)))
    cases.append((SetLayer(4, 2, 3), x, actions.points(s4), actions.points(s4)))
    swap_points = actions.points(actions.direct_sum(actions.base(s2), actions.trivial(s2)))
    cases.append((SwapBlockLayer(2, 3), x[:, :3], swap_points, swap_points))
    graph = directed_graph(1, n=4)
    cases.append((GraphLayer(2, 3), graph, actions.GraphsTupleAction(s4), actions.points(s4)))
    a = jnp.asarray(np.random.default_rng(2).random((4, 4)) < 0.5, jnp.float32)
    cases.append((GraphLayer(2, 3), (a, x[0], jnp.ones(4)), actions.GraphAction(s4), actions.points(s4)))
    for spec, inputs, a_in, a_out in cases:
        params = functional.init(key, spec)
        err = metrics.symmetry_error(lambda v: spec.apply(params, v), inputs, a_in, a_out, 3)
        assert float(err) < 1e-10, spec
    # the measure is not blind: a dense layer on the flattened sets is not equivariant
    params = functional.init(key, dense)
    err = metrics.symmetry_error(lambda v: dense.apply(params, v), x.reshape(3, 8), actions.blocks(s4, 2),
                                 actions.blocks(s4, 2), 3)
    assert float(err) > 1e-3


def test_graphs_tuple_action_relabels_nodes_and_edges():
    s3 = groups.symmetric(3)
    g = path_graph()._replace(nodes=jnp.arange(6.0).reshape(3, 2))
    perm = np.array([2, 0, 1])  # node i becomes node perm[i]
    moved = actions.GraphsTupleAction(s3).act(perm, g)
    np.testing.assert_array_equal(moved.nodes[perm], g.nodes)
    np.testing.assert_array_equal(moved.senders, perm[np.asarray(g.senders)])
    np.testing.assert_array_equal(moved.receivers, perm[np.asarray(g.receivers)])


# ---------------------------------------------------------------- 3. parametrisation


def test_normalized_gradient_is_the_projected_dense_gradient():
    """d loss / d w_l = (sum of the dense gradient over orbit l) / sqrt(|O_l|): w are orthonormal coordinates."""
    s3 = groups.symmetric(3)
    spec = functional.SharedDense(actions.blocks(s3, 2), actions.blocks(s3, 2))
    params = functional.init(jax.random.key(0), spec)
    x = jax.random.normal(jax.random.key(1), (5, 6))
    target = jax.random.normal(jax.random.key(2), (5, 6))
    w_matrix = spec.weights(params)
    bias = spec.bias(params)
    dense_grad = jax.grad(lambda w: jnp.sum((x @ w.T + bias - target) ** 2))(w_matrix)
    shared_grad = jax.grad(lambda p: jnp.sum((spec.apply(p, x) - target) ** 2))(params)["w"]
    index = np.asarray(spec.weight_map)
    for orbit in range(spec.num_weights):
        members = index == orbit
        want = float(jnp.sum(dense_grad[members])) / np.sqrt(members.sum())
        np.testing.assert_allclose(float(shared_grad[orbit]), want, rtol=1e-4, atol=1e-6)
    assert np.isclose(float(jnp.sum(w_matrix ** 2)), float(jnp.sum(params["w"] ** 2)), rtol=1e-5)


# ---------------------------------------------------------------- 4. GraphLayer and jraph


@pytest.mark.parametrize("normalization", [None, "gcn"])
def test_default_direction_is_jraph_graph_convolution(normalization):
    """B2 (messages in) equals jraph.GraphConvolution's aggregation at the receiver."""
    g = directed_graph(3)
    basis = graph_basis_sparse(g, direction="sender_to_receiver", edge_normalization=normalization)
    conv = jraph.GraphConvolution(update_node_fn=lambda n: n, symmetric_normalization=normalization == "gcn")
    has_loop = np.asarray(g.senders) == np.asarray(g.receivers)
    no_loops = g._replace(senders=g.senders[~has_loop], receivers=g.receivers[~has_loop],
                          n_edge=jnp.array([int((~has_loop).sum())]))
    if normalization is None:
        np.testing.assert_allclose(basis[1], conv(no_loops).nodes, rtol=1e-5, atol=1e-6)
    else:  # jraph's degrees count every edge (loops too): compare on the loop-free graph
        basis = graph_basis_sparse(no_loops, direction="sender_to_receiver", edge_normalization="gcn")
        np.testing.assert_allclose(basis[1], conv(no_loops).nodes, rtol=1e-5, atol=1e-6)
    # the study's convention aggregates at the sender: the same on the reversed graph
    reversed_graph = g._replace(senders=g.receivers, receivers=g.senders)
    np.testing.assert_allclose(graph_basis_sparse(reversed_graph, direction="receiver_to_sender"),
                               graph_basis_sparse(g, direction="sender_to_receiver"), rtol=1e-6)


@pytest.mark.parametrize("seed", [3, 4])
def test_default_layer_is_jraph_gcn_plus_scaled_other_operators(seed):
    """Defaults (self edges, 'gcn' normalisation and parametrization): with V1 = V3 = V4 = V5 = 0 the layer is
    jraph.GraphConvolution(add_self_edges=True) with weights V2, plus the bias; each other V_l adds 0.1 B_l V_l."""
    g = directed_graph(seed)
    layer = GraphLayer(2, 4)
    params = functional.init(jax.random.key(seed), layer)
    conv = jraph.GraphConvolution(update_node_fn=lambda n: n @ params["W"][1], add_self_edges=True,
                                  symmetric_normalization=True)
    gcn_only = {"W": params["W"] * jnp.array([0.0, 1.0, 0.0, 0.0, 0.0])[:, None, None], "bias": params["bias"]}
    np.testing.assert_allclose(layer.apply(gcn_only, g), conv(g).nodes + params["bias"], rtol=1e-5, atol=1e-6)
    standard = GraphLayer(2, 4, parametrization="standard")
    w = params["W"]
    w_std = jnp.stack([w[1] + 0.1 * w[0], w[1], 0.1 * w[2], 0.1 * w[3], 0.1 * w[4]])
    np.testing.assert_allclose(layer.apply(params, g), standard.apply({**params, "W": w_std}, g), rtol=1e-5, atol=1e-6)


def test_edge_features_are_one_set_of_operators_per_channel():
    k = 3
    g = directed_graph(4, k=k)
    layer = GraphLayer(2, 4, edge_features=k, edge_normalization=None)
    params = functional.init(jax.random.key(0), layer)
    y = layer.apply(params, g)
    single = GraphLayer(2, 4, use_bias=False, edge_normalization=None)
    want = sum(single.apply({"W": params["W"][:, c]}, g._replace(edges=g.edges[:, c])) for c in range(k))
    np.testing.assert_allclose(y, want + params["bias"], rtol=1e-5, atol=1e-5)
    a = np.zeros((5, 5, k), np.float32)
    np.add.at(a, (np.asarray(g.senders), np.asarray(g.receivers)), np.asarray(g.edges))
    np.testing.assert_allclose(layer.apply(params, (jnp.asarray(a), g.nodes)), y, rtol=1e-5, atol=1e-5)
    normalized = GraphLayer(2, 4, edge_features=k)  # 'gcn' default: dense and sparse agree
    np.testing.assert_allclose(normalized.apply(params, (jnp.asarray(a), g.nodes)), normalized.apply(params, g),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="edge_features=3"):
        GraphLayer(2, 4).apply(functional.init(jax.random.key(0), GraphLayer(2, 4)), g)


def test_dict_of_node_features_gets_one_line():
    layer = GraphLayer(2, 4)
    params = functional.init(jax.random.key(0), layer)
    g = path_graph()._replace(nodes={"atom": jnp.ones((3, 2))})
    with pytest.raises(TypeError, match=r"expected one array of node features \(N, d\); got a dict with keys"):
        layer.apply(params, g)
    with pytest.raises(TypeError, match="GraphLayer.apply takes"):
        layer.apply(params, {"nodes": jnp.ones((3, 2))})


# ---------------------------------------------------------------- 5. any set size


@pytest.mark.parametrize("parametrization", ["standard", "normalized"])
def test_set_layer_takes_any_set_size(parametrization):
    layer = SetLayer(3, 2, 4, parametrization=parametrization)
    params = functional.init(jax.random.key(0), layer)
    eff = layer.effective_params(params)
    for n in (1, 3, 7):
        x = np.asarray(jax.random.normal(jax.random.key(n), (2, n, 2)))
        want = np.stack([x[:, i] @ eff["A"] + (x.sum(1) - x[:, i]) @ eff["B"] + eff["bias"] for i in range(n)], 1)
        np.testing.assert_allclose(layer.apply(params, x), want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- 6. Flax conventions


def test_dtypes_promote_like_flax():
    s3 = groups.symmetric(3)
    graph = path_graph()
    specs = [(functional.SharedDense(actions.blocks(s3, 2), actions.blocks(s3, 2)), jnp.ones((4, 6))),
             (SetLayer(3, 2, 2), jnp.ones((4, 3, 2))), (SwapBlockLayer(2, 2), jnp.ones((4, 3, 2))),
             (GraphLayer(2, 2), graph)]
    for spec, x in specs:
        params = functional.init(jax.random.key(0), spec)
        low = x._replace(nodes=x.nodes.astype(jnp.bfloat16)) if isinstance(x, jraph.GraphsTuple) else \
            x.astype(jnp.bfloat16)
        assert spec.apply(params, low).dtype == jnp.float32, spec
        forced = type(spec)(**{**spec.__dict__, "dtype": jnp.bfloat16})
        assert forced.apply(params, x).dtype == jnp.bfloat16, spec
    layer = sj_nnx.SetLayer(3, 2, 2, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    assert layer.A[...].dtype == jnp.bfloat16


def test_nnx_classes_show_their_parameters():
    for cls, first in ((sj_nnx.SharedDense, "action_in"), (sj_nnx.SetLayer, "num_blocks"),
                       (sj_nnx.SwapBlockLayer, "d_in"), (sj_nnx.GraphLayer, "d_in"), (sj_nnx.Layer, "spec")):
        params = inspect.signature(cls).parameters
        assert list(params)[0] == first and "rngs" in params, cls
    assert "param_dtype" in inspect.signature(sj_nnx.SharedDense).parameters


def test_symmetry_error_takes_an_int_seed_and_blocks_a_jax_int():
    s4 = groups.symmetric(4)
    action = actions.blocks(s4, jnp.int32(2))
    assert action == actions.blocks(s4, 2)
    x = jax.random.normal(jax.random.key(0), (3, 8))
    f = lambda v: v[..., ::-1]  # noqa: E731  (not equivariant: reverses channels too)
    np.testing.assert_array_equal(metrics.symmetry_error(f, x, action, action, 7),
                                  metrics.symmetry_error(f, x, action, action, jax.random.key(7)))


# ---------------------------------------------------------------- bad input (issue 25)


@pytest.mark.parametrize("build, error, name", [
    (lambda: SetLayer(5, -2, 3), ValueError, "d_in"),
    (lambda: SetLayer(5, 2.5, 3), TypeError, "d_in"),
    (lambda: SetLayer(0, 2, 3), ValueError, "num_blocks"),
    (lambda: SwapBlockLayer(-1, 2), ValueError, "d_in"),
    (lambda: GraphLayer(d_in=0, d_out=3), ValueError, "d_in"),
    (lambda: GraphLayer(2, 3, direction="up"), ValueError, "direction"),
    (lambda: SetLayer(3, 2, 2, parametrization="mup"), ValueError, "parametrization"),
    (lambda: sj_nnx.SharedDense(actions.base(groups.symmetric(3)), actions.base(groups.symmetric(3)), rngs=0),
     TypeError, "rngs"),
])
def test_constructors_name_the_bad_argument(build, error, name):
    with pytest.raises(error, match=name):
        build()


def test_symmetry_error_refuses_an_empty_batch():
    s3 = groups.symmetric(3)
    with pytest.raises(ValueError, match="non-empty batch"):
        metrics.symmetry_error(lambda v: v, jnp.ones((0, 3)), actions.base(s3), actions.base(s3), 0)


def test_segment_pool_refuses_out_of_range_ids():
    h = jnp.ones((3, 2))
    with pytest.raises(ValueError, match=r"segment_ids in \[0, 2\), got 2 at row 2"):
        segment_pool(h, jnp.array([0, 1, 2]), 2)
    np.testing.assert_allclose(jax.jit(lambda i: segment_pool(h, i, 2))(jnp.array([0, 1, 1])), jnp.ones((2, 2)))


def test_check_graphs_accepts_edge_features():
    check_graphs(directed_graph(5, k=2))

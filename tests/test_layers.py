"""Closed-form layers equal the generic orbit layer built from the corresponding action."""

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from symjax import actions, functional, groups
from symjax.layers import GraphLayer, SetLayer, SwapBlockLayer, graph_basis_dense, pool, segment_pool


def generic_with_random_bias(spec, key):
    params = functional.init(key, spec)
    if "b" in params:
        params["b"] = jax.random.normal(jax.random.fold_in(key, 99), params["b"].shape)
    return params


def rel_close(a, b, tol=1e-5):
    a, b = np.asarray(a), np.asarray(b)
    assert np.max(np.abs(a - b)) <= tol * max(np.max(np.abs(b)), 1e-12), np.max(np.abs(a - b))


FACTORED_CASES = {
    "S_20 blocks (auto: factored)": lambda: (groups.symmetric(20), lambda g: actions.blocks(g, 16),
                                             lambda g: actions.blocks(g, 16), True),
    "C_6 blocks to blocks + trivial": lambda: (groups.cyclic(6), lambda g: actions.blocks(g, 2),
                                               lambda g: actions.direct_sum(actions.blocks(g, 3),
                                                                            actions.trivial(g, 2)), False),
    "S_4 pairs + blocks to blocks": lambda: (groups.symmetric(4),
                                             lambda g: actions.direct_sum(actions.tuples(g, 2), actions.blocks(g, 2)),
                                             lambda g: actions.blocks(g, 5), False),
}


@pytest.mark.parametrize("case", sorted(FACTORED_CASES))
@pytest.mark.parametrize("parametrization", ["normalized", "standard"])
def test_factored_contraction_equals_dense(case, parametrization):
    """contraction='factored' (points, then channels) gives x W^T and its gradients to rounding, on actions of
    several components; 'auto' picks it where it needs at most half the multiply-adds."""
    group, make_in, make_out, auto_factored = FACTORED_CASES[case]()
    a_in, a_out = make_in(group), make_out(group)
    dense, factored = (functional.SharedDense(a_in, a_out, parametrization=parametrization, contraction=c)
                       for c in ("dense", "factored"))
    assert functional.SharedDense(a_in, a_out).factored == auto_factored and factored.factored
    params = generic_with_random_bias(dense, jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (5, 2, a_in.size))
    rel_close(factored.apply(params, x), dense.apply(params, x))

    def loss(spec):
        return jax.jit(jax.grad(lambda p, x: jnp.sum(jnp.tanh(spec.apply(p, x))), argnums=(0, 1)))

    (gp_f, gx_f), (gp_d, gx_d) = loss(factored)(params, x), loss(dense)(params, x)
    rel_close(gx_f, gx_d)
    for name in params:
        rel_close(gp_f[name], gp_d[name])
    with pytest.raises(ValueError, match=r"contraction expected one of \('auto', 'dense', 'factored'\), got 'sparse'"):
        functional.SharedDense(a_in, a_out, contraction="sparse")


@pytest.mark.parametrize("n, d_in, d_out", [(2, 1, 8), (5, 3, 4), (10, 8, 16)])
def test_set_layer_equals_generic(n, d_in, d_out):
    sn = groups.symmetric(n)
    spec = functional.SharedDense(actions.blocks(sn, d_in), actions.blocks(sn, d_out))
    params = generic_with_random_bias(spec, jax.random.key(n))
    w = np.asarray(spec.weights(params))
    b = np.asarray(spec.bias(params))
    closed = {"A": w[:d_out, :d_in].T, "B": w[:d_out, d_in:2 * d_in].T, "bias": b[:d_out]}
    x = jax.random.normal(jax.random.key(7), (4, n, d_in))
    expected = spec.apply(params, x.reshape(4, n * d_in)).reshape(4, n, d_out)
    rel_close(SetLayer(n, d_in, d_out, parametrization="standard").apply(closed, x), expected)
    # 'normalized' applies A / sqrt(n), B / sqrt(n (n - 1)), bias / sqrt(n): the orbit sizes of the block matrix
    off_diagonal = max(n * (n - 1), 1)
    normalized = {"A": closed["A"] * np.sqrt(n), "B": closed["B"] * np.sqrt(off_diagonal),
                  "bias": closed["bias"] * np.sqrt(n)}
    rel_close(SetLayer(n, d_in, d_out).apply(normalized, x), expected)
    assert spec.num_weights == 2 * d_in * d_out and spec.num_biases == d_out


def test_set_layer_single_block_uses_only_a():
    s1 = groups.symmetric(1)
    spec = functional.SharedDense(actions.blocks(s1, 3), actions.blocks(s1, 2))
    params = generic_with_random_bias(spec, jax.random.key(0))
    w = np.asarray(spec.weights(params))
    closed = {"A": w.T, "B": np.full((3, 2), 123.0), "bias": np.asarray(spec.bias(params))}
    x = jax.random.normal(jax.random.key(1), (5, 1, 3))
    rel_close(SetLayer(1, 3, 2, parametrization="standard").apply(closed, x), spec.apply(params, x.reshape(5, 3)).reshape(5, 1, 2))


def random_graph(key, n, p=0.4, directed=True):
    a = (jax.random.uniform(key, (n, n)) < p).astype(jnp.float32)
    return a if directed else jnp.maximum(a, a.T)


def graph_generic_and_closed(n, d_in, d_out, key):
    """The orbit layer on Z_jk = A_jk X_k and its closed-form parameters read off from W."""
    sn = groups.symmetric(n)
    spec = functional.SharedDense(actions.blocks(actions.tuples(sn, 2), d_in), actions.blocks(sn, d_out))
    params = generic_with_random_bias(spec, key)
    w = np.asarray(spec.weights(params))

    def block(i, j, k):
        return w[i * d_out:(i + 1) * d_out, (j * n + k) * d_in:(j * n + k + 1) * d_in].T

    representatives = [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (0, 1, 2)]  # O1..O5 of eq. 37
    closed = {"W": np.stack([block(*r) for r in representatives]),
              "bias": np.asarray(spec.bias(params))[:d_out]}

    def generic(a, x):
        z = (a[:, :, None] * x[None, :, :]).reshape(-1)
        return spec.apply(params, z).reshape(n, d_out)

    return spec, closed, generic


def to_graphs_tuple(adjacencies, features):
    senders, receivers, offset = [], [], 0
    for a in adjacencies:
        s, r = np.nonzero(np.asarray(a))
        senders.append(s + offset)
        receivers.append(r + offset)
        offset += a.shape[0]
    return jraph.GraphsTuple(nodes=jnp.concatenate(features), edges=None,
                             senders=jnp.asarray(np.concatenate(senders)),
                             receivers=jnp.asarray(np.concatenate(receivers)),
                             n_node=jnp.asarray([a.shape[0] for a in adjacencies]),
                             n_edge=jnp.asarray([len(s) for s in senders]), globals=None)


@pytest.mark.parametrize("directed", [True, False])
def test_graph_layer_dense_padded_and_sparse_equal_generic(directed):
    n, d_in, d_out = 6, 3, 4
    spec, closed, generic = graph_generic_and_closed(n, d_in, d_out, jax.random.key(3))
    assert spec.num_weights == 5 * d_in * d_out
    layer = GraphLayer(d_in, d_out, global_aggregation="sum", direction="receiver_to_sender",
                       edge_normalization=None, self_edges=False, parametrization="standard")  # eq. 13-18 as printed
    a = random_graph(jax.random.key(4), n, directed=directed)
    x = jax.random.normal(jax.random.key(5), (n, d_in))
    expected = generic(a, x)
    rel_close(layer.apply(closed, (a, x)), expected)
    # padded to 9 slots with garbage features in the padding: real rows unchanged, padding exactly zero
    pad = 9
    a_pad = jnp.zeros((pad, pad)).at[:n, :n].set(a)
    x_pad = jnp.concatenate([x, 100.0 * jnp.ones((pad - n, d_in))])
    mask = (jnp.arange(pad) < n).astype(jnp.float32)
    y_pad = layer.apply(closed, (a_pad, x_pad, mask))
    rel_close(y_pad[:n], expected)
    assert np.all(np.asarray(y_pad[n:]) == 0.0)
    # sparse, batched with a second graph
    a2 = random_graph(jax.random.key(6), n, directed=directed)
    x2 = jax.random.normal(jax.random.key(7), (n, d_in))
    y_sparse = layer.apply(closed, to_graphs_tuple([a, a2], [x, x2]))
    rel_close(y_sparse[:n], expected)
    rel_close(y_sparse[n:], generic(a2, x2))


def test_graph_layer_parameter_count_and_shape_errors():
    layer = GraphLayer(37, 64)
    params = functional.init(jax.random.key(0), layer)
    assert sum(v.size for v in params.values()) == 5 * 37 * 64 + 64
    a, x = jnp.zeros((4, 4)), jnp.zeros((4, 37))
    with pytest.raises(ValueError, match="node mask must have shape \\(4,\\)"):
        layer.apply(params, (a, x, jnp.ones(5)))
    with pytest.raises(ValueError, match="last axis is 37"):
        layer.apply(params, (a, jnp.zeros((4, 36))))


def test_swap_block_layer_equals_generic():
    d_in, d_out = 4, 16
    s2 = groups.symmetric(2)
    a_in = actions.direct_sum(actions.blocks(s2, d_in), actions.trivial(s2, d_in))
    a_out = actions.direct_sum(actions.blocks(s2, d_out), actions.trivial(s2, d_out))
    spec = functional.SharedDense(a_in, a_out)
    assert spec.num_weights == 5 * d_in * d_out and spec.num_biases == 2 * d_out
    params = generic_with_random_bias(spec, jax.random.key(2))
    w = np.asarray(spec.weights(params))
    b = np.asarray(spec.bias(params))

    def blk(i, j):
        return w[i * d_out:(i + 1) * d_out, j * d_in:(j + 1) * d_in].T

    closed = {"A": blk(0, 0), "B": blk(0, 1), "C": blk(0, 2), "D": blk(2, 0), "E": blk(2, 2),
              "b_sym": b[:d_out], "b_3": b[2 * d_out:]}
    x = jax.random.normal(jax.random.key(3), (5, 3, d_in))
    expected = spec.apply(params, x.reshape(5, -1)).reshape(5, 3, d_out)
    rel_close(SwapBlockLayer(d_in, d_out, parametrization="standard").apply(closed, x), expected)
    # 'normalized' divides each block by sqrt(its orbit size): 2 for A..D and b_sym, 1 for E and b_3
    normalized = {k: v * (1.0 if k in ("E", "b_3") else np.sqrt(2.0)) for k, v in closed.items()}
    rel_close(SwapBlockLayer(d_in, d_out).apply(normalized, x), expected)


def test_pooling_with_mask_ignores_padding():
    h = jnp.array([[1.0, 2.0], [3.0, 4.0], [50.0, 60.0]])
    mask = jnp.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(pool(h, axis=0, mask=mask), [2.0, 3.0])
    np.testing.assert_allclose(pool(h, axis=0, mask=mask, kind="sum"), [4.0, 6.0])
    np.testing.assert_allclose(segment_pool(h, jnp.array([0, 0, 1]), 2), [[2.0, 3.0], [50.0, 60.0]])
    with pytest.raises(ValueError, match="pool kind"):
        pool(h, kind="max")


def test_layers_work_under_jit_vmap_and_grad():
    s5 = groups.symmetric(5)
    spec = functional.SharedDense(actions.blocks(s5, 2), actions.blocks(s5, 3))
    keys = jax.random.split(jax.random.key(0), 4)
    params = jax.vmap(lambda k: functional.init(k, spec))(keys)  # 4 seeds at once
    x = jnp.ones((7, 10))
    y = jax.jit(jax.vmap(lambda p: spec.apply(p, x)))(params)
    assert y.shape == (4, 7, 15)
    grads = jax.grad(lambda p: jnp.sum(spec.apply(p, x) ** 2))(jax.tree_util.tree_map(lambda v: v[0], params))
    assert grads["w"].shape == (spec.num_weights,)


def test_input_size_mismatch_raises_at_trace_time():
    s5 = groups.symmetric(5)
    spec = functional.SharedDense(actions.blocks(s5, 2), actions.blocks(s5, 3))
    params = functional.init(jax.random.key(0), spec)
    with pytest.raises(ValueError, match="last axis is 10; got shape \\(7, 11\\)"):
        jax.jit(lambda x: spec.apply(params, x))(jnp.ones((7, 11)))
    with pytest.raises(ValueError, match="last axis is 10"):
        spec.apply(params, jnp.ones((10, 1)))  # would broadcast silently in a plain matmul


@pytest.mark.parametrize("parametrization", ["standard", "normalized"])
def test_init_variance_matches_fan_in(parametrization):
    """Every entry of the expanded W has variance 1 / fan_in, on the diagonal and off it, in both forms."""
    s10 = groups.symmetric(10)
    spec = functional.SharedDense(actions.blocks(s10, 20), actions.blocks(s10, 20), parametrization=parametrization)
    keys = jax.random.split(jax.random.key(0), 200)
    w = jax.vmap(lambda k: spec.weights(functional.init(k, spec)))(keys)  # (200, 200, 200)
    diagonal_block, off_block = w[:, :20, :20], w[:, :20, 20:40]
    for entries in (diagonal_block, off_block):
        assert abs(float(jnp.var(entries)) * spec.action_in.size - 1.0) < 0.05


def test_graph_layer_mean_global_aggregation():
    """'mean' divides B4, B5 by the node count: checked against the 'sum' basis; dense, padded, sparse agree."""
    n, d_in, d_out = 7, 3, 4
    a = random_graph(jax.random.key(10), n)
    x = jax.random.normal(jax.random.key(11), (n, d_in))
    summed = graph_basis_dense(a, x)
    averaged = graph_basis_dense(a, x, global_aggregation="mean")
    np.testing.assert_allclose(averaged[:3], summed[:3])
    np.testing.assert_allclose(averaged[3:], summed[3:] / n, rtol=1e-6)
    layer = GraphLayer(d_in, d_out, global_aggregation="mean")
    params = functional.init(jax.random.key(12), layer)
    params["bias"] = params["bias"] + 0.5
    expected = layer.apply(params, (a, x))
    pad = 10
    a_pad = jnp.zeros((pad, pad)).at[:n, :n].set(a)
    x_pad = jnp.concatenate([x, jnp.ones((pad - n, d_in))])
    mask = (jnp.arange(pad) < n).astype(jnp.float32)
    rel_close(layer.apply(params, (a_pad, x_pad, mask))[:n], expected)
    a2 = random_graph(jax.random.key(13), 4)
    x2 = jax.random.normal(jax.random.key(14), (4, d_in))
    sparse = layer.apply(params, to_graphs_tuple([a, a2], [x, x2]))
    rel_close(sparse[:n], expected)
    rel_close(sparse[n:], layer.apply(params, (a2, x2)))
    with pytest.raises(ValueError, match="global_aggregation must be one of"):
        graph_basis_dense(a, x, global_aggregation="max")

"""Orbit index maps against an independent null-space computation, and equivariance of shared layers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import small_actions, small_groups
from symjax import actions, functional, groups, metrics, sharing


def permutation_matrix(perm):
    """P with P e_i = e_{perm[i]}, so (P x)[perm[i]] = x[i]."""
    p = np.zeros((len(perm), len(perm)))
    p[perm, np.arange(len(perm))] = 1.0
    return p


def commutant_dimension(action_out, action_in):
    """dim {W : W P_in(g) = P_out(g) W for all generators g} by SVD of the stacked constraints."""
    m, n = action_out.size, action_in.size
    blocks = []
    for g_out, g_in in zip(action_out.generators, action_in.generators):
        p_out, p_in = permutation_matrix(g_out), permutation_matrix(g_in)
        # vec(W P_in - P_out W) = (P_in^T kron I_m - I_n kron P_out) vec(W), column-major vec
        blocks.append(np.kron(p_in.T, np.eye(m)) - np.kron(np.eye(n), p_out))
    if not blocks:
        return m * n
    constraints = np.concatenate(blocks)
    singular = np.linalg.svd(constraints, compute_uv=False)
    return m * n - int(np.sum(singular > 1e-9))


pairs_of_actions = small_groups().flatmap(
    lambda g: st.tuples(small_actions(g, max_size=16), small_actions(g, max_size=16)))


@settings(max_examples=30, deadline=None)
@given(pair=pairs_of_actions)
def test_num_orbits_equals_commutant_dimension(pair):
    action_out, action_in = pair
    index_map, num_orbits = sharing.orbit_index_map(action_out, action_in)
    assert index_map.shape == (action_out.size, action_in.size)
    assert index_map.dtype == np.int32
    assert num_orbits == commutant_dimension(action_out, action_in)
    assert set(np.unique(index_map)) == set(range(num_orbits))


@settings(max_examples=30, deadline=None)
@given(pair=pairs_of_actions)
def test_map_is_constant_on_orbits_and_canonical(pair):
    action_out, action_in = pair
    index_map, _ = sharing.orbit_index_map(action_out, action_in)
    for g_out, g_in in zip(action_out.generators, action_in.generators):
        moved = np.empty_like(index_map)
        moved[np.ix_(g_out, g_in)] = index_map  # value at (g i, g j) must equal value at (i, j)
        assert np.array_equal(moved, index_map)
    # first occurrences in row-major order come in increasing orbit order
    _, first = np.unique(index_map.ravel(), return_index=True)
    assert np.all(np.diff(first) > 0)


def test_known_small_maps():
    s3 = groups.symmetric(3)
    index_map, k = sharing.orbit_index_map(actions.base(s3), actions.base(s3))
    assert index_map.tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]] and k == 2
    bias, kb = sharing.bias_index_map(actions.direct_sum(actions.blocks(s3, 2), actions.trivial(s3, 3)))
    assert bias.tolist() == [0, 1, 0, 1, 0, 1, 2, 3, 4] and kb == 5


def test_channel_factorisation_counts():
    # S_n on blocks x channels: 2 orbits of block pairs times channel pairs (study eq. 30)
    for n in (5, 20, 100):
        sn = groups.symmetric(n)
        _, k = sharing.orbit_index_map(actions.blocks(sn, 16), actions.blocks(sn, 16))
        assert k == 2 * 16 * 16
    # graph layer: 5 orbits of index triples times channel pairs (Bell number B_3, eq. 37)
    s4 = groups.symmetric(4)
    _, k = sharing.orbit_index_map(actions.blocks(s4, 2), actions.blocks(actions.tuples(s4, 2), 3))
    assert k == 5 * 2 * 3


def test_maps_are_cached_and_read_only():
    s5 = groups.symmetric(5)
    first = sharing.orbit_index_map(actions.blocks(s5, 3), actions.blocks(s5, 2))[0]
    second = sharing.orbit_index_map(actions.blocks(s5, 3), actions.blocks(s5, 2))[0]
    assert first is second
    with pytest.raises(ValueError):
        first[0, 0] = 7


def test_actions_of_different_groups_are_refused():
    with pytest.raises(ValueError, match="same group"):
        sharing.orbit_index_map(actions.base(groups.symmetric(3)), actions.base(groups.cyclic(3)))
    with pytest.raises(ValueError, match="same group"):
        functional.SharedDense(actions.base(groups.symmetric(3)), actions.base(groups.alternating(3)))
    # D_3 and S_3 are the same permutations of 3 points, given by other generators: accepted
    layer = functional.SharedDense(actions.base(groups.symmetric(3)), actions.base(groups.dihedral(3)))
    assert layer.num_weights == 2


def two_layer_network(spec1, spec2, key, dtype):
    p1 = functional.init(jax.random.fold_in(key, 1), spec1, dtype)
    p2 = functional.init(jax.random.fold_in(key, 2), spec2, dtype)
    # non-zero biases so the bias sharing is exercised too
    p1 = {k: v + 0.3 for k, v in p1.items()}
    p2 = {k: v - 0.2 for k, v in p2.items()}
    return lambda x: spec2.apply(p2, jnp.tanh(spec1.apply(p1, x)))


triples_of_actions = small_groups().flatmap(
    lambda g: st.tuples(small_actions(g), small_actions(g), small_actions(g)))


@settings(max_examples=6, deadline=None)
@given(triple=triples_of_actions)
def test_shared_networks_are_equivariant_float32(triple):
    a_in, a_hidden, a_out = triple
    f = two_layer_network(functional.SharedDense(a_in, a_hidden), functional.SharedDense(a_hidden, a_out),
                          jax.random.key(0), jnp.float32)
    x = jax.random.normal(jax.random.key(1), (6, a_in.size), jnp.float32)
    err = jax.jit(lambda x: metrics.relative_symmetry_error(f, x, a_in, a_out, jax.random.key(2), num_samples=5))(x)
    assert float(err) <= 1e-5


@settings(max_examples=3, deadline=None)
@given(triple=triples_of_actions)
def test_shared_networks_are_equivariant_float64(triple):
    a_in, a_hidden, a_out = triple
    with jax.enable_x64(True):
        f = two_layer_network(functional.SharedDense(a_in, a_hidden), functional.SharedDense(a_hidden, a_out),
                              jax.random.key(0), jnp.float64)
        x = jax.random.normal(jax.random.key(1), (6, a_in.size), jnp.float64)
        err = jax.jit(lambda x: metrics.relative_symmetry_error(f, x, a_in, a_out, jax.random.key(2),
                                                                num_samples=5))(x)
        assert float(err) <= 1e-12


def test_dense_layer_is_not_equivariant():
    """The metric can fail: an unshared layer has a large symmetry error."""
    s5 = groups.symmetric(5)
    a = actions.base(s5)
    w = jax.random.normal(jax.random.key(0), (5, 5))
    x = jax.random.normal(jax.random.key(1), (8, 5))
    assert float(metrics.relative_symmetry_error(lambda v: v @ w.T, x, a, a, jax.random.key(2))) > 1e-2

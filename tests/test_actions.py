"""Actions: layouts, homomorphism property, from_images sifting, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

from conftest import small_actions, small_groups
from symjax import actions, groups


def test_blocks_layout_is_block_times_channels_plus_channel():
    s3 = groups.symmetric(3)
    action = actions.blocks(s3, 2)
    g = np.array([1, 2, 0])
    # index i*2 + c goes to g[i]*2 + c
    assert action.permutation(g).tolist() == [2, 3, 4, 5, 0, 1]
    assert repr(action) == "S_3 acting on 3 points x 2 channels: 6 indices"


def test_tuples_are_row_major_pairs():
    s3 = groups.symmetric(3)
    g = np.array([1, 2, 0])
    perm = actions.tuples(s3, 2).permutation(g)
    for i in range(3):
        for j in range(3):
            assert perm[i * 3 + j] == g[i] * 3 + g[j]


def test_direct_sum_offsets_and_trivial():
    s2 = groups.symmetric(2)
    action = actions.direct_sum(actions.blocks(s2, 4), actions.trivial(s2, 4))
    assert action.size == 12
    swap = np.array([1, 0])
    assert action.permutation(swap).tolist() == [4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11]


@settings(max_examples=25, deadline=None)
@given(data=small_groups().flatmap(lambda g: small_actions(g).map(lambda a: (g, a))))
def test_permutation_is_a_homomorphism(data):
    group, action = data
    rng = np.random.default_rng(0)
    g, h = group.sample(rng, 2)
    gh = g[h]
    assert np.array_equal(action.permutation(gh), action.permutation(g)[action.permutation(h)])
    # generators of the action are the images of the group's generators
    for k, gen in enumerate(group.generators):
        assert np.array_equal(action.generators[k], action.permutation(gen))


def test_from_images_maps_every_element_like_the_closed_form():
    d4 = groups.dihedral(4)
    closed = actions.tuples(d4, 2)
    given_images = actions.from_images(d4, closed.generators)
    elements = d4.elements()
    assert np.array_equal(given_images.permutation(elements), closed.permutation(elements))
    traced = jax.jit(given_images.permutation)(jnp.asarray(elements))
    assert np.array_equal(np.asarray(traced), closed.permutation(elements))


def test_from_images_rejects_a_non_homomorphism():
    # C_3's generator has order 3; a transposition has order 2: no homomorphism.
    with pytest.raises(ValueError, match="homomorphism"):
        actions.from_images(groups.cyclic(3), [[1, 0]])
    with pytest.raises(ValueError, match="shape"):
        actions.from_images(groups.cyclic(3), [[1, 0], [0, 1]])


def test_direct_sum_of_different_groups_is_rejected():
    with pytest.raises(ValueError, match="must act through the same group"):
        actions.direct_sum(actions.base(groups.symmetric(3)), actions.base(groups.cyclic(3)))


def test_act_moves_entries_where_the_permutation_says():
    s4 = groups.symmetric(4)
    action = actions.base(s4)
    g = np.array([2, 0, 3, 1])
    x = np.array([10.0, 11.0, 12.0, 13.0])
    y = action.act(g, x)
    for i in range(4):
        assert y[g[i]] == x[i]
    with pytest.raises(ValueError, match="last axis is 4"):
        action.act(g, np.ones(5))


def test_graph_action_conjugates_adjacency():
    s3 = groups.symmetric(3)
    graph_action = actions.GraphAction(s3)
    a = np.arange(9.0).reshape(3, 3)
    x = np.arange(6.0).reshape(3, 2)
    mask = np.array([1.0, 1.0, 0.0])
    g = np.array([1, 2, 0])
    p = np.zeros((3, 3))  # P e_i = e_{g(i)}
    p[g, np.arange(3)] = 1.0
    a2, x2, m2 = graph_action.act(g, (a, x, mask))
    np.testing.assert_array_equal(a2, p @ a @ p.T)
    np.testing.assert_array_equal(x2, p @ x)
    np.testing.assert_array_equal(m2, p @ mask)


def test_act_with_traced_elements_on_numpy_inputs():
    s4 = groups.symmetric(4)
    x = np.arange(8.0).reshape(2, 4)
    graph = (np.eye(4), np.ones((4, 3)), np.ones(4))
    g = np.array([1, 2, 3, 0])
    expected = actions.base(s4).act(g, x)
    traced = jax.jit(lambda e: actions.base(s4).act(e, x))(jnp.asarray(g))
    np.testing.assert_array_equal(np.asarray(traced), expected)
    moved = jax.jit(lambda e: actions.GraphAction(s4).act(e, graph))(jnp.asarray(g))
    for got, want in zip(moved, actions.GraphAction(s4).act(g, graph)):
        np.testing.assert_array_equal(np.asarray(got), want)

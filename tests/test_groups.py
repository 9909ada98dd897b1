"""Groups: validation, exact orders, membership and uniform sampling."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symjax import groups


def brute_force_closure(generators, degree):
    """All elements generated, by breadth-first multiplication (independent of Schreier-Sims)."""
    identity = tuple(range(degree))
    seen = {identity}
    frontier = [identity]
    while frontier:
        nxt = []
        for g in frontier:
            for s in generators:
                h = tuple(int(s[i]) for i in g)
                if h not in seen:
                    seen.add(h)
                    nxt.append(h)
        frontier = nxt
    return seen


@pytest.mark.parametrize("group, order", [
    (groups.symmetric(1), 1), (groups.symmetric(2), 2), (groups.symmetric(5), 120),
    (groups.cyclic(7), 7), (groups.dihedral(6), 12), (groups.dihedral(3), 6),
    (groups.alternating(5), 60), (groups.alternating(3), 3),
    (groups.direct_product(groups.cyclic(3), groups.dihedral(4)), 24),
])
def test_orders_match_closed_forms(group, order):
    assert group.order == order


@pytest.mark.parametrize("group", [
    groups.dihedral(5), groups.alternating(5), groups.cyclic(6),
    groups.from_generators([[1, 0, 2, 3, 4], [0, 2, 3, 1, 4]]),
    groups.direct_product(groups.cyclic(2), groups.symmetric(3)),
])
def test_chain_elements_equal_brute_force_closure(group):
    expected = brute_force_closure(group.generators, group.degree)
    elements = {tuple(e) for e in group.elements()}
    assert elements == expected
    assert group.order == len(expected)
    # Schreier-Sims built from plain generators agrees on the symmetric group too.
    assert groups.from_generators(groups.symmetric(5).generators).order == math.factorial(5)


def test_membership():
    d4 = groups.dihedral(4)
    assert d4.contains([1, 2, 3, 0])
    assert not d4.contains([1, 0, 2, 3])  # a single transposition is no symmetry of the square
    assert not d4.contains([0, 0, 1, 2])


@pytest.mark.parametrize("bad, message", [
    ([[0, 0, 1]], "generator 0 is not a permutation"),
    ([[0, 1, 2], [0, 3, 1]], "generator 1 must map into range"),
    ([[0, 1, 2], [1, 0]], "generator 1 must be a 1-D permutation of range\\(3\\)"),
    ([[0.5, 1, 2]], "generator 0 must hold integers"),
])
def test_non_permutation_generators_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        groups.from_generators(bad)


def chi_square_uniform(counts):
    expected = counts.sum() / len(counts)
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("group", [groups.dihedral(4), groups.alternating(4), groups.symmetric(3)])
def test_numpy_and_jax_sampling_are_uniform_members(group):
    elements = [tuple(e) for e in group.elements()]
    index = {e: k for k, e in enumerate(elements)}
    draws_np = group.sample(np.random.default_rng(0), 6000)
    draws_jax = np.asarray(jax.jit(lambda k: group.sample(k, 6000))(jax.random.key(0)))
    for draws in (draws_np, draws_jax):
        assert draws.shape == (6000, group.degree)
        counts = np.zeros(len(elements))
        for d in draws:
            counts[index[tuple(int(v) for v in d)]] += 1  # KeyError if a draw is not a member
        # chi-square with order-1 degrees of freedom; 99.99% quantile is well below 60 for order <= 24
        assert chi_square_uniform(counts) < 60, counts


def test_symmetric_sampling_for_large_degree_is_cheap_and_valid():
    s1000 = groups.symmetric(1000)
    draws = np.asarray(s1000.sample(jax.random.key(1), 3))
    for d in draws:
        assert sorted(d.tolist()) == list(range(1000))
    assert s1000.order == math.factorial(1000)


def test_groups_are_hashable_and_print_what_they_are():
    assert groups.symmetric(4) == groups.symmetric(4)
    assert len({groups.symmetric(4), groups.symmetric(4), groups.cyclic(4)}) == 2
    assert repr(groups.dihedral(5)) == "D_5 (order 10) on 5 points"


def test_sampling_under_vmap():
    d5 = groups.dihedral(5)
    keys = jax.random.split(jax.random.key(3), 4)
    draws = np.asarray(jax.vmap(lambda k: d5.sample(k, 2))(keys))
    assert draws.shape == (4, 2, 5)
    assert all(d5.contains(d) for d in draws.reshape(-1, 5))


@pytest.mark.parametrize("n", [1, 2, 3, 20, 64, 65, 100])
def test_random_permutation_is_jax_random_permutation_bitwise(n):
    keys = jax.random.split(jax.random.key(n), 300)
    ours = jax.jit(jax.vmap(lambda k: groups.random_permutation(k, n)))(keys)
    theirs = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
    assert ours.dtype == jnp.int32 and np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_stable_argsort_by_ranking_breaks_ties_by_position():
    rng = np.random.default_rng(0)
    for values in rng.integers(0, 3, (100, 20)).astype(np.uint32):  # many ties
        assert np.array_equal(np.asarray(groups.stable_argsort_by_ranking(jnp.asarray(values))),
                              np.argsort(values, kind="stable"))


@pytest.mark.parametrize("n", [1, 5, 64, 70, 3136])
def test_inverse_of_jax_permutations_without_a_sort_equals_argsort(n):
    rng = np.random.default_rng(n)
    perms = np.stack([rng.permutation(n) for _ in range(12)]).astype(np.int32).reshape(3, 4, n)
    inv = groups.inverse(jnp.asarray(perms))
    assert inv.dtype == jnp.int32 and np.array_equal(np.asarray(inv), np.argsort(perms, axis=-1))
    assert np.array_equal(np.take_along_axis(perms, np.asarray(inv), axis=-1), np.broadcast_to(np.arange(n), perms.shape))
    for invert in (groups.inverse_by_matching, groups.inverse_by_scatter):  # both routes, whatever the degree
        assert np.array_equal(np.asarray(jax.jit(invert)(jnp.asarray(perms))), np.argsort(perms, axis=-1))

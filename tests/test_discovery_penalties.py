"""Penalties of symjax.discovery against brute force and hand calculations."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symjax import discovery


def brute_pairwise(w, p):
    """sum over all pairs j < k of |w_j - w_k|^p, the n^2 way."""
    flat = w.ravel()
    j, k = np.triu_indices(flat.size, 1)
    return jnp.sum(jnp.abs(flat[j] - flat[k]) ** p)


FAST = {p: jax.jit(jax.value_and_grad(lambda w, p=p: discovery.pairwise_tie(w, p))) for p in (1, 2)}
BRUTE = {p: jax.jit(jax.value_and_grad(lambda w, p=p: brute_pairwise(w, p))) for p in (1, 2)}


@settings(max_examples=30, deadline=None)
@given(values=st.sampled_from([1, 2, 9]).flatmap(lambda n: st.lists(st.integers(-3, 3), min_size=n, max_size=n)),
       p=st.sampled_from([1, 2]))
def test_pairwise_tie_value_and_gradient_match_brute_force_with_ties(values, p):
    w = jnp.asarray(values, jnp.float32) / 2  # small integers: many ties
    (value, grad), (brute_value, brute_grad) = FAST[p](w), BRUTE[p](w)
    np.testing.assert_allclose(value, brute_value, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, brute_grad, rtol=1e-5, atol=1e-5)


def test_pairwise_tie_signed_zeros_tie():
    w = jnp.array([-0.0, 0.0, 1.0, -0.0, -2.0])  # an earlier -0 ties with a later +0
    np.testing.assert_array_equal(jax.grad(discovery.pairwise_tie)(w), jax.grad(brute_pairwise, argnums=0)(w, 1))


@pytest.mark.parametrize("p", [1, 2])
def test_pairwise_tie_any_shape_and_under_jit(p):
    w = jax.random.normal(jax.random.key(0), (3, 4, 2))
    expected = brute_pairwise(w, p)
    np.testing.assert_allclose(jax.jit(discovery.pairwise_tie, static_argnums=1)(w, p), expected, rtol=1e-5)
    np.testing.assert_allclose(jax.grad(discovery.pairwise_tie)(w, p), jax.grad(brute_pairwise)(w, p), rtol=1e-4,
                               atol=1e-5)


def test_pairwise_tie_hand_computed():
    w = jnp.array([3.0, 1.0, 2.0])  # pairs: |3-1| + |3-2| + |1-2| = 4; squares: 4 + 1 + 1 = 6
    assert float(discovery.pairwise_tie(w, 1)) == 4.0
    assert float(discovery.pairwise_tie(w, 2)) == pytest.approx(6.0)


def test_offset_tie_border_hand_computed():
    w = jnp.array([1.0, 2.0, 4.0])
    # wrap: pairs (1,2), (2,4), (4,1); cut: (1,2), (2,4)
    assert float(discovery.offset_tie(w, (1,), axes=0, wrap=True)) == 6.0
    assert float(discovery.offset_tie(w, (1,), axes=0, wrap=False)) == 3.0
    assert float(discovery.offset_tie(w, 1, axes=0, wrap=True, p=2)) == 1.0 + 4.0 + 9.0
    # negative shift pairs i with i - 1: the same pairs as +1
    assert float(discovery.offset_tie(w, (-1,), axes=(0,), wrap=False)) == 3.0
    # several shifts are summed; the zero shift costs nothing
    assert float(discovery.offset_tie(w, [(1,), (0,)], axes=0, wrap=False)) == 3.0


def brute_offset(w, shift, axes, wrap, p):
    """Python loops over every index i, partner i + s (mod n or inside the array)."""
    w = np.asarray(w)
    total = 0.0
    for index in itertools.product(*map(range, w.shape)):
        partner = list(index)
        inside = True
        for s, a in zip(shift, axes):
            j = index[a] + s
            if wrap:
                j %= w.shape[a]
            inside &= 0 <= j < w.shape[a]
            partner[a] = j
        if inside:
            total += abs(w[index] - w[tuple(partner)]) ** p
    return total


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("p", [1, 2])
def test_offset_tie_reference_form_several_axes_shifted_together(wrap, p):
    # reference 001 §3.2: w[k, i, j, m, n] against w[k, i+b, j+b, m+b', n+b'] with b = 1, b' = -2
    w = jax.random.normal(jax.random.key(1), (2, 3, 3, 4, 5))
    shift, axes = (1, 1, -2, -2), (1, 2, 3, 4)
    got = discovery.offset_tie(w, shift, axes, wrap=wrap, p=p)
    np.testing.assert_allclose(got, brute_offset(w, shift, axes, wrap, p), rtol=1e-5)


def test_offset_tie_gradient_is_that_of_the_pairs():
    w = jnp.array([1.0, 2.0, 4.0])
    # cut, p=2: (w0-w1)^2 + (w1-w2)^2 -> grad (2(w0-w1), -2(w0-w1)+2(w1-w2), -2(w1-w2)) = (-2, -2, 4)
    np.testing.assert_allclose(jax.grad(discovery.offset_tie)(w, (1,), (0,), False, 2), [-2.0, -2.0, 4.0])


@pytest.mark.parametrize("shift, axes", [((1, 1, -2, -2), (1, 2, 3, 4)), ((2,), (0,)), ((-1, 3), (3, 1)),
                                         ((0, 0), (1, 2))])
def test_cyclic_shift_is_jnp_roll_bitwise_with_its_gradient(shift, axes):
    from symjax.discovery import shifts
    w = jax.random.normal(jax.random.key(2), (3, 4, 3, 5, 6))
    ct = jax.random.normal(jax.random.key(3), w.shape)
    roll = lambda x: jnp.roll(x, [-s for s in shift], axes)
    fast = lambda x: shifts.cyclic_shift(x, shift, axes)
    np.testing.assert_array_equal(fast(w), roll(w))
    np.testing.assert_array_equal(jax.vjp(fast, w)[1](ct)[0], jax.vjp(roll, w)[1](ct)[0])
    # lanes: vmapped over a leading axis, jitted
    lanes = jnp.stack([w, 2 * w])
    np.testing.assert_array_equal(jax.jit(jax.vmap(fast))(lanes), jax.vmap(roll)(lanes))
    pen = lambda f: (lambda x: jnp.sum(jnp.abs(x - f(x))))
    np.testing.assert_array_equal(jax.jit(jax.vmap(jax.grad(pen(fast))))(lanes), jax.vmap(jax.grad(pen(roll)))(lanes))


def test_sigmoid_sparsity_and_l1_hand_computed():
    w = jnp.array([0.0, math.log(3.0) / 100, -2.0])
    # sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-200) ~ 0
    assert float(discovery.sigmoid_sparsity(w)) == pytest.approx(0.5 + 0.75, abs=1e-6)
    assert float(discovery.sigmoid_sparsity(w, scale=0.0)) == pytest.approx(1.5)
    assert float(discovery.l1(w)) == pytest.approx(2.0 + math.log(3.0) / 100)


@pytest.mark.parametrize("call, message", [
    (lambda: discovery.pairwise_tie(jnp.ones(3), p=3), "p must be 1 or 2; got 3"),
    (lambda: discovery.offset_tie(jnp.ones(3), jnp.ones(1), 0, p=0), "p must be 1 or 2"),
    (lambda: discovery.offset_tie(jnp.ones((3, 4)), (1, 4), axes=(0, 1)), "shift 4 along axis 1 is too large"),
    (lambda: discovery.offset_tie(jnp.ones((3, 4)), (1,), axes=(0, 1)), "one offset per axis"),
    (lambda: discovery.offset_tie(jnp.ones((3, 4)), (1, 1), axes=(0, -2)), "axes must be distinct"),
    (lambda: discovery.offset_tie(jnp.ones((3, 4)), (1,), axes=(2,)), "axis 2 is out of range"),
    (lambda: discovery.sigmoid_sparsity(jnp.ones(3), scale=-1.0), "scale must be a finite number >= 0; got -1.0"),
    (lambda: discovery.l1(jnp.array([1.0, jnp.nan])), "w must be finite; got 1 NaN/inf entries of 2"),
    (lambda: discovery.pairwise_tie(jnp.arange(3)), "floating-point weights; got dtype int32"),
])
def test_bad_input_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        call()
    assert "\n" not in str(info.value)


def test_value_checks_skipped_under_jit_shape_checks_kept():
    nan = jnp.array([1.0, jnp.nan])
    assert np.isnan(jax.jit(discovery.l1)(nan))
    with pytest.raises(ValueError, match="too large"):
        jax.jit(lambda w: discovery.offset_tie(w, 2, 0))(nan)

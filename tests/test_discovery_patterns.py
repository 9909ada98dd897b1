"""Presets, reference 001's pattern measures and tree_penalty (symjax.discovery)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen, nnx

from symjax import discovery
from symjax.discovery import presets
from symjax.sharing import orbit_index_map


def test_candidates_1d_orbit_counts_by_hand():
    # on pairs (i, j) of 10 points: S_10 diagonal / off-diagonal; C_10 the difference j - i mod 10;
    # D_10 the difference up to sign (0, 5 and four pairs = 6); mirror (i, j) ~ (9 - i, 9 - j): 50 pairs
    counts = {name: orbit_index_map(*pair)[1] for name, pair in presets.candidates_1d(10, 10).items()}
    assert counts == {"trivial": 100, "S_10": 2, "C_10": 10, "D_10": 6, "mirror_10": 50}
    # invariant outputs: one orbit per output for any group transitive on the 10 points
    invariant = presets.candidates_1d(3, 10, output="invariant")
    assert orbit_index_map(*invariant["S_10"])[1] == 3
    assert orbit_index_map(*invariant["mirror_10"])[1] == 3 * 5
    both = presets.candidates_1d(20, 10, output="both")
    assert {"S_10 equivariant", "S_10 invariant", "trivial"} <= set(both)
    # 2 channels per point on each side: S_10 has 2 x 2 channel pairs on each of its 2 point-pair orbits
    assert orbit_index_map(*presets.candidates_1d(20, 20, points=10)["S_10"])[1] == 8


def convolution(f, grid, stride):
    """W[t, p] = f[(p - stride t) mod P] for 1-D or 2-D grids, built with Python loops."""
    image = f.shape
    t_points = list(np.ndindex(*grid))
    p_points = list(np.ndindex(*image))
    w = np.empty((len(t_points), len(p_points)))
    for a, t in enumerate(t_points):
        for b, p in enumerate(p_points):
            w[a, b] = f[tuple((pi - s * ti) % n for pi, ti, s, n in zip(p, t, stride, image))]
    return w


@pytest.mark.parametrize("grid, image", [((5,), (10,)), ((2, 3), (4, 6)), ((3, 3), (3, 3))])
def test_translation_pair_shares_exactly_the_convolutions(grid, image):
    stride = tuple(p // t for p, t in zip(image, grid))
    out, inp = presets.translation_pair(grid, image)
    # orbits of (t, p): one per value of p - stride t, i.e. one per pixel
    assert orbit_index_map(out, inp)[1] == int(np.prod(image))
    f = np.random.default_rng(0).normal(size=image)
    w = convolution(f, grid, stride)
    assert float(discovery.sharing_score(w, out, inp, layout="out_in")) < 1e-12
    random = np.random.default_rng(1).normal(size=w.shape)
    assert float(discovery.sharing_score(random, out, inp, layout="out_in")) > 0.5


def test_a_convolution_ranks_full_translations_first():
    f = np.random.default_rng(2).normal(size=(4, 4))
    rows = discovery.rank_symmetries(convolution(f, (4, 4), (1, 1)), presets.candidates_2d(4, 4), layout="out_in")
    names = [r["name"] for r in rows]
    # translations and its one-axis and diagonal subgroups share it exactly (score 0, ties to fewest orbits);
    # flips do not
    assert names[0] == "C_4 x C_4" and set(names[1:4]) == {"C_4 (vertical)", "C_4 (horizontal)", "C_4 (diagonal)"}
    assert all(r["score"] < 1e-10 for r in rows[:4])
    assert set(names[4:]) == {"trivial", "D_4 x D_4", "S_16"} and all(r["score"] > 0.1 for r in rows[4:])


def test_a_weight_tied_only_along_diagonal_shifts_ranks_the_diagonal_group_first():
    """W[t, p] = G[t2 - t1, p - t1 (1, 1)]: unchanged by t -> t + (1, 1), p -> p + (1, 1) and by nothing larger
    (the tie of reference 001's 2-D offset penalty with b = b' = 1)."""
    g = np.random.default_rng(5).normal(size=(4, 4, 4))
    w = np.empty((16, 16))
    for (t1, t2), (p1, p2) in itertools.product(np.ndindex(4, 4), np.ndindex(4, 4)):
        w[t1 * 4 + t2, p1 * 4 + p2] = g[(t2 - t1) % 4, (p1 - t1) % 4, (p2 - t1) % 4]
    rows = discovery.rank_symmetries(w, presets.candidates_2d(4, 4), layout="out_in")
    assert rows[0]["name"] == "C_4 (diagonal)" and rows[0]["score"] < 1e-12
    assert all(r["score"] > 0.3 for r in rows[1:])
    out, inp = presets.diagonal_translation_pair((2, 4), (4, 8))  # strides (2, 2); order lcm(2, 4) = 4
    assert out.group.order == 4 and inp.size == 32 and out.size == 8


@pytest.mark.parametrize("call, message", [
    (lambda: presets.pair(presets.mirror(4), 6, 8), "n_out = 6 to be a multiple of the 4 points"),
    (lambda: presets.pair(presets.mirror(4), 4, 6), "n_in = 6 must be a multiple"),
    (lambda: presets.pair(presets.mirror(4), 4, 8, output="both"), "output must be 'equivariant' or 'invariant'"),
    (lambda: presets.candidates_1d(10, 10, output="x"), "output must be one of"),
    (lambda: presets.translation_pair((3,), (7,)), "each a multiple of the grid"),
    (lambda: presets.translation_pair((3, 3, 3)), "grid must have 1 or 2 axes"),
    (lambda: presets.candidates_2d(0, 4), "height must be a positive integer"),
    (lambda: presets.diagonal_translation_pair((4,)), "diagonal translations need a 2-D grid"),
])
def test_preset_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_column_sum_deviation_hand_computed_and_layout():
    # out_in: each input j's weights summed over outputs i are the column sums 1 and 0.75 -> mean |.-1| = 0.125
    w = np.array([[1.0, 0.5], [0.0, 0.25]])
    assert float(discovery.column_sum_deviation(w, layout="out_in")) == pytest.approx(0.125)
    assert float(discovery.column_sum_deviation(w.T, layout="in_out")) == pytest.approx(0.125)
    # a permuted identity is the exact set sum
    assert float(discovery.column_sum_deviation(np.eye(5)[[2, 0, 4, 1, 3]], layout="out_in")) == 0.0
    assert float(discovery.column_sum_deviation(w, layout="out_in", target=0.5)) == pytest.approx(0.375)
    with pytest.raises(ValueError, match="expects a 2-D weight matrix"):
        discovery.column_sum_deviation(np.ones(3), layout="out_in")


def test_translation_correlation_hand_computed():
    # cut, shift (1, 1): [1, 0, 0, 0] against [0, 2, 3, 0]: centred dot -1.25, norms^2 0.75 and 6.75 -> -5/9
    w = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 3.0, 0.0]]])
    assert float(discovery.translation_correlation(w, wrap=False)) == pytest.approx(-5 / 9, rel=1e-6)


def test_translation_correlation_of_convolutions_and_noise():
    rng = np.random.default_rng(3)
    one_d = np.stack([convolution(rng.normal(size=(10,)), (5,), (2,)) for _ in range(3)])  # (3, 5, 10)
    assert float(discovery.translation_correlation(one_d, stride=2)) == pytest.approx(1.0, abs=1e-6)
    two_d = np.stack([convolution(rng.normal(size=(4, 6)), (2, 3), (2, 2)) for _ in range(2)]).reshape(2, 2, 3, 4, 6)
    assert float(discovery.translation_correlation(two_d, stride=(2, 2))) == pytest.approx(1.0, abs=1e-6)
    noise = rng.normal(size=(5, 10, 10))
    assert abs(float(discovery.translation_correlation(noise))) < 0.1
    with pytest.raises(ValueError, match=r"\(C, T, P\) or \(C, T1, T2, P1, P2\)"):
        discovery.translation_correlation(np.ones((3, 3)))
    with pytest.raises(ValueError, match="shift 10 along axis 1 is too large"):
        discovery.translation_correlation(noise, stride=10)


def test_tree_penalty_on_linen_and_nnx_params():
    model = linen.Sequential([linen.Dense(4), linen.relu, linen.Dense(1)])
    params = model.init(jax.random.key(0), jnp.ones((1, 3)))
    first = params["params"]["layers_0"]["kernel"]
    got = discovery.tree_penalty(params, discovery.l1, select=r"layers_0/kernel", weight=2.0)
    assert float(got) == pytest.approx(2 * float(jnp.sum(jnp.abs(first))))
    everything = discovery.tree_penalty(params, discovery.l1, select=lambda name, leaf: leaf.ndim == 2)
    kernels = sum(float(jnp.sum(jnp.abs(params["params"][k]["kernel"]))) for k in ("layers_0", "layers_2"))
    assert float(everything) == pytest.approx(kernels, rel=1e-6)

    layer = nnx.Linear(3, 4, rngs=nnx.Rngs(0))
    state = nnx.state(layer, nnx.Param)
    got = discovery.tree_penalty(state, discovery.l1, select="kernel")
    assert float(got) == pytest.approx(float(jnp.sum(jnp.abs(layer.kernel[...]))))
    # a traced per-lane weight passes unchecked
    traced = jax.jit(lambda lam: discovery.tree_penalty(state, discovery.l1, select="kernel", weight=lam))
    assert float(traced(0.0)) == 0.0


def test_tree_penalty_bad_input():
    params = {"a": jnp.ones(2)}
    with pytest.raises(ValueError, match=r"matches no leaf; the leaves are \['a'\]"):
        discovery.tree_penalty(params, discovery.l1, select="kernel")
    with pytest.raises(ValueError, match=r"weight \(λ\) must be a finite number >= 0; got -1.0"):
        discovery.tree_penalty(params, discovery.l1, select="a", weight=-1.0)

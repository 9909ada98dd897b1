"""Orbit projection, orbit_tie, sharing distance/score and rank_symmetries (symjax.discovery)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symjax import actions, discovery, functional, groups, metrics
from symjax.sharing import orbit_index_map

S3 = groups.symmetric(3)
BASE3 = actions.base(S3)
W_HAND = np.array([[1.0, 2.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
# S_3 on base x base: orbits = diagonal (mean 6/3 = 2) and off-diagonal (mean 2/6 = 1/3)
P_HAND = np.array([[2.0, 1 / 3, 1 / 3], [1 / 3, 2.0, 1 / 3], [1 / 3, 1 / 3, 2.0]])
# ||W - PW||^2 = (1 + 4 + 1) + (5/3)^2 + 5 (1/3)^2 = 28/3; ||W||^2 = 22; k = 2 of mn = 9
RESIDUAL_HAND, TOTAL_HAND, CHANCE_HAND = 28 / 3, 22.0, 7 / 9


def test_projection_distance_score_hand_computed_both_layouts():
    np.testing.assert_allclose(discovery.orbit_projection(W_HAND, BASE3, BASE3, layout="out_in"), P_HAND, rtol=1e-6)
    np.testing.assert_allclose(discovery.orbit_projection(W_HAND.T, BASE3, BASE3, layout="in_out"), P_HAND.T,
                               rtol=1e-6)
    assert float(discovery.orbit_tie(W_HAND, BASE3, BASE3, layout="out_in")) == pytest.approx(RESIDUAL_HAND, rel=1e-6)
    distance = discovery.sharing_distance(W_HAND, BASE3, BASE3, layout="out_in")
    assert float(distance) == pytest.approx(math.sqrt(RESIDUAL_HAND / TOTAL_HAND), rel=1e-6)
    score = discovery.sharing_score(W_HAND.T, BASE3, BASE3, layout="in_out")
    assert float(score) == pytest.approx(RESIDUAL_HAND / TOTAL_HAND / CHANCE_HAND, rel=1e-6)  # = 6/11


def test_layout_orients_a_non_square_matrix():
    # 2 invariant outputs, S_3 permuting 3 inputs: each output's row becomes its mean
    out, inp = actions.trivial(S3, 2), BASE3
    w = np.array([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    expected = np.array([[3.0, 3.0, 3.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(discovery.orbit_projection(w, out, inp, layout="out_in"), expected, rtol=1e-6)
    np.testing.assert_allclose(discovery.orbit_projection(w.T, out, inp, layout="in_out"), expected.T, rtol=1e-6)
    with pytest.raises(ValueError, match=r"w has shape \(3, 2\) but layout 'out_in' .* expects \(2, 3\)"):
        discovery.orbit_projection(w.T, out, inp, layout="out_in")


def dense_projector(action_out, action_in):
    """The (mn x mn) orthogonal projector A (A^T A)^-1 A^T, A the one-hot orbit indicator: the slow route."""
    index_map, k = orbit_index_map(action_out, action_in)
    indicator = np.eye(k)[index_map.ravel()]
    return indicator @ np.linalg.inv(indicator.T @ indicator) @ indicator.T


def test_orbit_tie_and_its_gradient_match_a_dense_projector():
    out, inp = actions.blocks(groups.dihedral(4), 2), actions.direct_sum(actions.base(groups.dihedral(4)),
                                                                         actions.trivial(groups.dihedral(4), 1))
    w = jax.random.normal(jax.random.key(0), (out.size, inp.size))
    projector = jnp.asarray(dense_projector(out, inp), jnp.float32)

    def slow(v):
        r = v.ravel() - projector @ v.ravel()
        return jnp.sum(r * r)

    np.testing.assert_allclose(discovery.orbit_tie(w, out, inp, layout="out_in"), slow(w), rtol=1e-5)
    fast_grad = jax.grad(lambda v: discovery.orbit_tie(v, out, inp, layout="out_in"))(w)
    np.testing.assert_allclose(fast_grad, jax.grad(slow)(w), rtol=1e-4, atol=1e-5)
    # forward mode and under jit + vmap
    tangent = jax.random.normal(jax.random.key(1), w.shape)
    _, jvp = jax.jvp(lambda v: discovery.orbit_tie(v, out, inp, layout="out_in"), (w,), (tangent,))
    np.testing.assert_allclose(jvp, jnp.vdot(jax.grad(slow)(w), tangent), rtol=1e-4)
    batched = jax.jit(jax.vmap(lambda v: discovery.orbit_tie(v.T, out, inp, layout="in_out")))(jnp.stack([w, 2 * w]))
    np.testing.assert_allclose(batched, [slow(w), 4 * slow(w)], rtol=1e-4)


def test_shared_layer_scores_zero_for_its_group_and_more_for_a_larger_one():
    c5, s5 = groups.cyclic(5), groups.symmetric(5)
    spec = functional.SharedDense(actions.blocks(c5, 2), actions.blocks(c5, 3), parametrization="standard")
    w = spec.weights(functional.init(jax.random.key(3), spec))  # (15, 10), a C_5-shared matrix
    assert float(discovery.sharing_score(w, spec.action_out, spec.action_in, layout="out_in")) < 1e-12
    larger = (actions.blocks(s5, 3), actions.blocks(s5, 2))
    assert float(discovery.sharing_score(w, *larger, layout="out_in")) > 0.1
    coefficients = functional.init(jax.random.key(3), spec)["w"]
    for matrix, layout in ((w, "out_in"), (w.T, "in_out")):
        np.testing.assert_allclose(discovery.orbit_coefficients(matrix, spec.action_out, spec.action_in,
                                                                layout=layout), coefficients, rtol=1e-6)


@pytest.mark.parametrize("group, channels_out, channels_in", [
    (groups.symmetric(4), 2, 3), (groups.cyclic(5), 1, 2), (groups.dihedral(6), 1, 1)])
def test_chance_level_is_the_mean_residual_fraction_of_gaussian_weights(group, channels_out, channels_in):
    """Monte Carlo over 2000 i.i.d. N(0, 1) matrices: mean of ||W - PW||^2 / ||W||^2 = 1 - k/(mn)."""
    out, inp = actions.blocks(group, channels_out), actions.blocks(group, channels_in)
    draws = jax.random.normal(jax.random.key(7), (2000, out.size, inp.size))
    fractions = np.asarray(jax.jit(jax.vmap(
        lambda v: discovery.sharing_distance(v, out, inp, layout="out_in") ** 2))(draws), np.float64)
    _, k = orbit_index_map(out, inp)
    expected = 1 - k / (out.size * inp.size)
    standard_error = fractions.std(ddof=1) / math.sqrt(len(fractions))
    assert abs(fractions.mean() - expected) < 4 * standard_error, (fractions.mean(), expected, standard_error)
    assert discovery.chance_level(out, inp) == pytest.approx(expected)
    scores = jax.vmap(lambda v: discovery.sharing_score(v, out, inp, layout="out_in"))(draws)
    assert abs(float(jnp.mean(scores)) - 1.0) < 4 * standard_error / expected


def test_score_conventions_for_zero_weights_and_the_trivial_group():
    assert float(discovery.sharing_distance(np.zeros((3, 3)), BASE3, BASE3, layout="out_in")) == 0.0
    assert float(discovery.sharing_score(np.zeros((3, 3)), BASE3, BASE3, layout="out_in")) == 0.0
    trivial = groups.from_generators([], degree=1, name="1")
    pair = (actions.trivial(trivial, 3), actions.trivial(trivial, 3))
    assert float(discovery.sharing_distance(W_HAND, *pair, layout="out_in")) == 0.0
    assert float(discovery.sharing_score(W_HAND, *pair, layout="out_in")) == 1.0


def test_rank_symmetries_orders_by_score_and_prints():
    c3 = groups.cyclic(3)
    trivial = groups.from_generators([], degree=1, name="1")
    # a circulant matrix: C_3-shared, not S_3-shared
    w = np.array([[0.0, 3.0, -3.0], [-3.0, 0.0, 3.0], [3.0, -3.0, 0.0]])
    candidates = {"trivial": (actions.trivial(trivial, 3), actions.trivial(trivial, 3)),
                  "S_3": (BASE3, BASE3), "C_3": (actions.base(c3), actions.base(c3))}
    rows = discovery.rank_symmetries(w, candidates, layout="out_in")
    assert [r["name"] for r in rows] == ["C_3", "trivial", "S_3"]
    # S_3: diagonal mean 0 exact, off-diagonal entries (+-3) mean 0: residual = ||W||^2, score 1 / (7/9)
    s3 = rows[2]
    assert (s3["order"], s3["orbits"]) == (6, 2)
    assert s3["score"] == pytest.approx(9 / 7, rel=1e-6)
    assert rows[0]["score"] < 1e-12 and rows[1]["score"] == 1.0
    table = discovery.ranking_table(rows)
    assert table.splitlines()[2].startswith("| 1 | C_3 | C_3 | 3 | 3 |")
    assert len(table.splitlines()) == 5


def test_rank_symmetries_exact_ties_go_to_the_larger_group():
    # invariant outputs: every transitive group on the inputs has the same orbits as S_3
    w = np.array([[1.0, 1.0, 1.0], [2.0, 2.5, 2.0]])
    candidates = {"C_3": (actions.trivial(groups.cyclic(3), 2), actions.base(groups.cyclic(3))),
                  "S_3": (actions.trivial(S3, 2), BASE3)}
    assert [r["name"] for r in discovery.rank_symmetries(w, candidates, layout="out_in")] == ["S_3", "C_3"]


def test_rank_symmetries_a_subgroup_fitting_noise_within_the_tolerance_ranks_below_its_group():
    from symjax.discovery import presets
    mirror = presets.mirror(3)  # (0 2): a subgroup of S_3 with more orbits
    w = np.array([[1.01, 0.98, 1.01]])  # mirror-shared exactly; S_3 residual (0.01, -0.02, 0.01)
    candidates = {"S_3": (actions.trivial(S3, 1), BASE3), "mirror": (actions.trivial(mirror, 1), actions.base(mirror))}
    # S_3: ||r||^2 = 6e-4 over ||W||^2 ~ 3, chance 2/3 -> score ~ 3e-4; mirror: 0
    assert [r["name"] for r in discovery.rank_symmetries(w, candidates, layout="out_in")] == ["S_3", "mirror"]
    strict = discovery.rank_symmetries(w, candidates, layout="out_in", tie_tolerance=0.0)
    assert [r["name"] for r in strict] == ["mirror", "S_3"]
    assert strict[1]["score"] == pytest.approx(6e-4 / np.sum(w ** 2) / (2 / 3), rel=1e-4)


@pytest.mark.parametrize("call, message", [
    (lambda: discovery.rank_symmetries(W_HAND, {}, layout="out_in"), "candidates must be a non-empty dict"),
    (lambda: discovery.rank_symmetries(W_HAND, {"x": (BASE3, actions.blocks(S3, 2))}, layout="out_in"),
     r"candidate 'x' expects w of shape \(3, 6\) in layout 'out_in'; got \(3, 3\)"),
    (lambda: discovery.orbit_tie(W_HAND, BASE3, BASE3, layout="kernel"), "layout must be 'out_in'"),
    (lambda: discovery.orbit_tie(W_HAND, BASE3, BASE3, layout=None), "layout must be 'out_in'"),
    (lambda: discovery.sharing_score(np.ones((3, 4)), BASE3, BASE3, layout="in_out"),
     r"w has shape \(3, 4\) but layout 'in_out' .* expects \(3, 3\)"),
    (lambda: discovery.orbit_projection(np.full((3, 3), np.nan), BASE3, BASE3, layout="out_in"), "must be finite"),
])
def test_bad_input_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_shape_checks_hold_under_jit():
    with pytest.raises(ValueError, match="expects"):
        jax.jit(lambda v: discovery.orbit_tie(v, BASE3, BASE3, layout="out_in"))(jnp.ones((3, 4)))


def test_symmetry_error_of_a_softly_shared_layer():
    """metrics.symmetry_error (eq. 8) applies unchanged: ~0 for a dense layer with weights P_G W."""
    s4 = groups.symmetric(4)
    out, inp = actions.blocks(s4, 3), actions.blocks(s4, 2)
    w = jax.random.normal(jax.random.key(4), (out.size, inp.size))
    shared = discovery.orbit_projection(w, out, inp, layout="out_in")
    x = jax.random.normal(jax.random.key(5), (16, inp.size))
    error = lambda weights: float(metrics.symmetry_error(lambda v: v @ weights.T, x, inp, out, jax.random.key(6)))
    assert error(shared) < 1e-10
    assert error(w) > 0.1


def test_large_penalty_training_converges_to_the_hard_shared_layer():
    """λ -> ∞ limit: a plain dense layer trained with MSE + λ orbit_tie equals the hard-shared fit."""
    s3 = groups.symmetric(3)
    spec = functional.SharedDense(actions.blocks(s3, 2), actions.blocks(s3, 2), use_bias=False)
    out, inp = spec.action_out, spec.action_in
    x = jax.random.normal(jax.random.key(8), (64, inp.size))
    y = x @ jax.random.normal(jax.random.key(9), (inp.size, out.size))  # a target that is not S_3-equivariant
    # hard-shared least squares: the layer is linear in its coefficients, so its design matrix has column l =
    # the layer's output for the l-th unit coefficient vector
    basis = np.eye(spec.num_weights, dtype=np.float32)
    design = np.stack([np.asarray(spec.apply({"w": e}, x)).ravel() for e in basis], axis=1)
    coefficients = np.linalg.lstsq(design, np.asarray(y).ravel(), rcond=None)[0]
    hard_w = np.asarray(spec.weights({"w": jnp.asarray(coefficients, jnp.float32)}))

    def train(lam, steps):
        """Plain gradient descent, step 1 / (2 λ + 4) below 2 / (largest curvature)."""
        def loss(w):
            return jnp.mean(jnp.square(x @ w.T - y)) + lam * discovery.orbit_tie(w, out, inp, layout="out_in")

        def step(w, _):
            return w - jax.grad(loss)(w) / (2 * lam + 4), None

        w0 = jax.random.normal(jax.random.key(10), (out.size, inp.size)) / 3
        return np.asarray(jax.lax.scan(step, w0, length=steps)[0])

    relative = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)
    distances = []
    for lam, steps in [(1e2, 20_000), (1e3, 100_000)]:
        soft = train(lam, steps)
        distances.append(float(discovery.sharing_distance(soft, out, inp, layout="out_in")))
        assert relative(np.asarray(discovery.orbit_projection(soft, out, inp, layout="out_in")), hard_w) < 2e-3
        assert relative(np.asarray(x @ soft.T), np.asarray(spec.apply({"w": coefficients}, x))) < 1e-2
    assert distances[0] < 1e-2 and distances[1] < distances[0] / 5  # the distance falls like 1 / λ
    assert relative(train(0.0, 20_000), hard_w) > 0.3  # without the penalty the fit is elsewhere

"""Options that restore the study's exact settings where the project departs from it (issue 16).

Each test checks an option against an independent route: the definition
written out by hand, brute force, or a number computed from the data files.
"""

import collections
import math
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy import stats

from symjax import actions, groups, metrics
from symjax.data import three_body as tb
from symjax.data import tu
from symjax.models import graph_models as gm
from symjax.report import significance

NCI1_DIR = Path(tu.__file__).resolve().parents[2].parent / "shared" / "data" / "NCI1"
needs_nci1 = pytest.mark.skipif(not (NCI1_DIR / "NCI1_A.txt").is_file(), reason=f"NCI1 not present at {NCI1_DIR}")


# ---------------------------------------------------------------- task 3: initial-velocity centring
def _raw_draw(seed, num):
    """The N(0, 1) draw sample_initial_states starts from, per state, particle, (px, py, vx, vy)."""
    return np.random.default_rng(seed).normal(size=(num, 3, 4))


def test_plain_centring_removes_the_plain_mean_of_the_velocities():
    num = 20
    states = tb.sample_initial_states(np.random.default_rng(7), num, velocity_centring="plain")
    raw = _raw_draw(7, num)
    for k in range(num):
        vel = [raw[k, i, 2:] for i in range(3)]
        mean = (vel[0] + vel[1] + vel[2]) / 3.0
        for i in range(3):
            np.testing.assert_allclose(states[k, 4 * i: 4 * i + 2], raw[k, i, :2], rtol=0, atol=0)
            np.testing.assert_allclose(states[k, 4 * i + 2: 4 * i + 4], vel[i] - mean, rtol=0, atol=1e-15)
    v = states.reshape(num, 3, 4)[..., 2:]
    np.testing.assert_allclose(v.sum(axis=1), 0.0, atol=1e-14)


def test_mass_centring_zeroes_the_momentum_and_the_two_differ():
    num = 20
    mass = tb.sample_initial_states(np.random.default_rng(7), num, velocity_centring="mass")
    plain = tb.sample_initial_states(np.random.default_rng(7), num, velocity_centring="plain")
    default = tb.sample_initial_states(np.random.default_rng(7), num)
    np.testing.assert_array_equal(default, mass)
    masses = (10.0, 10.0, 20.0)  # the study's masses, written out
    momentum = lambda s: sum(masses[i] * s[:, 4 * i + 2: 4 * i + 4] for i in range(3))
    np.testing.assert_allclose(momentum(mass), 0.0, atol=1e-13)
    # Plain centring leaves P = 10 v1 + 10 v2 + 20 v3 = 10 (v1 + v2 + v3) + 10 v3 = 10 v3.
    np.testing.assert_allclose(momentum(plain), 10.0 * plain[:, 10:12], atol=1e-13)
    assert np.min(np.linalg.norm(momentum(plain), axis=1)) > 1e-3
    # Both keep the positions and shift every particle of a state by the same velocity.
    np.testing.assert_array_equal(mass.reshape(num, 3, 4)[..., :2], plain.reshape(num, 3, 4)[..., :2])
    shift = mass.reshape(num, 3, 4)[..., 2:] - plain.reshape(num, 3, 4)[..., 2:]
    np.testing.assert_allclose(shift, np.repeat(shift[:, :1], 3, axis=1), atol=1e-14)
    assert np.min(np.abs(shift)) > 0


def test_velocity_centring_reaches_make_dataset_and_bad_values_are_refused():
    data = tb.make_dataset(3, 2, 1, num_steps=20, velocity_centring="plain")
    v = data["train_initial"].reshape(-1, 3, 4)[..., 2:]
    np.testing.assert_allclose(v.sum(axis=1), 0.0, atol=1e-14)
    np.testing.assert_array_equal(data["train_x"][0], data["train_initial"][0])
    with pytest.raises(ValueError, match="velocity_centring must be one of"):
        tb.sample_initial_states(np.random.default_rng(0), 2, velocity_centring="centre")


# ---------------------------------------------------------------- task 3: standardisation
def test_normalize_none_leaves_raw_states_bitwise():
    x = np.random.default_rng(0).normal(scale=5.0, size=(64, 12))
    mean, std = tb.fit_normalizer(x, mode="none")
    np.testing.assert_array_equal(tb.normalize(x, mean, std), x)
    np.testing.assert_array_equal(tb.denormalize(x, mean, std), x)
    np.testing.assert_array_equal(tb.normalize(x.astype(np.float32), mean, std).astype(np.float32),
                                  x.astype(np.float32))
    # The default is the pooled standardisation: particle 3's px column is centred and scaled by hand.
    mean_s, std_s = tb.fit_normalizer(x)
    col = x[:, 8]
    assert mean_s[8] == pytest.approx(col.sum() / col.size)
    assert std_s[8] == pytest.approx(math.sqrt(((col - col.mean()) ** 2).sum() / col.size))
    with pytest.raises(ValueError, match="mode must be one of"):
        tb.fit_normalizer(x, mode="raw")


# ---------------------------------------------------------------- task 3: split by trajectory
def test_split_by_trajectory_is_disjoint_sized_and_seeded():
    per = 499
    for size in (1000, 5000, 20000):
        train, val = tb.split_pairs_by_trajectory([5, 0, size], size, 81)
        assert (train.size, val.size) == (round(0.8 * size), size - round(0.8 * size))
        assert np.unique(np.concatenate([train, val])).size == size
        assert train.min() >= 0 and max(train.max(), val.max()) < 81 * per
        assert not set((train // per).tolist()) & set((val // per).tolist())
        again = tb.split_pairs_by_trajectory([5, 0, size], size, 81)
        np.testing.assert_array_equal(again[0], train)
        np.testing.assert_array_equal(again[1], val)
        other = tb.split_pairs_by_trajectory([5, 1, size], size, 81)
        assert not np.array_equal(other[1], val)
    # 1000 pairs of 81 trajectories: the proportional share, round(81 * 200 / 1000) = 16 validation trajectories.
    train, val = tb.split_pairs_by_trajectory(0, 1000, 81)
    assert len(set((val // per).tolist())) <= 16
    assert len(set((train // per).tolist())) > 16


def test_split_by_trajectory_refuses_too_few_trajectories():
    # 40000 pairs: 32000 training pairs need 65 trajectories of 499 (64 hold 31936), 8000 validation
    # pairs 17 (16 hold 7984): 82. The --quick pool (99 pairs each), 1000 pairs: 800 -> 9, 200 -> 3.
    assert tb.trajectories_for_split(40000) == 82
    assert tb.trajectories_for_split(1000, pairs_per_trajectory=99) == 12
    assert tb.trajectories_for_split(1000) == 3
    with pytest.raises(ValueError, match="needs at least 82 trajectories of 499 pairs; got 81"):
        tb.split_pairs_by_trajectory(0, 40000, 81)
    train, val = tb.split_pairs_by_trajectory(0, 40000, 82)
    assert not set((train // 499).tolist()) & set((val // 499).tolist())
    with pytest.raises(ValueError, match="data_size must be an integer >= 2"):
        tb.split_pairs_by_trajectory(0, 1, 81)


# ---------------------------------------------------------------- task 2: the flat vanilla model
@pytest.fixture(scope="module")
def nci1():
    return tu.load_tu_dataset(NCI1_DIR)


def test_flat_vanilla_parameters_by_hand():
    model = gm.graph_model("vanilla_flat", 3)
    assert model.input_size == 50 * 50 + 50 * 37 == 4350
    params = jax.eval_shape(model.init, jax.random.key(0))
    by_hand = (4350 + 1) * 64 + (64 + 1) * 64 + (64 + 1) * 16 + (16 + 1) * 16 + (16 + 1) * 2
    assert metrics.count_params(params) == by_hand == 283970
    big = gm.FlatVanillaGraphModel(max_nodes=111, hidden=(8,))
    big_params = jax.eval_shape(big.init, jax.random.key(0))
    assert metrics.count_params(big_params) == (111 * 111 + 111 * 37 + 1) * 8 + (8 + 1) * 8 + (8 + 1) * 2


def _numpy_flat_mlp(params, a, x, widths):
    """The flat vanilla written out in numpy: vec(A), vec(X) -> dense layers -> classifier."""
    leaky = lambda z: np.where(z > 0, z, 0.01 * z)
    h = np.concatenate([a.reshape(-1), x.reshape(-1)])
    for k in range(len(widths)):
        h = leaky(h @ np.asarray(params[f"mlp_{k}"]["kernel"]) + np.asarray(params[f"mlp_{k}"]["bias"]))
    h = leaky(h @ np.asarray(params["head_0"]["kernel"]) + np.asarray(params["head_0"]["bias"]))
    return h @ np.asarray(params["head_1"]["kernel"]) + np.asarray(params["head_1"]["bias"])


@needs_nci1
def test_flat_vanilla_on_nci1_is_the_flat_mlp_and_not_invariant(nci1):
    kept, _ = tu.select_by_size(nci1, 50)
    a, x, mask = tu.dense_batch(nci1, kept[:6], 50)
    model = gm.FlatVanillaGraphModel(50, (16, 8))
    params = model.init(jax.random.key(1))
    logits = jax.jit(model.apply)(params, (a, x, mask))
    assert logits.shape == (6, 2)
    assert model.apply(params, (a[0], x[0], mask[0])).shape == (2,)
    for b in range(6):
        np.testing.assert_allclose(logits[b], _numpy_flat_mlp(params, a[b], x[b], (16, 8)), rtol=1e-4, atol=1e-5)
    s_n = groups.symmetric(50)
    err = lambda m, p: float(jax.jit(lambda p: metrics.symmetry_error(
        lambda g: m.apply(p, g), (a, x, mask), actions.GraphAction(s_n), actions.trivial(s_n, 2),
        jax.random.key(2)))(p))
    assert err(model, params) > 1e-4
    shared = gm.SharedGraphModel((4,))
    assert err(shared, shared.init(jax.random.key(1))) < 1e-10  # the same measurement sees an invariant model
    with pytest.raises(ValueError, match=r"FlatVanillaGraphModel\(max_nodes=50\) expects A"):
        model.apply(params, (a[:, :40, :40], x[:, :40], mask[:, :40]))


# ---------------------------------------------------------------- task 2: all graphs
@needs_nci1
def test_node_cap_none_is_the_largest_nci1_graph(nci1):
    counts = collections.Counter(int(t) for t in (NCI1_DIR / "NCI1_graph_indicator.txt").read_text().split())
    largest = max(counts.values())
    assert tu.node_cap(nci1) == largest == 111
    assert tu.node_cap(nci1, 50) == 50
    kept, dropped = tu.select_by_size(nci1, tu.node_cap(nci1))
    assert (kept.size, dropped) == (len(counts), 0) == (4110, 0)
    biggest = max(counts, key=counts.get) - 1  # 0-based graph id
    a, x, mask = tu.dense_batch(nci1, [biggest, 0], tu.node_cap(nci1))
    assert a.shape == (2, 111, 111) and x.shape == (2, 111, 37)
    assert mask.sum(axis=1).tolist() == [111, counts[1]]
    # Its directed edges, counted in the raw file: lines whose sender is one of its (1-based) nodes.
    end = sum(c for g, c in counts.items() if g <= biggest + 1)
    start = end - counts[biggest + 1]
    edges = [line for line in (NCI1_DIR / "NCI1_A.txt").read_text().splitlines() if line.strip()]
    assert a[0].sum() == sum(1 for e in edges if start < int(e.split(",")[0]) <= end)
    with pytest.raises(ValueError, match="max_nodes must be a positive integer or None"):
        tu.node_cap(nci1, 0)


# ---------------------------------------------------------------- task 1: significance
def _rows(vanilla, shared, setting=5, size=8000, seeds=None):
    seeds = range(len(vanilla)) if seeds is None else seeds
    out = []
    for model, losses in (("vanilla", vanilla), ("shared", shared)):
        out += [dict(model=model, setting=setting, train_size=size, seed=s, test_loss=v)
                for s, v in zip(seeds, losses)]
    return out


def test_constant_difference_is_significant_with_zero_width():
    vanilla = [1.0, 1.5, 2.0, 0.75]
    rows = _rows(vanilla, [v - 0.25 for v in vanilla]) + _rows(vanilla, [v + 0.125 for v in vanilla], size=800)
    rows.append(dict(model="vanilla_aug", setting=5, train_size=8000, seed=0, test_loss=9.0))  # ignored
    out = significance.paired_differences(rows)
    assert [(r["train_size"], r["n_pairs"]) for r in out] == [(800, 4), (8000, 4)]
    low, high = out[1], out[0]
    assert low["mean_diff"] == -0.25 and (low["t_low"], low["t_high"]) == (-0.25, -0.25)
    assert (low["boot_low"], low["boot_high"]) == (-0.25, -0.25)
    assert low["verdict"] == "shared lower"
    assert high["mean_diff"] == 0.125 and high["verdict"] == "vanilla lower"
    table = significance.significance_markdown(out).splitlines()
    assert len(table) == 4 and "mean shared - vanilla" in table[0]
    assert "| p (paired t) | q (BH FDR) |" in table[0]
    # sd = 0: the difference is certain, p = q = 0.
    assert table[3] == "| 5 | 8000 | 4 | -0.25 | [-0.25, -0.25] | [-0.25, -0.25] | 0 | 0 | shared lower |"
    same = significance.paired_differences(_rows(vanilla, vanilla))[0]
    assert (same["t_low"], same["t_high"], same["p_value"], same["verdict"]) == (0.0, 0.0, 1.0, "not significant")


def test_zero_mean_difference_is_not_significant_and_t_interval_by_hand():
    vanilla = [1.0, 1.0, 1.0, 1.0]
    out = significance.paired_differences(_rows(vanilla, [2.0, 0.0, 2.0, 0.0]))[0]
    # d = (1, -1, 1, -1): mean 0, sd = sqrt(4 / 3), t_{0.975, 3} = 3.182446 (table value).
    half = 3.182446305284263 * math.sqrt(4.0 / 3.0) / 2.0
    assert out["mean_diff"] == 0.0
    assert out["t_low"] == pytest.approx(-half, rel=1e-9) and out["t_high"] == pytest.approx(half, rel=1e-9)
    assert -1.0 <= out["boot_low"] < 0.0 < out["boot_high"] <= 1.0
    assert out["verdict"] == "not significant"


def test_bootstrap_interval_matches_the_exact_resampling_distribution():
    diffs = np.array([-3.0, -1.0, 0.5])
    # All 27 equally likely resamples of 3 differences: their means and the exact 2.5% / 97.5% quantiles.
    means = sorted((diffs[i] + diffs[j] + diffs[k]) / 3 for i in range(3) for j in range(3) for k in range(3))
    low, high = significance.bootstrap_interval(diffs, num_resamples=200_000, seed=1)
    assert means[0] <= low <= means[1] and means[-2] <= high <= means[-1]
    assert significance.bootstrap_interval(diffs, seed=1) == significance.bootstrap_interval(diffs, seed=1)


def test_paired_t_agrees_with_the_t_formula_and_with_cauchy_at_two_pairs():
    rng = np.random.default_rng(3)
    for n in (2, 3, 5, 10):
        for confidence in (0.8, 0.95, 0.99):
            a, b = rng.normal(size=n), rng.normal(size=n) + 0.3
            (low, high), p = significance.paired_t(a, b, confidence)
            d = a - b
            se = np.std(d, ddof=1) / math.sqrt(n)
            half = stats.t.ppf(0.5 + confidence / 2, n - 1) * se
            assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-12, abs=1e-15)
            assert p == pytest.approx(2 * stats.t.sf(abs(d.mean() / se), n - 1), rel=1e-12)
            if n == 2:  # one degree of freedom: T is Cauchy, quantile tan(pi (q - 1/2)), P(|T| >= t) = 1 - 2 atan(t) / pi
                half = math.tan(math.pi * confidence / 2) * abs(d[0] - d[1]) / 2
                assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-12)
                assert p == pytest.approx(1 - 2 * math.atan(abs(d[0] + d[1]) / abs(d[0] - d[1])) / math.pi, rel=1e-12)
    with pytest.raises(ValueError, match=r"expected two \(n,\) arrays of the same shape; got \(3,\) and \(2,\)"):
        significance.paired_t(np.ones(3), np.ones(2))


def test_bootstrap_interval_is_the_percentile_of_resampled_means():
    """The interval equals, to rounding, the quantiles of the means of rng.integers resamples drawn by hand."""
    rng = np.random.default_rng(4)
    for n, resamples, confidence, seed in ((3, 1000, 0.95, 0), (7, 5000, 0.9, 11), (12, 2000, 0.99, 5)):
        diffs = rng.normal(size=n)
        picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
        means = diffs[picks].mean(axis=1)
        alpha = 1.0 - confidence
        expected = np.quantile(means, [alpha / 2, 1 - alpha / 2])
        got = significance.bootstrap_interval(diffs, confidence, resamples, seed)
        assert got == pytest.approx(tuple(expected), rel=1e-12)
    with pytest.raises(ValueError, match="at least 2 differences; got shape"):
        significance.bootstrap_interval(np.array([1.0]))


def _benjamini_hochberg(p_values):
    """q_(i) = min over j >= i of min(1, p_(j) m / j), by a loop over the sorted p-values."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q, running = [0.0] * m, 1.0
    for rank in range(m, 0, -1):
        running = min(running, p_values[order[rank - 1]] * m / rank)
        q[order[rank - 1]] = min(running, 1.0)
    return q


def test_q_values_are_benjamini_hochberg_over_the_conditions():
    ps = [0.01, 0.04, 0.03, 0.2, 0.001, 0.5]
    assert significance.fdr_q_values(ps) == pytest.approx(_benjamini_hochberg(ps), rel=1e-12)
    assert significance.fdr_q_values([]) == []
    rng = np.random.default_rng(5)
    rows = []
    for size, shift in ((40, 0.0), (80, -0.2), (400, -0.5), (800, 0.1)):
        vanilla = rng.normal(1.0, 0.1, size=5)
        rows += _rows(list(vanilla), list(vanilla + shift + rng.normal(0, 0.1, size=5)), size=size, seeds=range(5))
    out = significance.paired_differences(rows)
    ps = [r["p_value"] for r in out]
    assert [r["q_value"] for r in out] == pytest.approx(_benjamini_hochberg(ps), rel=1e-12)
    assert all(q >= p for q, p in zip([r["q_value"] for r in out], ps))


def test_unpaired_seeds_and_diverged_lanes():
    rows = _rows([1.0, 1.0, 1.0], [0.5, 0.5], seeds=None)
    rows = [r for r in rows if not (r["model"] == "shared" and r["seed"] == 2)]
    with pytest.raises(ValueError, match=r"seeds are not paired; shared has \[0, 1\], vanilla has \[0, 1, 2\]"):
        significance.paired_differences(rows)
    rows = _rows([1.0, 2.0, 3.0], [0.5, 1.5, float("nan")])
    out = significance.paired_differences(rows)[0]
    assert (out["n_pairs"], out["n_dropped"], out["mean_diff"]) == (2, 1, -0.5)
    csv_like = [{k: str(v) for k, v in r.items()} | {"task": "1", "diverged": "False"} for r in _rows([1, 2], [0, 1])]
    assert significance.paired_differences(csv_like)[0]["mean_diff"] == -1.0
    with pytest.raises(ValueError, match="has seed 0 twice"):
        significance.paired_differences(_rows([1.0, 2.0], [0.5, 1.0]) + _rows([1.0], [0.5]))
    with pytest.raises(ValueError, match="expected at least 2"):
        significance.paired_differences(_rows([1.0], [0.5]))

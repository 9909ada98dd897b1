"""Aligned sharing scores (hidden='align'), equal-group merging and the gated top-ranked symmetry."""

import itertools

import jax
import numpy as np
import pytest

from symjax import actions, discovery, groups
from symjax.discovery import alignment, presets

N = 6
CANDIDATES = presets.candidates_1d(N, N)


def score(w, name, hidden="align"):
    return float(discovery.sharing_score(w, *CANDIDATES[name], layout="out_in", hidden=hidden))


def test_matching_residual_equals_the_brute_force_minimum_over_row_permutations():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 5))
    perm_in = np.array([1, 2, 0, 4, 3])
    moved = w[:, perm_in]
    brute = min(np.sum((moved[list(p)] - w) ** 2) for p in itertools.permutations(range(4)))
    assert alignment.matching_residual(w, perm_in) == pytest.approx(brute, rel=1e-12)


def test_permuted_equivariant_matrices_score_zero_against_s_n_for_every_permutation():
    rng = np.random.default_rng(2)
    for _ in range(5):
        a, b = rng.standard_normal(2)
        w = np.eye(N)[rng.permutation(N)] @ (a * np.eye(N) + b * np.ones((N, N)))
        assert score(w, f"S_{N}") <= 0.01
        assert score(w, f"S_{N}") == pytest.approx(  # in_out layout reads the same matrix
            float(discovery.sharing_score(w.T, *CANDIDATES[f"S_{N}"], layout="in_out", hidden="align")))
    # the fixed layout does not see through the relabelling (a derangement of I scores near chance)
    derangement = np.eye(N)[np.roll(np.arange(N), 1)]
    assert score(derangement, f"S_{N}", "fixed") > 0.5 and score(derangement, f"S_{N}") <= 0.01


def test_a_row_permuted_circulant_is_cyclic_but_not_symmetric():
    rng = np.random.default_rng(3)
    v = rng.standard_normal(N)
    circulant = np.stack([np.roll(v, i) for i in range(N)])
    w = np.eye(N)[rng.permutation(N)] @ circulant
    assert score(w, f"C_{N}") <= 0.01
    assert score(w, f"S_{N}") > 0.2
    rows = discovery.rank_symmetries(w, CANDIDATES, layout="out_in", hidden="align")
    assert discovery.top_symmetry(rows)["label"] == f"C_{N}"


def test_random_gaussian_weights_score_about_one_and_alignment_ignores_row_order():
    rng = np.random.default_rng(4)  # not the calibration's seed
    scores = {name: [] for name in CANDIDATES}
    for _ in range(40):
        w = rng.standard_normal((N, N))
        for name in CANDIDATES:
            scores[name].append(score(w, name))
        shuffled = w[rng.permutation(N)]
        assert score(shuffled, f"D_{N}") == pytest.approx(score(w, f"D_{N}"), rel=1e-9)
    for name, values in scores.items():
        assert np.mean(values) >= 0.8 if name != "trivial" else np.all(np.asarray(values) == 1.0)
        assert np.mean(values) <= 1.2


def test_aligned_conventions_and_errors():
    assert score(np.zeros((N, N)), f"S_{N}") == 0.0
    out, inp = actions.blocks(groups.cyclic(3), 2), actions.trivial(groups.cyclic(3), 3)
    assert float(discovery.sharing_score(np.ones((6, 3)), out, inp, layout="out_in", hidden="align")) == 1.0
    with pytest.raises(ValueError, match="hidden must be 'fixed' .* or 'align' .*; got 'rows'"):
        discovery.sharing_score(np.eye(N), *CANDIDATES[f"S_{N}"], layout="out_in", hidden="rows")
    with pytest.raises(ValueError, match="hidden='align' needs concrete weights"):
        jax.jit(lambda v: discovery.sharing_score(v, *CANDIDATES[f"S_{N}"], layout="out_in", hidden="align"))(
            np.eye(N))


def test_fixed_ranking_is_the_fixed_score_and_equal_groups_merge():
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 3))
    rows = discovery.rank_symmetries(w, presets.candidates_1d(3, 3), layout="out_in")
    names = [r["name"] for r in rows]
    assert "S_3 = D_3" in names and "S_3" not in names and "D_3" not in names
    merged = next(r for r in rows if r["name"] == "S_3 = D_3")
    assert merged["names"] == ["S_3", "D_3"]
    s3 = presets.candidates_1d(3, 3)["S_3"]
    assert merged["score"] == float(discovery.sharing_score(w, *s3, layout="out_in"))
    assert discovery.same_candidate(s3, presets.candidates_1d(3, 3)["D_3"])
    assert not discovery.same_candidate(presets.candidates_1d(4, 4)["S_4"], presets.candidates_1d(4, 4)["D_4"])


def test_top_symmetry_gates_at_the_threshold_and_names_ties():
    row = lambda name, s: {"name": name, "names": [name], "score": s}
    assert discovery.top_symmetry([row("S_10", 0.6), row("C_10", 0.7)])["label"] == "none (best S_10 0.6 > 0.5)"
    tie = discovery.top_symmetry([row("S_10", 0.0), row("D_10", 0.0005), row("C_10", 0.0009), row("m", 0.3)])
    assert tie["label"] == "tie: S_10 = D_10 = C_10" and tie["names"] == ["S_10", "D_10", "C_10"]
    assert discovery.top_symmetry([row("C_10", 0.2), row("S_10", 0.21), row("D_10", 0.3)])["names"] == \
        ["C_10", "S_10"]  # within 10% of the best
    assert discovery.top_symmetry([row("C_10", 0.2), row("S_10", 0.3)])["label"] == "C_10"

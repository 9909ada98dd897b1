"""Sharing scores that are blind to a relabelling of the hidden units (``hidden='align'``).

A layer W (m x n, 'out_in') whose outputs are hidden units (followed by an
elementwise nonlinearity and a sum, or by any layer that treats its inputs
alike) computes the same function as P W for every m x m permutation P. A
network can therefore learn a symmetry G "through a relabelled hidden layer":
P^T W is G-shared, W itself is not, and the fixed-layout score of W is near
chance. The aligned score removes that freedom.

G acts on W's index pairs by (i, j) -> (g i, g j), through ρ_out on the m rows
and ρ_in on the n columns (``symjax.actions.Action.generators``: ``perm[i]`` =
g·i). W is G-shared iff W[g i, g j] = W[i, j] for all g; with (W∘g)[i, :] =
W[i, ρ_in(g)[:]] (columns moved by g) that reads

    (W∘g)[ρ_out(g)[i], :] = W[i, :]          for every row i and every generator g.

Relabel the rows by an unknown permutation and the fixed matching ρ_out(g) is
replaced by the best one. For every generator g of G:

    r_g(W) = min over permutations π of the m rows of  sum_i ||(W∘g)[π(i), :] - W[i, :]||^2,

found exactly by ``scipy.optimize.linear_sum_assignment`` on the m x m cost
matrix C[i, k] = ||W[i, :] - (W∘g)[k, :]||^2. All r_g = 0 iff the multiset of
rows of W is mapped to itself by every g, i.e. G permutes the hidden units:
P W is G-shared for some P whenever the permutation G induces on the rows is
ρ_out (it is for P W with W G-shared, which is the case the score is built
for; when G permutes the rows in another way, W still defines a G-invariant
function after a sum over the hidden units, which is what the residuals test).
Checking the generators suffices: a multiset preserved by the generators is
preserved by every product of them.

Chance. Alignment lowers a random matrix's residual (the best of m! matchings
instead of one), so the chance level is recalibrated, per generator:

    c_g = E[ r_g(W) / ||W||_F^2 ]     for W with i.i.d. N(0, 1) entries,

estimated by Monte Carlo: ``calibration_samples(m, n)`` matrices drawn from
``numpy.random.default_rng(CALIBRATION_SEED)`` (a fixed key, so every run gets
the same c_g), cached per pair of actions. The ratio is scale free, so σ does
not matter. The aligned score is the mean over the generators that move some
index pair (c_g > 0) of the normalised residuals:

    aligned_score(W) = (1 / |gens|) sum_g (r_g(W) / ||W||_F^2) / c_g   (0 = G permutes the hidden units,
                                                                     ~1 = random weights).

It depends on the generating set (``group.generators``): S_n's generators
are the n-cycle and a transposition, so a circulant W (C_n-shared, up to
row relabelling) scores ~0 on the cycle and ~1 on the transposition, ~0.5
against S_n. Only generators that move some column count: one that moves
rows only is absorbed by the relabelling (W∘g = W). Conventions as the fixed
score: W = 0 scores 0; a group none of whose generators moves a column (the
trivial group) scores 1, the chance level.

Host-side numpy (the assignment is not traceable): not jit-able, unlike the
fixed score.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from symjax.actions import Action

CALIBRATION_SEED = 0
"""The seed of the Monte-Carlo estimate of the aligned chance level (fixed: every run gets the same c_g)."""


def calibration_samples(m: int, n: int) -> int:
    """Random matrices behind each c_g: ceil(1e5 / (m n)), clipped to [8, 256].

    The ratio r_g / ||W||^2 averages m n squared entries, so its spread falls
    like 1 / sqrt(m n): about 1e5 entries in all keep the estimate's relative
    standard error near 1% for every shape (256 samples for a 10 x 10 W).
    """
    return int(min(256, max(8, math.ceil(1e5 / (m * n)))))


def _column_moved(w: np.ndarray, perm_in: np.ndarray) -> np.ndarray:
    """(W∘g)[i, j] = W[i, perm_in[j]]."""
    return w[:, perm_in]


def matching_residual(w: np.ndarray, perm_in: np.ndarray) -> float:
    """r_g = min over row permutations π of ||(W∘g)[π] - W||_F^2 (exact, linear_sum_assignment).

    Args:
      w: (m, n) float array, 'out_in'.
      perm_in: (n,) the generator's column permutation (``action_in.generators[k]``).
    """
    moved = _column_moved(w, perm_in)
    squares_w = np.sum(w * w, axis=1)
    squares_m = np.sum(moved * moved, axis=1)
    cost = squares_w[:, None] + squares_m[None, :] - 2.0 * (w @ moved.T)
    rows, cols = linear_sum_assignment(cost)
    return float(np.sum((w[rows] - moved[cols]) ** 2))


def fixed_residual(w: np.ndarray, perm_out: np.ndarray, perm_in: np.ndarray) -> float:
    """||(W∘g)[ρ_out(g)] - W||_F^2: the residual of the one matching the layout prescribes."""
    return float(np.sum((_column_moved(w, perm_in)[perm_out] - w) ** 2))


def _moving_generators(action_out: Action, action_in: Action) -> list[int]:
    """Indices of the generators that move some column (the others give r_g = 0 for every W).

    A generator that moves rows only is absorbed by the relabelling: W∘g = W and the identity matching is exact.
    """
    if action_in.group.num_generators == 0:
        return []
    identity = np.arange(action_in.size)
    return [k for k, perm in enumerate(action_in.generators) if not np.array_equal(perm, identity)]


@functools.lru_cache(maxsize=128)
def aligned_chance(action_out: Action, action_in: Action) -> tuple[float, ...]:
    """(c_g,) for the generators that move some column; () when none does. Cached.

    c_g = mean over ``calibration_samples(m, n)`` N(0, 1) matrices W (seeded by
    CALIBRATION_SEED) of r_g(W) / ||W||_F^2.
    """
    m, n = action_out.size, action_in.size
    moving = _moving_generators(action_out, action_in)
    if not moving:
        return ()
    rng = np.random.default_rng(CALIBRATION_SEED)
    totals = np.zeros(len(moving))
    samples = calibration_samples(m, n)
    for _ in range(samples):
        w = rng.standard_normal((m, n))
        norm = float(np.sum(w * w))
        for slot, k in enumerate(moving):
            totals[slot] += matching_residual(w, action_in.generators[k]) / norm
    return tuple(float(t / samples) for t in totals)


def aligned_squared_residuals(w: np.ndarray, action_out: Action, action_in: Action) -> np.ndarray:
    """(r_g / ||W||_F^2,) over the moving generators (0 where W = 0). w: (m, n) 'out_in', numpy."""
    w = np.asarray(w, np.float64)
    total = float(np.sum(w * w))
    moving = _moving_generators(action_out, action_in)
    if total == 0.0:
        return np.zeros(len(moving))
    return np.array([matching_residual(w, action_in.generators[k]) / total for k in moving])


def aligned_score(w: np.ndarray, action_out: Action, action_in: Action) -> float:
    """mean_g (r_g / ||W||^2) / c_g: 0 = G permutes W's rows (hidden units), ~1 = random. w (m, n) 'out_in'.

    1 when no generator moves a column (no evidence either way: the trivial group, or a group acting on the
    rows only, which the relabelling absorbs), 0 for W = 0.
    """
    chance = aligned_chance(action_out, action_in)
    if not chance:
        return 1.0
    residuals = aligned_squared_residuals(w, action_out, action_in)
    return float(np.mean(residuals / np.asarray(chance)))

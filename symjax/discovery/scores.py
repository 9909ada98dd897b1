"""How shared is a weight matrix under a candidate group: distance, chance-normalised score, ranking.

For W (m x n) and a group G with k orbits of weight positions:

    sharing_distance  d = ||W - P_G W||_F / ||W||_F  in [0, 1]         (0 = exactly G-shared)
    chance level      c = 1 - k / (m n)
    sharing_score     s = d^2 / c                                        (0 = shared, 1 = random)

Chance level: for W with i.i.d. N(0, σ^2) entries, W - P_G W is the
projection onto a subspace of dimension mn - k, so E||W - P_G W||^2 = σ^2 (mn - k)
and E||W||^2 = σ^2 mn. The ratio ||W - P_G W||^2 / ||W||^2 is Beta((mn - k)/2, k/2)
distributed, so its expectation is exactly c, and s ≈ 1 for random weights
whatever the group's size. This is what lets candidates with
different numbers of orbits be compared in one table.

Decisions:
  * W = 0 is G-shared for every G: d = 0 and s = 0 (no division by zero).
  * k = mn (the trivial group, or any group fixing every index pair): every W is
    exactly shared, so d = 0 always and the score d^2 / c = 0 / 0 carries no
    evidence. It is defined as s = 1, the chance level: in a ranking the
    trivial candidate ("no symmetry") marks the line between groups the weights
    share better than chance (above it) and worse (below it).
  * Nested groups: if W is G-shared plus isotropic noise, every subgroup H of G
    shares W as well and scores the same as G in expectation (s ≈ noise
    fraction for both); an exactly G-shared W scores 0 for G and all its
    subgroups. The score says which groups the weights respect; among those
    that score alike, the largest group (fewest orbits) is the strongest
    statement. ``rank_symmetries`` ranks that way: candidates scoring within
    ``tie_tolerance`` (default 1e-3) of the best remaining score count as tied
    and the one with fewest orbits ranks first. Differences larger than that
    are taken at face value, so a subgroup can still outrank its group when
    noise happens to fit it better by more than the tolerance.
  * Not centred: the score is a fraction of ||W||^2, so a large component
    every group shares (a constant added to every weight) lowers every
    group's score alike: a random W plus 3 scores about
    1 / (1 + 9) ~ 0.09 against every group, the constant being 90% of the
    energy. It says how much of W lies off the shared subspace, not whether
    the part that is not constant is structured; compare groups with each
    other (the ranking) rather than one score with a fixed bar, or centre W
    first (W - mean(W), which every group shares) when the constant is not
    of interest.
  * Equal groups: two candidates whose groups are the same set of
    permutations acting the same way (D_3 and S_3 on 3 points) are one
    candidate; ``rank_symmetries`` merges them into one row named
    "S_3 = D_3" (``same_candidate``).

Hidden relabelling (``hidden='align'``): the score taken after the best
permutation of the output (hidden) index, with its own chance level; see
``symjax.discovery.alignment``. ``hidden='fixed'`` (the default) scores the
layout as it is.

Top-ranked symmetry (``top_symmetry``): the best candidate is called only when
its score is at most ``threshold`` (0.5: halfway from shared to chance); the
candidates scoring within noise of it (``tie_tolerance`` absolute, or
``tie_ratio`` of the best score) are a tie, named "tie: S_10 = C_10 = D_10".

Example (S_3 on a 3 x 3 weight: k = 2 orbits of 9 positions):
    >>> import jax.numpy as jnp
    >>> from symjax import actions, groups
    >>> s3 = actions.base(groups.symmetric(3))
    >>> round(chance_level(s3, s3), 4)                                 # 1 - 2 / 9
    0.7778
    >>> float(sharing_score(jnp.eye(3), s3, s3, layout="out_in"))      # exactly shared
    0.0
    >>> w = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(float(sharing_distance(w, s3, s3, layout="out_in")), 4)  # sqrt(1 - 1/6): W's norm is 1
    0.9129
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

import numpy as np

from symjax.actions import Action
from symjax.discovery import alignment, checks
from symjax.discovery.projection import orbit_ids, orbit_projection


def _squared_distance(w, action_out: Action, action_in: Action, layout: checks.Layout) -> jax.Array:
    """||W - P_G W||^2 / ||W||^2, 0 where W = 0."""
    projected = orbit_projection(w, action_out, action_in, layout=layout)
    w = jnp.asarray(w, projected.dtype)
    total = jnp.sum(jnp.square(w))
    residual = jnp.sum(jnp.square(w - projected))
    return jnp.where(total > 0, residual / jnp.where(total > 0, total, 1), 0.0)


def _score(squared_distance: jax.Array, chance: float) -> jax.Array:
    return jnp.ones_like(squared_distance) if chance == 0.0 else squared_distance / chance


def chance_level(action_out: Action, action_in: Action) -> float:
    """1 - k / (m n): E||W - P_G W||^2 / E||W||^2 for W with i.i.d. Gaussian entries."""
    _, _, k = orbit_ids(action_out, action_in, "out_in")
    return 1.0 - k / (action_out.size * action_in.size)


def sharing_distance(w, action_out: Action, action_in: Action, *, layout: checks.Layout) -> jax.Array:
    """||W - P_G W||_F / ||W||_F in [0, 1]; 0 for W = 0. A scalar, jit-able."""
    return jnp.sqrt(_squared_distance(w, action_out, action_in, layout))


HIDDEN = checks.HIDDEN


def _hidden(value) -> str:
    if value not in HIDDEN:
        raise ValueError(f"hidden must be 'fixed' (score the layout as it is) or 'align' (after the best "
                         f"relabelling of the output index); got {value!r}")
    return value


def _out_in(w, layout: checks.Layout) -> np.ndarray:
    """A concrete w as a float64 numpy (m, n) 'out_in' matrix (the aligned score runs on the host)."""
    if not checks.is_concrete(w):
        raise ValueError("hidden='align' needs concrete weights (it solves an assignment on the host); "
                         "it cannot run under jit, grad or vmap")
    w = np.asarray(w, np.float64)
    return w if layout == "out_in" else w.T


def sharing_score(w, action_out: Action, action_in: Action, *, layout: checks.Layout, hidden: checks.Hidden = "fixed") -> jax.Array:
    """How far W is from G-shared, normalised to chance: 0 = exactly shared, ~1 = random weights.

    hidden='fixed' (default): sharing_distance^2 / (1 - k/(m n)), defined as 1
    when k = m n (every weight its own orbit; see the module docstring). A
    scalar, jit-able.

    hidden='align': the score after the best relabelling of the output
    (hidden) index, mean_g (r_g / ||W||^2) / c_g over the generators g of G,
    with r_g the least-squares residual of matching the rows of W∘g (columns
    moved by g) to the rows of W and c_g its mean for Gaussian W
    (``symjax.discovery.alignment``). 0 iff every generator permutes the rows
    of W, e.g. W = P (a I + b 1 1^T) against S_n for any permutation P.
    Concrete weights only (host-side); returns a float64 scalar array.
    """
    if _hidden(hidden) == "align":
        w = checks.matrix(w, action_out, action_in, layout)
        return jnp.asarray(alignment.aligned_score(_out_in(w, layout), action_out, action_in))
    return _score(_squared_distance(w, action_out, action_in, layout), chance_level(action_out, action_in))


def same_candidate(pair_a: tuple[Action, Action], pair_b: tuple[Action, Action]) -> bool:
    """Whether two candidates are one: the same set of permutations, acting alike on outputs and inputs.

    The groups must have the same elements (``PermutationGroup.same_elements``,
    exact by Schreier-Sims membership) and each action of b, moved to a's
    presentation (``Action.over``), must send a's generators to the same index
    permutations as a's action.
    """
    (out_a, in_a), (out_b, in_b) = pair_a, pair_b
    group_a, group_b = out_a.group, out_b.group
    if (out_a.size, in_a.size) != (out_b.size, in_b.size) or group_a.degree != group_b.degree:
        return False
    if not group_a.same_elements(group_b):
        return False
    return all(np.array_equal(b.over(group_a).generators, a.generators) for a, b in ((out_a, out_b), (in_a, in_b)))


def _merge_equal(candidates: Mapping[str, tuple[Action, Action]]) -> list[tuple[list[str], tuple[Action, Action]]]:
    """[(names, pair)] with equal candidates (``same_candidate``) in one entry, first-seen order."""
    merged: list[tuple[list[str], tuple[Action, Action]]] = []
    for name, pair in candidates.items():
        for names, kept in merged:
            if same_candidate(kept, pair):
                names.append(name)
                break
        else:
            merged.append(([name], pair))
    return merged


def rank_symmetries(w, candidates: Mapping[str, tuple[Action, Action]], *, layout: checks.Layout,
                    tie_tolerance: float = 1e-3, hidden: checks.Hidden = "fixed") -> list[dict]:
    """Which candidate symmetry does this weight matrix share best? Rows best (lowest score) first.

    Args:
      w: the weight matrix, (out, in) for layout 'out_in' or (in, out) for 'in_out'.
      candidates: name -> (action_out, action_in), e.g. from
        ``symjax.discovery.presets``; every pair must match w's shape.
      layout: 'out_in' or 'in_out'.
      tie_tolerance: the candidates within this of the lowest remaining score
        are tied and ordered by fewer orbits, then larger group order, then
        name; then the next lowest remaining score, and so on.
      hidden: 'fixed' (the layout as it is) or 'align' (after the best
        relabelling of the output index; ``sharing_score``).
    Returns:
      A list of dicts, one per distinct candidate (equal groups acting alike,
      ``same_candidate``, are merged into one row named "S_3 = D_3"), best
      first: ``name``, ``names`` (the merged candidates' names), ``group``
      (the group's name), ``order`` (|G|), ``orbits`` (k), ``chance``
      (fixed: 1 - k/(mn); aligned: the mean of the c_g), ``distance``
      (fixed: ||W - P_G W|| / ||W||; aligned: sqrt of the mean r_g / ||W||^2),
      ``score`` (Python numbers). Print with ``ranking_table``.
    """
    checks.layout(layout)
    _hidden(hidden)
    checks.nonnegative(tie_tolerance, "tie_tolerance")
    if not isinstance(candidates, Mapping) or not candidates:
        raise ValueError(f"candidates must be a non-empty dict name -> (action_out, action_in); got {candidates!r}")
    w = checks.weights(w)
    for name, pair in candidates.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(f"candidate {name!r} must be a pair (action_out, action_in); got {pair!r}")
        action_out, action_in = pair
        shape = checks.expected_shape(action_out, action_in, layout)
        if w.shape != shape:
            raise ValueError(f"candidate {name!r} expects w of shape {shape} in layout {layout!r}; "
                             f"got {tuple(w.shape)}")
    rows = []
    for names, (action_out, action_in) in _merge_equal(candidates):
        _, _, k = orbit_ids(action_out, action_in, layout)
        group = action_out.group
        row = {"name": " = ".join(names), "names": names, "group": group.name or repr(group), "order": group.order,
               "orbits": k}
        if hidden == "fixed":
            chance = chance_level(action_out, action_in)
            squared = _squared_distance(w, action_out, action_in, layout)
            row.update(chance=chance, distance=float(jnp.sqrt(squared)), score=float(_score(squared, chance)))
        else:
            matrix = _out_in(w, layout)
            chances = alignment.aligned_chance(action_out, action_in)
            ratios = alignment.aligned_squared_residuals(matrix, action_out, action_in)
            row.update(chance=float(np.mean(chances)) if chances else 0.0,
                       distance=float(np.sqrt(np.mean(ratios))) if chances else 0.0,
                       score=float(np.mean(ratios / np.asarray(chances))) if chances else 1.0)
        rows.append(row)
    remaining = sorted(rows, key=lambda r: r["score"])
    ranked = []
    while remaining:
        cut = remaining[0]["score"] + tie_tolerance
        tied = [r for r in remaining if r["score"] <= cut]
        ranked += sorted(tied, key=lambda r: (r["orbits"], -r["order"], r["name"]))
        remaining = [r for r in remaining if r["score"] > cut]
    return ranked


def top_symmetry(rows: list[dict], *, threshold: float = 0.5, tie_tolerance: float = 1e-3,
                 tie_ratio: float = 0.1) -> dict:
    """The top-ranked symmetry of ``rank_symmetries`` rows, gated and with ties named.

    Let s* be the lowest score. Nothing is called top-ranked when s* >
    ``threshold`` (0.5 by default: the weights are nearer chance than
    shared). Otherwise the candidates with score <= s* + max(tie_tolerance,
    tie_ratio * s*) are within noise of the best and all count: one name when
    alone, "tie: A = B = C" (in ranking order, fewest orbits first) when
    several. Merged rows ("S_3 = D_3", one group) count as one candidate.

    Returns:
      {'label': the name, the "tie: ..." text or "none (best <name> <score> > <threshold>)",
       'names': the tied candidates' names (every merged name; [] when none is called),
       'score': s*}.
    """
    if not rows:
        raise ValueError("top_symmetry needs the rows of rank_symmetries; got none")
    checks.nonnegative(threshold, "threshold")
    checks.nonnegative(tie_tolerance, "tie_tolerance")
    checks.nonnegative(tie_ratio, "tie_ratio")
    best = min(r["score"] for r in rows)
    if best > threshold:
        first = min(rows, key=lambda r: r["score"])
        return {"label": f"none (best {first['name']} {best:.3g} > {threshold})", "names": [], "score": best}
    cut = best + max(tie_tolerance, tie_ratio * best)
    tied = [r for r in rows if r["score"] <= cut]
    names = [n for r in tied for n in r.get("names", [r["name"]])]
    label = tied[0]["name"] if len(tied) == 1 else "tie: " + " = ".join(r["name"] for r in tied)
    return {"label": label, "names": names, "score": best}


def _order_text(order: int) -> str:
    return str(order) if order < 10**6 else f"{order:.2e}".replace("e+", "e")


def ranking_table(rows: list[dict], digits: int = 4) -> str:
    """The rows of ``rank_symmetries`` as a markdown table (rank, name, |G|, orbits, chance, distance, score)."""
    lines = ["| rank | candidate | group | order | orbits | chance | distance | score |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for rank, row in enumerate(rows, 1):
        lines.append(f"| {rank} | {row['name']} | {row['group']} | {_order_text(row['order'])} | {row['orbits']} | "
                     f"{row['chance']:.{digits}f} | {row['distance']:.{digits}f} | {row['score']:.{digits}f} |")
    return "\n".join(lines)


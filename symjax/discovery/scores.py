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

from symjax.actions import Action
from symjax.discovery import checks
from symjax.discovery.projection import orbit_ids, orbit_projection


def _squared_distance(w, action_out: Action, action_in: Action, layout: str) -> jax.Array:
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


def sharing_distance(w, action_out: Action, action_in: Action, *, layout: str) -> jax.Array:
    """||W - P_G W||_F / ||W||_F in [0, 1]; 0 for W = 0. A scalar, jit-able."""
    return jnp.sqrt(_squared_distance(w, action_out, action_in, layout))


def sharing_score(w, action_out: Action, action_in: Action, *, layout: str) -> jax.Array:
    """sharing_distance^2 / (1 - k/(m n)): 1 = no more shared than random weights, 0 = exactly shared.

    Defined as 1 when k = m n (every weight its own orbit; see the module
    docstring). A scalar, jit-able.
    """
    return _score(_squared_distance(w, action_out, action_in, layout), chance_level(action_out, action_in))


def rank_symmetries(w, candidates: Mapping[str, tuple[Action, Action]], *, layout: str,
                    tie_tolerance: float = 1e-3) -> list[dict]:
    """Which candidate symmetry does this weight matrix share best? Rows best (lowest score) first.

    Args:
      w: the weight matrix, (out, in) for layout 'out_in' or (in, out) for 'in_out'.
      candidates: name -> (action_out, action_in), e.g. from
        ``symjax.discovery.presets``; every pair must match w's shape.
      layout: 'out_in' or 'in_out'.
      tie_tolerance: the candidates within this of the lowest remaining score
        are tied and ordered by fewer orbits, then larger group order, then
        name; then the next lowest remaining score, and so on.
    Returns:
      A list of dicts, one per candidate, best first: ``name``, ``group``
      (the group's name), ``order`` (|G|), ``orbits`` (k), ``chance``
      (1 - k/(mn)), ``distance``, ``score`` (Python numbers). Print with
      ``ranking_table``.
    """
    checks.layout(layout)
    checks.nonnegative(tie_tolerance, "tie_tolerance")
    if not isinstance(candidates, Mapping) or not candidates:
        raise ValueError(f"candidates must be a non-empty dict name -> (action_out, action_in); got {candidates!r}")
    w = checks.weights(w)
    rows = []
    for name, pair in candidates.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(f"candidate {name!r} must be a pair (action_out, action_in); got {pair!r}")
        action_out, action_in = pair
        shape = checks.expected_shape(action_out, action_in, layout)
        if w.shape != shape:
            raise ValueError(f"candidate {name!r} expects w of shape {shape} in layout {layout!r}; "
                             f"got {tuple(w.shape)}")
        _, _, k = orbit_ids(action_out, action_in, layout)
        group = action_out.group
        chance = chance_level(action_out, action_in)
        squared = _squared_distance(w, action_out, action_in, layout)
        rows.append({"name": name, "group": group.name or repr(group), "order": group.order, "orbits": k,
                     "chance": chance, "distance": float(jnp.sqrt(squared)), "score": float(_score(squared, chance))})
    remaining = sorted(rows, key=lambda r: r["score"])
    ranked = []
    while remaining:
        cut = remaining[0]["score"] + tie_tolerance
        tied = [r for r in remaining if r["score"] <= cut]
        ranked += sorted(tied, key=lambda r: (r["orbits"], -r["order"], r["name"]))
        remaining = [r for r in remaining if r["score"] > cut]
    return ranked


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


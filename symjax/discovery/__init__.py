"""Soft parameter sharing and symmetry discovery on plain weights.

Penalties pull the weights of an ordinary network toward a sharing pattern;
metrics read off which symmetry a trained weight matrix has learned. All are
pure functions of arrays (reference 001, "Save Your Priors for Another Day",
§1.4 and §3), joined to symjax's orbit engine: ``orbit_tie`` is the soft end
of the dial whose hard end is ``symjax.functional.SharedDense``.

Penalties (scalars, differentiable): ``pairwise_tie``, ``offset_tie``,
``sigmoid_sparsity``, ``l1``, ``orbit_tie``.
Metrics: ``orbit_projection``, ``orbit_coefficients``, ``sharing_distance``,
``sharing_score``, ``rank_symmetries`` (+ ``ranking_table``, ``top_symmetry``), each with
``hidden='align'`` to score after the best relabelling of the hidden units
(``alignment``); candidate groups in
``presets``; reference 001's pattern measures ``column_sum_deviation`` and
``translation_correlation``. ``tree_penalty`` applies a penalty to chosen
leaves of any params pytree (Flax linen or NNX).

Matrix orientation is always explicit: ``layout='out_in'`` for symjax's W
(out, in), ``layout='in_out'`` for a Flax Dense kernel (in, out).

Example: a 4 x 4 weight constant on the diagonal and off it is S_4-shared.
    >>> import jax.numpy as jnp
    >>> from symjax import actions, discovery, groups
    >>> s4 = actions.base(groups.symmetric(4))
    >>> w = jnp.eye(4) + 0.5
    >>> float(discovery.orbit_tie(w, s4, s4, layout="out_in"))
    0.0
    >>> float(discovery.sharing_score(w, s4, s4, layout="out_in"))
    0.0
    >>> ranked = discovery.rank_symmetries(w, discovery.presets.candidates_1d(4, 4), layout="out_in")
    >>> [(row["name"], row["orbits"], row["score"]) for row in ranked]
    [('S_4', 2, 0.0), ('D_4', 3, 0.0), ('C_4', 4, 0.0), ('mirror_4', 8, 0.0), ('trivial', 16, 1.0)]
"""

from symjax.discovery import alignment, presets
from symjax.discovery.patterns import column_sum_deviation, translation_correlation
from symjax.discovery.penalties import l1, offset_tie, pairwise_tie, sigmoid_sparsity
from symjax.discovery.projection import orbit_coefficients, orbit_projection, orbit_tie
from symjax.discovery.scores import (chance_level, rank_symmetries, ranking_table, same_candidate, sharing_distance,
                                     sharing_score, top_symmetry)
from symjax.discovery.tree import named_leaves, tree_penalty

__all__ = ["alignment", "chance_level", "column_sum_deviation", "l1", "named_leaves", "offset_tie", "orbit_coefficients",
           "orbit_projection", "orbit_tie", "pairwise_tie", "presets", "rank_symmetries", "ranking_table",
           "same_candidate", "sharing_distance", "sharing_score", "sigmoid_sparsity", "top_symmetry", "translation_correlation", "tree_penalty"]

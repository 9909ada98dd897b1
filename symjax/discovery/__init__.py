"""Soft parameter sharing and symmetry discovery on plain weights.

Penalties pull the weights of an ordinary network toward a sharing pattern;
metrics read off which symmetry a trained weight matrix has learned. All are
pure functions of arrays (reference 001, "Save Your Priors for Another Day",
§1.4 and §3), joined to symjax's orbit engine: ``orbit_tie`` is the soft end
of the dial whose hard end is ``symjax.functional.SharedDense``.

Penalties (scalars, differentiable): ``pairwise_tie``, ``offset_tie``,
``sigmoid_sparsity``, ``l1``, ``orbit_tie``.
Metrics: ``orbit_projection``, ``orbit_coefficients``, ``sharing_distance``,
``sharing_score``, ``rank_symmetries`` (+ ``ranking_table``).

Matrix orientation is always explicit: ``layout='out_in'`` for symjax's W
(out, in), ``layout='in_out'`` for a Flax Dense kernel (in, out).
"""

from symjax.discovery.penalties import l1, offset_tie, pairwise_tie, sigmoid_sparsity
from symjax.discovery.projection import orbit_coefficients, orbit_projection, orbit_tie
from symjax.discovery.scores import chance_level, rank_symmetries, ranking_table, sharing_distance, sharing_score

__all__ = ["chance_level", "l1", "offset_tie", "orbit_coefficients", "orbit_projection", "orbit_tie",
           "pairwise_tie", "rank_symmetries", "ranking_table", "sharing_distance", "sharing_score",
           "sigmoid_sparsity"]

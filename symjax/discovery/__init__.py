"""Soft parameter sharing and symmetry discovery on plain weights.

Penalties pull the weights of an ordinary network toward a sharing pattern;
metrics read off which symmetry a trained weight matrix has learned. Both are
pure functions of arrays (see reference 001, "Save Your Priors for Another
Day", §1.4 and §3).

Penalties (scalars, differentiable): ``pairwise_tie``, ``offset_tie``,
``sigmoid_sparsity``, ``l1``.
"""

from symjax.discovery.penalties import l1, offset_tie, pairwise_tie, sigmoid_sparsity

__all__ = ["l1", "offset_tie", "pairwise_tie", "sigmoid_sparsity"]

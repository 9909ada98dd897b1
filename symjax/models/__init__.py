"""Model builders of the three tasks: stacks of shared or dense layer specs.

A model is a frozen spec with ``init(key, dtype)`` and ``apply(params, x)``;
``Sequential`` chains layer specs with an elementwise activation between
them (none after the last), which keeps every shared stack equivariant
(an elementwise sigma commutes with permutation matrices, study ch. 2 §2).
"""

from symjax.models.sequential import ACTIVATIONS, Sequential

__all__ = ["ACTIVATIONS", "Sequential"]

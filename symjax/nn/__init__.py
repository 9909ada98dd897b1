"""Flax shells around symjax layer specs (linen and NNX).

Each shell holds a layer spec (``symjax.functional.SharedDense``,
``symjax.layers.SetLayer``, ...) and asks its framework for the parameters the
spec lists in ``param_info``; the math lives once, in the spec's ``apply``.
"""

"""flax.nnx modules for symjax layers.

Example:
    >>> import jax
    >>> from flax import nnx
    >>> from symjax import actions, groups
    >>> from symjax.nn.nnx import SharedDense
    >>> s4 = groups.symmetric(4)
    >>> layer = SharedDense(actions.blocks(s4, 2), actions.blocks(s4, 3), rngs=nnx.Rngs(0))
    >>> layer.w[...].shape, layer(jax.numpy.ones((1, 8))).shape
    ((12,), (1, 12))
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import nnx

from symjax import functional
from symjax.actions import Action


class Layer(nnx.Module):
    """Any symjax layer spec as an NNX module; each parameter an ``nnx.Param`` attribute."""

    def __init__(self, spec, *, rngs: nnx.Rngs, param_dtype: Any = jnp.float32):
        self.spec = spec
        self._names = tuple(sorted(spec.param_info()))
        for name, (shape, initializer) in sorted(spec.param_info().items()):
            setattr(self, name, nnx.Param(initializer(rngs.params(), shape, param_dtype)))

    def __call__(self, x):
        params = {name: getattr(self, name)[...] for name in self._names}
        return self.spec.apply(params, x)


class SharedDense(Layer):
    """The generic orbit-shared dense layer (see ``symjax.functional.SharedDense``)."""

    def __init__(self, action_in: Action, action_out: Action, *, use_bias: bool = True, rngs: nnx.Rngs,
                 param_dtype: Any = jnp.float32):
        super().__init__(functional.SharedDense(action_in, action_out, use_bias), rngs=rngs, param_dtype=param_dtype)

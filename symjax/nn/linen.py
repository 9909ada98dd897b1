"""flax.linen modules for symjax layers.

Example:
    >>> import jax, flax.linen as nn
    >>> from symjax import actions, groups
    >>> from symjax.nn.linen import SharedDense
    >>> s4 = groups.symmetric(4)
    >>> layer = SharedDense(actions.blocks(s4, 2), actions.blocks(s4, 3))
    >>> params = layer.init(jax.random.key(0), jax.numpy.ones((1, 8)))
    >>> jax.tree_util.tree_map(lambda p: p.shape, params)["params"]
    {'b': (3,), 'w': (12,)}
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from symjax import functional
from symjax.actions import Action


def _params(module: nn.Module, spec) -> dict:
    return {name: module.param(name, initializer, shape, module.param_dtype)
            for name, (shape, initializer) in sorted(spec.param_info().items())}


class Layer(nn.Module):
    """Any symjax layer spec as a linen module; parameters named as the spec names them."""

    spec: Any
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        return self.spec.apply(_params(self, self.spec), x)


class SharedDense(nn.Module):
    """The generic orbit-shared dense layer (see ``symjax.functional.SharedDense``).

    dtype: computation dtype (None: promote the input's and the parameters' dtypes); param_dtype: the parameters'.
    """

    action_in: Action
    action_out: Action
    use_bias: bool = True
    parametrization: functional.Parametrization = functional.DEFAULT_PARAMETRIZATION
    dtype: Any = None
    param_dtype: Any = jnp.float32
    contraction: functional.Contraction = "auto"

    @nn.compact
    def __call__(self, x):
        spec = functional.SharedDense(self.action_in, self.action_out, self.use_bias, self.parametrization,
                                      self.dtype, self.contraction)
        return spec.apply(_params(self, spec), x)

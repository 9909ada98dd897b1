"""flax.nnx modules for symjax layers.

Each class takes the arguments of its layer spec, plus Flax's ``dtype``
(computation dtype; None promotes the input's and the parameters' dtypes),
``param_dtype`` and ``rngs``; ``inspect.signature`` and ``help`` show them.

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

import inspect
from typing import Any

import jax.numpy as jnp
from flax import nnx

from symjax import functional, layers
from symjax.actions import Action
from symjax.functional import DEFAULT_PARAMETRIZATION, Contraction, Parametrization
from symjax.layers.graph import Direction, EdgeNormalization, GraphParametrization


class _InitSignature:
    """``cls.__signature__``: the signature of ``cls.__init__`` without self (NNX's metaclass hides it)."""

    def __get__(self, obj, cls):
        if obj is not None:
            raise AttributeError("__signature__")  # an instance's signature is its __call__'s
        signature = inspect.signature(cls.__init__)
        return signature.replace(parameters=list(signature.parameters.values())[1:])


class Layer(nnx.Module):
    """Any symjax layer spec as an NNX module; each parameter an ``nnx.Param`` attribute."""

    __signature__ = _InitSignature()

    def __init__(self, spec, *, rngs: nnx.Rngs, param_dtype: Any = jnp.float32):
        if not hasattr(spec, "param_info") or not hasattr(spec, "apply"):
            raise TypeError(f"spec: expected a symjax layer spec (param_info, apply), got {type(spec).__name__}")
        if not isinstance(rngs, nnx.Rngs):
            raise TypeError(f"rngs: expected flax.nnx.Rngs (e.g. nnx.Rngs(0)), got {type(rngs).__name__}")
        self.spec = spec
        self._names = tuple(sorted(spec.param_info()))
        for name, (shape, initializer) in sorted(spec.param_info().items()):
            setattr(self, name, nnx.Param(initializer(rngs.params(), shape, param_dtype)))

    def __call__(self, x):
        params = {name: getattr(self, name)[...] for name in self._names}
        return self.spec.apply(params, x)


class SharedDense(Layer):
    """The generic orbit-shared dense layer (``symjax.functional.SharedDense``), x (..., n) -> (..., m)."""

    def __init__(self, action_in: Action, action_out: Action, *, use_bias: bool = True,
                 parametrization: Parametrization = DEFAULT_PARAMETRIZATION, dtype: Any = None,
                 param_dtype: Any = jnp.float32, contraction: Contraction = "auto", rngs: nnx.Rngs):
        super().__init__(functional.SharedDense(action_in, action_out, use_bias, parametrization, dtype, contraction),
                         rngs=rngs, param_dtype=param_dtype)


class SetLayer(Layer):
    """The S_n-equivariant set layer (``symjax.layers.SetLayer``), x (..., n, d_in) -> (..., n, d_out), any n."""

    def __init__(self, num_blocks: int, d_in: int, d_out: int, *, use_bias: bool = True,
                 parametrization: Parametrization = DEFAULT_PARAMETRIZATION, dtype: Any = None,
                 param_dtype: Any = jnp.float32, rngs: nnx.Rngs):
        super().__init__(layers.SetLayer(num_blocks, d_in, d_out, use_bias, parametrization, dtype),
                         rngs=rngs, param_dtype=param_dtype)


class SwapBlockLayer(Layer):
    """The S_2 block-swap layer (``symjax.layers.SwapBlockLayer``), x (..., 3, d_in) -> (..., 3, d_out)."""

    def __init__(self, d_in: int, d_out: int, *, use_bias: bool = True,
                 parametrization: Parametrization = DEFAULT_PARAMETRIZATION, dtype: Any = None,
                 param_dtype: Any = jnp.float32, rngs: nnx.Rngs):
        super().__init__(layers.SwapBlockLayer(d_in, d_out, use_bias, parametrization, dtype),
                         rngs=rngs, param_dtype=param_dtype)


class GraphLayer(Layer):
    """The equivariant graph layer (``symjax.layers.GraphLayer``) on a GraphsTuple or (A, X[, mask])."""

    def __init__(self, d_in: int, d_out: int, *, use_bias: bool = True, global_aggregation: str = "mean",
                 direction: Direction = "sender_to_receiver", edge_normalization: EdgeNormalization = "gcn",
                 edge_features: int | None = None, self_edges: bool = True, parametrization: GraphParametrization = "gcn",
                 dtype: Any = None, param_dtype: Any = jnp.float32, rngs: nnx.Rngs):
        super().__init__(layers.GraphLayer(d_in, d_out, use_bias, global_aggregation, direction,
                                           edge_normalization, edge_features, self_edges, parametrization, dtype),
                         rngs=rngs, param_dtype=param_dtype)

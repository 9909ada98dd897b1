"""Pure-functional shared layers: static spec + params pytree + pure functions.

A *layer spec* is a frozen, hashable description (safe as a jit static
argument) with two methods:

* ``param_info() -> {name: (shape, initializer)}`` where
  ``initializer(key, shape, dtype)`` draws that parameter;
* ``apply(params, x)`` the forward map.

``init(key, spec)`` draws all parameters. Frameworks only need these two
methods (see ``symjax.nn.linen`` and ``symjax.nn.nnx``). Every ``apply`` checks
its params against ``param_info`` (``check_params``, at trace time) and promotes
integer and bool inputs to the params' dtype (``float_input``).

The generic layer, ``SharedDense``, keeps one coefficient per orbit of weight
positions (study eq. 5) and one per orbit of output indices for the bias:

    W = w[M_W]        (m, n)      expand: a gather with the orbit map M_W
    b = beta[M_b]     (m,)
    y = x W^T + b     (..., n) -> (..., m)

Initialisation (LeCun normal on the expanded weights): each coefficient
w_l ~ N(0, 1 / n), so every entry of W has variance 1 / fan_in exactly as a
dense layer initialised with ``jax.nn.initializers.lecun_normal`` (without
truncation); biases start at zero.

Example:
    >>> import jax
    >>> from symjax import actions, functional, groups
    >>> s5 = groups.symmetric(5)
    >>> spec = functional.SharedDense(actions.blocks(s5, 3), actions.blocks(s5, 8))
    >>> params = functional.init(jax.random.key(0), spec)
    >>> {k: v.shape for k, v in params.items()}
    {'b': (8,), 'w': (48,)}
    >>> functional.apply(params, spec, jax.numpy.ones((2, 15))).shape
    (2, 40)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from symjax.actions import Action, align
from symjax.sharing import bias_index_map, orbit_index_map

Initializer = Callable[[jax.Array, tuple, Any], jax.Array]


def normal(std: float) -> Initializer:
    """N(0, std^2) initializer."""
    return lambda key, shape, dtype: std * jax.random.normal(key, shape, dtype)


def zeros(key, shape, dtype):
    del key
    return jnp.zeros(shape, dtype)


def init(key: jax.Array, spec, dtype=jnp.float32) -> dict:
    """Draws every parameter of ``spec``; one key per name, folded in sorted order."""
    info = spec.param_info()
    return {name: initializer(jax.random.fold_in(key, index), shape, dtype)
            for index, (name, (shape, initializer)) in enumerate(sorted(info.items()))}


def check_params(params, spec) -> None:
    """Raises ValueError (at trace time) unless ``params`` has exactly the names and shapes of ``spec.param_info()``.

    A wrongly sized coefficient vector would otherwise reach a gather
    (``expand``) whose out-of-range indices return NaN, or a bias would broadcast.
    """
    info = spec.param_info()
    names = sorted(params) if hasattr(params, "keys") else None
    if names != sorted(info):
        got = names if names is not None else type(params).__name__
        raise ValueError(f"{spec!r}: expected params with names {sorted(info)}, got {got}")
    for name, (shape, _) in sorted(info.items()):
        got = tuple(jnp.shape(params[name]))
        if got != tuple(shape):
            raise ValueError(f"{spec!r}: expected params[{name!r}] of shape {tuple(shape)}, got {got}")


def float_input(x, params):
    """x as an inexact array: integer and bool inputs are promoted to the params' float dtype.

    Inexact inputs are returned unchanged (a float16 input keeps float16 outputs).
    A bool or integer x (a 0/1 indicator, counts) would otherwise be multiplied
    by weights cast to its own dtype, truncating them to integers (mostly 0).
    """
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    dtypes = [jnp.asarray(leaf).dtype for leaf in jax.tree_util.tree_leaves(params)]
    return x.astype(jnp.result_type(*dtypes) if dtypes else jnp.float32)


def check_last_axis(x, expected: int, what: str) -> None:
    """Raises (at trace time) unless x.shape[-1] == expected; never broadcasts silently."""
    if x.ndim < 1 or x.shape[-1] != expected:
        raise ValueError(f"{what} expects inputs whose last axis is {expected}; got shape {tuple(x.shape)}")


def expand(coeffs: jax.Array, index_map: np.ndarray) -> jax.Array:
    """Shared weights from orbit coefficients: ``coeffs[index_map]`` (a gather).

    coeffs (k,) or (..., k) with batch axes (e.g. vmapped seeds); index_map int
    (m, n) with values in [0, k) is a host constant. Returns (..., m, n).
    """
    return jnp.take(coeffs, jnp.asarray(index_map), axis=-1)


@dataclasses.dataclass(frozen=True)
class SharedDense:
    """The generic orbit-shared dense layer from ``action_in`` to ``action_out``.

    Params: ``w`` (num_weight_orbits,), ``b`` (num_bias_orbits,) when use_bias.
    """

    action_in: Action
    action_out: Action
    use_bias: bool = True

    def __post_init__(self):
        _, inp = align(self.action_out, self.action_in, names=("action_out", "action_in"))
        object.__setattr__(self, "action_in", inp)  # one presentation of the group for both

    def __repr__(self):
        return (f"SharedDense({self.action_in.size} -> {self.action_out.size}, {self.num_weights} weight orbits"
                f"{', %d bias orbits' % self.num_biases if self.use_bias else ''}; in: {self.action_in!r}; "
                f"out: {self.action_out!r})")

    @property
    def weight_map(self) -> np.ndarray:
        return orbit_index_map(self.action_out, self.action_in)[0]

    @property
    def num_weights(self) -> int:
        return orbit_index_map(self.action_out, self.action_in)[1]

    @property
    def bias_map(self) -> np.ndarray:
        return bias_index_map(self.action_out)[0]

    @property
    def num_biases(self) -> int:
        return bias_index_map(self.action_out)[1]

    def param_info(self) -> dict:
        info = {"w": ((self.num_weights,), normal(1.0 / np.sqrt(self.action_in.size)))}
        if self.use_bias:
            info["b"] = ((self.num_biases,), zeros)
        return info

    def weights(self, params) -> jax.Array:
        """The expanded weight matrix W, (..., action_out.size, action_in.size), from w (..., num_weights)."""
        w_shape = tuple(jnp.shape(params["w"]))
        if not w_shape or w_shape[-1] != self.num_weights:
            raise ValueError(f"{self!r}: expected params['w'] of shape (..., {self.num_weights}), got {w_shape}")
        return expand(params["w"], self.weight_map)

    def apply(self, params, x):
        """y = x W^T + b for x (..., action_in.size) -> (..., action_out.size).

        Integer and bool x are promoted to the params' dtype (``float_input``).
        """
        check_params(params, self)
        x = float_input(x, params)
        check_last_axis(x, self.action_in.size, f"SharedDense with input action {self.action_in!r}")
        y = x @ self.weights(params).T.astype(x.dtype)
        if self.use_bias:
            y = y + expand(params["b"], self.bias_map).astype(x.dtype)
        return y


def apply(params, spec, x):
    """``spec.apply(params, x)``: the forward map of any layer spec."""
    return spec.apply(params, x)


@dataclasses.dataclass(frozen=True)
class Dense:
    """An ordinary dense layer y = x K + b; K (d_in, d_out) LeCun normal, b zeros."""

    d_in: int
    d_out: int
    use_bias: bool = True

    def param_info(self) -> dict:
        info = {"kernel": ((self.d_in, self.d_out), normal(1.0 / np.sqrt(self.d_in)))}
        if self.use_bias:
            info["bias"] = ((self.d_out,), zeros)
        return info

    def apply(self, params, x):
        """y = x K + b for x (..., d_in) -> (..., d_out); integer and bool x promoted to the params' dtype."""
        check_params(params, self)
        x = float_input(x, params)
        check_last_axis(x, self.d_in, f"Dense({self.d_in} -> {self.d_out})")
        y = x @ params["kernel"]
        return y + params["bias"] if self.use_bias else y

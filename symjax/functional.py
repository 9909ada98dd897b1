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

Two parametrisations of the same layer (``parametrization=``), each with the
initialisation that gives every entry of W variance 1 / n, as a dense layer
initialised with ``jax.nn.initializers.lecun_normal`` (without truncation);
biases start at zero. With |O_l| the number of weight positions in orbit l:

* ``'normalized'`` (the default): W = (w / sqrt(|O|))[M_W], w_l ~ N(0, |O_l| / n),
  b = (beta / sqrt(|O_b|))[M_b]. The coefficients are the coordinates of W in
  an orthonormal basis of the equivariant matrices, so ||W||_F = ||w||_2, the
  gradient of w is the orthogonal projection of the dense layer's gradient,
  and the loss's curvature in w is at most its curvature in W (eigenvalue
  interlacing): the layer trains at the (S)GD learning rates its dense
  counterpart tolerates. Measured in docs/parametrization.md.
* ``'standard'``: W = w[M_W], w_l ~ N(0, 1 / n), b = beta[M_b]. The gradient of
  w_l sums the dense gradient over the |O_l| positions of its orbit, so SGD
  steps are up to |O_l| times larger than the dense layer's. The study's
  tasks use this form (they train with Adam, whose steps do not scale with
  the gradient).

Two contractions of the same layer (``contraction=``), equal to rounding (tested):

* ``'dense'``: expand W (m, n) and multiply, B m n multiply-adds per example batch of B.
* ``'factored'``: per pair of action components (``sharing.OrbitBlock``: P points x C channels on each
  side, k_p orbits of point pairs with one-hot matrices L_o (P_out, P_in)),

      y[p, c] = sum_o sum_q L_o[p, q] sum_d x[q, d] C_o[c, d],      C_o = w[ids[o]]   (C_out, C_in)

  first mixing the points (B k_p P_out P_in C_in), then the channels (B k_p P_out C_in C_out). For S_n
  on blocks (k_p = 2) that is about C / 2 times fewer operations than dense (the closed form of eq. 10
  is its special case; docs/benchmarks.md).
* ``'auto'`` (the default): 'factored' when it needs at most half of dense's multiply-adds, else 'dense'.

Dtypes follow Flax: the computation runs in ``dtype`` when given, else in the
promotion of the input's and the parameters' dtypes (a bfloat16 input with
float32 parameters gives float32); ``functional.init(..., dtype)`` /
the shells' ``param_dtype`` pick the parameters' dtype.

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
from typing import Any, Callable, Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np

from symjax.actions import Action, align, is_integer
from symjax.sharing import OrbitBlock, bias_index_map, orbit_blocks, orbit_index_map

Initializer = Callable[[jax.Array, tuple, Any], jax.Array]


def normal(std: float) -> Initializer:
    """N(0, std^2) initializer; std is cast to the parameter dtype (a bfloat16 parameter stays bfloat16)."""
    return lambda key, shape, dtype: jnp.asarray(std, dtype) * jax.random.normal(key, shape, dtype)


def zeros(key, shape, dtype):
    del key
    return jnp.zeros(shape, dtype)


Parametrization = Literal["normalized", "standard"]
PARAMETRIZATIONS = get_args(Parametrization)
DEFAULT_PARAMETRIZATION = "normalized"


def normal_per_entry(std: np.ndarray) -> Initializer:
    """N(0, std_l^2) for entry l of a vector parameter; std (k,) a host array."""
    std = np.asarray(std, np.float64)
    return lambda key, shape, dtype: jnp.asarray(std, dtype) * jax.random.normal(key, shape, dtype)


def check_parametrization(parametrization, owner: str) -> None:
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"{owner}: parametrization must be one of {PARAMETRIZATIONS}; got {parametrization!r}")


def check_size(value, name: str, owner: str, low: int = 1) -> None:
    """TypeError unless value is an integer (Python, numpy or a concrete 0-d jax integer); ValueError below low."""
    if not is_integer(value):
        raise TypeError(f"{owner}: {name} must be an integer >= {low}; got {value!r} ({type(value).__name__})")
    if int(value) < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}; got {int(value)}")


def check_dtype(dtype, owner: str) -> None:
    if dtype is None:
        return
    try:
        ok = jnp.issubdtype(jnp.dtype(dtype), jnp.inexact)
    except TypeError:
        ok = False
    if not ok:
        raise TypeError(f"{owner}: dtype must be None or a float dtype (jnp.float32, jnp.bfloat16, ...); got {dtype!r}")


def promote(x, params, dtype=None):
    """(x, params) cast to one dtype, Flax's rule (``flax.nnx.nn.dtypes.promote_dtype``).

    ``dtype`` when given, else the promotion of x's and the parameters' dtypes;
    integer and bool inputs promote to the parameters' float dtype. Casting is
    skipped where the dtype already matches, so float32 code is unchanged.
    """
    x = jnp.asarray(x)
    leaves = jax.tree_util.tree_leaves(params)
    if dtype is None:
        dtype = jnp.result_type(x.dtype, *[jnp.asarray(leaf).dtype for leaf in leaves]) if leaves else x.dtype
        if not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.float32
    cast = lambda v: v if jnp.asarray(v).dtype == dtype else jnp.asarray(v).astype(dtype)  # noqa: E731
    return cast(x), jax.tree_util.tree_map(cast, params)


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


def check_last_axis(x, expected: int, what: str, points: bool = False) -> None:
    """Raises (at trace time) unless x.shape[-1] == expected; never broadcasts silently.

    points: the layer takes point x channel data (..., p, expected); a flat
    (..., p * expected) input then gets the element-major reshape in the message.
    """
    if x.ndim < 1 or x.shape[-1] != expected:
        hint = ""
        if points and x.ndim >= 1 and x.shape[-1] % expected == 0:
            hint = (f"; flat (..., p * {expected}) data reshapes element-major: "
                    f"x.reshape(*x.shape[:-1], {x.shape[-1] // expected}, {expected})")
        raise ValueError(f"{what} expects inputs whose last axis is {expected}; got shape {tuple(x.shape)}{hint}")


Contraction = Literal["auto", "dense", "factored"]
CONTRACTIONS = get_args(Contraction)


def factored_cost(blocks: tuple[OrbitBlock, ...]) -> int:
    """Multiply-adds per example of the factored contraction over ``blocks``."""
    return sum(k * p_out * c_in * (p_in + c_out) for k, p_out, c_out, p_in, c_in in (b.shape for b in blocks))


def factored_apply(coeffs: jax.Array, blocks: tuple[OrbitBlock, ...], x: jax.Array, m: int) -> jax.Array:
    """x W^T for W = coeffs[M] without forming W: per ``OrbitBlock``, points then channels (module docstring).

    coeffs (k,); x (..., n) with the blocks' input layout (index point * C_in + channel). Returns (..., m).
    """
    batch = x.shape[:-1]
    parts = {}  # row0 -> (..., P_out * C_out) summed over the input components
    for block in blocks:
        k, p_out, c_out, p_in, c_in = block.shape
        h = x[..., block.col0:block.col0 + p_in * c_in].reshape(*batch, p_in, c_in)
        one_hot = np.zeros((k, p_out, p_in), np.float32)
        one_hot[block.point_labels, np.arange(p_out)[:, None], np.arange(p_in)[None, :]] = 1.0
        mixed = jnp.einsum("opq,...qd->...opd", jnp.asarray(one_hot, x.dtype), h)
        y = jnp.einsum("...opd,ocd->...pc", mixed, jnp.take(coeffs, jnp.asarray(block.coefficient_ids), axis=-1))
        y = y.reshape(*batch, p_out * c_out)
        parts[block.row0] = parts[block.row0] + y if block.row0 in parts else y
    out = jnp.concatenate([parts[row0] for row0 in sorted(parts)], axis=-1)
    assert out.shape[-1] == m
    return out


def expand(coeffs: jax.Array, index_map: np.ndarray) -> jax.Array:
    """Shared weights from orbit coefficients: ``coeffs[index_map]`` (a gather).

    coeffs (k,) or (..., k) with batch axes (e.g. vmapped seeds); index_map int
    (m, n) with values in [0, k) is a host constant. Returns (..., m, n).
    """
    return jnp.take(coeffs, jnp.asarray(index_map), axis=-1)


@dataclasses.dataclass(frozen=True)
class SharedDense:
    """The generic orbit-shared dense layer from ``action_in`` to ``action_out``: x (..., n) -> (..., m).

    Params: ``w`` (num_weight_orbits,), ``b`` (num_bias_orbits,) when use_bias.
    parametrization: 'normalized' (default, W = (w / sqrt|O|)[M], trains at the
    dense layer's SGD learning rates) or 'standard' (W = w[M], the study's);
    see the module docstring. dtype: the computation dtype (None: promote the
    input's and the parameters' dtypes, as Flax does). contraction: 'auto'
    (default), 'dense' (form W) or 'factored' (points, then channels); equal
    to rounding, see the module docstring.

    Inputs with points and channels, (..., p, c), are flattened element-major,
    ``x.reshape(*batch, p * c)``: index ``point * c + channel`` (``actions.blocks``).
    """

    action_in: Action
    action_out: Action
    use_bias: bool = True
    parametrization: Parametrization = DEFAULT_PARAMETRIZATION
    dtype: Any = None
    contraction: Contraction = "auto"

    def __post_init__(self):
        _, inp = align(self.action_out, self.action_in, names=("action_out", "action_in"))
        object.__setattr__(self, "action_in", inp)  # one presentation of the group for both
        check_parametrization(self.parametrization, "SharedDense")
        check_dtype(self.dtype, "SharedDense")
        if self.contraction not in CONTRACTIONS:
            raise ValueError(f"SharedDense: contraction expected one of {CONTRACTIONS}, got {self.contraction!r}")

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
    def factored(self) -> bool:
        """Whether apply uses the factored contraction (``contraction``, and for 'auto' the cost rule)."""
        if self.contraction != "auto":
            return self.contraction == "factored"
        blocks, _ = orbit_blocks(self.action_out, self.action_in)
        return 2 * factored_cost(blocks) <= self.action_out.size * self.action_in.size

    @property
    def bias_map(self) -> np.ndarray:
        return bias_index_map(self.action_out)[0]

    @property
    def num_biases(self) -> int:
        return bias_index_map(self.action_out)[1]

    @property
    def weight_orbit_sizes(self) -> np.ndarray:
        """|O_l|: the number of weight positions sharing coefficient l, int (num_weights,)."""
        return np.bincount(self.weight_map.ravel(), minlength=self.num_weights)

    @property
    def bias_orbit_sizes(self) -> np.ndarray:
        return np.bincount(self.bias_map, minlength=self.num_biases)

    def param_info(self) -> dict:
        fan_in = self.action_in.size
        if self.parametrization == "standard":
            info = {"w": ((self.num_weights,), normal(1.0 / np.sqrt(fan_in)))}
        else:
            info = {"w": ((self.num_weights,), normal_per_entry(np.sqrt(self.weight_orbit_sizes / fan_in)))}
        if self.use_bias:
            info["b"] = ((self.num_biases,), zeros)
        return info

    def _scaled(self, coeffs, sizes):
        if self.parametrization == "standard":
            return coeffs
        return coeffs * jnp.asarray(1.0 / np.sqrt(sizes), jnp.result_type(coeffs))

    def weights(self, params) -> jax.Array:
        """The expanded weight matrix W, (..., action_out.size, action_in.size), from w (..., num_weights)."""
        w_shape = tuple(jnp.shape(params["w"]))
        if not w_shape or w_shape[-1] != self.num_weights:
            raise ValueError(f"{self!r}: expected params['w'] of shape (..., {self.num_weights}), got {w_shape}")
        return expand(self._scaled(params["w"], self.weight_orbit_sizes), self.weight_map)

    def bias(self, params) -> jax.Array:
        """The expanded bias b, (..., action_out.size), from params['b']."""
        return expand(self._scaled(params["b"], self.bias_orbit_sizes), self.bias_map)

    def apply(self, params, x):
        """y = x W^T + b for x (..., action_in.size) -> (..., action_out.size).

        Computed in ``dtype`` or the promoted dtype of x and params (``promote``).
        """
        check_params(params, self)
        x = jnp.asarray(x)
        check_flat_input(x, self.action_in, f"SharedDense with input action {self.action_in!r}")
        x, params = promote(x, params, self.dtype)
        if self.factored:
            y = factored_apply(self._scaled(params["w"], self.weight_orbit_sizes),
                               orbit_blocks(self.action_out, self.action_in)[0], x, self.action_out.size)
        else:
            y = x @ self.weights(params).T
        if self.use_bias:
            y = y + self.bias(params)
        return y


def check_flat_input(x, action: Action, what: str) -> None:
    """Raises ValueError unless x.shape[-1] == action.size; for (..., p, c) input it says how to flatten."""
    if x.ndim >= 1 and x.shape[-1] == action.size:
        return
    hint = ""
    if x.ndim >= 2 and x.shape[-2] * x.shape[-1] == action.size:
        p, c = x.shape[-2], x.shape[-1]
        hint = (f"; for points x channels (..., {p}, {c}) flatten element-major: x.reshape(*x.shape[:-2], {p * c})"
                f" (index point * {c} + channel), not x.swapaxes(-1, -2).reshape(...)")
    raise ValueError(f"{what} expects inputs whose last axis is {action.size}; got shape {tuple(x.shape)}{hint}")


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

"""The S_n-equivariant set layer in closed form (study eq. 10–11, Appendix 2).

S_n acting on n blocks of d channels has two orbits of block pairs, the
diagonal and the rest (eq. 30), so every equivariant affine map is

    h'_i = A h_i + B sum_{j != i} h_j + b,   i = 1..n               (eq. 10)

with A, B (d_in, d_out) and b (d_out,) shared by all blocks. Computed as
``h A + (sum_j h_j - h_i) B + b``: O(n d_in d_out) instead of the
O(n^2 d_in d_out) of the dense block matrix (eq. 11). The weights do not
depend on n, so one layer takes sets of any size n >= 1 (train on small sets,
test on large ones).

Parametrisation (``parametrization=``, as ``functional.SharedDense``), with
n0 = ``num_blocks`` the set size the layer is calibrated for:

* 'normalized' (default): the layer uses A / sqrt(n0) and B / sqrt(n0 (n0-1)),
  b / sqrt(n0), the orbit sizes of the dense block matrix at n = n0 (one
  diagonal entry per block, n0 (n0-1) off-diagonal ones; max(., 1)); A, B ~
  N(0, orbit size / (n0 d_in)). At n = n0 this is the dense layer's
  parametrisation restricted to the equivariant matrices (orthonormal
  coordinates), so SGD tolerates the dense layer's learning rates. The
  constants stay fixed when n changes.
* 'standard': A, B, b used as they are, A, B ~ N(0, 1/(n0 d_in)) (the study's).

Both give every entry of the equivalent dense matrix variance 1/(n0 d_in) at
initialisation. Parameters: 2 d_in d_out + d_out, also for n = 1 (B then
multiplies an empty sum; the orbit engine would count only A for n = 1 since
the off-diagonal orbit is empty).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from symjax.functional import (DEFAULT_PARAMETRIZATION, Parametrization, check_dtype, check_last_axis,
                               check_params, check_parametrization, check_size, normal, promote, zeros)


@dataclasses.dataclass(frozen=True)
class SetLayer:
    """x (..., n, d_in) -> (..., n, d_out) for any n >= 1. Params A, B (d_in, d_out), bias (d_out,).

        y_i = x_i A' + (sum_{j != i} x_j) B' + b'

    with (A', B', b') = (A, B, bias) for parametrization='standard' and
    (A / sqrt(n0), B / sqrt(max(n0 (n0 - 1), 1)), bias / sqrt(n0)) for
    'normalized' (default); n0 = num_blocks, the set size the scale and the
    init are calibrated for (any n is accepted at apply time).
    dtype: computation dtype (None: promote input and parameter dtypes).
    """

    num_blocks: int
    d_in: int
    d_out: int
    use_bias: bool = True
    parametrization: Parametrization = DEFAULT_PARAMETRIZATION
    dtype: Any = None

    def __post_init__(self):
        for name in ("num_blocks", "d_in", "d_out"):
            check_size(getattr(self, name), name, "SetLayer")
            object.__setattr__(self, name, int(getattr(self, name)))
        check_parametrization(self.parametrization, "SetLayer")
        check_dtype(self.dtype, "SetLayer")

    def _orbit_sizes(self):
        n = self.num_blocks
        return {"A": n, "B": max(n * (n - 1), 1), "bias": n}

    def param_info(self) -> dict:
        fan_in = self.num_blocks * self.d_in
        if self.parametrization == "standard":
            init = normal(1.0 / np.sqrt(fan_in))
            info = {"A": ((self.d_in, self.d_out), init), "B": ((self.d_in, self.d_out), init)}
        else:
            sizes = self._orbit_sizes()
            info = {k: ((self.d_in, self.d_out), normal(np.sqrt(sizes[k] / fan_in))) for k in ("A", "B")}
        if self.use_bias:
            info["bias"] = ((self.d_out,), zeros)
        return info

    def effective_params(self, params) -> dict:
        """(A', B', b') of the formula above: the weights the layer applies."""
        if self.parametrization == "standard":
            return params
        sizes = self._orbit_sizes()
        return {k: v * float(1.0 / np.sqrt(sizes[k])) for k, v in params.items()}  # weak type: keeps dtype

    def apply(self, params, x):
        check_params(params, self)
        x = jnp.asarray(x)
        check_last_axis(x, self.d_in, f"SetLayer({self.d_in} -> {self.d_out})", points=True)
        if x.ndim < 2:
            raise ValueError(f"SetLayer expects inputs (..., n, {self.d_in}) with a set axis; got {tuple(x.shape)}"
                             f" (one set: x[None, :] or x.reshape(n, {self.d_in}))")
        x, params = promote(x, params, self.dtype)
        p = self.effective_params(params)
        others = jnp.sum(x, axis=-2, keepdims=True) - x
        y = x @ p["A"] + others @ p["B"]
        if self.use_bias:
            y = y + p["bias"]
        return y

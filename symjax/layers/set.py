"""The S_n-equivariant set layer in closed form (study eq. 10–11, Appendix 2).

S_n acting on n blocks of d channels has two orbits of block pairs, the
diagonal and the rest (eq. 30), so every equivariant affine map is

    h'_i = A h_i + B sum_{j != i} h_j + b,   i = 1..n               (eq. 10)

with A, B (d_in, d_out) and b (d_out,) shared by all blocks. Computed as
``h A + (sum_j h_j - h_i) B + b``: O(n d_in d_out) instead of the
O(n^2 d_in d_out) of the dense block matrix (eq. 11).

Parameters: 2 d_in d_out + d_out, also for n = 1 (B then multiplies an empty
sum; the orbit engine would count only A for n = 1 since the off-diagonal
orbit is empty).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from symjax.functional import check_last_axis, check_params, float_input, normal, zeros


@dataclasses.dataclass(frozen=True)
class SetLayer:
    """x (..., n, d_in) -> (..., n, d_out). Params A, B (d_in, d_out), bias (d_out,).

    Init: A, B ~ N(0, 1/(n d_in)) with n = num_blocks, the fan-in of the
    equivalent dense layer (same scale as ``functional.SharedDense``).
    """

    num_blocks: int
    d_in: int
    d_out: int
    use_bias: bool = True

    def param_info(self) -> dict:
        init = normal(1.0 / np.sqrt(self.num_blocks * self.d_in))
        info = {"A": ((self.d_in, self.d_out), init), "B": ((self.d_in, self.d_out), init)}
        if self.use_bias:
            info["bias"] = ((self.d_out,), zeros)
        return info

    def apply(self, params, x):
        check_params(params, self)
        x = float_input(x, params)
        check_last_axis(x, self.d_in, f"SetLayer({self.d_in} -> {self.d_out})")
        if x.ndim < 2 or x.shape[-2] != self.num_blocks:
            raise ValueError(f"SetLayer expects inputs (..., {self.num_blocks}, {self.d_in}); got {tuple(x.shape)}")
        others = jnp.sum(x, axis=-2, keepdims=True) - x
        y = x @ params["A"] + others @ params["B"]
        if self.use_bias:
            y = y + params["bias"]
        return y

"""The S_2-equivariant layer of the 3-body task in closed form (study eq. 20, Appendix 4).

S_2 swaps blocks 1 and 2 of h = (h_1, h_2, h_3) and fixes block 3. The
equivariance condition (eq. 47) leaves five free block matrices and two
biases:

    [h'_1]   [A B C] [h_1]   [b_sym]
    [h'_2] = [B A C] [h_2] + [b_sym]                                 (eq. 20)
    [h'_3]   [D D E] [h_3]   [b_3  ]

Parameters: 5 d_in d_out + 2 d_out. The same layer comes out of the orbit
engine for ``direct_sum(blocks(S_2, d), trivial(S_2, d))``.

Parametrisation (as ``functional.SharedDense``): 'normalized' (default)
divides each matrix and bias by the square root of its orbit size in the dense
3 x 3 block matrix (A, B, C, D, b_sym: 2 positions; E, b_3: 1) and draws
A..E ~ N(0, orbit size / (3 d_in)); 'standard' uses them as they are with
A..E ~ N(0, 1/(3 d_in)) (the study's). Both give the dense matrix's entries
variance 1/(3 d_in).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from symjax.functional import (DEFAULT_PARAMETRIZATION, Parametrization, check_dtype, check_last_axis,
                               check_params, check_parametrization, check_size, normal, promote, zeros)

ORBIT_SIZES = {"A": 2, "B": 2, "C": 2, "D": 2, "E": 1, "b_sym": 2, "b_3": 1}


@dataclasses.dataclass(frozen=True)
class SwapBlockLayer:
    """x (..., 3, d_in) -> (..., 3, d_out). Params A..E (d_in, d_out), b_sym, b_3 (d_out,).

    parametrization: 'normalized' (default) or 'standard' (module docstring);
    dtype: computation dtype (None: promote input and parameter dtypes).
    """

    d_in: int
    d_out: int
    use_bias: bool = True
    parametrization: Parametrization = DEFAULT_PARAMETRIZATION
    dtype: Any = None

    def __post_init__(self):
        for name in ("d_in", "d_out"):
            check_size(getattr(self, name), name, "SwapBlockLayer")
            object.__setattr__(self, name, int(getattr(self, name)))
        check_parametrization(self.parametrization, "SwapBlockLayer")
        check_dtype(self.dtype, "SwapBlockLayer")

    def param_info(self) -> dict:
        if self.parametrization == "standard":
            info = {name: ((self.d_in, self.d_out), normal(1.0 / np.sqrt(3 * self.d_in))) for name in "ABCDE"}
        else:
            info = {name: ((self.d_in, self.d_out), normal(np.sqrt(ORBIT_SIZES[name] / (3 * self.d_in))))
                    for name in "ABCDE"}
        if self.use_bias:
            info["b_sym"] = ((self.d_out,), zeros)
            info["b_3"] = ((self.d_out,), zeros)
        return info

    def apply(self, params, x):
        check_params(params, self)
        x = jnp.asarray(x)
        check_last_axis(x, self.d_in, f"SwapBlockLayer({self.d_in} -> {self.d_out})", points=True)
        if x.ndim < 2 or x.shape[-2] != 3:
            raise ValueError(f"SwapBlockLayer expects inputs (..., 3, {self.d_in}); got {tuple(x.shape)}")
        x, p = promote(x, params, self.dtype)
        if self.parametrization == "normalized":
            p = {k: v * float(1.0 / np.sqrt(ORBIT_SIZES[k])) for k, v in p.items()}  # weak type: keeps dtype
        h1, h2, h3 = x[..., 0, :], x[..., 1, :], x[..., 2, :]
        shared_c = h3 @ p["C"]
        y1 = h1 @ p["A"] + h2 @ p["B"] + shared_c
        y2 = h1 @ p["B"] + h2 @ p["A"] + shared_c
        y3 = (h1 + h2) @ p["D"] + h3 @ p["E"]
        if self.use_bias:
            y1, y2, y3 = y1 + p["b_sym"], y2 + p["b_sym"], y3 + p["b_3"]
        return jnp.stack([y1, y2, y3], axis=-2)

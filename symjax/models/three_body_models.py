"""Task 3 models: next-state prediction for three particles, S_2 swapping particles 1 and 2 (study ch. 4 §4).

State x = (x_1, x_2, x_3), x_i = (px, py, vx, vy): 12 numbers; models map
(..., 12) -> (..., 12) with ReLU between layers.

* vanilla: dense MLP with the widths of ``WIDTHS[size]``: 3564 / 19884 / 29724
  parameters for small / medium / large.
* shared: ``SwapBlockLayer`` stack (eq. 20) with block widths = widths / 3:
  1992 (small), 11080 (medium), 16552 (large). The study reports 7528 for
  medium, which is what block widths 4, 16, 24, 24, 16, 4 give
  (``MEDIUM_THESIS_BLOCK_WIDTHS``); pick it with ``medium_shared_widths='thesis'``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from symjax.functional import Dense
from symjax.layers import SwapBlockLayer
from symjax.models.sequential import Sequential

WIDTHS = {
    "small": (12, 48, 48, 12),
    "medium": (12, 48, 96, 96, 48, 12),
    "large": (12, 96, 192, 48, 12),
}
MEDIUM_THESIS_BLOCK_WIDTHS = (4, 16, 24, 24, 16, 4)


def _widths(size):
    if size not in WIDTHS:
        raise ValueError(f"model size must be one of {sorted(WIDTHS)}; got {size!r}")
    return WIDTHS[size]


@dataclasses.dataclass(frozen=True)
class VanillaBodyMLP:
    size: str

    def __post_init__(self):
        _widths(self.size)

    @property
    def body(self) -> Sequential:
        w = _widths(self.size)
        return Sequential(tuple(Dense(a, b) for a, b in zip(w[:-1], w[1:])), "relu")

    def init(self, key, dtype=jnp.float32):
        return self.body.init(key, dtype)

    def apply(self, params, x):
        return self.body.apply(params, x)


@dataclasses.dataclass(frozen=True)
class SharedBodyMLP:
    size: str
    medium_shared_widths: str = "divide"  # 'divide' (widths / 3) or 'thesis' (4, 16, 24, 24, 16, 4)

    def __post_init__(self):
        _widths(self.size)
        if self.medium_shared_widths not in ("divide", "thesis"):
            raise ValueError(f"medium_shared_widths must be 'divide' or 'thesis'; got {self.medium_shared_widths!r}")

    @property
    def block_widths(self) -> tuple:
        if self.size == "medium" and self.medium_shared_widths == "thesis":
            return MEDIUM_THESIS_BLOCK_WIDTHS
        return tuple(w // 3 for w in _widths(self.size))

    @property
    def body(self) -> Sequential:
        w = self.block_widths
        return Sequential(tuple(SwapBlockLayer(a, b, parametrization="standard") for a, b in zip(w[:-1], w[1:])),
                          "relu")

    def init(self, key, dtype=jnp.float32):
        return self.body.init(key, dtype)

    def apply(self, params, x):
        if x.shape[-1] != 12:
            raise ValueError(f"3-body models expect states (..., 12); got shape {tuple(x.shape)}")
        y = self.body.apply(params, x.reshape(x.shape[:-1] + (3, 4)))
        return y.reshape(x.shape)


def three_body_model(variant: str, size: str, medium_shared_widths: str = "divide"):
    """'vanilla' or 'shared' model of the given size."""
    if variant == "vanilla":
        return VanillaBodyMLP(size)
    if variant == "shared":
        return SharedBodyMLP(size, medium_shared_widths)
    raise ValueError(f"model variant must be 'vanilla' or 'shared'; got {variant!r}")

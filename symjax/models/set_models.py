"""Task 1 models: permutation-invariant regression on n_blocks scalars (study ch. 4 §2).

* vanilla: dense MLP with widths n_blocks x (1, 8, 16, 8, 4, 2), then one
  output; LeakyReLU(0.01). Parameters 345 / 1297 / 7801 / 30801 / 122401 for
  n_blocks 1 / 2 / 5 / 10 / 20.
* shared: S_n set layers (eq. 10) with per-block widths 1 -> 8 -> 16 -> 8 -> 4
  -> 2 -> 1, LeakyReLU(0.01), then the mean over blocks (eq. 6); 651
  parameters whatever n_blocks is.

Both map x (..., n_blocks) -> y (..., 1).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from symjax.functional import Dense
from symjax.layers import SetLayer, pool
from symjax.layers.pooling import KINDS as POOL_KINDS
from symjax.models.sequential import Sequential

BLOCK_WIDTHS = (1, 8, 16, 8, 4, 2)


def _check(n_blocks):
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 1:
        raise ValueError(f"n_blocks must be an integer >= 1; got {n_blocks!r}")


@dataclasses.dataclass(frozen=True)
class VanillaSetMLP:
    n_blocks: int

    def __post_init__(self):
        _check(self.n_blocks)

    @property
    def body(self) -> Sequential:
        widths = [self.n_blocks * w for w in BLOCK_WIDTHS] + [1]
        return Sequential(tuple(Dense(a, b) for a, b in zip(widths[:-1], widths[1:])), "leaky_relu")

    def init(self, key, dtype=jnp.float32):
        return self.body.init(key, dtype)

    def apply(self, params, x):
        return self.body.apply(params, x)


@dataclasses.dataclass(frozen=True)
class SharedSetMLP:
    n_blocks: int
    aggregation: str = "mean"

    def __post_init__(self):
        _check(self.n_blocks)
        if self.aggregation not in POOL_KINDS:
            raise ValueError(f"aggregation must be one of {POOL_KINDS}; got {self.aggregation!r}")

    @property
    def body(self) -> Sequential:
        widths = list(BLOCK_WIDTHS) + [1]
        return Sequential(tuple(SetLayer(self.n_blocks, a, b, parametrization="standard")
                                for a, b in zip(widths[:-1], widths[1:])),
                          "leaky_relu")

    def init(self, key, dtype=jnp.float32):
        return self.body.init(key, dtype)

    def apply(self, params, x):
        h = self.body.apply(params, x[..., None])  # (..., n, 1)
        return pool(h, axis=-2, kind=self.aggregation)


def set_model(variant: str, n_blocks: int):
    """'vanilla' or 'shared' (augmentation does not change the architecture)."""
    if variant == "vanilla":
        return VanillaSetMLP(n_blocks)
    if variant == "shared":
        return SharedSetMLP(n_blocks)
    raise ValueError(f"model variant must be 'vanilla' or 'shared'; got {variant!r}")

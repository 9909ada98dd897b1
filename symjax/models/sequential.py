"""Sequential composition of layer specs with an activation between layers."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax

from symjax import functional

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, negative_slope=0.01),  # LeakyReLU(0.01) of the study
    "tanh": jax.numpy.tanh,
}


@dataclasses.dataclass(frozen=True)
class Sequential:
    """layers[0] -> act -> layers[1] -> act -> ... -> layers[-1]; params {'layer_k': ...}."""

    layers: tuple
    activation: str = "relu"

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}")
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")

    def init(self, key, dtype=jax.numpy.float32) -> dict:
        return {f"layer_{k}": functional.init(jax.random.fold_in(key, k), layer, dtype)
                for k, layer in enumerate(self.layers)}

    def apply(self, params, x):
        act = ACTIVATIONS[self.activation]
        for k, layer in enumerate(self.layers):
            x = layer.apply(params[f"layer_{k}"], x)
            if k < len(self.layers) - 1:
                x = act(x)
        return x

"""Learning a symmetry from data with plain Flax models (the README's example).

A plain MLP (flax.linen, and the same with flax.nnx) learns the sum of a set of
n reals. Its loss is MSE + λ·orbit_tie on the first kernel: a soft pull toward
a first layer that sees its inputs only through their sum (S_n acting on the
inputs, fixing the hidden units). After training, ``rank_symmetries`` scores
the trained kernel against candidate symmetries; S_n ranks first.

    python3 experiments/discovery_flax_example.py --steps=400
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from absl import app, flags
from flax import linen as nn
from flax import nnx

from symjax import actions, discovery, groups
from symjax.discovery import presets
from symjax.tasks.progress import configure_logging, define_verbose_flag

N, HIDDEN = 5, 20  # set size; hidden width (4 channels per set element, so equivariant candidates fit too)
S_N = groups.symmetric(N)
INVARIANT = (actions.trivial(S_N, HIDDEN), actions.base(S_N))  # (acts on the kernel's outputs, on its inputs)


def set_sum_data(key, size):
    """x: (size, N) uniform in [0, 1]; y: (size, 1) the sum of each set."""
    x = jax.random.uniform(key, (size, N))
    return x, jnp.sum(x, axis=1, keepdims=True)


def penalty(kernel, lam):
    """λ·||K - P_G K||^2 on a Flax kernel (layout 'in_out': (N, HIDDEN))."""
    return lam * discovery.orbit_tie(kernel, *INVARIANT, layout="in_out")


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(HIDDEN)(x))
        x = nn.relu(nn.Dense(HIDDEN)(x))
        return nn.Dense(1)(x)


def train_linen(steps: int = 400, lam: float = 10.0, seed: int = 0):
    """Trains the linen MLP; returns its first kernel (N, HIDDEN) and the final task loss."""
    x, y = set_sum_data(jax.random.key(seed), 1024)
    model = MLP()
    params = model.init(jax.random.key(seed + 1), x)
    optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, steps))

    def loss(params):
        mse = jnp.mean(jnp.square(model.apply(params, x) - y))
        return mse + penalty(params["params"]["Dense_0"]["kernel"], lam), mse

    @jax.jit
    def step(params, state):
        (_, mse), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, state = optimizer.update(grads, state)
        return optax.apply_updates(params, updates), state, mse

    state = optimizer.init(params)
    for _ in range(steps):
        params, state, mse = step(params, state)
    return params["params"]["Dense_0"]["kernel"], float(mse)


class NNXMLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.first = nnx.Linear(N, HIDDEN, rngs=rngs)
        self.second = nnx.Linear(HIDDEN, HIDDEN, rngs=rngs)
        self.out = nnx.Linear(HIDDEN, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(nnx.relu(self.second(nnx.relu(self.first(x)))))


def train_nnx(steps: int = 400, lam: float = 10.0, seed: int = 0):
    """The same with flax.nnx; returns the first kernel and the final task loss."""
    x, y = set_sum_data(jax.random.key(seed), 1024)
    model = NNXMLP(nnx.Rngs(seed + 1))
    optimizer = nnx.Optimizer(model, optax.adam(optax.cosine_decay_schedule(1e-2, steps)), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        def loss(model):
            mse = jnp.mean(jnp.square(model(x) - y))
            return mse + penalty(model.first.kernel[...], lam), mse

        (_, mse), grads = nnx.value_and_grad(loss, has_aux=True)(model)
        optimizer.update(model, grads)
        return mse

    for _ in range(steps):
        mse = step(model, optimizer)
    return model.first.kernel[...], float(mse)


def rank(kernel):
    """Candidates: trivial, S_N, C_N, D_N, mirror, each with invariant and equivariant hidden units."""
    return discovery.rank_symmetries(kernel, presets.candidates_1d(HIDDEN, N, output="both"), layout="in_out")


STEPS = flags.DEFINE_integer("steps", 400, "Adam steps (full batch of 1024 sets)")
LAM = flags.DEFINE_float("lam", 10.0, "weight λ of orbit_tie on the first kernel")
define_verbose_flag()


def main(argv):
    del argv
    configure_logging(flags.FLAGS.verbose)
    for name, train in (("flax.linen", train_linen), ("flax.nnx", train_nnx)):
        kernel, mse = train(STEPS.value, LAM.value)
        print(f"{name}: task MSE {mse:.2e}")
        print(discovery.ranking_table(rank(kernel)))


if __name__ == "__main__":
    app.run(main)

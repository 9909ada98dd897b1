r"""Stable learning-rate range of shared layers vs the dense layer they replace (docs/parametrization.md).

A set task: x (n points x d channels), target y = sum_i sin(x_i . a) + (mean_i x_i . b)^2
(an S_n-invariant function), standardised. Two-layer networks, ReLU between:

* dense:              Dense(n d -> n h), Dense(n h -> 1);
* shared_standard:    SharedDense(blocks(S_n, d) -> blocks(S_n, h)), SharedDense(blocks(S_n, h) -> trivial),
                      parametrization='standard' (W = w[M]);
* shared_normalized:  the same with parametrization='normalized' (W = (w / sqrt|O|)[M]);
* set_standard / set_normalized: SetLayer(n, d, h) (the closed form of the first layer), then the
                      SharedDense to the invariant output, in each parametrisation.

Every model starts with the same distribution of expanded weights (variance
1 / fan_in). Each (model, optimiser, learning rate) trains ``seeds`` seeds
side by side (vmap) for ``steps`` full-batch steps; a run is *stable* when its
final training loss is finite and below its initial loss. The stable range of
a model is the set of learning rates where every seed is stable.

    python experiments/parametrization_lr.py            # the table of docs/parametrization.md
    python experiments/parametrization_lr.py --steps=20 --lrs=0.01,1 --seeds=1   # seconds
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from symjax import actions, functional, groups
from symjax.layers import SetLayer

FLAGS = flags.FLAGS
flags.DEFINE_integer("n", 5, "Set size.")
flags.DEFINE_integer("d", 4, "Input channels per element.")
flags.DEFINE_integer("h", 16, "Hidden channels per element.")
flags.DEFINE_integer("examples", 512, "Training examples (full batch).")
flags.DEFINE_integer("steps", 300, "Optimiser steps.")
flags.DEFINE_integer("seeds", 3, "Seeds per learning rate.")
flags.DEFINE_list("lrs", ["0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1", "3"], "Learning rates.")
flags.DEFINE_list("optimizers", ["sgd", "adam"], "sgd (momentum 0.9) and/or adam.")

MODELS = ("dense", "shared_standard", "shared_normalized", "set_standard", "set_normalized")


def make_data(n: int, d: int, examples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(examples, n, d)).astype(np.float32)
    a, b = rng.normal(size=d) / np.sqrt(d), rng.normal(size=d) / np.sqrt(d)
    y = np.sin(x @ a).sum(1) + (x @ b).mean(1) ** 2
    return jnp.asarray(x), jnp.asarray(((y - y.mean()) / y.std())[:, None], jnp.float32)


def make_model(name: str, n: int, d: int, h: int):
    """(specs, apply(params, x (B, n, d)) -> (B, 1)) for one of MODELS."""
    s_n = groups.symmetric(n)
    if name == "dense":
        specs = (functional.Dense(n * d, n * h), functional.Dense(n * h, 1))
        flat_first = True
    else:
        kind = name.split("_")[1]
        out = functional.SharedDense(actions.blocks(s_n, h), actions.trivial(s_n, 1), parametrization=kind)
        if name.startswith("shared"):
            specs = (functional.SharedDense(actions.blocks(s_n, d), actions.blocks(s_n, h), parametrization=kind),
                     out)
            flat_first = True
        else:
            specs = (SetLayer(n, d, h, parametrization=kind), out)
            flat_first = False

    def apply(params, x):
        batch = x.shape[0]
        hidden = specs[0].apply(params[0], x.reshape(batch, n * d) if flat_first else x)
        return specs[1].apply(params[1], jax.nn.relu(hidden).reshape(batch, n * h))

    return specs, apply


def run(model: str, optimizer: str, lr: float, n: int, d: int, h: int, examples: int, steps: int,
        seeds: int) -> dict:
    """Final / initial training loss per seed, and whether every seed is stable."""
    x, y = make_data(n, d, examples)
    specs, apply = make_model(model, n, d, h)
    opt = optax.sgd(lr, momentum=0.9) if optimizer == "sgd" else optax.adam(lr)
    loss = lambda p: jnp.mean((apply(p, x) - y) ** 2)  # noqa: E731

    def one_seed(key):
        params = tuple(functional.init(jax.random.fold_in(key, i), s) for i, s in enumerate(specs))

        def step(carry, _):
            params, state = carry
            grads = jax.grad(loss)(params)
            updates, state = opt.update(grads, state)
            return (optax.apply_updates(params, updates), state), None

        (final, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
        return loss(params), loss(final)

    initial, final = jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(0), seeds))
    initial, final = np.asarray(initial), np.asarray(final)
    stable = bool(np.all(np.isfinite(final) & (final < initial)))
    return {"model": model, "optimizer": optimizer, "lr": lr, "stable": stable,
            "final_loss": float(np.median(np.where(np.isfinite(final), final, np.inf)))}


def table(rows: list[dict]) -> str:
    """Markdown: median final loss per model and lr ('div.' where some seed was unstable), max stable lr."""
    lines = []
    for optimizer in sorted({r["optimizer"] for r in rows}, reverse=True):
        sub = [r for r in rows if r["optimizer"] == optimizer]
        lrs = sorted({r["lr"] for r in sub})
        lines.append(f"\n{optimizer}: median final training loss (initial ~1), 'div.' = some seed diverged\n")
        lines.append("| model | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | largest stable lr |")
        lines.append("|---" * (len(lrs) + 2) + "|")
        for model in MODELS:
            cells = {r["lr"]: r for r in sub if r["model"] == model}
            if not cells:
                continue
            shown = [f"{cells[lr]['final_loss']:.3f}" if cells[lr]["stable"] else "div." for lr in lrs]
            stable = [lr for lr in lrs if cells[lr]["stable"]]
            lines.append(f"| {model} | " + " | ".join(shown) + f" | {max(stable):g} |" if stable else
                         f"| {model} | " + " | ".join(shown) + " | none |")
    return "\n".join(lines)


def main(argv):
    del argv
    rows = [run(model, optimizer, float(lr), FLAGS.n, FLAGS.d, FLAGS.h, FLAGS.examples, FLAGS.steps, FLAGS.seeds)
            for optimizer in FLAGS.optimizers for model in MODELS for lr in FLAGS.lrs]
    print(f"n={FLAGS.n} d={FLAGS.d} h={FLAGS.h}, {FLAGS.examples} examples, {FLAGS.steps} full-batch steps, "
          f"{FLAGS.seeds} seeds")
    print(table(rows))


if __name__ == "__main__":
    app.run(main)

"""Flax shells (linen, NNX) in a user's model, the thesis's parameter counts, metric utilities."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen, nnx

from symjax import actions, functional, groups, metrics
from symjax.models.set_models import SharedSetMLP, set_model
from symjax.models.three_body_models import three_body_model
from symjax.nn import linen as sj_linen
from symjax.nn import nnx as sj_nnx

S4 = groups.symmetric(4)
IN = actions.blocks(S4, 2)      # a set of 4 elements with 2 features each
HIDDEN = actions.blocks(S4, 8)
OUT = actions.trivial(S4, 8)    # invariant features


def toy_data():
    x = jax.random.normal(jax.random.key(0), (64, 8))
    y = jnp.sum(jnp.sin(x), axis=-1, keepdims=True)  # invariant target
    return x, y


class LinenUserModel(linen.Module):
    @linen.compact
    def __call__(self, x):
        h = jax.nn.relu(sj_linen.SharedDense(IN, HIDDEN)(x))
        h = sj_linen.SharedDense(HIDDEN, OUT)(h)
        return linen.Dense(1)(jax.nn.relu(h))


def test_linen_model_mixing_shared_and_dense_trains_with_optax():
    x, y = toy_data()
    model = LinenUserModel()
    params = model.init(jax.random.key(1), x)
    opt = optax.adam(1e-2)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((model.apply(p, x) - y) ** 2))(params)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    losses = []
    for _ in range(60):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    shared = params["params"]["SharedDense_0"]
    assert shared["w"].shape == (functional.SharedDense(IN, HIDDEN).num_weights,)
    # still invariant after training
    err = metrics.relative_symmetry_error(lambda v: model.apply(params, v), x, IN, actions.trivial(S4, 1),
                                          jax.random.key(2))
    assert float(err) < 1e-10


class NNXUserModel(nnx.Module):
    def __init__(self, rngs):
        self.shared1 = sj_nnx.SharedDense(IN, HIDDEN, rngs=rngs)
        self.shared2 = sj_nnx.SharedDense(HIDDEN, OUT, rngs=rngs)
        self.head = nnx.Linear(8, 1, rngs=rngs)

    def __call__(self, x):
        return self.head(jax.nn.relu(self.shared2(jax.nn.relu(self.shared1(x)))))


def test_nnx_model_mixing_shared_and_dense_trains_with_optax():
    x, y = toy_data()
    model = NNXUserModel(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer)) for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0]
    assert model.shared1.w[...].shape == (functional.SharedDense(IN, HIDDEN).num_weights,)


@pytest.mark.parametrize("n_blocks, vanilla", [(1, 345), (2, 1297), (5, 7801), (10, 30801), (20, 122401)])
def test_task1_parameter_counts(n_blocks, vanilla):
    key = jax.random.key(0)
    assert metrics.count_params(set_model("vanilla", n_blocks).init(key)) == vanilla
    assert metrics.count_params(set_model("shared", n_blocks).init(key)) == 651


@pytest.mark.parametrize("size, vanilla, shared", [("small", 3564, 1992), ("medium", 19884, 11080),
                                                   ("large", 29724, 16552)])
def test_task3_parameter_counts(size, vanilla, shared):
    key = jax.random.key(0)
    assert metrics.count_params(three_body_model("vanilla", size).init(key)) == vanilla
    assert metrics.count_params(three_body_model("shared", size).init(key)) == shared


def test_task3_medium_thesis_widths_give_the_thesis_count():
    assert metrics.count_params(three_body_model("shared", "medium", "thesis").init(jax.random.key(0))) == 7528


def test_models_are_invariant_or_equivariant():
    key = jax.random.key(0)
    s5 = groups.symmetric(5)
    shared = set_model("shared", 5)
    params = shared.init(key)
    x = jax.random.uniform(jax.random.key(1), (16, 5), minval=-2, maxval=2)
    f = lambda v: shared.apply(params, v)
    assert float(metrics.relative_symmetry_error(f, x, actions.base(s5), actions.trivial(s5, 1), key)) < 1e-12
    vanilla = set_model("vanilla", 5)
    vp = vanilla.init(key)
    assert float(metrics.relative_symmetry_error(lambda v: vanilla.apply(vp, v), x, actions.base(s5),
                                                 actions.trivial(s5, 1), key)) > 1e-4
    s2 = groups.symmetric(2)
    swap = actions.direct_sum(actions.blocks(s2, 4), actions.trivial(s2, 4))
    body = three_body_model("shared", "small")
    bp = body.init(key)
    states = jax.random.normal(jax.random.key(2), (16, 12))
    assert float(metrics.relative_symmetry_error(lambda v: body.apply(bp, v), states, swap, swap, key)) < 1e-12


def test_bad_model_arguments_fail_at_construction():
    """Models check their arguments when built (__post_init__), not at first use."""
    for variant in ("vanilla", "shared"):
        with pytest.raises(ValueError, match="n_blocks must be an integer >= 1; got 0"):
            set_model(variant, 0)
        with pytest.raises(ValueError, match="model size must be one of"):
            three_body_model(variant, "huge")
    with pytest.raises(ValueError, match="n_blocks must be an integer >= 1; got True"):
        set_model("shared", True)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        SharedSetMLP(3, aggregation="max")
    with pytest.raises(ValueError, match="medium_shared_widths must be"):
        three_body_model("shared", "medium", "half")
    with pytest.raises(ValueError, match="model variant"):
        set_model("dense", 3)


def test_count_params_counts_scalars():
    assert metrics.count_params({"a": np.zeros((3, 4)), "b": [np.zeros(5), np.zeros(())]}) == 18

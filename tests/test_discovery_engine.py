"""Soft sharing as lanes: one sweep of the lane engine trains a plain layer at several λ of orbit_tie."""

import jax
import jax.numpy as jnp
import numpy as np

from symjax import actions, discovery, groups
from symjax.train import Execution, Lane, LaneFns, TrainConfig, sweep

S5 = actions.base(groups.symmetric(5))


def init(key):
    return {"w": jax.random.normal(key, (5, 5)) / jnp.sqrt(5.0)}


def apply(params, x):
    """Reference 001 §3.1's generic set-sum model: a 5 x 5 layer, then sum pooling. (B, 5) -> (B, 1)."""
    return jnp.sum(x @ params["w"].T, axis=-1, keepdims=True)


def penalty(params, hyper):
    return discovery.tree_penalty(params, lambda w: discovery.orbit_tie(w, S5, S5, layout="out_in"),
                                  select="w", weight=hyper["lam"])


def test_orbit_tie_weight_as_a_lane_axis_turns_the_dial_toward_sharing():
    x = np.random.default_rng(0).uniform(size=(160, 5)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    lams = [0.0, 0.1, 10.0]
    lanes = [Lane(seed=0, train_idx=np.arange(96), val_idx=np.arange(96, 128), test_idx=np.arange(128, 160),
                  batch_size=16, hyper={"lam": lam}, meta={"lam": lam}) for lam in lams]
    config = TrainConfig(loss="mse", learning_rate=3e-2, max_epochs=40, early_stopping=False, quiet=True,
                         execution=Execution(lane_groups="single"))
    result = sweep(LaneFns(init=init, apply=apply, penalty=penalty), x, y, lanes, config)
    weights = np.asarray(result.params["w"])  # (3, 5, 5), lane order
    distances = [float(discovery.sharing_distance(w, S5, S5, layout="out_in")) for w in weights]
    assert distances[0] > 0.3 and distances[2] < 1e-3 and distances[2] < distances[1] < distances[0], distances
    # every lane learns the sum: each input's weights sum to ~1 over the outputs
    assert all(float(discovery.column_sum_deviation(w, layout="out_in")) < 0.05 for w in weights)
    assert all(row["test_loss"] < 1e-3 for row in result.rows)

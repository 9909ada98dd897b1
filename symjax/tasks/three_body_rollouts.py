"""Autoregressive rollouts of learned 3-body step models, and their physical consistency (study ch. 4 §4, Figure 9).

From initial states x_0 (physical units) a model f trained on normalised pairs
(z_t, z_{t+10}) is iterated K times in normalised units, z_{k+1} = f(z_k), and
mapped back, x_hat_k = denormalize(z_k). With the true snapshots x_k of the
same trajectories (R trajectories, float64):

    rollout_mse    = mean_{r, i} (x_hat_K[r, i] - x_K[r, i])^2             (physical units)
    energy_drift   = mean_r |E(x_hat_K[r]) - E(x_hat_0[r])| / mean_r |E(x_hat_0[r])|
    momentum_drift = mean_r || P(x_hat_K[r]) - P(x_hat_0[r]) ||_2

with E the total energy and P the total momentum of ``symjax.data.three_body``.
The true dynamics conserve E up to the integrator's error and P up to rounding.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from symjax.data import three_body as tb


def _float_dtype(params):
    """dtype of the first floating-point leaf of a params pytree (float32 if there is none)."""
    for leaf in jax.tree.leaves(params):
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating):
            return jnp.asarray(leaf).dtype
    return jnp.float32


def physical_predictor(apply_fn, params, mean, std):
    """x (..., 12) physical -> denormalize(apply_fn(params, normalize(x))), the model in physical units."""
    mean = jnp.asarray(mean)
    std = jnp.asarray(std)

    def predict(x):
        z = tb.normalize(jnp.asarray(x), mean, std)
        return tb.denormalize(apply_fn(params, z.astype(_float_dtype(params))), mean, std)

    return predict


@functools.partial(jax.jit, static_argnames=("apply_fn", "num_steps"))
def rollout(apply_fn, stacked_params, z0, num_steps: int):
    """Autoregressive rollouts of L models from R initial states, in normalised units.

    Args:
      apply_fn: (params, z (R, 12)) -> (R, 12), one model step (10 simulator steps).
      stacked_params: params pytree with a leading lane axis L.
      z0: (R, 12) normalised initial states.
      num_steps: K >= 1.

    Returns:
      (L, R, K + 1, 12): z_0, f(z_0), f(f(z_0)), ... per lane (lax.scan over steps, vmap over lanes).
    """

    def one_lane(params):
        def step(z, _):
            z_next = apply_fn(params, z)
            return z_next, z_next

        _, zs = jax.lax.scan(step, z0, None, length=num_steps)  # (K, R, 12)
        return jnp.concatenate([z0[None], zs], axis=0).swapaxes(0, 1)

    return jax.vmap(one_lane)(stacked_params)


def rollout_metrics(pred, true, softening: str = "study") -> dict[str, np.ndarray]:
    """rollout_mse, energy_drift, momentum_drift (module docstring) of rollouts, in float64.

    Args:
      pred: (..., R, K + 1, 12) predicted states x_hat_0..x_hat_K in physical units.
      true: (R, K + 1, 12) or (..., R, K + 1, 12) true states of the same trajectories.
      softening: the force law of the simulation (``three_body.SOFTENINGS``), which fixes the energy.

    Returns:
      dict of float64 arrays of shape (...) (the leading axes of pred, e.g. lanes).
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.ndim < 3 or pred.shape[-1] != tb.STATE_DIM or pred.shape[-2] < 2:
        raise ValueError(f"pred must have shape (..., R, K + 1 >= 2, 12); got {pred.shape}")
    if true.shape != pred.shape[-true.ndim:]:
        raise ValueError(f"true must have the trailing shape of pred {pred.shape[-3:]}; got {true.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        last, first = pred[..., -1, :], pred[..., 0, :]
        mse = np.mean(np.square(last - true[..., -1, :]), axis=(-2, -1))
        energy_last, energy_first = tb.total_energy(last, softening), tb.total_energy(first, softening)
        energy_change = np.abs(energy_last - energy_first)  # (..., R)
        energy_drift = np.mean(energy_change, axis=-1) / np.mean(np.abs(energy_first), axis=-1)
        momentum_change = np.linalg.norm(tb.total_momentum(last) - tb.total_momentum(first), axis=-1)
        momentum_drift = np.mean(momentum_change, axis=-1)
    return {"rollout_mse": mse, "energy_drift": energy_drift, "momentum_drift": momentum_drift}


def lane_rollouts(apply_fn, stacked_params, mean, std, true_trajectories: np.ndarray, num_steps: int):
    """Rollouts of all lanes from the first states of ``true_trajectories`` (R, S, 12), physical units.

    Returns (pred (L, R, K + 1, 12) float64, true (R, K + 1, 12) float64).
    """
    true = np.asarray(true_trajectories, dtype=np.float64)[:, : num_steps + 1]
    if true.shape[1] != num_steps + 1:
        raise ValueError(f"rollout_steps: expected <= {true_trajectories.shape[1] - 1}; got {num_steps}")
    dtype = _float_dtype(stacked_params)
    z0 = jnp.asarray(tb.normalize(true[:, 0], mean, std), dtype=dtype)
    z = np.asarray(rollout(apply_fn, stacked_params, z0, int(num_steps)), dtype=np.float64)
    return tb.denormalize(z, mean, std), true

"""Task 3 end to end: next-state prediction for three particles (study ch. 3 §5, ch. 4 §4, Tables 4 and 7, Figures 8-9).

Task. Learn f: R^12 -> R^12, x_t -> x_{t + 10 simulator steps}, for the
softened three-body problem of ``symjax.data.three_body``; S_2 swaps particles
1 and 2 (equal masses) on inputs and targets alike (an equivariant task):

    g . (x_1, x_2, x_3) = (x_2, x_1, x_3),   x_i = (px, py, vx, vy),

as the action ``direct_sum(blocks(S2, 4), trivial(S2, 4))`` on the 12 indices.

Data (documented choice). One simulation with ``DATA_SEED`` gives the
training trajectories (81 trajectories x 499 pairs = 40419 pairs, enough for
the largest Table-4 size, whatever ``data_sizes`` a run uses) and the 50
held-out test trajectories (24950 pairs); training and test initial states
come from independent random streams, so no test trajectory is trained on.
Every lane (seed s, data size n) draws its own n pairs uniformly without
replacement from all training-trajectory pairs, with
``np.random.default_rng([LANE_DATA_SALT, s, n])``, and splits them 8:2
(round(0.8 n) training pairs, the rest validation); the batch size is Table
4's (1000: 128, 5000: 256, 20000: 512, 40000: 1024). Lanes of the same seed
and size (vanilla, vanilla_aug, shared, shared_aug) get the same pairs. Every
lane is tested on all 24950 test pairs.

Normalisation. States are standardised with ``three_body.fit_normalizer``
fitted on the training-trajectory inputs x_t (statistics of particles 1 and
2 pooled), the same (mean, std) for inputs and targets:

    z = (x - mean) / std,   mean[swap] == mean, std[swap] == std,

so normalize(g . x) = g . normalize(x) and a model equivariant in z is
equivariant in physical units. Models are trained on (z_t, z_{t+10}); test
loss and symmetry error (eq. 8) are in these normalised units.

Variants. vanilla / vanilla_aug (dense MLP) share one ``sweep`` call, shared /
shared_aug (``SwapBlockLayer`` stack) another. Augmentation applies a uniform
g in S_2 to input AND target of every training example (swap with
probability 1/2). Adam 1e-3, MSE, at most 400 epochs, patience 20.

Rollouts (Figure 9 and physical consistency). From the first
``rollout_trajectories`` test trajectories' initial states x_0 each lane's
best model is iterated K = ``rollout_steps`` times in normalised units,
z_{k+1} = f(z_k), and mapped back, x_hat_k = denormalize(z_k). With the true
snapshots x_k of the same trajectory (R trajectories, float64):

    rollout_mse    = mean_{r, i} (x_hat_K[r, i] - x_K[r, i])^2             (physical units)
    energy_drift   = mean_r |E(x_hat_K[r]) - E(x_hat_0[r])| / mean_r |E(x_hat_0[r])|
    momentum_drift = mean_r || P(x_hat_K[r]) - P(x_hat_0[r]) ||_2

with E the total energy and P the total momentum of ``symjax.data.three_body``.
The true dynamics conserve E up to the integrator's error and P up to rounding.
A PNG (``fig9_task3_rollouts.png``) shows, for the lane with the lowest test
loss of each variant, predicted vs true paths of the 3 particles in the plane.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from symjax import actions, groups
from symjax.data import three_body as tb
from symjax.models.three_body_models import three_body_model
from symjax.tasks import common

MODELS = ("vanilla", "vanilla_aug", "shared", "shared_aug")
MODEL_SIZES = ("small", "medium", "large")
MEDIUM_SHARED_WIDTHS = ("divide", "thesis")
# variant -> (architecture, augment)
VARIANTS = {
    "vanilla": ("vanilla", False),
    "vanilla_aug": ("vanilla", True),
    "shared": ("shared", False),
    "shared_aug": ("shared", True),
}
ARCHITECTURES = ("vanilla", "shared")

DATA_SEED = 0  # seed of the one simulation (training and test trajectories)
LANE_DATA_SALT = 3  # first entry of every lane's subsampling seed [salt, seed, data_size]
FIGURE_NAME = "fig9_task3_rollouts.png"

# The full data set (study, ch. 4 §4): 5000 steps per trajectory, 50 test trajectories.
FULL_DATA = {
    "num_steps": tb.NUM_STEPS,
    "num_train_trajectories": tb.num_trajectories_needed(max(tb.TABLE4)),  # 81
    "num_test_trajectories": tb.NUM_TEST_TRAJECTORIES,
}
# --quick: shorter and fewer trajectories (1000 steps = 99 pairs each; 11 x 99 = 1089 >= 1000 pairs).
QUICK_DATA = {"num_steps": 1000, "num_train_trajectories": 11, "num_test_trajectories": 5}
QUICK_GRID = {"data_sizes": (1000,), "seeds": (0, 1), "max_epochs": 3, "rollout_trajectories": 2}


def s2_action() -> actions.Action:
    """S_2 on states (12,): swaps indices 0-3 (particle 1) with 4-7 (particle 2), fixes 8-11."""
    s2 = groups.symmetric(2)
    return actions.direct_sum(actions.blocks(s2, 4), actions.trivial(s2, 4))


# ---------------------------------------------------------------- options
def check_options(*, model_size: str, data_sizes, models, seeds, max_epochs: int, patience: int,
                  checkpoint_every: int, sym_samples: int, lr: float, medium_shared_widths: str,
                  rollout_steps: int, rollout_trajectories: int, quick: bool) -> None:
    """Raises ValueError naming the flag for options that cannot run (pure Python: nothing is compiled)."""
    if model_size not in MODEL_SIZES:
        raise ValueError(f"--model_size must be one of {list(MODEL_SIZES)}; got {model_size!r}")
    if medium_shared_widths not in MEDIUM_SHARED_WIDTHS:
        raise ValueError(f"--medium_shared_widths must be one of {list(MEDIUM_SHARED_WIDTHS)}; "
                         f"got {medium_shared_widths!r}")
    data_sizes = list(data_sizes)
    unknown = [n for n in data_sizes if n not in tb.TABLE4]
    if not data_sizes or unknown:
        raise ValueError(f"--data_sizes must be a comma list from Table 4 {sorted(tb.TABLE4)}; "
                         f"got {data_sizes} (not in Table 4: {unknown})")
    if len(set(data_sizes)) != len(data_sizes):
        raise ValueError(f"--data_sizes must not repeat a size; got {data_sizes}")
    common.parse_models(list(models), MODELS)
    if len(set(models)) != len(list(models)):
        raise ValueError(f"--models must not repeat a model; got {list(models)}")
    if not seeds or any(int(s) < 0 for s in seeds) or len(set(seeds)) != len(list(seeds)):
        raise ValueError(f"--seeds must be distinct non-negative integers; got {list(seeds)}")
    for name, value in (("max_epochs", max_epochs), ("patience", patience),
                        ("checkpoint_every", checkpoint_every), ("sym_samples", sym_samples),
                        ("rollout_steps", rollout_steps), ("rollout_trajectories", rollout_trajectories)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"--{name} must be an integer >= 1; got {value!r}")
    if not lr > 0:
        raise ValueError(f"--lr must be > 0; got {lr!r}")
    data = QUICK_DATA if quick else FULL_DATA
    max_rollout = data["num_steps"] // tb.RECORD_EVERY - 1
    if rollout_steps > max_rollout:
        raise ValueError(f"--rollout_steps must be <= {max_rollout} (snapshots per test trajectory - 1"
                         f"{' with --quick' if quick else ''}); got {rollout_steps}")
    if rollout_trajectories > data["num_test_trajectories"]:
        raise ValueError(f"--rollout_trajectories must be <= {data['num_test_trajectories']} (test trajectories"
                         f"{' with --quick' if quick else ''}); got {rollout_trajectories}")


# ---------------------------------------------------------------- data
def test_trajectories(test_x: np.ndarray, test_y: np.ndarray, num_trajectories: int) -> np.ndarray:
    """Rebuilds the test trajectories (T, S, 12) from their consecutive pairs (T * (S - 1), 12)."""
    pairs = test_x.shape[0] // num_trajectories
    if pairs * num_trajectories != test_x.shape[0]:
        raise ValueError(f"test pairs: expected a multiple of {num_trajectories} trajectories; got {test_x.shape[0]}")
    x = test_x.reshape(num_trajectories, pairs, tb.STATE_DIM)
    y = test_y.reshape(num_trajectories, pairs, tb.STATE_DIM)
    return np.concatenate([x, y[:, -1:]], axis=1)


def make_pool(quick: bool = False, data_seed: int = DATA_SEED, dtype=np.float32) -> dict:
    """Simulates the data and builds the pool every lane indexes into.

    Returns a dict:
      pool_x, pool_y: (N_train + N_test, 12) normalised pairs (z_t, z_{t+10}) in ``dtype``;
        rows [0, N_train) are training-trajectory pairs, rows [N_train, N) test pairs.
      num_train_pairs: N_train; test_idx: int64 (N_test,) = N_train + arange(N_test).
      mean, std: float64 (12,) normaliser (fitted on the training-trajectory inputs).
      test_trajectories: float64 (T_test, S, 12) true test trajectories (physical units).
    """
    spec = QUICK_DATA if quick else FULL_DATA
    data = tb.make_dataset(data_seed, spec["num_train_trajectories"], spec["num_test_trajectories"],
                           num_steps=spec["num_steps"])
    mean, std = tb.fit_normalizer(data["train_x"])
    x = np.concatenate([data["train_x"], data["test_x"]])
    y = np.concatenate([data["train_y"], data["test_y"]])
    n_train = data["train_x"].shape[0]
    return {
        "pool_x": tb.normalize(x, mean, std).astype(dtype),
        "pool_y": tb.normalize(y, mean, std).astype(dtype),
        "num_train_pairs": n_train,
        "test_idx": n_train + np.arange(data["test_x"].shape[0]),
        "mean": mean,
        "std": std,
        "test_trajectories": test_trajectories(data["test_x"], data["test_y"], spec["num_test_trajectories"]),
    }


def lane_split(seed: int, data_size: int, num_train_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """A lane's (train_idx, val_idx): data_size distinct pairs of [0, num_train_pairs), split 8:2.

    Uniform without replacement with ``np.random.default_rng([LANE_DATA_SALT, seed, data_size])``;
    the first round(0.8 * data_size) are for training.
    """
    if not 2 <= data_size <= num_train_pairs:
        raise ValueError(f"data_size must be in [2, {num_train_pairs}] (training pairs); got {data_size}")
    rng = np.random.default_rng([LANE_DATA_SALT, int(seed), int(data_size)])
    picked = rng.choice(num_train_pairs, size=data_size, replace=False)
    n_train = int(round(tb.TRAIN_FRACTION * data_size))
    return picked[:n_train], picked[n_train:]


def make_lanes(variants, seeds, data_sizes, model_size: str, num_train_pairs: int, test_idx: np.ndarray):
    """Lanes of one architecture: for each variant, data size and seed (in that order)."""
    from symjax.train import Lane  # noqa: PLC0415

    lanes = []
    for model in variants:
        for n in data_sizes:
            for seed in seeds:
                train_idx, val_idx = lane_split(seed, n, num_train_pairs)
                lanes.append(Lane(seed=int(seed), train_idx=train_idx, val_idx=val_idx, test_idx=test_idx,
                                  batch_size=tb.TABLE4[n], augment=VARIANTS[model][1],
                                  meta={"task": 3, "model": model, "setting": model_size, "data_size": int(n)}))
    return lanes


# ---------------------------------------------------------------- models in physical units
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


def rollout_metrics(pred, true) -> dict[str, np.ndarray]:
    """rollout_mse, energy_drift, momentum_drift (module docstring) of rollouts, in float64.

    Args:
      pred: (..., R, K + 1, 12) predicted states x_hat_0..x_hat_K in physical units.
      true: (R, K + 1, 12) or (..., R, K + 1, 12) true states of the same trajectories.

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
        energy_change = np.abs(tb.total_energy(last) - tb.total_energy(first))  # (..., R)
        energy_drift = np.mean(energy_change, axis=-1) / np.mean(np.abs(tb.total_energy(first)), axis=-1)
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


# ---------------------------------------------------------------- figure
def plot_rollouts(path: str, panels: list[dict]) -> str:
    """Figure 9 layout: one panel per variant, predicted (dashed) vs true (solid) paths in the plane.

    panels: dicts with 'title', 'pred' (K + 1, 12) and 'true' (K + 1, 12), physical units.
    Written atomically; returns path.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from symjax.io import atomic_write_bytes  # noqa: PLC0415

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        true = tb.positions(panel["true"])  # (K + 1, 3, 2)
        pred = tb.positions(panel["pred"])
        for i in range(tb.NUM_PARTICLES):
            color = f"C{i}"
            ax.plot(true[:, i, 0], true[:, i, 1], "-", color=color, lw=1.5, label=f"particle {i + 1} true")
            ax.plot(pred[:, i, 0], pred[:, i, 1], "--", color=color, lw=1.2, label=f"particle {i + 1} predicted")
            ax.plot(true[0, i, 0], true[0, i, 1], "o", color=color, ms=5)
        ax.set_title(panel["title"], fontsize=8)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        # Square limits around the true paths, so that diverging predictions cannot hide them.
        lo, hi = true.reshape(-1, 2).min(0), true.reshape(-1, 2).max(0)
        centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo).max() * 1.5 + 0.5
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal", adjustable="box")
    axes[0, 0].legend(fontsize=6, loc="best")
    fig.suptitle("Task 3 rollouts (circles: start; solid: simulator; dashed: model)", y=1.04)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


# ---------------------------------------------------------------- run
def _extra_markdown(*, command, wall_s, sweeps_wall_s, model_size, data_sizes, seeds, models, max_epochs, patience,
                    lr, quick, rollout_steps, rollout_trajectories, medium_shared_widths, pool, dtype, notes) -> str:
    n_test_traj = pool["test_trajectories"].shape[0]
    lines = [
        f"- Command: `{command}`" if command else "- Called as `symjax.tasks.three_body_task.run(...)`.",
        f"- Machine: {common.machine_description()}",
        f"- Wall time of this invocation (data, all sweeps, rollouts, report): {wall_s:.1f} s; the sweeps' own "
        f"wall times sum to {sweeps_wall_s:.1f} s (a resumed sweep counts its earlier passes up to the "
        "checkpoint it resumed from).",
        f"- Grid: model size {model_size}; data sizes {list(data_sizes)}; seeds {list(seeds)}; "
        f"models {list(models)}; at most {max_epochs} epochs, patience {patience}; Adam lr {lr}; "
        f"MSE; dtype {np.dtype(dtype).name}"
        + (f"; medium shared block widths '{medium_shared_widths}'" if model_size == "medium" else "") + ".",
        f"- Data: {'--quick (short trajectories of ' + str(QUICK_DATA['num_steps']) + ' steps) ' if quick else ''}"
        f"{pool['num_train_pairs']} training-trajectory pairs (simulation seed {DATA_SEED}); each lane draws "
        f"its data size uniformly from them (fresh per seed and size), split 8:2; test = "
        f"{pool['test_idx'].size} pairs of {n_test_traj} held-out trajectories.",
        "- Normalisation: per-feature standardisation fitted on the training-trajectory inputs, statistics of "
        "particles 1 and 2 pooled (commutes with the swap); test loss and symmetry error are in these units.",
        f"- Rollouts: every lane's best model iterated {rollout_steps} model steps (x 10 simulator steps) from "
        f"the first states of {rollout_trajectories} test trajectories; rollout_mse = MSE at the last step "
        "(physical units); energy_drift = mean |E_K - E_0| / mean |E_0|; momentum_drift = mean |P_K - P_0|.",
    ]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def run(*, model_size: str = "small", data_sizes=tuple(sorted(tb.TABLE4)), models=MODELS, seeds=(0, 1, 2),
        max_epochs: int = 400, patience: int = 20, early_stopping: bool = True, lr: float = 1e-3,
        out_dir: str | None = None, resume: bool = False, checkpoint_every: int = 10, sym_samples: int = 5,
        x64: bool = False, quick: bool = False, quiet: bool = False, medium_shared_widths: str = "divide",
        rollout_steps: int = 50, rollout_trajectories: int = 5, lane_groups: str = "shape",
        flags_text: str | None = None,
        command: str | None = None, notes=()) -> list[dict]:
    """Task 3: trains all lanes, measures rollouts and writes results, figures and report.md to out_dir.

    ``quick`` replaces data_sizes, seeds, max_epochs and rollout_trajectories by ``QUICK_GRID`` and
    simulates ``QUICK_DATA`` (shorter, fewer trajectories). Writes results.csv, results.jsonl,
    flags.txt (if flags_text), fig9_task3_rollouts.png, report.md, aggregate.csv and Figure 8, and
    keeps checkpoints under out_dir/checkpoints/<architecture>. Returns the rows (one per lane; with
    several JAX processes, process 0 returns all rows and draws the rollouts of its own lanes).
    """
    start = time.perf_counter()
    if quick:
        data_sizes, seeds = QUICK_GRID["data_sizes"], QUICK_GRID["seeds"]
        max_epochs, rollout_trajectories = QUICK_GRID["max_epochs"], QUICK_GRID["rollout_trajectories"]
    data_sizes, models, seeds = list(data_sizes), list(models), [int(s) for s in seeds]
    check_options(model_size=model_size, data_sizes=data_sizes, models=models, seeds=seeds, max_epochs=max_epochs,
                  patience=patience, checkpoint_every=checkpoint_every, sym_samples=sym_samples, lr=lr,
                  medium_shared_widths=medium_shared_widths, rollout_steps=rollout_steps,
                  rollout_trajectories=rollout_trajectories, quick=quick)
    out_dir = out_dir or os.path.join("runs", "task3", model_size)

    from symjax.report import write_report  # noqa: PLC0415
    from symjax.train import LaneFns, TrainConfig, read_results, sweep, write_results  # noqa: PLC0415

    if x64:
        jax.config.update("jax_enable_x64", True)
    dtype = np.float64 if x64 else np.float32
    pool = make_pool(quick=quick, dtype=dtype)
    action = s2_action()
    rows, best_panels = [], []
    for arch in ARCHITECTURES:
        variants = [m for m in models if VARIANTS[m][0] == arch]
        if not variants:
            continue
        spec = three_body_model(arch, model_size, medium_shared_widths)
        lanes = make_lanes(variants, seeds, data_sizes, model_size, pool["num_train_pairs"], pool["test_idx"])
        config = TrainConfig(loss="mse", learning_rate=lr, max_epochs=max_epochs, patience=patience,
                             early_stopping=early_stopping, checkpoint_dir=os.path.abspath(
                                 os.path.join(out_dir, "checkpoints", arch)),
                             checkpoint_every=checkpoint_every, resume=resume, sym_samples=sym_samples, quiet=quiet,
                             lane_groups=lane_groups)
        fingerprint = {"task": 3, "architecture": arch, "model_size": model_size, "quick": bool(quick),
                       "medium_shared_widths": medium_shared_widths, "dtype": np.dtype(dtype).name}

        def log_epoch(epoch, summary, arch=arch):
            # Without a terminal the progress bar is off; print a line every 10 epochs instead.
            if not quiet and not sys.stdout.isatty() and (epoch % 10 == 0 or epoch == max_epochs):
                print(f"task 3 {model_size} {arch}: epoch {epoch}/{max_epochs}, "
                      f"{int(summary['active'].sum())}/{len(summary['active'])} lanes active, best val loss min "
                      f"{float(np.min(summary['best_val'])):.4g} ({time.perf_counter() - start:.0f} s)", flush=True)

        fns = LaneFns(init=lambda key, spec=spec: spec.init(key, dtype), apply=spec.apply,
                      augment=common.augmentation(action, action),
                      symmetry_error=common.symmetry_error_fn(spec.apply, action, action))
        arch_rows, params, _ = sweep(fns, pool["pool_x"], pool["pool_y"], lanes, config,
                                     config_fingerprint=fingerprint, epoch_callback=log_epoch)
        if not arch_rows:  # a process with no lanes of its own (more processes than lanes)
            continue
        pred, true = lane_rollouts(spec.apply, params, pool["mean"], pool["std"],
                                   pool["test_trajectories"][:rollout_trajectories], rollout_steps)
        metrics = rollout_metrics(pred, true)
        for i, row in enumerate(arch_rows):
            row.update({name: float(values[i]) for name, values in metrics.items()})
        for model in variants:
            candidates = [i for i, row in enumerate(arch_rows)
                          if row["model"] == model and np.isfinite(row["test_loss"]) and not row["diverged"]]
            if candidates:
                best = min(candidates, key=lambda i: arch_rows[i]["test_loss"])
                r = arch_rows[best]
                best_panels.append({
                    "title": (f"{model} ({model_size}, data {r['data_size']}, seed {r['seed']})\n"
                              f"test loss {r['test_loss']:.3g}, rollout MSE@{rollout_steps} {r['rollout_mse']:.3g}"),
                    "pred": pred[best, 0], "true": true[0]})
        rows.extend(arch_rows)

    write_results(out_dir, rows, flags_text)
    if jax.process_count() > 1:  # each process trained its slice of the lanes; process 0 reports on all rows
        if jax.process_index() != 0:
            return rows
        rows = read_results(out_dir)
    if best_panels:
        plot_rollouts(os.path.join(out_dir, FIGURE_NAME), best_panels)
    sweep_wall_s = {}  # (model size, architecture) -> wall time; the slowest process for a multi-process sweep
    for r in rows:
        key = (r["setting"], VARIANTS[r["model"]][0])
        sweep_wall_s[key] = max(sweep_wall_s.get(key, 0.0), float(r["wall_s"]))
    sweeps_wall_s = sum(sweep_wall_s.values())
    extra = _extra_markdown(command=command, wall_s=time.perf_counter() - start, sweeps_wall_s=sweeps_wall_s,
                            model_size=model_size,
                            data_sizes=data_sizes, seeds=seeds, models=models, max_epochs=max_epochs,
                            patience=patience, lr=lr, quick=quick, rollout_steps=rollout_steps,
                            rollout_trajectories=rollout_trajectories, medium_shared_widths=medium_shared_widths,
                            pool=pool, dtype=dtype, notes=notes)
    write_report(3, rows, out_dir, extra_md=extra)
    return rows

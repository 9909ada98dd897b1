"""Task 3's data: the one simulated pool, and which of its pairs each lane trains, validates and tests on.

One simulation with ``DATA_SEED`` gives the training trajectories (81 x 499 = 40419 pairs, enough for the
largest Table-4 size) and the 50 held-out test trajectories (24950 pairs); ``make_pool`` stacks them into one
pool of (x_t, x_{t+10}) pairs that every lane indexes. ``lane_indices`` picks a lane's pairs from it (the
options --test_split, --pair_draw and --val_split, see ``symjax.tasks.three_body_task.Options``);
``no_change_loss`` scores the trivial predictor on a lane's test pairs.

``opts`` below is a ``symjax.tasks.three_body_task.Options`` (read for quick, data_sizes, seeds, val_split,
test_split and pair_draw).
"""

from __future__ import annotations

import numpy as np

from symjax.data import three_body as tb

TEST_SPLITS = ("trajectories", "pool")
PAIR_DRAWS = ("uniform", "whole_trajectories")

DATA_SEED = 0  # seed of the one simulation (training and test trajectories)
LANE_DATA_SALT = 3  # first entry of every lane's subsampling seed [salt, seed, data_size]
POOL_TEST_SALT = 4  # first entry of a lane's seed [salt, seed, data_size] with --test_split=pool

# The full data set (study, ch. 4 §4): 5000 steps per trajectory, 50 test trajectories.
FULL_DATA = {
    "num_steps": tb.NUM_STEPS,
    "num_train_trajectories": tb.num_trajectories_needed(max(tb.TABLE4)),  # 81
    "num_test_trajectories": tb.NUM_TEST_TRAJECTORIES,
}
# --quick: shorter and fewer trajectories (1000 steps = 99 pairs each; 11 x 99 = 1089 >= 1000 pairs).
QUICK_DATA = {"num_steps": 1000, "num_train_trajectories": 11, "num_test_trajectories": 5}


def test_trajectories(test_x: np.ndarray, test_y: np.ndarray, num_trajectories: int) -> np.ndarray:
    """Rebuilds the test trajectories (T, S, 12) from their consecutive pairs (T * (S - 1), 12)."""
    pairs = test_x.shape[0] // num_trajectories
    if pairs * num_trajectories != test_x.shape[0]:
        raise ValueError(f"test pairs: expected a multiple of {num_trajectories} trajectories; got {test_x.shape[0]}")
    x = test_x.reshape(num_trajectories, pairs, tb.STATE_DIM)
    y = test_y.reshape(num_trajectories, pairs, tb.STATE_DIM)
    return np.concatenate([x, y[:, -1:]], axis=1)


def make_pool(quick: bool = False, data_seed: int = DATA_SEED, dtype=np.float32, normalize: str = "standard",
              velocity_centring: str = "mass", num_train_trajectories: int | None = None,
              integrator: str = "verlet", softening: str = "study") -> dict:
    """Simulates the data and builds the pool every lane indexes into.

    normalize: ``three_body.fit_normalizer`` mode ('none': mean 0, std 1, raw states);
    velocity_centring: ``three_body.sample_initial_states`` option; integrator, softening: the simulator's
    (``three_body.simulate``); num_train_trajectories:
    None = the data spec's (81 full, 11 quick); more (e.g. ``trajectories_for_split``) appends
    trajectories (the pools of one seed are prefixes of one another).

    Returns a dict:
      pool_x, pool_y: (N_train + N_test, 12) normalised pairs (z_t, z_{t+10}) in ``dtype``;
        rows [0, N_train) are training-trajectory pairs, rows [N_train, N) test pairs.
      num_train_pairs: N_train; test_idx: int64 (N_test,) = N_train + arange(N_test).
      num_train_trajectories, pairs_per_trajectory: the training pool's T and P (N_train = T P).
      mean, std: float64 (12,) normaliser (fitted on the training-trajectory inputs).
      test_trajectories: float64 (T_test, S, 12) true test trajectories (physical units).
    """
    spec = QUICK_DATA if quick else FULL_DATA
    trajectories = spec["num_train_trajectories"] if num_train_trajectories is None else int(num_train_trajectories)
    data = tb.make_dataset(data_seed, trajectories, spec["num_test_trajectories"], num_steps=spec["num_steps"],
                           velocity_centring=velocity_centring, integrator=integrator, softening=softening)
    mean, std = tb.fit_normalizer(data["train_x"], mode=normalize)
    x = np.concatenate([data["train_x"], data["test_x"]])
    y = np.concatenate([data["train_y"], data["test_y"]])
    n_train = data["train_x"].shape[0]
    return {
        "pool_x": tb.normalize(x, mean, std).astype(dtype),
        "pool_y": tb.normalize(y, mean, std).astype(dtype),
        "num_train_pairs": n_train,
        "num_train_trajectories": trajectories,
        "pairs_per_trajectory": n_train // trajectories,
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


def lane_split_by_trajectory(seed: int, data_size: int, num_trajectories: int,
                             pairs_per_trajectory: int) -> tuple[np.ndarray, np.ndarray]:
    """--val_split=trajectory: ``three_body.split_pairs_by_trajectory`` with the seed [LANE_DATA_SALT, seed, size]."""
    return tb.split_pairs_by_trajectory([LANE_DATA_SALT, int(seed), int(data_size)], int(data_size),
                                        num_trajectories, pairs_per_trajectory)


def draw_pairs(rng: np.random.Generator, count: int, candidates: np.ndarray, pairs_per_trajectory: int,
               pair_draw: str) -> np.ndarray:
    """``count`` distinct pool pairs from ``candidates`` (pool indices, whole trajectories of P pairs each).

    'uniform': uniform without replacement. 'whole_trajectories': the pairs of ceil(count / P) trajectories of
    ``candidates`` chosen uniformly (the last one cut to fill ``count``), in random order.
    """
    if pair_draw == "uniform":
        return candidates[rng.choice(candidates.size, size=count, replace=False)]
    trajectories = np.unique(candidates // pairs_per_trajectory)
    chosen = rng.choice(trajectories, size=-(-count // pairs_per_trajectory), replace=False)
    pairs = (chosen[:, None] * pairs_per_trajectory + np.arange(pairs_per_trajectory)).reshape(-1)[:count]
    return rng.permutation(pairs)


def lane_indices(opts, seed: int, data_size: int, data: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A lane's (train_idx, val_idx, test_idx) into the pool of ``make_pool``.

    --test_split=trajectories: training and validation pairs from the training trajectories (``lane_split``,
    ``lane_split_by_trajectory`` or, with --pair_draw=whole_trajectories, ``draw_pairs``), every test pair of the
    held-out trajectories. --test_split=pool: all trajectories pooled; data_size pairs drawn by ``draw_pairs``
    from all of them, then as many test pairs as the held-out trajectories hold, uniformly from the pairs left
    (disjoint from the lane's own), with ``np.random.default_rng([POOL_TEST_SALT, seed, data_size])``.
    Training/validation split 8:2 of the drawn pairs in every case.
    """
    n_train = int(round(tb.TRAIN_FRACTION * data_size))
    p = data["pairs_per_trajectory"]
    if opts.test_split == "trajectories":
        if opts.val_split == "trajectory":
            train_idx, val_idx = lane_split_by_trajectory(seed, data_size, data["num_train_trajectories"], p)
        elif opts.pair_draw == "uniform":
            train_idx, val_idx = lane_split(seed, data_size, data["num_train_pairs"])
        else:
            rng = np.random.default_rng([LANE_DATA_SALT, int(seed), int(data_size)])
            picked = draw_pairs(rng, data_size, np.arange(data["num_train_pairs"]), p, opts.pair_draw)
            train_idx, val_idx = picked[:n_train], picked[n_train:]
        return train_idx, val_idx, data["test_idx"]
    num_pairs, num_test = data["num_train_pairs"] + data["test_idx"].size, data["test_idx"].size
    if data_size + num_test > num_pairs:
        raise ValueError(f"--test_split=pool: data size {data_size} + {num_test} test pairs: expected at most the "
                         f"{num_pairs} pooled pairs")
    rng = np.random.default_rng([POOL_TEST_SALT, int(seed), int(data_size)])
    picked = draw_pairs(rng, data_size, np.arange(num_pairs), p, opts.pair_draw)
    left = np.setdiff1d(np.arange(num_pairs), picked)
    test_idx = np.sort(left[rng.choice(left.size, size=num_test, replace=False)])
    return picked[:n_train], picked[n_train:], test_idx


def own_normalizer_shift(opts, data: dict) -> tuple[float, float, float]:
    """How far each lane's own normaliser would sit from the shared one, at the smallest data size.

    For every seed, ``three_body.fit_normalizer`` on the lane's training inputs (already standardised by the
    shared normaliser, so the shared one is mean 0, std 1 here). Returns (max |mean| over features and seeds,
    min std, max std): in units of the shared std.
    """
    size = min(opts.data_sizes)
    fits = [tb.fit_normalizer(np.asarray(data["pool_x"][lane_indices(opts, seed, size, data)[0]], np.float64))
            for seed in opts.seeds]
    return (max(float(np.max(np.abs(m))) for m, _ in fits), min(float(np.min(s)) for _, s in fits),
            max(float(np.max(s)) for _, s in fits))


def no_change_loss(data: dict, test_idx: np.ndarray) -> float:
    """The "no change" predictor's test loss, mean_i mean_k (x_t - x_{t+10})_ik^2 over the lane's test pairs,
    in the units the models see (float64)."""
    x = np.asarray(data["pool_x"][test_idx], dtype=np.float64)
    return float(np.mean((x - np.asarray(data["pool_y"][test_idx], dtype=np.float64)) ** 2))


def train_trajectories(opts) -> int:
    """Training trajectories to simulate: the data spec's (81 full, 11 quick), or with --val_split=trajectory
    ``three_body.trajectories_for_split`` of the largest data size when that is more (40000: 82; quick 1000: 12)."""
    spec = QUICK_DATA if opts.quick else FULL_DATA
    if opts.val_split != "trajectory":
        return spec["num_train_trajectories"]
    pairs = spec["num_steps"] // tb.RECORD_EVERY - 1
    return max(spec["num_train_trajectories"], tb.trajectories_for_split(max(opts.data_sizes), pairs))

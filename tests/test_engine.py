"""Tests of the batched sweep engine (symjax.train) with tiny jnp models.

COMMON below defines the data pool, models and lanes. It is executed here and
prepended to the scripts the subprocess tests run, so both sides build exactly
the same sweep. Most tests reuse the 12-lane MAIN batch (or the lone lane
ALONE) so the jitted programs compile once per shape.
"""

import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache

from symjax.train import Lane, LaneFns, TrainConfig, process_slice, sweep
from symjax.train import buckets, checkpoint, compile_cache, engine, execution
from symjax.train import lanes as lanes_module
from symjax.train.epoch import augment_batch, shuffle_order
from symjax.train.lanes import build_lane_arrays, group_lanes, merge_lanes, split_groups, take_lanes

COMMON = textwrap.dedent('''
    import dataclasses
    import jax
    import jax.numpy as jnp
    import numpy as np
    from symjax.train import Execution, Lane, LaneFns, TrainConfig, sweep

    N_POOL = 400
    POISON = np.arange(380, 400)  # targets 1e30: any lane training on them overflows
    _rng = np.random.default_rng(0)
    POOL_X = _rng.uniform(-1.0, 1.0, (N_POOL, 4)).astype(np.float32)
    POOL_Y = np.sin(POOL_X).sum(axis=1).astype(np.float32)
    POOL_Y[POISON] = 1e30
    TEST_IDX = np.arange(300, 340)

    def init_fn(key):
        k1, k2 = jax.random.split(key)
        return {"w1": 0.5 * jax.random.normal(k1, (4, 8)), "b1": jnp.zeros(8),
                "w2": 0.5 * jax.random.normal(k2, (8, 1)), "b2": jnp.zeros(1)}

    def apply_fn(params, x):
        h = jnp.tanh(x @ params["w1"] + params["b1"])
        return (h @ params["w2"] + params["b2"])[:, 0]

    def sym_fn(params, key, x):
        """Mean |f(x permuted) - f(x)| over the batch, one random permutation of the 4 inputs."""
        perm = jax.random.permutation(key, 4)
        return jnp.mean(jnp.abs(apply_fn(params, x[:, perm]) - apply_fn(params, x)))

    FNS = LaneFns(init_fn, apply_fn, symmetry_error=sym_fn)
    PLAIN_FNS = LaneFns(init_fn, apply_fn)

    def make_lane(seed, n, batch_size, poison=False):
        perm = np.random.default_rng(1000 * seed + n).permutation(300)
        train = perm[:n] if not poison else np.concatenate([perm[: n - 1], POISON[:1]])
        return Lane(seed=seed, train_idx=train, val_idx=perm[n:n + max(n // 4, 4)], test_idx=TEST_IDX,
                    batch_size=batch_size, augment=False, meta={"task": "toy", "model": "mlp", "n": n})

    # (seed, n_train, batch_size); the largest lane first so any prefix has the same padded shapes.
    MAIN_SPEC = [(0, 96, 16), (1, 8, 2), (2, 20, 4), (3, 40, 8), (4, 60, 16), (5, 12, 5),
                 (6, 96, 16), (7, 8, 8), (8, 33, 4), (9, 20, 3), (10, 50, 7), (11, 16, 16)]

    def main_lanes():
        return [make_lane(*spec) for spec in MAIN_SPEC]

    # One program for all 12 lanes: every lane shares the padded shapes of the largest.
    MAIN_CONFIG = TrainConfig(loss="mse", learning_rate=1e-2, max_epochs=6, patience=3, quiet=True,
                              sym_samples=2, execution=Execution(eval_batch_size=16, lane_groups="single"))
''')
exec(COMMON, globals())

ROW_FLOATS = ("test_loss", "sym_error")


def strip(row):
    return {k: v for k, v in row.items() if k != "wall_s"}


def assert_rows_close(got, want, rtol=1e-6):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for key in ROW_FLOATS:
            np.testing.assert_allclose(g[key], w[key], rtol=rtol, err_msg=key)
        assert {k: v for k, v in strip(g).items() if k not in ROW_FLOATS} == \
               {k: v for k, v in strip(w).items() if k not in ROW_FLOATS}


@pytest.fixture(scope="module")
def main_rows():
    return sweep(FNS, POOL_X, POOL_Y, main_lanes(), MAIN_CONFIG).rows


def run_script(tmp_path, body, env_extra=None):
    script = tmp_path / "script.py"
    script.write_text(COMMON + textwrap.dedent(body))
    env = dict(os.environ, JAX_PLATFORMS="cpu", **(env_extra or {}))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)


# ---------------------------------------------------------------- batching and determinism


def test_rows_have_contract_fields(main_rows):
    assert [r["seed"] for r in main_rows] == [s for s, _, _ in MAIN_SPEC]
    for row, (_, n, _) in zip(main_rows, MAIN_SPEC):
        assert row["train_size"] == n and row["n"] == n and row["task"] == "toy"
        assert row["params"] == 4 * 8 + 8 + 8 + 1
        assert row["test_acc"] is None
        assert np.isfinite(row["test_loss"]) and row["sym_error"] > 1e-4  # the MLP is not invariant
        assert 1 <= row["epochs"] <= 6 and 0 <= row["best_epoch"] <= row["epochs"]
        assert row["diverged"] is False


def test_lane_alone_equals_lane_in_batch(main_rows):
    alone = sweep(FNS, POOL_X, POOL_Y, [make_lane(1, 8, 2)], MAIN_CONFIG).rows
    assert_rows_close(alone, [main_rows[1]])
    # A different seed gives a different lane: the comparison can fail.
    assert main_rows[1]["test_loss"] != main_rows[7]["test_loss"]


def test_shuffle_order_is_a_permutation_independent_of_padding():
    key = jax.random.key(3)
    shuffle = jax.jit(shuffle_order, static_argnums=2)
    short = np.asarray(shuffle(key, 7, 7))
    long = np.asarray(shuffle(key, 7, 12))
    assert sorted(short) == list(range(7))
    np.testing.assert_array_equal(long[:7], short)
    assert sorted(long[7:]) == list(range(7, 12))
    assert not np.array_equal(short, np.arange(7))


def test_group_lanes_and_merge_lanes():
    lanes = build_lane_arrays([make_lane(0, 96, 16), make_lane(1, 8, 2), make_lane(2, 90, 16), make_lane(3, 8, 2),
                               make_lane(4, 16, 16)], learning_rate=1e-3)
    groups = group_lanes(lanes, "shape")  # (batch, steps): (16, 6), (2, 4), (16, 6), (2, 4), (16, 1)
    assert [g.tolist() for g in groups] == [[0, 2], [1, 3], [4]]
    assert [g.tolist() for g in group_lanes(lanes, "single")] == [[0, 1, 2, 3, 4]]
    tree = {"a": np.arange(10).reshape(5, 2), "b": np.arange(5.0)}
    parts = [take_lanes(tree, g) for g in groups]
    parts[0] = {k: np.concatenate([v, v[:1]]) for k, v in parts[0].items()}  # device padding is dropped
    merged = merge_lanes(parts, groups)
    for key in tree:
        np.testing.assert_array_equal(merged[key], tree[key])


def test_auto_lane_groups_use_the_default_backends_cost_model(monkeypatch):
    """'auto' plans with buckets.backend_costs() (an accelerator's constants off the CPU), not CPU_COSTS."""
    from symjax.train import buckets, lanes as lanes_module

    lanes = build_lane_arrays([make_lane(0, 96, 16), make_lane(1, 8, 2), make_lane(4, 16, 16)], learning_rate=1e-3)
    free = buckets.CPU_COSTS._replace(compile_s=0.0, step_s=0.0)
    dear = buckets.CPU_COSTS._replace(compile_s=1e9)
    monkeypatch.setattr(lanes_module, "backend_costs", lambda: free)
    assert len(group_lanes(lanes, "auto", epochs=100)) == 3  # compilation free: one program per shape
    monkeypatch.setattr(lanes_module, "backend_costs", lambda: dear)
    assert [g.tolist() for g in group_lanes(lanes, "auto", epochs=100)] == [[0, 1, 2]]


GROUP_SPEC = [(0, 96, 16), (1, 8, 2), (6, 96, 16), (11, 16, 16), (2, 20, 4)]  # 4 (batch, steps) groups


def test_shape_groups_equal_single_program_and_skip_stopped_groups(tmp_path, monkeypatch):
    lanes = [make_lane(*spec) for spec in GROUP_SPEC]
    config = dataclasses.replace(MAIN_CONFIG, patience=1, max_epochs=12, learning_rate=5e-2).tuned(compact_stopped=False)
    runs = []
    real_run_epoch = engine._Group.run_epoch

    def counting_run_epoch(self, *args):
        runs[-1].append(len(self.members))
        return real_run_epoch(self, *args)

    monkeypatch.setattr(engine._Group, "run_epoch", counting_run_epoch)
    results = {}
    for mode in ("single", "shape"):
        history = []
        runs.clear()

        def on_epoch(epoch, summary, history=history):
            history.append((summary["val_loss"].copy(), summary["active"].copy()))
            runs.append([])

        runs.append([])
        rows = sweep(FNS, POOL_X, POOL_Y, lanes, config.tuned(lane_groups=mode),
                     epoch_callback=on_epoch).rows
        results[mode] = rows, history, [r for r in runs if r]
    (single, single_hist, single_runs), (shape, shape_hist, shape_runs) = results["single"], results["shape"]
    assert_rows_close(shape, single)
    assert len(shape_hist) == len(single_hist)
    for (v_shape, a_shape), (v_single, a_single) in zip(shape_hist, single_hist):
        np.testing.assert_allclose(v_shape, v_single, rtol=1e-6)
        np.testing.assert_array_equal(a_shape, a_single)
    assert all(r == [5] for r in single_runs)
    assert shape_runs[0] == [2, 1, 1, 1]
    # Once every lane of a group has stopped, that group's program is no longer called.
    for (_, active), ran in zip(shape_hist[:-1], shape_runs[1:]):
        groups_active = [active[[0, 2]].any(), active[1], active[3], active[4]]
        assert sorted(ran) == sorted(n for n, on in zip([2, 1, 1, 1], groups_active) if on)
    assert any(len(ran) < 4 for ran in shape_runs)  # the grid really stops some groups early


def test_compacting_stopped_lanes_changes_no_result(tmp_path, monkeypatch):
    # 12 lanes in one program, patience 1: lanes stop at different epochs, and once at most half are active
    # the program shrinks to the active ones. Rows, params, the per-epoch history and a resumed run are
    # bitwise those of the run that keeps every lane in its program.
    config = dataclasses.replace(MAIN_CONFIG, patience=1, max_epochs=14, learning_rate=5e-2).tuned(compact_min_flops=0)
    rows_run = []
    real_run_epoch = engine._Group.run_epoch

    def counting_run_epoch(self, *args):
        rows_run[-1].append(self.rows())
        return real_run_epoch(self, *args)

    monkeypatch.setattr(engine._Group, "run_epoch", counting_run_epoch)
    results = {}
    for compact in (False, True):
        history = []
        rows_run.append([])
        result = sweep(FNS, POOL_X, POOL_Y, main_lanes(), config.tuned(compact_stopped=compact),
                       epoch_callback=lambda e, s, h=history: h.append((s["val_loss"].copy(), s["active"].copy(),
                                                                         s["best_val"].copy())))
        results[compact] = result, history, rows_run[-1]
    (plain, plain_hist, plain_rows), (compact, compact_hist, compact_rows) = results[False], results[True]
    assert plain_rows == [12] * len(plain_rows)
    assert compact_rows[0] == 12 and min(compact_rows) < 6  # the program really shrank, more than once
    assert len(set(compact_rows)) >= 3
    assert [strip(r) for r in compact.rows] == [strip(r) for r in plain.rows]
    for name in plain.params:
        np.testing.assert_array_equal(compact.params[name], plain.params[name])
    assert len(compact_hist) == len(plain_hist)
    for got, want in zip(compact_hist, plain_hist):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    # The gate: a compaction must save compact_min_flops (XLA's count for the toy program: far below 1e30;
    # a program without a count would compact regardless). The second run loads its programs from the
    # persistent compilation cache, whose executables must count their FLOPs alike.
    for _ in range(2):
        rows_run.append([])
        sweep(FNS, POOL_X, POOL_Y, main_lanes(), config.tuned(compact_min_flops=1e30))
        assert rows_run[-1] == plain_rows
    # Checkpoints hold every lane, retired or not: a run resumed from one ends where the straight run ends,
    # and shrinks its program as the straight run did (the same lane counts, so the same kernels).
    ckpt = str(tmp_path / "ckpt")
    first = dataclasses.replace(config, checkpoint_dir=ckpt, checkpoint_every=1, keep_checkpoints=20)
    rows_run.append([])
    sweep(FNS, POOL_X, POOL_Y, main_lanes(), first)
    assert rows_run[-1] == compact_rows
    for resume_at in range(13, 0, -1):
        # keep only the checkpoint of epoch `resume_at`: the resumed run starts there
        for name in os.listdir(ckpt):
            if name.startswith("step_") and int(name.split("_")[1]) > resume_at:
                shutil.rmtree(os.path.join(ckpt, name))
        rows_run.append([])
        resumed = sweep(FNS, POOL_X, POOL_Y, main_lanes(), dataclasses.replace(first, resume=True)).rows
        assert rows_run[-1] == compact_rows[resume_at:]
        assert [strip(r) for r in resumed] == [strip(r) for r in plain.rows]


def test_split_groups_cuts_each_group_into_near_equal_parts():
    parts = split_groups([np.arange(7), np.array([9, 8])], 3)
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4], [5, 6], [9, 8]]
    assert [p.tolist() for p in split_groups([np.arange(4)], 0)] == [[0, 1, 2, 3]]
    with pytest.raises(ValueError, match="max_group_lanes"):
        sweep(FNS, POOL_X, POOL_Y, main_lanes(), MAIN_CONFIG.tuned(max_group_lanes=-1))


def test_max_group_lanes_changes_no_result(main_rows):
    # The one group of 12 lanes cut into three parts of 4 lanes (at most 5 each), trained and evaluated one
    # after another.
    cut = sweep(FNS, POOL_X, POOL_Y, main_lanes(), MAIN_CONFIG.tuned(max_group_lanes=5)).rows
    assert [strip(r) for r in cut] == [strip(r) for r in main_rows]


def test_checkpoint_resumes_across_lane_grouping(tmp_path):
    lanes = [make_lane(*spec) for spec in GROUP_SPEC]
    ckpt = str(tmp_path / "ckpt")
    config = dataclasses.replace(MAIN_CONFIG, max_epochs=3, checkpoint_every=3, checkpoint_dir=ckpt)
    first = sweep(PLAIN_FNS, POOL_X, POOL_Y, lanes, config).rows  # single program, saves step_3
    step_dir = os.path.join(ckpt, "step_3")
    info_path = os.path.join(step_dir, "fingerprint", "metadata")  # orbax's file of the JSON item
    with open(info_path) as f:
        info = json.load(f)
    assert 0 < info["wall_s"] <= first[0]["wall_s"]
    info["wall_s"] += 1000.0  # as if the first pass had taken 1000 s longer: the resumed rows must count it
    with open(info_path, "w") as f:
        json.dump(info, f)
    with open(os.path.join(step_dir, checkpoint.FILES_DIGEST_FILE), "w") as f:
        json.dump({"files_sha256": checkpoint._files_digest(step_dir)}, f)
    seen = []
    call_start = time.perf_counter()
    resumed = sweep(FNS, POOL_X, POOL_Y, lanes,
                    dataclasses.replace(config, max_epochs=6, resume=True).tuned(lane_groups="shape"),
                    epoch_callback=lambda e, s: seen.append(e)).rows
    call_s = time.perf_counter() - call_start
    assert seen == [4, 5, 6]
    assert all(info["wall_s"] < r["wall_s"] <= info["wall_s"] + call_s for r in resumed)
    straight = sweep(FNS, POOL_X, POOL_Y, lanes,
                     dataclasses.replace(config, max_epochs=6, checkpoint_dir=None).tuned(lane_groups="shape")).rows
    assert_rows_close(resumed, straight)


# ---------------------------------------------------------------- early stopping and divergence


def test_early_stopping(main_rows):
    history = []
    config = dataclasses.replace(MAIN_CONFIG, patience=1, max_epochs=12, learning_rate=5e-2)
    rows, params = sweep(FNS, POOL_X, POOL_Y, main_lanes(), config,
                         epoch_callback=lambda epoch, s: history.append((epoch, s["val_loss"].copy(),
                                                                         s["active"].copy())))[:2]
    val = np.stack([v for _, v, _ in history])  # (epochs run, lanes)
    assert [e for e, _, _ in history] == list(range(1, len(history) + 1))
    assert any(r["epochs"] < len(history) for r in rows)
    for lane, row in enumerate(rows):
        trained = val[: row["epochs"], lane]
        assert row["best_epoch"] == int(np.argmin(trained)) + 1
        if row["epochs"] < config.max_epochs:
            assert row["epochs"] == row["best_epoch"] + config.patience
            # A stopped lane's params no longer change: its validation loss repeats bitwise.
            assert np.all(val[row["epochs"]:, lane] == val[row["epochs"] - 1, lane])
            assert not history[row["epochs"] - 1][2][lane]
    # The evaluated params are those of the best epoch: train lane 1 for exactly best_epoch epochs.
    best = rows[1]["best_epoch"]
    fixed = dataclasses.replace(config, early_stopping=False, max_epochs=best)
    (again,), again_params = sweep(FNS, POOL_X, POOL_Y, [make_lane(1, 8, 2)], fixed)[:2]
    assert again["epochs"] == best and again["best_epoch"] == best
    np.testing.assert_allclose(again["test_loss"], rows[1]["test_loss"], rtol=1e-6)
    for name in params:
        assert params[name].shape[0] == len(rows) and again_params[name].shape[0] == 1
        np.testing.assert_allclose(again_params[name][0], params[name][1], rtol=1e-6, atol=1e-6)


def test_diverged_lane_is_isolated(main_rows):
    lanes = main_lanes()
    lanes[5] = make_lane(5, 12, 5, poison=True)  # same shapes as the healthy lane 5
    rows = sweep(FNS, POOL_X, POOL_Y, lanes, MAIN_CONFIG).rows
    assert rows[5]["diverged"] is True
    assert rows[5]["epochs"] == 1 and rows[5]["best_epoch"] == 0
    assert np.isfinite(rows[5]["test_loss"])  # evaluated with the (finite) initial params
    others = [strip(r) for i, r in enumerate(rows) if i != 5]
    assert others == [strip(r) for i, r in enumerate(main_rows) if i != 5]


# ---------------------------------------------------------------- per-lane learning rates and penalties


def l2_penalty(params, hyper):
    """hyper['lam'] * sum of squared weights."""
    return hyper["lam"] * sum(jnp.sum(jnp.square(a)) for a in jax.tree.leaves(params))


def test_lane_learning_rate_does_not_depend_on_its_neighbours():
    rates = [3e-3, 1e-2, 3e-2]
    lanes = [dataclasses.replace(make_lane(1, 20, 4), learning_rate=lr) for lr in rates]
    together = sweep(FNS, POOL_X, POOL_Y, lanes, MAIN_CONFIG).rows
    for lane, row in zip(lanes, together):
        alone = sweep(FNS, POOL_X, POOL_Y, [dataclasses.replace(lane, learning_rate=None)],
                      dataclasses.replace(MAIN_CONFIG, learning_rate=lane.learning_rate)).rows
        assert_rows_close([row], alone)
    assert len({r["test_loss"] for r in together}) == 3  # the rates do change training


def test_penalty_weight_per_lane():
    lams = [0.0, 0.3, 30.0]
    lanes = [dataclasses.replace(make_lane(2, 20, 4), hyper={"lam": lam}) for lam in lams]
    fns = FNS._replace(penalty=l2_penalty)
    result = sweep(fns, POOL_X, POOL_Y, lanes, dataclasses.replace(MAIN_CONFIG, early_stopping=False))
    alone = sweep(fns, POOL_X, POOL_Y, lanes[1:2], dataclasses.replace(MAIN_CONFIG, early_stopping=False))
    assert_rows_close(alone.rows, result.rows[1:2])
    for name in result.params:  # equal to rounding, like every lane alone vs in a batch
        np.testing.assert_allclose(alone.params[name][0], result.params[name][1], rtol=1e-5, atol=1e-7)
    # lam = 0 is the unpenalised lane; a large lam shrinks the weights.
    plain = sweep(FNS, POOL_X, POOL_Y, lanes[:1], dataclasses.replace(MAIN_CONFIG, early_stopping=False))
    assert_rows_close(plain.rows, result.rows[:1])
    norms = [sum(float(np.sum(np.square(a[i]))) for a in jax.tree.leaves(result.params)) for i in range(3)]
    assert norms[2] < 0.5 * norms[0] and norms[2] < norms[1]
    assert set(result.timings) == {"init", "compile", "first_epoch", "train", "evaluate", "total"}
    assert 0 < result.timings["first_epoch"] <= result.timings["train"] <= result.timings["total"]


def test_l1_loss_trains_and_reports_the_mean_absolute_test_error():
    config = dataclasses.replace(MAIN_CONFIG, loss="l1", early_stopping=False)
    lane = make_lane(3, 40, 8)
    result = sweep(PLAIN_FNS, POOL_X, POOL_Y, [lane], config)
    params = jax.tree.map(lambda a: a[0], result.params)
    by_hand = np.mean(np.abs(np.asarray(apply_fn(params, POOL_X[lane.test_idx])) - POOL_Y[lane.test_idx]))
    np.testing.assert_allclose(result.rows[0]["test_loss"], by_hand, rtol=1e-5)
    mse = sweep(PLAIN_FNS, POOL_X, POOL_Y, [lane], dataclasses.replace(config, loss="mse"))
    assert result.rows[0]["test_loss"] != mse.rows[0]["test_loss"]


# ---------------------------------------------------------------- augmentation and symmetry error


def flip_sign(key, x, y):
    return jnp.where(jax.random.bernoulli(key), -x, x), y


def test_augment_batch_is_per_example_and_only_when_on():
    key = jax.random.key(0)
    x = jnp.arange(1.0, 65.0)[:, None] * jnp.ones((64, 3))
    y = jnp.arange(64.0)
    pos = jnp.arange(100, 164)
    batched = jax.jit(augment_batch, static_argnums=0)
    xa, ya = batched(flip_sign, key, pos, x, y, jnp.array(True))
    one = jax.jit(lambda p, x_i, y_i: flip_sign(jax.random.fold_in(key, p), x_i, y_i)[0])
    expected = np.stack([np.asarray(one(p, x[i], y[i])) for i, p in enumerate(range(100, 164))])
    np.testing.assert_array_equal(xa, expected)
    flipped = np.asarray(xa[:, 0] < 0)
    assert 0 < flipped.sum() < 64  # examples draw their own flips
    np.testing.assert_array_equal(ya, y)
    xo, yo = batched(flip_sign, key, pos, x, y, jnp.array(False))
    np.testing.assert_array_equal(xo, x)
    np.testing.assert_array_equal(yo, y)


def bias_init(key):
    return {"b": jnp.zeros(())}


def bias_apply(params, x):
    return params["b"] + 0.0 * x[:, 0]


def flip_target(key, x, y):
    return x, jnp.where(jax.random.bernoulli(key), -y, y)


def test_augmentation_only_on_augment_lanes():
    x = np.zeros((80, 1), np.float32)
    y = np.ones(80, np.float32)
    lane = Lane(seed=0, train_idx=np.arange(64), val_idx=np.arange(64, 72), test_idx=np.arange(72, 80),
                batch_size=16, augment=False, meta={})
    lanes = [lane, dataclasses.replace(lane, augment=True)]
    config = TrainConfig(loss="mse", learning_rate=5e-2, max_epochs=15, early_stopping=False, quiet=True)
    rows = sweep(LaneFns(bias_init, bias_apply, augment=flip_target), x, y, lanes, config).rows
    # Unaugmented: b -> 1, test loss ~ 0. Augmented: targets are +-1 at random, b stays near 0.
    assert rows[0]["test_loss"] < 0.05
    assert 0.5 < rows[1]["test_loss"] < 1.5
    plain = sweep(LaneFns(bias_init, bias_apply), x, y, lanes[:1] * 2, config).rows
    assert strip(plain[0]) == strip(rows[0])


def batch_variance_init(key):
    return {"b": jnp.zeros(())}


def batch_variance_apply(params, x):
    """b + the variance of x[:, 0] over the batch: 0 exactly when every example of the batch is the same."""
    return params["b"] + jnp.var(x[:, 0]) + 0.0 * x[:, 0]


def random_sign_input(key, x, y):
    """Replaces x by +1 or -1 (fair coin from key)."""
    return jnp.where(jax.random.bernoulli(key), 1.0, -1.0) * jnp.ones_like(x), y


@pytest.mark.parametrize("augment_per", ["example", "batch"])
def test_augment_per_example_or_batch(augment_per):
    # Inputs 0, targets 0. Augmentation makes each input +-1; the model adds the batch variance of its inputs.
    # One draw per batch: every batch is constant, the variance is exactly 0, the loss b^2 has gradient 0 at
    # b = 0 and b never moves (test loss exactly 0). One draw per example: the variance is ~1 and b is pushed down.
    x = np.zeros((80, 1), np.float32)
    y = np.zeros(80, np.float32)
    lane = Lane(seed=0, train_idx=np.arange(64), val_idx=np.arange(64, 72), test_idx=np.arange(72, 80),
                batch_size=16, augment=True, meta={})
    config = TrainConfig(loss="mse", learning_rate=5e-2, max_epochs=5, early_stopping=False, quiet=True,
                         augment_per=augment_per)
    fns = LaneFns(batch_variance_init, batch_variance_apply, augment=random_sign_input)
    row = sweep(fns, x, y, [lane], config).rows[0]
    if augment_per == "batch":
        assert row["test_loss"] == 0.0
    else:
        assert row["test_loss"] > 0.01
    # A lane's draws do not depend on its neighbours (another batch size, another seed) in either mode.
    neighbour = dataclasses.replace(lane, seed=1, batch_size=8)
    together = sweep(fns, x, y, [neighbour, lane], config.tuned(lane_groups="single")).rows[1]
    assert strip(together) == strip(row)


def test_augment_per_enters_the_fingerprint_only_when_not_the_default():
    from symjax.train.checkpoint import make_fingerprint

    lanes = [make_lane(0, 20, 4)]
    default = make_fingerprint(lanes, MAIN_CONFIG, POOL_X, POOL_Y, True, None)
    assert "augment_per" not in json.dumps(default)  # fingerprints of earlier checkpoints are unchanged
    per_batch = make_fingerprint(lanes, dataclasses.replace(MAIN_CONFIG, augment_per="batch"), POOL_X, POOL_Y,
                                 True, None)
    assert per_batch != default


def deepsets_init(key):
    k1, k2 = jax.random.split(key)
    return {"phi": jax.random.normal(k1, (1, 8)), "rho": jax.random.normal(k2, (8, 2))}


def deepsets_apply(params, x):
    h = jnp.tanh(x[:, :, None] * params["phi"][None]).sum(axis=1)  # (B, 8), invariant to input order
    return h @ params["rho"]


def deepsets_sym(params, key, x):
    perm = jax.random.permutation(key, x.shape[1])
    return jnp.max(jnp.abs(deepsets_apply(params, x[:, perm]) - deepsets_apply(params, x)))


def test_cross_entropy_accuracy_and_invariant_model():
    labels = (POOL_X.sum(axis=1) > 0).astype(np.int32)
    lanes = [Lane(seed=s, train_idx=np.arange(200), val_idx=np.arange(200, 250), test_idx=TEST_IDX,
                  batch_size=20, augment=False, meta={}) for s in (0, 1)]
    config = TrainConfig(loss="cross_entropy", learning_rate=3e-2, max_epochs=5, quiet=True)
    rows = sweep(LaneFns(deepsets_init, deepsets_apply, symmetry_error=deepsets_sym), POOL_X, labels, lanes,
                 config).rows
    for row in rows:
        assert row["test_acc"] > 0.8
        assert abs(row["test_acc"] * len(TEST_IDX) - round(row["test_acc"] * len(TEST_IDX))) < 1e-4
        assert 0 <= row["sym_error"] < 1e-5


# ---------------------------------------------------------------- validation


def bad(**changes):
    return [dataclasses.replace(make_lane(0, 20, 4), **changes)]


@pytest.mark.parametrize("case, match", [
    ("nan_x", r"pool_x.*finite.*1 NaN/inf"),
    ("inf_y", r"pool_y.*finite"),
    ("empty", r"at least one Lane"),
    ("out_of_range", r"\[0, 400\).*\[0, 400\]"),
    ("train_size_0", r"train_idx.*at least one index, got size 0"),
    ("batch_too_big", r"batch_size <= train size 20, got 21"),
    ("batch_0", r"batch_size >= 1, got 0"),
    ("augment_without_fn", r"augment_fn"),
    ("loss", r"unknown loss.*'huber'"),
    ("lane_groups", r"lane_groups: expected one of \('auto', 'shape', 'single'\), got 'size'"),
    ("augment_per", r"augment_per: expected one of \('example', 'batch'\), got 'epoch'"),
    ("float_labels", r"integer labels"),
    ("lr_inf", r"learning_rate None or a finite number > 0, got inf"),
    ("lr_negative", r"learning_rate None or a finite number > 0, got -0.1"),
    ("hyper_names", r"hyper names \['lam'\].*got \['mu'\]"),
    ("hyper_nan", r"hyper\['lam'\] to be a finite number, got nan"),
    ("fns", r"expected a LaneFns as the first argument, got tuple"),
])
def test_invalid_inputs_raise(case, match):
    x, y, lanes, config = POOL_X.copy(), POOL_Y.copy(), [make_lane(0, 20, 4)], MAIN_CONFIG
    if case == "nan_x":
        x[3, 1] = np.nan
    elif case == "inf_y":
        y[0] = np.inf
    elif case == "empty":
        lanes = []
    elif case == "out_of_range":
        lanes = bad(val_idx=np.array([0, 400]))
    elif case == "train_size_0":
        lanes = bad(train_idx=np.array([], np.int64))
    elif case == "batch_too_big":
        lanes = bad(batch_size=21)
    elif case == "batch_0":
        lanes = bad(batch_size=0)
    elif case == "augment_without_fn":
        lanes = bad(augment=True)
    elif case == "loss":
        config = dataclasses.replace(config, loss="huber")
    elif case == "lane_groups":
        config = config.tuned(lane_groups="size")
    elif case == "augment_per":
        config = dataclasses.replace(config, augment_per="epoch")
    elif case == "float_labels":
        config = dataclasses.replace(config, loss="cross_entropy")
    elif case == "lr_inf":
        lanes = bad(learning_rate=float("inf"))
    elif case == "lr_negative":
        lanes = bad(learning_rate=-0.1)
    elif case == "hyper_names":
        lanes = bad(hyper={"lam": 1.0}) + bad(hyper={"mu": 1.0})
    elif case == "hyper_nan":
        lanes = bad(hyper={"lam": float("nan")})
    fns = tuple(PLAIN_FNS) if case == "fns" else PLAIN_FNS
    with pytest.raises(ValueError, match=match):
        sweep(fns, x, y, lanes, config)


# ---------------------------------------------------------------- checkpoints


CKPT_CONFIG = dataclasses.replace(MAIN_CONFIG, max_epochs=7, checkpoint_every=2, keep_checkpoints=2)


@pytest.mark.parametrize("seconds, steps", [(0.0, ["step_1", "step_2", "step_3"]), (3600.0, [])])
def test_checkpoint_every_zero_saves_by_time(tmp_path, seconds, steps):
    """checkpoint_every=0: a save after every epoch that ends checkpoint_seconds after the previous save."""
    config = dataclasses.replace(MAIN_CONFIG, max_epochs=3, checkpoint_every=0, checkpoint_seconds=seconds,
                                 keep_checkpoints=5, checkpoint_dir=str(tmp_path / "ckpt"))
    sweep(FNS, POOL_X, POOL_Y, main_lanes(), config, config_fingerprint={"run": "t"})
    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir() if p.name.startswith("step_")) \
        if (tmp_path / "ckpt").exists() else []
    assert saved == steps


def test_resume_after_sigkill_is_bitwise_identical(tmp_path, main_rows):
    ckpt = tmp_path / "ckpt"
    result = run_script(tmp_path, f'''
        import os, signal
        def kill_after_5(epoch, summary):
            if epoch == 5:
                os.kill(os.getpid(), signal.SIGKILL)
        config = dataclasses.replace(MAIN_CONFIG, max_epochs=7, checkpoint_every=2, keep_checkpoints=2,
                                     checkpoint_dir={str(ckpt)!r})
        sweep(FNS, POOL_X, POOL_Y, main_lanes(), config, config_fingerprint={{"run": "a"}},
              epoch_callback=kill_after_5).rows
        print("not killed")
    ''')
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    assert sorted(p.name for p in ckpt.iterdir() if p.name.startswith("step_")) == ["step_2", "step_4"]

    epochs_seen = []
    config = dataclasses.replace(CKPT_CONFIG, checkpoint_dir=str(ckpt), resume=True)
    resumed = sweep(FNS, POOL_X, POOL_Y, main_lanes(), config, config_fingerprint={"run": "a"},
                    epoch_callback=lambda e, s: epochs_seen.append(e)).rows
    straight = sweep(FNS, POOL_X, POOL_Y, main_lanes(), dataclasses.replace(MAIN_CONFIG, max_epochs=7)).rows
    assert epochs_seen[0] == 5  # continued after step_4
    assert [strip(r) for r in resumed] == [strip(r) for r in straight]
    assert sorted(p.name for p in ckpt.iterdir() if p.name.startswith("step_")) == ["step_4", "step_6"]


@pytest.fixture
def saved_run(tmp_path):
    """A finished 4-epoch run with checkpoints step_2 and step_4; returns (config, rows)."""
    config = dataclasses.replace(CKPT_CONFIG, max_epochs=4, checkpoint_dir=str(tmp_path / "ckpt"))
    rows = sweep(PLAIN_FNS, POOL_X, POOL_Y, main_lanes(), config, config_fingerprint={"flag": 1}).rows
    return dataclasses.replace(config, resume=True), rows


def test_fingerprint_mismatch_is_refused(saved_run):
    config, _ = saved_run
    with pytest.raises(ValueError, match=r"different run(.|\n)*learning_rate: checkpoint has 0.01, this run has 0.02"):
        sweep(PLAIN_FNS, POOL_X, POOL_Y, main_lanes(), dataclasses.replace(config, learning_rate=2e-2),
              config_fingerprint={"flag": 1}).rows
    with pytest.raises(ValueError, match=r"extra.flag: checkpoint has 1, this run has 2"):
        sweep(PLAIN_FNS, POOL_X, POOL_Y, main_lanes(), config, config_fingerprint={"flag": 2}).rows
    lanes = main_lanes()
    lanes[3] = make_lane(30, 40, 8)
    with pytest.raises(ValueError, match=r"lanes\[3\]\.seed: checkpoint has 3, this run has 30"):
        sweep(PLAIN_FNS, POOL_X, POOL_Y, lanes, config, config_fingerprint={"flag": 1}).rows


def _truncate_data_files(step_dir):
    """Halves every orbax/OCDBT data file (the files in directories named 'd')."""
    files = [os.path.join(r, f) for r, _, fs in os.walk(step_dir) for f in fs if os.path.basename(r) == "d"]
    assert files
    for path in files:
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize("damage", ["truncated", "no_fingerprint", "all"])
def test_corrupt_checkpoint_is_skipped(saved_run, damage):
    config, rows = saved_run
    step2, step4 = os.path.join(config.checkpoint_dir, "step_2"), os.path.join(config.checkpoint_dir, "step_4")
    if damage == "no_fingerprint":
        shutil.rmtree(os.path.join(step4, "fingerprint"))
    else:
        _truncate_data_files(step4)
    if damage == "all":
        shutil.rmtree(os.path.join(step2, "fingerprint"))
    seen = []
    with pytest.warns(UserWarning, match="skipping checkpoint .*step_4") as record:
        resumed = sweep(PLAIN_FNS, POOL_X, POOL_Y, main_lanes(), config, config_fingerprint={"flag": 1},
                        epoch_callback=lambda e, s: seen.append(e)).rows
    messages = " ".join(str(w.message) for w in record)
    assert seen[0] == (1 if damage == "all" else 3)
    assert ("starting fresh" in messages) == (damage == "all")
    assert [strip(r) for r in resumed] == [strip(r) for r in rows]


# ---------------------------------------------------------------- devices and processes


def test_lanes_sharded_over_four_devices_equal_one_device(tmp_path, main_rows):
    result = run_script(tmp_path, '''
        import json
        devices = []
        config = MAIN_CONFIG.tuned(lane_placement="shard")
        rows = sweep(FNS, POOL_X, POOL_Y, main_lanes()[:11], config,
                     epoch_callback=lambda e, s: devices.append(s["devices"])).rows
        print(json.dumps({"n_devices": jax.device_count(), "sharded_over": devices[0], "rows": rows}))
    ''', env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["n_devices"] == 4 and out["sharded_over"] == 4
    assert_rows_close(out["rows"], main_rows[:11])


def test_groups_on_two_cpu_devices_equal_one_device_bitwise(tmp_path):
    # lane_placement 'auto' is 'groups' on CPU devices: each group's program is the one-device program, run
    # on its own device beside the other groups.
    # Two lanes of different shapes: two groups, one per device.
    want = sweep(FNS, POOL_X, POOL_Y, main_lanes()[:2], MAIN_CONFIG.tuned(lane_groups="shape")).rows
    result = run_script(tmp_path, '''
        import json
        jax.config.update("jax_num_cpu_devices", 2)
        used = []
        rows = sweep(FNS, POOL_X, POOL_Y, main_lanes()[:2], MAIN_CONFIG.tuned(lane_groups="shape"),
                     epoch_callback=lambda e, s: used.append(s["devices"])).rows
        print(json.dumps({"n_devices": jax.device_count(), "used": used[0], "rows": rows}))
    ''')
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["n_devices"] == 2 and out["used"] == 2
    assert [strip(r) for r in out["rows"]] == [strip(r) for r in want]


def test_place_groups_balances_work_largest_first():
    assert execution.place_groups([], 2) == []
    assert execution.place_groups([5.0], 3) == [0]
    assert execution.place_groups([1.0, 8.0, 3.0, 4.0], 2) == [1, 0, 1, 1]  # 8 | 4 + 3 + 1
    assert execution.place_groups([2.0, 2.0, 2.0], 1) == [0, 0, 0]
    assert execution.place_groups([3.0, 3.0], 2) == [0, 1]
    cpu, gpu = types.SimpleNamespace(platform="cpu"), types.SimpleNamespace(platform="gpu")
    assert execution.resolve_placement("auto", [cpu, cpu]) == "groups"
    assert execution.resolve_placement("auto", [gpu, gpu]) == "shard"
    assert execution.resolve_placement("shard", [cpu]) == "shard"
    with pytest.raises(ValueError, match=r"lane_placement: expected one of \('auto', 'shard', 'groups'\), got 'x'"):
        sweep(FNS, POOL_X, POOL_Y, main_lanes()[:1], MAIN_CONFIG.tuned(lane_placement="x"))


def test_process_slice_is_contiguous_and_balanced():
    assert [process_slice(10, 4, k) for k in range(4)] == [slice(0, 2), slice(2, 5), slice(5, 7), slice(7, 10)]
    for n in range(0, 30):
        for count in range(1, 7):
            parts = [range(n)[process_slice(n, count, k)] for k in range(count)]
            assert [i for p in parts for i in p] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match=r"\[0, 2\), got 2"):
        process_slice(5, 2, 2)


# ---------------------------------------------------------------- fixed cost: buckets, augmentation, compile cache


def brute_force_buckets(batch, steps, epochs, costs):
    """The cheapest cut of the shapes (sorted by b * s) into contiguous runs, by trying all 2^(k-1) cuts."""
    shapes = sorted(set(zip(batch, steps)), key=lambda bs: (bs[0] * bs[1], bs))
    best = None
    for cuts in itertools.product([False, True], repeat=len(shapes) - 1):
        runs, run = [], [shapes[0]]
        for shape, cut in zip(shapes[1:], cuts):
            if cut:
                runs.append(run)
                run = []
            run.append(shape)
        runs.append(run)
        total = 0.0
        for run in runs:
            members = [i for i, bs in enumerate(zip(batch, steps)) if bs in run]
            big_b = max(batch[i] for i in members)
            big_s = max(steps[i] for i in members)
            total += costs.compile_s + epochs * big_s * (
                costs.step_s + len(members) * (costs.lane_step_s + big_b * costs.example_s))
        if best is None or total < best[0] - 1e-12:
            best = (total, runs)
    return sorted(sorted(i for i, bs in enumerate(zip(batch, steps)) if bs in run) for run in best[1])


@pytest.mark.parametrize("seed", range(6))
def test_plan_buckets_is_the_cheapest_contiguous_cut(seed):
    rng = np.random.default_rng(seed)
    batch = rng.choice([2, 4, 8, 32, 128, 256], 14).tolist()
    steps = rng.choice([1, 5, 10, 40], 14).tolist()
    costs = buckets.CostModel(compile_s=rng.uniform(0.1, 5), step_s=1e-4, lane_step_s=2e-5, example_s=2e-6)
    epochs = int(rng.choice([1, 20, 300, 5000]))
    got = [sorted(b.tolist()) for b in buckets.plan_buckets(np.array(batch), np.array(steps), epochs, costs)]
    assert sorted(got) == brute_force_buckets(batch, steps, epochs, costs)
    assert sorted(i for b in got for i in b) == list(range(14))


def test_plan_buckets_extremes():
    batch, steps = np.array([4, 8, 4, 256, 16]), np.array([10, 10, 10, 32, 25])
    free_compile = buckets.CostModel(compile_s=0.0, step_s=0.0, lane_step_s=0.0, example_s=1e-6)
    # Free compilation: padding is the only cost, so every shape gets its own program, in order of first lane.
    assert [b.tolist() for b in buckets.plan_buckets(batch, steps, 10, free_compile)] == [[0, 2], [1], [3], [4]]
    # Zero epochs: only compilation costs, so one program.
    assert [b.tolist() for b in buckets.plan_buckets(batch, steps, 0)] == [[0, 1, 2, 3, 4]]
    with pytest.raises(ValueError, match=r"one shape \(L,\), L >= 1, got \(2,\) and \(3,\)"):
        buckets.plan_buckets(np.array([1, 2]), np.array([1, 2, 3]), 5)


def test_plan_buckets_prices_a_slot_by_the_models_flops():
    """F FLOPs per example cost exactly what example_s + F * flop_s costs, and a wider model gets more programs."""
    batch, steps = np.repeat([4, 8, 16, 32, 128, 256], 3), np.repeat([10, 10, 25, 25, 32, 32], 3)
    costs = buckets.CostModel(compile_s=1.2, step_s=2e-4, lane_step_s=2e-5, example_s=1.35e-6, flop_s=1 / 300e9)
    for flops in (0.0, 85e3, 730e3):
        priced = costs._replace(example_s=costs.example_s + flops * costs.flop_s, flop_s=0.0)
        for epochs in (5, 50, 250):
            got = buckets.plan_buckets(batch, steps, epochs, costs, flops_per_example=flops)
            assert [b.tolist() for b in got] == [b.tolist() for b in buckets.plan_buckets(batch, steps, epochs, priced)]
    counts = [len(buckets.plan_buckets(batch, steps, 50, costs, flops_per_example=f)) for f in (0.0, 730e3, 1e8)]
    assert counts[0] < counts[1] < counts[2] == 6, counts


def test_example_flops_counts_a_dense_layers_forward_and_backward():
    """A d -> o dense layer under MSE: 2 d o FLOPs forward, 2 d o for the weight gradient (no input gradient)."""
    for d, o in ((8, 4), (64, 32)):
        init = lambda key, d=d, o=o: {"w": jnp.zeros((d, o))}
        apply = lambda p, x: x @ p["w"]
        flops = execution.example_flops(init, apply, "mse", np.zeros((10, d), np.float32), np.zeros((10, o), np.float32))
        assert 4 * d * o <= flops <= 4 * d * o + 10 * o, (d, o, flops)

    def needs_two_rows(p, x):
        if x.shape[0] < 2:
            raise ValueError("this model normalises over the batch")
        return x @ p["w"]

    init = lambda key: {"w": jnp.zeros((8, 4))}
    assert execution.example_flops(init, needs_two_rows, "mse", np.zeros((10, 8), np.float32),
                            np.zeros((10, 4), np.float32)) == 0.0


def test_cpu_fusion_emitters_reach_the_epoch_and_evaluation_programs(monkeypatch):
    """TrainConfig.cpu_fusion_emitters compiles both with the emitters; results agree with the default's."""
    asked = []
    epoch_jit, one_off_jit = execution.epoch_jit, execution.one_off_jit

    def recording_epoch_jit(fn, static_argname, fusion_emitters=False):
        asked.append((fn.__name__, fusion_emitters))
        return epoch_jit(fn, static_argname, fusion_emitters)

    def recording_one_off_jit(fn, fusion_emitters=False, optimize=False):
        asked.append((fn.__name__, fusion_emitters))
        return one_off_jit(fn, fusion_emitters, optimize)

    monkeypatch.setattr(execution, "epoch_jit", recording_epoch_jit)
    monkeypatch.setattr(execution, "one_off_jit", recording_one_off_jit)
    lanes = [make_lane(*spec) for spec in GROUP_SPEC]
    config = dataclasses.replace(MAIN_CONFIG, max_epochs=3)
    with_emitters = sweep(FNS, POOL_X, POOL_Y, lanes, config.tuned(cpu_fusion_emitters=True)).rows
    assert ("_train_epoch", True) in asked and ("_evaluate", True) in asked
    assert execution.epoch_options(True) == ({"xla_cpu_use_fusion_emitters": True} if jax.default_backend() == "cpu"
                                       else None)
    assert_rows_close(with_emitters, sweep(FNS, POOL_X, POOL_Y, lanes, config).rows)
    with pytest.raises(ValueError, match=r"cpu_fusion_emitters: expected a bool, got 'yes'"):
        sweep(FNS, POOL_X, POOL_Y, lanes, config.tuned(cpu_fusion_emitters="yes"))


def test_a_large_evaluation_is_compiled_with_optimisation(monkeypatch):
    """The evaluation is optimised when its modelled work (lanes x test examples x (1 + sym samples) forward
    passes of F / 3 FLOPs) reaches CostModel.optimize_s; the toy's is far below, unless the price is 0.
    Results agree to rounding either way."""
    costs = buckets.CPU_COSTS
    per_s = costs.optimize_s / costs.flop_s  # FLOPs of forward passes worth optimize_s
    assert execution.evaluation_needs_optimizing(3, 2000, 2, 1.01 * 3 * per_s / (3 * 2000 * 3), costs)
    assert not execution.evaluation_needs_optimizing(3, 2000, 2, 0.99 * 3 * per_s / (3 * 2000 * 3), costs)
    if jax.default_backend() == "cpu":
        assert "xla_backend_optimization_level" not in execution.one_off_options(optimize=True)
        assert execution.one_off_options()["xla_backend_optimization_level"] == 0
    asked = []
    one_off_jit = execution.one_off_jit

    def recording_one_off_jit(fn, fusion_emitters=False, optimize=False):
        asked.append((fn.__name__, optimize))
        return one_off_jit(fn, fusion_emitters, optimize)

    monkeypatch.setattr(execution, "one_off_jit", recording_one_off_jit)
    lanes = [make_lane(*spec) for spec in GROUP_SPEC]
    config = dataclasses.replace(MAIN_CONFIG, max_epochs=3)
    plain = sweep(FNS, POOL_X, POOL_Y, lanes, config).rows
    assert ("_evaluate", False) in asked and ("_evaluate", True) not in asked
    monkeypatch.setattr(buckets, "CPU_COSTS", costs._replace(optimize_s=0.0))
    optimised = sweep(FNS, POOL_X, POOL_Y, lanes, config).rows
    assert ("_evaluate", True) in asked
    assert_rows_close(optimised, plain)


def test_auto_groups_equal_shape_groups(monkeypatch):
    """'auto' with a cost model that makes 2 buckets of GROUP_SPEC's 4 shapes trains the same numbers as 'shape'."""
    lanes = [make_lane(*spec) for spec in GROUP_SPEC]
    costs = buckets.CostModel(compile_s=5e-4, step_s=0.0, lane_step_s=0.0, example_s=1e-6)
    host = build_lane_arrays(lanes, 1e-2)
    planned = buckets.plan_buckets(host.batch_size, host.n_steps, 6, costs)
    assert 1 < len(planned) < 4, planned  # lane shapes (16, 6), (2, 4), (16, 6), (16, 1), (4, 5)
    monkeypatch.setattr(lanes_module, "backend_costs", lambda: costs)  # flop_s = 0: the model's FLOPs do not matter
    config = dataclasses.replace(MAIN_CONFIG, max_epochs=6)
    seen = []
    real_start = engine._Group.start.__func__

    def recording_start(cls, members, *args):
        seen.append(sorted(members.tolist()))
        return real_start(cls, members, *args)

    monkeypatch.setattr(engine._Group, "start", classmethod(recording_start))
    auto = sweep(FNS, POOL_X, POOL_Y, lanes, config.tuned(lane_groups="auto")).rows
    assert seen == [b.tolist() for b in planned]
    shape = sweep(FNS, POOL_X, POOL_Y, lanes, config.tuned(lane_groups="shape")).rows
    assert_rows_close(auto, shape)


def test_augmentation_is_compiled_only_into_groups_with_an_augmenting_lane():
    traced = []

    def counting_flip(key, x, y):
        traced.append(1)
        return flip_sign(key, x, y)

    lanes = [make_lane(0, 40, 8), make_lane(1, 20, 4)]
    lanes[0] = dataclasses.replace(lanes[0], augment=True)
    config = dataclasses.replace(MAIN_CONFIG, max_epochs=2).tuned(lane_groups="shape")
    sweep(LaneFns(init_fn, apply_fn, augment=counting_flip), POOL_X, POOL_Y, lanes, config)
    assert len(traced) == 1  # two programs, one of them augments
    traced.clear()
    sweep(LaneFns(init_fn, apply_fn, augment=counting_flip), POOL_X, POOL_Y, lanes[1:], config)
    assert traced == []


def test_compile_cache_dir_setting():
    home = {"HOME": "/home/u"}
    assert compile_cache.cache_dir("auto", home) == "/home/u/.cache/symjax/xla"
    assert compile_cache.cache_dir("auto", dict(home, XDG_CACHE_HOME="/xdg")) == "/xdg/symjax/xla"
    assert compile_cache.cache_dir("auto", dict(home, SYMJAX_COMPILE_CACHE="/elsewhere")) == "/elsewhere"
    assert compile_cache.cache_dir("auto", dict(home, SYMJAX_COMPILE_CACHE="off")) is None
    assert compile_cache.cache_dir("off", home) is None
    assert compile_cache.cache_dir("/tmp/c", home) == "/tmp/c"
    with pytest.raises(ValueError, match=r"compile_cache: expected 'auto', 'off' or a directory, got ''"):
        compile_cache.cache_dir("", home)


def test_rerun_from_the_persistent_cache_is_bitwise_equal(tmp_path):
    previous = jax.config.jax_compilation_cache_dir
    previous_min_time = jax.config.jax_persistent_cache_min_compile_time_secs
    lanes = [make_lane(0, 40, 8), make_lane(1, 20, 4)]
    config = dataclasses.replace(MAIN_CONFIG, max_epochs=2).tuned(lane_groups="shape")
    try:
        compile_cache.point_to(str(tmp_path / "xla"))
        # Store every program: on a quiet machine this toy model's programs can compile faster than
        # compile_cache.MIN_COMPILE_SECONDS, and the test is about reading entries back.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.clear_caches()
        cold = sweep(FNS, POOL_X, POOL_Y, lanes, config)
        assert len(os.listdir(tmp_path / "xla")) >= 2  # at least the two epoch programs were stored
        jax.clear_caches()
        warm = sweep(FNS, POOL_X, POOL_Y, lanes, config)
    finally:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", previous_min_time)
        compilation_cache.set_cache_dir(previous)
        compilation_cache.reset_cache()
    assert [strip(r) for r in warm.rows] == [strip(r) for r in cold.rows]
    for a, b in zip(jax.tree.leaves(warm.params), jax.tree.leaves(cold.params)):
        np.testing.assert_array_equal(a, b)


def test_compaction_is_priced_in_modelled_seconds(monkeypatch):
    # The default gate: (rows - kept) * buckets.row_epoch_s * horizon >= recompile_s, from the program's
    # FLOP count and shape alone; compact_min_flops replaces it by a FLOP threshold; no count: always.
    prog = types.SimpleNamespace(batch=32, steps=96)
    group = types.SimpleNamespace(flops=2.15e11, prog=prog, rows=lambda: 6)
    costs = buckets.CPU_COSTS
    per_row = buckets.row_epoch_s(2.15e11, 6, 32, 96, costs)
    assert per_row == pytest.approx(96 * (costs.lane_step_s + 32 * costs.example_s) + 2.15e11 / 6 * costs.flop_s)
    enough = int(np.ceil(costs.recompile_s / (3 * per_row)))
    config = MAIN_CONFIG
    assert execution.compaction_pays(group, 3, enough, config.execution)
    assert not execution.compaction_pays(group, 3, enough - 1, config.execution)
    flop_gate = config.tuned(compact_min_flops=2.15e11 * 0.5 * 10)
    assert execution.compaction_pays(group, 3, 10, flop_gate.execution)
    assert not execution.compaction_pays(group, 3, 9, flop_gate.execution)
    no_count = types.SimpleNamespace(flops=None, prog=prog, rows=lambda: 6)
    assert execution.compaction_pays(no_count, 3, 0, config.execution)


@pytest.mark.parametrize("epoch, early_stopping, horizon", [(5, True, 15), (40, True, 40), (240, True, 10),
                                                             (40, False, 210)])
def test_compaction_forecasts_as_many_epochs_as_trained(monkeypatch, epoch, early_stopping, horizon):
    # With early stopping, lanes that have trained e epochs are forecast to train e more (at least
    # patience, at most the epochs left); without it, they train every epoch left.
    seen = []
    monkeypatch.setattr(execution, "compaction_pays", lambda g, n_rows, h, config: seen.append(h) or False)
    config = dataclasses.replace(MAIN_CONFIG, max_epochs=250, patience=15, early_stopping=early_stopping)
    group = types.SimpleNamespace(members=np.arange(4), rows=lambda: 4, devices=types.SimpleNamespace(count=1))
    stopped = np.array([True, True, True, False])
    assert engine._compact([group], [], stopped, epoch, config) == [group]
    assert seen == [horizon]

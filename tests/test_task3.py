"""Task 3 end to end: experiments/task3.py --quick, resume, flag errors, equivariance, rollout metrics.

Expected values come from independent routes: hand-typed permutations, hand
energy formulas, a table-lookup "model" that returns the simulator's next state.

The subprocess runs share a persistent JAX compilation cache (one per test
session) and compile with XLA_FLAGS=--xla_backend_optimization_level=0, which
keeps the three --quick runs inside the CI time budget; every result compared
here is produced under the same settings.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symjax.data import three_body as tb
from symjax.models.three_body_models import three_body_model
from symjax.tasks import driver
from symjax.tasks import three_body_rollouts as rollouts
from symjax.tasks import three_body_task as t3
from quick_baseline import assert_matches

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "task3.py"
# Swap of particles 1 and 2, typed by hand.
SWAP = [4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11]
M = np.array([10.0, 10.0, 20.0])
CONTRACT = ("task", "model", "setting", "data_size", "train_size", "seed", "test_loss", "sym_error", "params",
            "epochs", "best_epoch", "diverged", "wall_s", "rollout_mse", "energy_drift", "momentum_drift")
# Table 7 / hand count: 12*48+48 + 48*48+48 + 48*12+12 = 3564; shared small from the thesis.
SMALL_PARAMS = {"vanilla": 3564, "vanilla_aug": 3564, "shared": 1992, "shared_aug": 1992}


# ---------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    out = dict(os.environ)
    out["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax_cache"))
    out["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    out["XLA_FLAGS"] = (out.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
    return out


def _script(*args):
    return [sys.executable, str(SCRIPT), *args]


def _read_rows(out_dir: Path) -> list[dict]:
    with open(out_dir / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _ref_energy(x):
    """E = sum m v^2 / 2 - sum_{i<j} (m_i m_j / eps) (pi/2 - arctan(r_ij / eps)), x (..., 12)."""
    x = np.asarray(x, np.float64).reshape(np.shape(x)[:-1] + (3, 4))
    energy = 0.5 * np.sum(M[:, None] * x[..., 2:] ** 2, axis=(-2, -1))
    for i in range(3):
        for j in range(i + 1, 3):
            r = np.linalg.norm(x[..., i, :2] - x[..., j, :2], axis=-1)
            energy = energy - M[i] * M[j] / 0.5 * (math.pi / 2 - np.arctan(r / 0.5))
    return energy


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, env):
    out_dir = tmp_path_factory.mktemp("quick")
    start = time.perf_counter()
    proc = subprocess.run(_script("--quick", "--quiet", "--checkpoint_every=1", f"--out_dir={out_dir}"),
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out_dir, _read_rows(out_dir), time.perf_counter() - start


# ---------------------------------------------------------------- end to end
@pytest.mark.slow
def test_quick_run_writes_contract(quick_run):
    out_dir, rows, elapsed = quick_run
    figure = t3.figure_name("small")
    for name in ("results.csv", "results.jsonl", "flags.txt", "report.md", "aggregate.csv",
                 "fig8_task3_loss_sym.png", figure):
        assert (out_dir / name).is_file(), name
    for name in ("fig8_task3_loss_sym.png", figure):
        assert (out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out_dir.iterdir() if ".tmp" in p.name]
    report = (out_dir / "report.md").read_text()
    assert figure in report and "Machine:" in report and "Wall time of this invocation" in report
    sweeps_wall = sum({r["model"].split("_")[0]: float(r["wall_s"]) for r in rows}.values())  # vanilla, shared
    assert f"the sweeps' own wall times sum to {sweeps_wall:.1f} s" in report
    assert "--model_sizes=small" in (out_dir / "flags.txt").read_text().splitlines()

    assert len(rows) == 4 * 2  # 4 variants x 2 seeds x data size 1000
    assert set(CONTRACT) <= set(rows[0])
    assert {r["model"] for r in rows} == set(t3.MODELS)
    assert {r["seed"] for r in rows} == {"0", "1"}
    for r in rows:
        assert (r["task"], r["setting"], r["data_size"], r["train_size"]) == ("3", "small", "1000", "800")
        assert int(r["params"]) == SMALL_PARAMS[r["model"]]
        assert int(r["epochs"]) == 3 and r["diverged"] == "False"
        for col in ("test_loss", "sym_error", "rollout_mse", "energy_drift", "momentum_drift", "wall_s"):
            assert math.isfinite(float(r[col])), (r["model"], col, r[col])
        if r["model"].startswith("shared"):
            assert float(r["sym_error"]) < 1e-9
        else:
            assert float(r["sym_error"]) > 1e-4
    assert elapsed < 180


@pytest.mark.slow
def test_quick_run_reproduces_the_recorded_numbers(quick_run):
    """The safety net of the driver refactor: bitwise the numbers of the recorded run (tests/quick_baseline.py)."""
    out_dir, _, _ = quick_run
    assert_matches(3, out_dir / "results.csv")


@pytest.mark.slow
def test_quick_pool_split_runs_and_reports_its_controls(quick_run, tmp_path, env):
    """--quick --test_split=pool runs; each lane is tested on its own pairs (the no-change loss differs per
    seed, while the held-out split gives one), and the report carries both controls and the new departure."""
    out_dir = tmp_path / "pool"
    proc = subprocess.run(_script("--quick", "--quiet", "--test_split=pool", "--models=vanilla,shared",
                                  "--max_epochs=1", f"--out_dir={out_dir}"),
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pooled = {r["seed"]: r["no_change_loss"] for r in _read_rows(out_dir)}
    held_out = {r["no_change_loss"] for r in quick_run[1]}
    assert len(set(pooled.values())) == 2 and len(held_out) == 1 and not set(pooled.values()) & held_out
    report = (out_dir / "report.md").read_text()
    for needle in ("## Control: the no-change predictor", "## Control: is Table 7 consistent with itself?",
                   "--test_split=pool", "| test set |"):
        assert needle in report, needle


@pytest.mark.slow
def test_resume_after_interruption_equals_uninterrupted(quick_run, tmp_path, env):
    base_dir, base_rows, _ = quick_run
    out_dir = tmp_path / "resumed"
    args = ["--quick", "--quiet", "--checkpoint_every=1", f"--out_dir={out_dir}"]
    # Kill the run once the shared sweep has saved its first epoch (the vanilla sweep is then done).
    marker = out_dir / "checkpoints" / "small_shared" / "step_1" / "files_sha256.json"
    proc = subprocess.Popen(_script(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, f"run ended before it could be interrupted: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    # Results are written after every sweep: the vanilla sweep's rows survive the kill.
    assert sorted(r["model"] for r in _read_rows(out_dir)) == ["vanilla"] * 2 + ["vanilla_aug"] * 2

    resumed = subprocess.run(_script(*args, "--resume"), capture_output=True, text=True, env=env, cwd=REPO,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rows = _read_rows(out_dir)
    assert len(rows) == len(base_rows)
    for got, want in zip(rows, base_rows):
        assert {k: v for k, v in got.items() if k != "wall_s"} == {k: v for k, v in want.items() if k != "wall_s"}
    assert "--resume=True" in (out_dir / "flags.txt").read_text()


def _free_slurm_job_id() -> int:
    """A SLURM_JOB_ID whose coordinator port (JAX: 61440 + id % 4096) is free on this machine."""
    for job_id in np.random.default_rng().permutation(4096):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 61440 + int(job_id)))
            except OSError:
                continue
        return int(job_id)
    raise RuntimeError("no free port in 61440-65535")


@pytest.mark.slow
def test_two_processes_equal_one_process(quick_run, tmp_path, env):
    """--distributed under a (simulated, one-node) SLURM job of 2 tasks: each process trains its
    slice of the lanes, process 0 merges the rows; they equal the one-process run's rows."""
    _, base_rows, _ = quick_run
    out_dir = tmp_path / "two"
    job_id = _free_slurm_job_id()
    procs = []
    for rank in (0, 1):
        slurm = dict(SLURM_JOB_ID=str(job_id), SLURM_NTASKS="2", SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank),
                     SLURM_STEP_NODELIST="127.0.0.1", JAX_PLATFORMS="cpu")
        procs.append(subprocess.Popen(
            _script("--quick", "--quiet", "--distributed", "--checkpoint_every=1", f"--out_dir={out_dir}"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, **slurm}, cwd=REPO))
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    assert (out_dir / "results.part0.jsonl").is_file() and (out_dir / "results.part1.jsonl").is_file()
    for arch in ("vanilla", "shared"):
        folder = out_dir / "checkpoints" / f"small_{arch}"
        assert sorted(p.name for p in folder.iterdir()) == ["process_0", "process_1"]
        for process in ("process_0", "process_1"):
            assert (folder / process / driver.RECORD_FILE).is_file()
    rows = _read_rows(out_dir)
    key = lambda r: (r["model"], r["data_size"], r["seed"])  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, base_rows))
    base = {key(r): r for r in base_rows}
    for row in rows:
        want = base[key(row)]
        for col, value in row.items():
            if col in ("test_loss", "sym_error", "rollout_mse", "energy_drift", "momentum_drift"):
                # The lanes run in programs of 2 instead of 4 lanes: equal up to float rounding.
                np.testing.assert_allclose(float(value), float(want[col]), rtol=1e-5, atol=1e-9, err_msg=col)
            elif col != "wall_s":
                assert value == want[col], (key(row), col)


@pytest.mark.parametrize("flag, needles", [
    ("--model_size=huge", ("model_size", "small", "medium", "large")),
    ("--data_sizes=1000,123", ("--data_sizes", "1000", "40000", "123")),
])
def test_invalid_flags_rejected_before_compiling(flag, needles, tmp_path, env):
    out_dir = tmp_path / "never"
    proc = subprocess.run(_script(flag, f"--out_dir={out_dir}"), capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert all(n in lines[0] for n in needles), lines[0]
    assert not out_dir.exists()


def test_model_size_is_short_for_model_sizes():
    """--model_size=large (the README's main job) is --model_sizes=large; both with other sizes is refused."""
    from absl import flags

    def parse(*args):
        values = flags.FlagValues()
        driver.define_flags(t3.Options, values)
        flags.DEFINE_enum("model_size", None, list(t3.MODEL_SIZES), "", flag_values=values)
        values(["task3.py", *args])
        return values

    values = parse("--model_size=large")
    opts = driver.options_from_flags(t3.TASK, values, t3.model_sizes_flag(values))
    assert opts.model_sizes == ("large",) and [p.name for p in t3.plan_sweeps(opts)] == ["large_vanilla",
                                                                                          "large_shared"]
    assert driver.options_from_flags(t3.TASK, parse()).model_sizes == ("small", "medium", "large")
    assert t3.model_sizes_flag(parse("--model_size=large", "--model_sizes=large")) == {"model_sizes": ("large",)}
    with pytest.raises(ValueError, match="--model_size=large and --model_sizes=small"):
        t3.model_sizes_flag(parse("--model_size=large", "--model_sizes=small"))


# ---------------------------------------------------------------- symmetry
def test_action_is_the_particle_swap():
    action = t3.s2_action()
    x = np.arange(12.0) * 1.5 + 0.25
    swap = np.array([1, 0], np.int32)
    np.testing.assert_array_equal(np.asarray(action.act(swap, x)), x[SWAP])
    np.testing.assert_array_equal(np.asarray(action.act(swap, x)), tb.swap_particles(x))
    np.testing.assert_array_equal(np.asarray(action.act(np.array([0, 1], np.int32), x)), x)


def test_models_in_physical_units_equivariance_including_normalisation():
    pool = t3.make_pool(quick=True)
    mean, std = pool["mean"], pool["std"]
    # The normaliser commutes with the swap (hand-typed permutation).
    x = pool["test_trajectories"].reshape(-1, 12)[::7]
    np.testing.assert_array_equal(tb.normalize(x[:, SWAP], mean, std), tb.normalize(x, mean, std)[:, SWAP])
    scale = np.mean(np.abs(x))

    specs = {v: three_body_model(v, "small") for v in ("shared", "vanilla")}
    params = {v: jax.jit(spec.init)(jax.random.key(1)) for v, spec in specs.items()}

    def violation(variant, mean, std):
        f = rollouts.physical_predictor(specs[variant].apply, params[variant], mean, std)
        out, out_swapped = np.asarray(f(x)), np.asarray(f(x[:, SWAP]))
        return np.max(np.abs(out_swapped - out[:, SWAP])) / scale

    assert violation("shared", mean, std) < 1e-5
    assert violation("vanilla", mean, std) > 1e-3
    # The check is sensitive to normalisation: unpooled statistics (particle 2 scaled differently) break it.
    std_unpooled = std * np.array([1.0] * 4 + [1.5] * 4 + [1.0] * 4)
    assert violation("shared", mean, std_unpooled) > 1e-3


def test_lane_split_and_pool_layout():
    pool = t3.make_pool(quick=True)
    n_pool = pool["num_train_pairs"]
    assert n_pool == t3.QUICK_DATA["num_train_trajectories"] * (t3.QUICK_DATA["num_steps"] // 10 - 1)
    train, val = t3.lane_split(0, 1000, n_pool)
    assert (train.size, val.size) == (800, 200)
    assert np.unique(np.concatenate([train, val])).size == 1000
    assert train.max() < n_pool and val.max() < n_pool and pool["test_idx"].min() == n_pool
    other, _ = t3.lane_split(1, 1000, n_pool)
    assert not np.array_equal(np.sort(train), np.sort(other))  # fresh subsample per seed
    again, _ = t3.lane_split(0, 1000, n_pool)
    np.testing.assert_array_equal(train, again)
    # Test rows of the pool are the held-out trajectories' pairs, in physical units after denormalising.
    traj = pool["test_trajectories"]
    x_test = tb.denormalize(pool["pool_x"][pool["test_idx"]].astype(np.float64), pool["mean"], pool["std"])
    np.testing.assert_allclose(x_test, traj[:, :-1].reshape(-1, 12), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pair_draw", t3.PAIR_DRAWS)
def test_pool_test_split_draws_disjoint_pairs_of_every_trajectory(pair_draw):
    """--test_split=pool: train, validation and test pairs are disjoint pool pairs, with the held-out test size,
    from all trajectories (training and held-out) pooled; one seed and size always give the same draw."""
    import dataclasses

    pool = t3.make_pool(quick=True)
    opts = t3.Options(quick=True, test_split="pool", pair_draw=pair_draw)
    n_total = pool["num_train_pairs"] + pool["test_idx"].size
    draws = {seed: t3.lane_indices(opts, seed, 1000, pool) for seed in (0, 1)}
    train, val, test = draws[0]
    assert (train.size, val.size, test.size) == (800, 200, pool["test_idx"].size)
    every = np.concatenate([train, val, test])
    assert np.unique(every).size == every.size and every.min() >= 0 and every.max() < n_total
    # Over the two seeds both parts of the pool feed the test sets (held-out test pairs alone would be >= n_train).
    tests = np.concatenate([draws[0][2], draws[1][2]])
    assert tests.min() < pool["num_train_pairs"] <= tests.max()
    for a, b in zip(draws[0], t3.lane_indices(opts, 0, 1000, pool)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.sort(draws[0][2]), np.sort(draws[1][2]))
    per_trajectory = pool["pairs_per_trajectory"]
    used = np.unique(np.concatenate([train, val]) // per_trajectory)
    if pair_draw == "whole_trajectories":
        assert used.size == -(-1000 // per_trajectory)  # 1000 pairs of 99: 11 trajectories
    else:
        assert used.size > -(-1000 // per_trajectory)
    # The default split keeps the old draw: the held-out trajectories are every lane's test set.
    default = dataclasses.replace(opts, test_split="trajectories", pair_draw="uniform")
    kept = t3.lane_indices(default, 0, 1000, pool)
    np.testing.assert_array_equal(kept[0], t3.lane_split(0, 1000, pool["num_train_pairs"])[0])
    np.testing.assert_array_equal(kept[2], pool["test_idx"])


def test_no_change_loss_is_the_mean_square_step():
    pool = t3.make_pool(quick=True)
    idx = np.array([3, 17, 200])
    x, y = (pool[k][idx].astype(np.float64) for k in ("pool_x", "pool_y"))
    want = sum((x[i, k] - y[i, k]) ** 2 for i in range(3) for k in range(12)) / 36
    assert t3.no_change_loss(pool, idx) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("changes, needle", [
    (dict(test_split="pool", val_split="trajectory"), "--test_split=pool and --val_split=trajectory"),
    (dict(pair_draw="whole_trajectories", val_split="trajectory"), "--pair_draw=whole_trajectories"),
    (dict(test_split="held_out"), "--test_split: expected one of"),
])
def test_conflicting_split_options_refused(changes, needle):
    with pytest.raises(ValueError, match=needle):
        t3.Options(quick=True, **changes).validate()


def test_symmetry_error_within_the_bound_of_controls_on_a_swap_closed_test_set():
    """Eq. 8 of an untrained vanilla model on a test set closed under the swap: <= 4 x test loss for any draw
    of g (a hard inequality), and about 2 x in expectation over g ~ uniform(S_2) (symjax.report.controls)."""
    from symjax import metrics
    from symjax.report import controls

    pool = t3.make_pool(quick=True)
    x = np.concatenate([pool["pool_x"][:300], pool["pool_x"][:300][:, SWAP]]).astype(np.float64)
    y = np.concatenate([pool["pool_y"][:300], pool["pool_y"][:300][:, SWAP]]).astype(np.float64)
    spec = three_body_model("vanilla", "small")
    params = spec.init(jax.random.key(3))
    f = lambda v: spec.apply(params, v)  # noqa: E731
    loss = float(np.mean((np.asarray(f(x)) - y) ** 2))
    swap_only = float(np.mean((np.asarray(f(x))[:, SWAP] - np.asarray(f(x[:, SWAP]))) ** 2))
    sym = float(metrics.symmetry_error(f, x, t3.s2_action(), t3.s2_action(), jax.random.key(0), num_samples=200))
    assert 0 < swap_only <= controls.WORST_CASE_BOUND * loss
    assert sym <= controls.WORST_CASE_BOUND * loss and sym <= 1.3 * controls.EXPECTED_BOUND * loss
    assert sym == pytest.approx(swap_only / 2, rel=0.3)  # half the draws are the identity


def test_table7_consistency_ratios_by_hand():
    from symjax.report import controls
    from symjax.report.reference import reference_rows

    ratios = {(r["setting"], r["data_size"], r["model"]): r["ratio"]
              for r in controls.symmetry_ratio_rows(reference_rows(3))}
    assert len(ratios) == 24  # vanilla and vanilla_aug in 12 conditions
    assert ratios[("large", 40000, "vanilla")] == pytest.approx(1.435 / 0.032)
    assert ratios[("small", 1000, "vanilla_aug")] == pytest.approx(0.182 / 0.734)
    text = controls.table7_consistency_markdown(reference_rows(3))
    assert "above 2 in 12 of 24 rows" in text and "above 4 (impossible for any draw of g) in 9 of 24" in text


def test_no_change_markdown_counts_models_worse_than_doing_nothing():
    from symjax.report import controls

    rows = [{"model": m, "setting": "small", "data_size": 1000, "seed": s, "test_loss": loss, "diverged": False,
             "no_change_loss": base}
            for m, s, loss, base in (("vanilla", 0, 1.0, 2.0), ("vanilla", 1, 3.0, 2.0), ("shared", 0, 5.0, 2.0),
                                     ("shared", 1, 5.0, 2.0))]
    text = controls.no_change_markdown(rows)
    assert "| small | 1000 | 2 | 2.5 (worse) | 1 |" in text
    assert "worse than doing nothing in 1 of 2 (condition, model) cells; 3 of 4 lanes" in text


# ---------------------------------------------------------------- rollouts
def test_rollout_metrics_hand_case():
    # State A: p1 = (0, 0), p2 = (1, 0), p3 = (0, 1), at rest.
    a = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0], np.float64)
    potential = -(100 / 0.5) * (math.pi / 2 - math.atan(2)) - (200 / 0.5) * (math.pi / 2 - math.atan(2)) \
        - (200 / 0.5) * (math.pi / 2 - math.atan(math.sqrt(2) / 0.5))
    moved = a.copy()
    moved[2], moved[11] = 1.0, 2.0  # v1 = (1, 0), v3 = (0, 2): kinetic 5 + 40, momentum (10, 40)
    true_end = moved.copy()
    true_end[4:6] += [0.3, 0.4]  # squared error 0.25 over 12 entries
    # Trajectory 0: A -> moved (true A -> true_end); trajectory 1: A stays A (exact).
    pred = np.stack([np.stack([a, moved]), np.stack([a, a])])
    true = np.stack([np.stack([a, true_end]), np.stack([a, a])])
    lanes = np.stack([pred, true])  # lane 1 predicts the truth
    m = rollouts.rollout_metrics(lanes, true)
    np.testing.assert_allclose(m["rollout_mse"], [0.25 / 12 / 2, 0.0], atol=1e-15)
    truth_drift = abs(_ref_energy(true_end) - _ref_energy(a)) / 2 / abs(potential)  # the truth's own drift
    np.testing.assert_allclose(_ref_energy(a), potential, rtol=1e-14)
    np.testing.assert_allclose(m["energy_drift"], [45.0 / 2 / abs(potential), truth_drift], rtol=1e-12)
    np.testing.assert_allclose(m["momentum_drift"], [math.sqrt(100 + 1600) / 2] * 2, rtol=1e-12)


def _lookup_model(params, z):
    """A 'model' that finds z in a table of true trajectories (R, S, 12) and returns the state `shift` later."""
    table = params["table"]
    dist = jnp.sum(jnp.square(table - z[:, None, :]), axis=-1)  # (R, S)
    nxt = jnp.minimum(jnp.argmin(dist, axis=1) + params["shift"], table.shape[1] - 1)
    return jnp.take_along_axis(table, nxt[:, None, None], axis=1)[:, 0]


def test_rollout_of_true_next_state_model_has_zero_error_and_the_simulators_drift():
    initial = tb.sample_initial_states(np.random.default_rng(5), 2)
    traj = tb.simulate(initial, num_steps=300)  # (2, 30, 12)
    k = 20
    mean, std = tb.fit_normalizer(traj)
    table = tb.normalize(traj, mean, std).astype(np.float32)
    params = {"table": np.stack([table, table]), "shift": np.array([1, 0], np.int32)}  # lane 1 stands still
    pred, true = rollouts.lane_rollouts(_lookup_model, params, mean, std, traj, k)
    assert pred.shape == (2, 2, k + 1, 12) and true.shape == (2, k + 1, 12)
    np.testing.assert_allclose(pred[0], traj[:, : k + 1], rtol=1e-5, atol=1e-5)
    m = rollouts.rollout_metrics(pred, true)
    energy = _ref_energy(traj)
    sim_drift = np.mean(np.abs(energy[:, k] - energy[:, 0])) / np.mean(np.abs(energy[:, 0]))
    assert m["rollout_mse"][0] < 1e-9
    np.testing.assert_allclose(m["energy_drift"][0], sim_drift, atol=2e-6)
    assert m["momentum_drift"][0] < 1e-3
    # The model that stands still: error = distance travelled; no drift.
    np.testing.assert_allclose(m["rollout_mse"][1], np.mean((traj[:, 0] - traj[:, k]) ** 2), rtol=1e-5)
    assert m["energy_drift"][1] < 1e-6 and m["momentum_drift"][1] < 1e-4

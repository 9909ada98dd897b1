"""Tests of symjax.train.precompile: a sweep's programs compiled ahead, several at once."""

import collections
import dataclasses
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symjax.train import Execution, Lane, LaneFns, TrainConfig, compile_sweep, sweep
from symjax.train.precompile import Precompiler, default_workers

_rng = np.random.default_rng(3)
POOL_X = _rng.normal(size=(200, 3)).astype(np.float32)
POOL_Y = (POOL_X ** 2).sum(axis=1).astype(np.float32)


def init_fn(key):
    return {"w": 0.3 * jax.random.normal(key, (3, 5)), "v": jnp.ones(5) / 5}


def apply_fn(params, x):
    return jnp.tanh(x @ params["w"]) @ params["v"]


def sym_fn(params, key, x):
    perm = jax.random.permutation(key, 3)
    return jnp.mean(jnp.abs(apply_fn(params, x[:, perm]) - apply_fn(params, x)))


FNS = LaneFns(init_fn, apply_fn, symmetry_error=sym_fn)
# Three (batch size, steps) shapes -> three groups under lane_groups='shape'.
LANES = [Lane(seed=s, train_idx=np.arange(n), val_idx=np.arange(150, 170), test_idx=np.arange(170, 200),
              batch_size=b, augment=False, meta={"n": n}) for s, (n, b) in enumerate([(40, 8), (60, 4), (100, 16)])]
CONFIG = TrainConfig(loss="mse", max_epochs=3, early_stopping=False, quiet=True,
                     execution=Execution(lane_groups="shape"))


def _compiles_during(run):
    """(result of run(), Counter of (program name, thread is the main thread) per XLA compilation)."""
    seen = collections.Counter()

    def listener(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            seen[(kwargs.get("fun_name"), threading.current_thread() is threading.main_thread())] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        result = run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return result, seen


def test_each_program_is_compiled_once_in_the_pool_before_its_first_call():
    jax.clear_caches()
    ahead, seen = _compiles_during(lambda: sweep(FNS, POOL_X, POOL_Y, LANES,
                                                 CONFIG.tuned(compile_workers=2)))
    # Three groups: three randomness and three epoch programs, and one evaluation, all in the pool's threads.
    assert seen[("jit(_epoch_randomness)", False)] == 3
    assert seen[("jit(_train_epoch)", False)] == 3
    assert seen[("jit(_evaluate)", False)] == 1
    assert not any(main for (name, main) in seen if name in ("jit(_train_epoch)", "jit(_evaluate)",
                                                               "jit(_epoch_randomness)"))
    assert ahead.timings["compile"] > 0

    # Bitwise equality with the programs compiled at their first call: tests/test_task{1,2,3}.py compare
    # the task scripts' results with baselines recorded before precompilation existed.


def test_precompiler_raises_a_job_error_on_wait_and_rejects_bad_worker_counts():
    with Precompiler(2) as pre:
        ok = pre.submit(lambda: 1)
        bad = pre.submit(lambda: 1 / 0)
        pre.wait([ok])
        with pytest.raises(ZeroDivisionError):
            pre.wait([bad])
    assert default_workers() >= 1
    with pytest.raises(ValueError, match="expected workers to be an int >= 0, got -1"):
        Precompiler(-1)
    with pytest.raises(ValueError, match="TrainConfig.execution.compile_workers: expected an int >= 0"):
        sweep(FNS, POOL_X, POOL_Y, LANES, CONFIG.tuned(compile_workers=1.5))


def test_parts_of_one_group_share_one_compiled_program():
    # max_group_lanes=2 cuts 5 lanes of one shape into parts of 2, 2 and 1 lanes: two distinct programs
    # (2 lanes, 1 lane), each compiled once, ahead, whatever the number of parts using it; the same for
    # the evaluation.
    jax.clear_caches()
    lanes = [dataclasses.replace(LANES[0], seed=s) for s in range(5)]
    config = CONFIG.tuned(compile_workers=2, max_group_lanes=2)
    cut, seen = _compiles_during(lambda: sweep(FNS, POOL_X, POOL_Y, lanes, config))
    assert seen[("jit(_train_epoch)", False)] == 2 and seen[("jit(_train_epoch)", True)] == 0
    # The evaluation runs in parts of 2, 2 and 1 lanes too: two programs, compiled ahead.
    assert seen[("jit(_evaluate)", False)] == 2 and seen[("jit(_evaluate)", True)] == 0
    whole = sweep(FNS, POOL_X, POOL_Y, lanes, config.tuned(max_group_lanes=0))
    assert whole.rows[0]["test_loss"] != whole.rows[1]["test_loss"]  # distinct lanes: the comparison can fail
    # The lane alone in its part runs a one-lane program, whose kernels XLA:CPU rounds differently.
    np.testing.assert_allclose([r["test_loss"] for r in cut.rows], [r["test_loss"] for r in whole.rows],
                               rtol=1e-5)
    assert [r["test_loss"] for r in cut.rows[:4]] == [r["test_loss"] for r in whole.rows[:4]]


def test_a_sweep_compiled_ahead_neither_traces_nor_compiles_its_programs(tmp_path):
    """compile_sweep on another thread, then sweep with the same fns: the sweep's epoch, randomness and
    evaluation programs come from JAX's in-memory caches (no trace, no compilation); the results are those
    of a sweep alone."""
    jax.clear_caches()
    config = CONFIG.tuned(compile_workers=2)
    alone = sweep(FNS, POOL_X, POOL_Y, LANES, config)
    jax.clear_caches()
    thread = threading.Thread(target=compile_sweep, args=(FNS, POOL_X, POOL_Y, LANES,
                                                          dataclasses.replace(config, checkpoint_dir=str(tmp_path))))
    thread.start()
    thread.join()
    assert not any(tmp_path.iterdir())  # nothing written: its checkpoint settings are ignored
    events = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/backend_compile_duration")
    seen = collections.Counter()

    def listener(event, seconds, **kwargs):
        if event in events:
            seen[kwargs.get("fun_name")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        after = sweep(FNS, POOL_X, POOL_Y, LANES, config)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    programs = ("_train_epoch", "_epoch_randomness", "_evaluate")
    assert seen and not [name for name in seen if name and name.removeprefix("jit(").rstrip(")") in programs], seen
    assert [r["test_loss"] for r in after.rows] == [r["test_loss"] for r in alone.rows]

"""sweep(): train many lanes of one architecture in one jitted, vmapped program.

Flow of a call:
  1. validate inputs (no compilation yet);
  2. take this process's contiguous slice of the lanes (multi-host), pad the
     lane count to a multiple of the local device count by repeating lane 0,
     and shard every per-lane array over a 1-D 'lanes' mesh of the local devices;
  3. init (or restore from the newest valid checkpoint);
  4. one jitted call per epoch (lax.scan over padded steps inside vmap over
     lanes), with early stopping inside it; progress bar, checkpoints and the
     epoch callback in the Python loop;
  5. evaluate every lane on its test set and build one result row per lane.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from symjax.train import epoch as ep
from symjax.train.checkpoint import CheckpointStore, make_fingerprint
from symjax.train.config import Lane, TrainConfig
from symjax.train.lanes import (build_lane_arrays, lane_key_data, pad_rows, padded_lane_count, process_slice,
                                take_rows)
from symjax.train.validate import validate_config, validate_lanes, validate_pool


def _checkpoint_dir(config: TrainConfig) -> str:
    """config.checkpoint_dir, or its process_<k> subdirectory when several processes run."""
    if jax.process_count() == 1:
        return config.checkpoint_dir
    return f"{config.checkpoint_dir}/process_{jax.process_index()}"


def sweep(
    init_fn: Callable,
    apply_fn: Callable,
    pool_x,
    pool_y,
    lanes: list[Lane],
    config: TrainConfig,
    augment_fn: Callable | None = None,
    symmetry_error_fn: Callable | None = None,
    config_fingerprint: dict | None = None,
    epoch_callback: Callable | None = None,
    return_params: bool = False,
):
    """Trains every lane with Adam and returns one result row per lane, in lane order.

    Args:
      init_fn: key -> params pytree.
      apply_fn: (params, x_batch) -> predictions; x_batch is a pytree of (B, ...) arrays.
      pool_x: pytree of arrays (N, ...), the data all lanes index into.
      pool_y: array (N, ...); float targets for 'mse', integer labels for 'cross_entropy'.
      lanes: the lanes to train (one architecture, any seeds / sizes / batch sizes).
      config: TrainConfig.
      augment_fn: (key, x_example, y_example) -> (x_example, y_example), applied
        to every training example of lanes with augment=True, each with its own key.
      symmetry_error_fn: (params, key, x_batch) -> scalar. Called on single-example
        batches (vmapped), config.sym_samples keys per test example; sym_error is
        the mean over the lane's test examples and keys.
      config_fingerprint: JSON-able dict describing the run (e.g. flags); part of
        the checkpoint compatibility check.
      epoch_callback: called after every epoch (and after its checkpoint) as
        epoch_callback(epoch, summary) with epoch = epochs done (1-based) and
        summary = {'val_loss', 'best_val', 'active', 'diverged'} (numpy (L,)
        arrays over this process's lanes) and 'devices' (devices the lanes are
        sharded over).
      return_params: also return the evaluated params of every lane.

    Returns:
      rows: one dict per lane of this process (all lanes with one process):
      **lane.meta, seed, train_size, test_loss, test_acc (None for mse),
      sym_error (None without symmetry_error_fn), params (scalars in one lane's
      params), epochs (epochs trained), best_epoch (epoch of the evaluated params'
      validation loss; 0 = initial params), diverged, wall_s (wall time of
      this call). Evaluated params: best by validation loss when
      config.early_stopping or the lane diverged, else the final params.
      With return_params=True: (rows, params), params a pytree of numpy arrays
      (L, ...) over this process's lanes, in lane order.
    """
    start_time = time.perf_counter()
    validate_config(config)
    pool_size = validate_pool(pool_x, pool_y, config.loss)
    lanes = list(lanes)
    validate_lanes(lanes, pool_size, augment_fn is not None)

    local = lanes[process_slice(len(lanes), jax.process_count(), jax.process_index())]
    if not local:
        return ([], None) if return_params else []
    devices = jax.local_devices()
    mesh = Mesh(np.array(devices), ("lanes",))
    by_lane = NamedSharding(mesh, PartitionSpec("lanes"))
    replicated = NamedSharding(mesh, PartitionSpec())
    n_real = len(local)
    n_lanes = padded_lane_count(n_real, len(devices))

    host_lanes = build_lane_arrays(local)
    lane_arrays = jax.device_put(pad_rows(host_lanes, n_lanes), by_lane)
    fingerprint = None
    if config.checkpoint_dir is not None:
        fingerprint = make_fingerprint(local, config, pool_x, pool_y, augment_fn is not None, config_fingerprint)
    pool_x, pool_y = jax.device_put((pool_x, pool_y), replicated)
    train_prog = ep.TrainProgram(
        init_fn=init_fn,
        apply_fn=apply_fn,
        augment_fn=augment_fn,
        loss=config.loss,
        batch=int(host_lanes.batch_size.max()),
        steps=int(host_lanes.n_steps.max()),
        eval_batch_size=int(config.eval_batch_size),
    )
    hyper = jax.device_put(ep.Hyper(learning_rate=np.float32(config.learning_rate),
                                    patience=np.int32(config.patience),
                                    early_stopping=np.bool_(config.early_stopping)), replicated)
    key_data = jax.device_put(pad_rows(lane_key_data([l.seed for l in local]), n_lanes), by_lane)
    state = jax.device_put(ep.init_state(key_data, hyper, train_prog), by_lane)

    start_epoch = 0
    store = None
    if fingerprint is not None:
        store = CheckpointStore(_checkpoint_dir(config), fingerprint, config.keep_checkpoints)
        if config.resume:
            restored = store.restore_latest(take_rows(state, n_real))
            if restored is not None:
                start_epoch, host_state = restored
                state = jax.device_put(pad_rows(host_state, n_lanes), by_lane)
        else:
            store.clear()

    with tqdm(total=config.max_epochs, initial=start_epoch, desc="sweep", unit="epoch",
              disable=config.quiet or not sys.stdout.isatty()) as bar:
        stopped = np.asarray(state.stopped)[:n_real]
        for epoch in range(start_epoch, config.max_epochs):
            if stopped.all():
                break
            state, val_loss = ep.run_epoch(state, lane_arrays, pool_x, pool_y, np.int32(epoch), hyper, train_prog)
            stopped = np.asarray(state.stopped)[:n_real]
            done = epoch + 1
            if store is not None and done % config.checkpoint_every == 0:
                store.save(done, take_rows(state, n_real))
            best_val = np.asarray(state.best_val)[:n_real]
            bar.update(1)
            bar.set_postfix(active=int((~stopped).sum()), best_val=f"{best_val.min():.4g}")
            if epoch_callback is not None:
                epoch_callback(done, {
                    "val_loss": np.asarray(val_loss)[:n_real],
                    "best_val": best_val,
                    "active": ~stopped,
                    "diverged": np.asarray(state.diverged)[:n_real],
                    "devices": len(state.stopped.sharding.device_set),
                })

    eval_prog = ep.EvalProgram(
        apply_fn=apply_fn,
        symmetry_error_fn=symmetry_error_fn,
        loss=config.loss,
        eval_batch_size=int(config.eval_batch_size),
        sym_samples=int(config.sym_samples),
    )
    use_best = jax.device_put(np.asarray(state.diverged) | config.early_stopping, by_lane)
    metrics = ep.evaluate(state, use_best, lane_arrays, pool_x, pool_y, eval_prog)
    test_loss, test_acc, sym_error = (np.asarray(m)[:n_real] for m in metrics)
    host = take_rows(state, n_real)
    n_params = sum(int(np.prod(a.shape[1:])) for a in jax.tree.leaves(host.params))
    best_epoch = np.where(np.asarray(use_best)[:n_real], host.best_epoch, host.epochs)
    wall_s = time.perf_counter() - start_time

    rows = []
    for i, lane in enumerate(local):
        row = dict(lane.meta)
        row.update(
            seed=int(lane.seed),
            train_size=int(host_lanes.n_train[i]),
            test_loss=float(test_loss[i]),
            test_acc=float(test_acc[i]) if config.loss == "cross_entropy" else None,
            sym_error=float(sym_error[i]) if symmetry_error_fn is not None else None,
            params=n_params,
            epochs=int(host.epochs[i]),
            best_epoch=int(best_epoch[i]),
            diverged=bool(host.diverged[i]),
            wall_s=wall_s,
        )
        rows.append(row)
    if not return_params:
        return rows
    chosen = np.asarray(use_best)[:n_real]
    params = jax.tree.map(lambda best, final: np.where(chosen.reshape((-1,) + (1,) * (best.ndim - 1)), best, final),
                          host.best_params, host.params)
    return rows, params

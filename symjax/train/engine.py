"""sweep(): train many lanes of one architecture in jitted, vmapped programs.

Flow of a call:
  1. validate inputs (no compilation yet);
  2. take this process's contiguous slice of the lanes (multi-host);
  3. init all lanes (or restore them from the newest valid checkpoint);
  4. split the lanes into groups (config.lane_groups: one group per distinct
     batch size and step count, or one group of all lanes); pad each group's
     lane count to a multiple of the local device count by repeating its first
     lane, and shard its per-lane arrays over a 1-D 'lanes' mesh of the local
     devices;
  5. per epoch, one jitted call per group that still has an active lane
     (lax.scan over the group's padded steps inside vmap over its lanes), with
     early stopping inside it; progress bar, checkpoints (all lanes, in lane
     order) and the epoch callback in the Python loop;
  6. evaluate every lane on its test set and build one result row per lane.
"""

from __future__ import annotations

import dataclasses
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
from symjax.train.lanes import LaneArrays
from symjax.train.lanes import (build_lane_arrays, group_lanes, lane_key_data, merge_lanes, pad_rows,
                                padded_lane_count, process_slice, take_lanes, take_rows)
from symjax.train.validate import validate_config, validate_lanes, validate_pool


@dataclasses.dataclass
class _Group:
    """Lanes trained by one jitted epoch program, padded to their own largest batch and step count.

    members: positions of the group's lanes among this process's lanes.
    lanes, state: the group's LaneArrays and TrainState on the devices, the lane
      axis padded to a multiple of the device count (rows past len(members) repeat row 0).
    prog: the static TrainProgram of the group's shapes.
    """

    members: np.ndarray
    lanes: LaneArrays
    state: ep.TrainState
    prog: ep.TrainProgram

    @classmethod
    def start(cls, members, local: list[Lane], host_state: ep.TrainState, by_lane, n_devices: int,
              program_fields: dict) -> "_Group":
        host_lanes = build_lane_arrays([local[i] for i in members])
        n_rows = padded_lane_count(len(members), n_devices)
        prog = ep.TrainProgram(batch=int(host_lanes.batch_size.max()), steps=int(host_lanes.n_steps.max()),
                               **program_fields)
        return cls(members=members,
                   lanes=jax.device_put(pad_rows(host_lanes, n_rows), by_lane),
                   state=jax.device_put(pad_rows(take_lanes(host_state, members), n_rows), by_lane),
                   prog=prog)

    def run_epoch(self, pool_x, pool_y, epoch: int, hyper: ep.Hyper):
        """Trains the group one epoch (0-based index `epoch`); returns its validation losses (device, padded)."""
        self.state, val_loss = ep.run_epoch(self.state, self.lanes, pool_x, pool_y, np.int32(epoch), hyper,
                                            self.prog)
        return val_loss


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
        arrays over this process's lanes; val_loss is the latest validation
        loss, held from the last epoch its group ran, NaN before any) and
        'devices' (devices the lanes are sharded over).
      return_params: also return the evaluated params of every lane.

    Returns:
      rows: one dict per lane of this process (all lanes with one process):
      **lane.meta, seed, train_size, test_loss, test_acc (None for mse),
      sym_error (None without symmetry_error_fn), params (scalars in one lane's
      params), epochs (epochs trained), best_epoch (epoch of the evaluated params'
      validation loss; 0 = initial params), diverged, wall_s (wall time of
      the sweep: this call plus, when it resumed, the time the checkpoint
      records for the earlier calls up to its save; epochs trained after that
      checkpoint and lost to an interruption are not counted). Evaluated params: best by validation loss when
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
    fingerprint = None
    if config.checkpoint_dir is not None:
        fingerprint = make_fingerprint(local, config, pool_x, pool_y, augment_fn is not None, config_fingerprint)
    pool_x, pool_y = jax.device_put((pool_x, pool_y), replicated)
    hyper = jax.device_put(ep.Hyper(learning_rate=np.float32(config.learning_rate),
                                    patience=np.int32(config.patience),
                                    early_stopping=np.bool_(config.early_stopping)), replicated)
    key_data = jax.device_put(pad_rows(lane_key_data([l.seed for l in local]), n_lanes), by_lane)
    host_state = take_rows(ep.init_state(key_data, hyper, init_fn), n_real)

    start_epoch = 0
    earlier_wall_s = 0.0  # wall time of earlier calls, restored from the checkpoint resumed from
    store = None
    if fingerprint is not None:
        store = CheckpointStore(_checkpoint_dir(config), fingerprint, config.keep_checkpoints)
        if config.resume:
            restored = store.restore_latest(host_state)
            if restored is not None:
                start_epoch, host_state, earlier_wall_s = restored
        else:
            store.clear()

    groups = [
        _Group.start(members, local, host_state, by_lane, len(devices),
                     dict(init_fn=init_fn, apply_fn=apply_fn, augment_fn=augment_fn, loss=config.loss,
                          eval_batch_size=int(config.eval_batch_size)))
        for members in group_lanes(host_lanes, config.lane_groups)
    ]
    members = [g.members for g in groups]
    stopped = np.asarray(host_state.stopped).copy()
    val_loss = np.full(n_real, np.nan, np.asarray(host_state.best_val).dtype)
    with tqdm(total=config.max_epochs, initial=start_epoch, desc="sweep", unit="epoch",
              disable=config.quiet or not sys.stdout.isatty()) as bar:
        for epoch in range(start_epoch, config.max_epochs):
            if stopped.all():
                break
            # A group whose lanes have all stopped would leave its state unchanged: skip it.
            running = [g for g in groups if not stopped[g.members].all()]
            group_val = [g.run_epoch(pool_x, pool_y, epoch, hyper) for g in running]
            for g, v in zip(running, group_val):
                val_loss[g.members] = np.asarray(v)[: len(g.members)]
                stopped[g.members] = np.asarray(g.state.stopped)[: len(g.members)]
            done = epoch + 1
            if store is not None and done % config.checkpoint_every == 0:
                store.save(done, merge_lanes([g.state for g in groups], members),
                           wall_s=earlier_wall_s + time.perf_counter() - start_time)
            best_val = merge_lanes([g.state.best_val for g in groups], members)
            bar.update(1)
            bar.set_postfix(active=int((~stopped).sum()), best_val=f"{best_val.min():.4g}")
            if epoch_callback is not None:
                epoch_callback(done, {
                    "val_loss": val_loss.copy(),
                    "best_val": best_val,
                    "active": ~stopped,
                    "diverged": merge_lanes([g.state.diverged for g in groups], members),
                    "devices": len(groups[0].state.stopped.sharding.device_set),
                })
    host = merge_lanes([g.state for g in groups], members)  # final state of every lane, in lane order

    eval_prog = ep.EvalProgram(
        apply_fn=apply_fn,
        symmetry_error_fn=symmetry_error_fn,
        loss=config.loss,
        eval_batch_size=int(config.eval_batch_size),
        sym_samples=int(config.sym_samples),
    )
    chosen = np.asarray(host.diverged) | config.early_stopping
    metrics = ep.evaluate(jax.device_put(pad_rows(host, n_lanes), by_lane),
                          jax.device_put(pad_rows(chosen, n_lanes), by_lane),
                          jax.device_put(pad_rows(host_lanes, n_lanes), by_lane), pool_x, pool_y, eval_prog)
    test_loss, test_acc, sym_error = (np.asarray(m)[:n_real] for m in metrics)
    n_params = sum(int(np.prod(a.shape[1:])) for a in jax.tree.leaves(host.params))
    best_epoch = np.where(chosen, host.best_epoch, host.epochs)
    wall_s = earlier_wall_s + time.perf_counter() - start_time

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
    params = jax.tree.map(lambda best, final: np.where(chosen.reshape((-1,) + (1,) * (best.ndim - 1)), best, final),
                          host.best_params, host.params)
    return rows, params

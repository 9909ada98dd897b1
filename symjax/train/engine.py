"""sweep(): train many lanes of one architecture in jitted, vmapped programs.

Flow of a call, one named step each:
  1. validate inputs (no compilation yet) and take this process's contiguous
     slice of the lanes (multi-host);
  2. `_init_or_restore`: init all lanes (or restore them from the newest valid checkpoint);
  3. split the lanes into groups (Execution.lane_groups: buckets of shapes
     from a cost model, one group per distinct batch size and step count, or one
     group of all lanes; a group without augmenting lanes compiles no augmentation); place the
     groups (Execution.lane_placement): each group whole on one of the local devices
     ('groups', the default on CPU devices: groups on different devices train at the same
     time), or each group's lane count padded to a multiple of the local device count by
     repeating its first lane and its per-lane arrays sharded over a 1-D 'lanes' mesh of
     the local devices ('shard', the default on accelerators);
  4. `_precompile`: compile every program of the sweep, several at once in
     threads (the evaluation's while the first epochs run); then `_train`: per
     epoch, one jitted call per group that still has an active lane (lax.scan
     over the group's padded steps inside vmap over its lanes), with early
     stopping inside it; a group with at most half its lanes still active
     shrinks to those (`_compact`, Execution.compact_stopped); progress bar,
     checkpoints (all lanes, in lane order) and the epoch callback in the Python loop;
  5. `_evaluate`: every lane on its test set;
  6. `_build_rows`: one result row per lane.

`compile_sweep` runs steps 1-4 up to the compilation and returns: called on a thread
for the next sweep while one trains (the task driver's --compile_ahead), it leaves
that sweep's programs in JAX's caches.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from typing import Any, Callable, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from symjax.train import buckets, execution
from symjax.train import epoch as ep
from symjax.train.checkpoint import CheckpointStore, make_fingerprint
from symjax.train.config import Lane, TrainConfig
from symjax.train.precompile import Precompiler
from symjax.train.lanes import (LaneArrays, build_lane_arrays, group_lanes, lane_key_data, merge_lanes, pad_rows,
                                padded_lane_count, process_slice, split_groups, take_lanes, take_rows)
from symjax.train.validate import validate_config, validate_lanes, validate_pool, validate_predictions


@dataclasses.dataclass
class _Group:
    """Lanes trained by one jitted epoch program, padded to their own largest batch and step count.

    members: positions of the group's lanes among this process's lanes.
    lanes, state: the group's LaneArrays and TrainState on its devices, the lane
      axis padded to a multiple of their count (rows past len(members) repeat row 0).
    prog: the static TrainProgram of the group's shapes.
    devices: where the group's program runs (Execution.lane_placement).
    data: (pool_x, pool_y, hyper) on those devices.
    """

    members: np.ndarray
    lanes: LaneArrays
    state: ep.TrainState
    prog: ep.TrainProgram
    devices: "_Devices"
    data: tuple
    flops: float | None = None  # of one epoch of the program, all rows (XLA's count; set by _precompile)

    @classmethod
    def start(cls, members, local: list[Lane], learning_rate: float, host_state: ep.TrainState,
              devices: "_Devices", data: tuple, program_fields: dict) -> "_Group":
        # Index arrays padded to this group's own lengths (not all lanes'), so its shapes are its own.
        host_lanes = build_lane_arrays([local[i] for i in members], learning_rate)
        n_rows = padded_lane_count(len(members), devices.count)
        if not host_lanes.augment.any():  # a program without augmenting lanes compiles no augmentation
            program_fields = dict(program_fields, augment_fn=None)
        prog = ep.TrainProgram(batch=int(host_lanes.batch_size.max()), steps=int(host_lanes.n_steps.max()),
                               **program_fields)
        return cls(members=members,
                   lanes=jax.device_put(pad_rows(host_lanes, n_rows), devices.by_lane),
                   state=jax.device_put(pad_rows(take_lanes(host_state, members), n_rows), devices.by_lane),
                   prog=prog, devices=devices, data=data)

    def rows(self) -> int:
        """Lanes the group's program computes (len(members) padded to a multiple of the device count)."""
        return int(self.state.stopped.shape[0])

    def split(self, keep: np.ndarray) -> tuple["_Group", "_Retired"]:
        """(the group over its lanes `keep` (positions into members) only, the other lanes' state on the host).

        The smaller group keeps the program's batch and step count and its devices: only its lane axis shrinks.
        """
        drop = np.setdiff1d(np.arange(len(self.members)), keep)
        n_rows = execution.compacted_rows(len(keep), self.devices.count)
        lanes, state = jax.device_put(pad_rows(take_lanes((self.lanes, self.state), keep), n_rows),
                                      self.devices.by_lane)
        flops = None if self.flops is None else self.flops * n_rows / self.rows()
        return (dataclasses.replace(self, members=self.members[keep], lanes=lanes, state=state, flops=flops),
                _Retired(members=self.members[drop], state=take_lanes(self.state, drop)))

    def run_epoch(self, epoch: int):
        """Trains the group one epoch (0-based index `epoch`); returns its validation losses (device, padded)."""
        pool_x, pool_y, hyper = self.data
        self.state, val_loss = ep.run_epoch(self.state, self.lanes, pool_x, pool_y, np.int32(epoch), hyper,
                                            self.prog)
        return val_loss


@dataclasses.dataclass
class _Retired:
    """Lanes taken out of their group's program after they stopped: their final state, numpy (len(members), ...)."""

    members: np.ndarray
    state: ep.TrainState


def _compact(groups: list[_Group], retired: list[_Retired], stopped: np.ndarray, epoch: int,
             config: TrainConfig) -> list[_Group]:
    """Groups whose program computes at least twice the rows their active lanes need are replaced by a
    group of their active lanes (Execution.compact_stopped), where `execution.compaction_pays` over the
    epochs the active lanes are forecast to still run (`execution.compaction_horizon`). The stopped lanes go
    to `retired`. Depends only on the epoch, the lanes' stopping epochs and the programs, so a resumed run can
    replay it."""
    if not config.execution.compact_stopped:
        return groups
    horizon = execution.compaction_horizon(epoch, config.max_epochs, config.patience, config.early_stopping)
    out = []
    for g in groups:
        keep = np.flatnonzero(~stopped[g.members])
        n_rows = execution.compacted_rows(len(keep), g.devices.count)
        if 0 < len(keep) and 2 * n_rows <= g.rows() and execution.compaction_pays(g, n_rows, horizon,
                                                                                  config.execution):
            g, gone = g.split(keep)
            retired.append(gone)
        out.append(g)
    return out


class LaneFns(NamedTuple):
    """The per-lane functions of one architecture; every lane of a sweep uses the same ones.

    init: key -> params pytree.
    apply: (params, x_batch) -> predictions; x_batch is a pytree of (B, ...) arrays.
    augment: (key, x_example, y_example) -> (x_example, y_example), applied to every
      training example of lanes with augment=True, each with its own key.
    symmetry_error: (params, key, x_batch) -> scalar. Called on single-example
      batches (vmapped), config.sym_samples keys per test example; a row's
      sym_error is the mean over the lane's test examples and keys.
    penalty: (params, hyper) -> scalar added to every training batch's loss,
      hyper = the lane's Lane.hyper as a dict of traced float32 scalars
      (e.g. lam * soft-sharing penalty). Validation and test losses are the task loss alone.
    """

    init: Callable
    apply: Callable
    augment: Callable | None = None
    symmetry_error: Callable | None = None
    penalty: Callable | None = None


class SweepResult(NamedTuple):
    """What `sweep` returns.

    rows: one dict per lane of this process (all lanes with one process), in lane order:
      **lane.meta, seed, train_size, test_loss, test_acc (None for mse),
      sym_error (None without fns.symmetry_error), params (scalars in one lane's
      params), epochs (epochs trained), best_epoch (epoch of the evaluated params'
      validation loss; 0 = initial params), diverged, wall_s (wall time of the
      sweep: this call plus, when it resumed, the time the checkpoint records
      for the earlier calls up to its save; epochs trained after that
      checkpoint and lost to an interruption are not counted).
    params: the evaluated params of every lane (best by validation loss when
      config.early_stopping or the lane diverged, else the final params): a
      pytree of numpy arrays (L, ...) in lane order; None when this process has no lane.
    timings: seconds spent by this call in 'init' (validation, init or restore,
      transfers), 'compile' (the epoch programs, compiled several at once;
      symjax.train.precompile), 'first_epoch' (the first epoch trained; 0 when
      no epoch was left), 'train' (all epochs, checkpoints and callbacks),
      'evaluate' (test metrics, with any part of the evaluation program's
      compilation that training did not hide) and 'total'.
    """

    rows: list[dict]
    params: Any
    timings: dict


def _checkpoint_dir(config: TrainConfig) -> str:
    """config.checkpoint_dir, or its process_<k> subdirectory when several processes run."""
    if jax.process_count() == 1:
        return config.checkpoint_dir
    return f"{config.checkpoint_dir}/process_{jax.process_index()}"


def _validate_fns(fns) -> None:
    if not isinstance(fns, LaneFns):
        raise ValueError(f"sweep: expected a LaneFns as the first argument, got {type(fns).__name__}")
    for name in ("init", "apply"):
        if not callable(getattr(fns, name)):
            raise ValueError(f"LaneFns.{name}: expected a callable, got {type(getattr(fns, name)).__name__}")
    for name in ("augment", "symmetry_error", "penalty"):
        value = getattr(fns, name)
        if value is not None and not callable(value):
            raise ValueError(f"LaneFns.{name}: expected a callable or None, got {type(value).__name__}")


class _Devices(NamedTuple):
    """Devices a program's lanes run on: `by_lane` shards the lane axis over them, `replicated` copies to each."""

    count: int
    by_lane: NamedSharding
    replicated: NamedSharding


def _device_set(devices: list) -> _Devices:
    mesh = Mesh(np.array(devices), ("lanes",))
    return _Devices(len(devices), NamedSharding(mesh, PartitionSpec("lanes")), NamedSharding(mesh, PartitionSpec()))


def _place_groups(parts: list[np.ndarray], host_lanes: LaneArrays, placement: str, home: _Devices, data: tuple,
                  local_devices: list) -> list[tuple[_Devices, tuple]]:
    """(devices, (pool_x, pool_y, hyper) on them) for each group's lanes `parts` (Execution.lane_placement):
    with 'shard', every group on the devices of `home` with its `data`; with 'groups', each group whole on one
    device, chosen by ``execution.place_groups`` from the group's padded work per epoch (lanes x largest batch x
    largest step count), the data copied once to each device that receives a group."""
    if placement == "shard":
        return [(home, data)] * len(parts)
    work = [len(m) * int(host_lanes.batch_size[m].max()) * int(host_lanes.n_steps[m].max()) for m in parts]
    on_device: dict[int, tuple[_Devices, tuple]] = {}
    out = []
    for index in execution.place_groups(work, len(local_devices)):
        if index not in on_device:
            devices = home if index == 0 else _device_set([local_devices[index]])
            on_device[index] = (devices, data if index == 0 else jax.device_put(data, devices.replicated))
        out.append(on_device[index])
    return out


def _init_or_restore(fns: LaneFns, local: list[Lane], host_lanes: LaneArrays, config: TrainConfig,
                     fingerprint: dict | None, devices: _Devices):
    """Fresh state of every local lane, or the newest valid checkpoint's when config.resume.

    Returns (start_epoch, host_state, earlier_wall_s, store): the epochs already
    trained, the state as numpy arrays (L, ...), the wall time the checkpoint
    records for earlier calls, and the CheckpointStore (None without checkpoints).
    A fresh run (resume=False) removes the directory's old checkpoints.
    """
    n_lanes = padded_lane_count(len(local), devices.count)
    key_data = jax.device_put(pad_rows(lane_key_data([l.seed for l in local]), n_lanes), devices.by_lane)
    learning_rate = jax.device_put(pad_rows(host_lanes.learning_rate, n_lanes), devices.by_lane)
    host_state = take_rows(ep.init_state(key_data, learning_rate, fns.init), len(local))
    if fingerprint is None:
        return 0, host_state, 0.0, None
    store = CheckpointStore(_checkpoint_dir(config), fingerprint, config.keep_checkpoints)
    if not config.resume:
        store.clear()
        return 0, host_state, 0.0, store
    restored = store.restore_latest(host_state)
    if restored is None:
        return 0, host_state, 0.0, store
    start_epoch, host_state, earlier_wall_s = restored
    return start_epoch, host_state, earlier_wall_s, store


def _train(groups: list[_Group], start_epoch: int, config: TrainConfig, store, wall_so_far: Callable[[], float],
           epoch_callback: Callable | None, n_local: int):
    """Runs the epochs from start_epoch to config.max_epochs (or until every lane stopped).

    Between epochs, groups with few active lanes left shrink to those (`_compact`; in place in `groups`,
    so that the caller holds no copy of the larger states).
    Returns (final state of every lane as numpy arrays in lane order, seconds of the first epoch run).
    """
    retired: list[_Retired] = []

    def merged(field: Callable):
        parts = groups + retired
        return merge_lanes([field(p.state) for p in parts], [p.members for p in parts])

    stopped = merged(lambda s: s.stopped).copy()
    if start_epoch > 0:  # a resumed run: shrink the groups as the run that saved the checkpoint did
        epochs = merged(lambda s: s.epochs)
        for epoch in range(start_epoch):
            groups[:] = _compact(groups, retired, stopped & (epochs <= epoch), epoch, config)
    val_loss = np.full(n_local, np.nan, np.asarray(groups[0].state.best_val).dtype)
    first_epoch_s = 0.0
    last_save = time.perf_counter()
    from tqdm.auto import tqdm  # noqa: PLC0415  (imported on use: the library core loads without tqdm)

    with tqdm(total=config.max_epochs, initial=start_epoch, desc="sweep", unit="epoch",
              disable=config.quiet or not sys.stdout.isatty()) as bar:
        for epoch in range(start_epoch, config.max_epochs):
            if stopped.all():
                break
            groups[:] = _compact(groups, retired, stopped, epoch, config)
            epoch_start = time.perf_counter()
            # A group whose lanes have all stopped would leave its state unchanged: skip it.
            running = [g for g in groups if not stopped[g.members].all()]
            group_val = [g.run_epoch(epoch) for g in running]  # asynchronous: groups on other devices overlap
            for g, v in zip(running, group_val):
                val_loss[g.members] = np.asarray(v)[: len(g.members)]
                stopped[g.members] = np.asarray(g.state.stopped)[: len(g.members)]
            if epoch == start_epoch:
                first_epoch_s = time.perf_counter() - epoch_start
            done = epoch + 1
            if store is not None and _checkpoint_due(config, done, time.perf_counter() - last_save):
                store.save(done, merged(lambda s: s), wall_s=wall_so_far())
                last_save = time.perf_counter()
            best_val = merged(lambda s: s.best_val)
            bar.update(1)
            bar.set_postfix(active=int((~stopped).sum()), best_val=f"{best_val.min():.4g}")
            if epoch_callback is not None:
                epoch_callback(done, {
                    "val_loss": val_loss.copy(),
                    "best_val": best_val,
                    "active": ~stopped,
                    "diverged": merged(lambda s: s.diverged),
                    "devices": len(set().union(*(g.state.stopped.sharding.device_set for g in groups))),
                })
    return merged(lambda s: s), first_epoch_s


def _checkpoint_due(config: TrainConfig, epochs_done: int, seconds_since_save: float) -> bool:
    """Whether to save after `epochs_done` epochs: every config.checkpoint_every epochs, or, for 0, once
    config.checkpoint_seconds have passed since the previous save."""
    if config.checkpoint_every > 0:
        return epochs_done % config.checkpoint_every == 0
    return seconds_since_save >= config.checkpoint_seconds


def _evaluation_program(fns: LaneFns, config: TrainConfig, optimize: bool) -> ep.EvalProgram:
    return ep.EvalProgram(
        apply_fn=fns.apply,
        symmetry_error_fn=fns.symmetry_error,
        loss=config.loss,
        eval_batch_size=int(config.execution.eval_batch_size),
        sym_samples=int(config.sym_samples),
        fusion_emitters=config.execution.cpu_fusion_emitters,
        optimize=optimize,
    )


def _evaluate(prog: ep.EvalProgram, host: ep.TrainState, chosen: np.ndarray, host_lanes: LaneArrays, pool_x,
              pool_y, config: TrainConfig, devices: _Devices):
    """(test_loss, test_acc, sym_error) numpy (L,) of every lane, with its best params where `chosen`; the
    lanes in consecutive parts of at most Execution.max_group_lanes, one program call each (memory)."""
    parts = []
    for members in _evaluation_parts(len(chosen), config):
        n_lanes = padded_lane_count(len(members), devices.count)
        per_lane = jax.device_put((pad_rows(take_lanes(host, members), n_lanes), pad_rows(chosen[members], n_lanes),
                                   pad_rows(take_lanes(host_lanes, members), n_lanes)), devices.by_lane)
        metrics = ep.evaluate(*per_lane, pool_x, pool_y, prog)
        parts.append([np.asarray(m)[:len(members)] for m in metrics])
        del per_lane
    return tuple(np.concatenate(column) for column in zip(*parts))


def _evaluation_parts(n_lanes: int, config: TrainConfig) -> list[np.ndarray]:
    """Lane positions of each evaluation call: consecutive, at most Execution.max_group_lanes (0: all at once)."""
    return split_groups([np.arange(n_lanes)], config.execution.max_group_lanes)


def _precompile(pre: Precompiler, groups: list[_Group], start_epoch: int, eval_prog: ep.EvalProgram,
                host_state: ep.TrainState, host_lanes: LaneArrays, pool_x, pool_y, config: TrainConfig,
                devices: _Devices):
    """Submits the compilation of every program the sweep will run: each group's epoch programs
    (if an epoch is left to train) and the evaluation (for arrays shaped as the final state).

    Returns (futures of the epoch programs, futures of the evaluation programs).
    """
    epoch_jobs, by_signature = [], {}
    for g in groups if start_epoch < config.max_epochs else []:
        leaves, tree = jax.tree.flatten((g.state, g.lanes))
        signature = (g.prog, tree, tuple((a.shape, a.dtype) for a in leaves), g.devices.by_lane)
        if signature not in by_signature:  # parts of one group cut by max_group_lanes share their program
            group_x, group_y, hyper = g.data
            by_signature[signature] = pre.submit(functools.partial(
                ep.compile_epoch, g.state, g.lanes, group_x, group_y, np.int32(start_epoch), hyper, g.prog))
        epoch_jobs.append(by_signature[signature])
    # The evaluation's per-lane inputs as shapes only (no second copy of the state on the devices), one
    # program per distinct part size.
    eval_jobs = []
    for size in sorted({len(members) for members in _evaluation_parts(len(host_lanes.n_train), config)}):
        n_lanes = padded_lane_count(size, devices.count)
        per_lane = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct((n_lanes,) + a.shape[1:], a.dtype, sharding=devices.by_lane),
            (host_state, np.zeros(len(host_lanes.n_train), bool), host_lanes))
        eval_jobs.append(pre.submit(functools.partial(ep.compile_evaluate, *per_lane, pool_x, pool_y,
                                                      eval_prog)))
    return epoch_jobs, eval_jobs


def _build_rows(local: list[Lane], host_lanes: LaneArrays, host: ep.TrainState, chosen: np.ndarray, metrics,
                fns: LaneFns, config: TrainConfig, wall_s: float) -> list[dict]:
    """One result row per lane (see SweepResult.rows)."""
    test_loss, test_acc, sym_error = metrics
    n_params = sum(int(np.prod(a.shape[1:])) for a in jax.tree.leaves(host.params))
    best_epoch = np.where(chosen, host.best_epoch, host.epochs)
    rows = []
    for i, lane in enumerate(local):
        row = dict(lane.meta)
        row.update(
            seed=int(lane.seed),
            train_size=int(host_lanes.n_train[i]),
            test_loss=float(test_loss[i]),
            test_acc=float(test_acc[i]) if config.loss == "cross_entropy" else None,
            sym_error=float(sym_error[i]) if fns.symmetry_error is not None else None,
            params=n_params,
            epochs=int(host.epochs[i]),
            best_epoch=int(best_epoch[i]),
            diverged=bool(host.diverged[i]),
            wall_s=wall_s,
        )
        rows.append(row)
    return rows


def compile_sweep(fns: LaneFns, pool_x, pool_y, lanes: list[Lane], config: TrainConfig) -> None:
    """Compiles the programs that ``sweep`` with these arguments runs from a fresh start, without training.

    The lanes are initialised (on the devices, freed on return) and planned as ``sweep`` would; each lane
    group's epoch programs and the evaluation are compiled. A later ``sweep`` with the same ``fns`` objects
    and equal arrays finds them in JAX's in-memory caches (no tracing, lowering or compilation), any other
    process in the persistent compilation cache when one is set. Nothing is written but that cache; the
    checkpoint settings of ``config`` are ignored. The task driver calls it on a thread for the next sweep
    while one trains, so that compilation overlaps training.
    """
    _sweep(fns, pool_x, pool_y, lanes, dataclasses.replace(config, checkpoint_dir=None, resume=False, quiet=True),
           None, None, compile_only=True)


def sweep(fns: LaneFns, pool_x, pool_y, lanes: list[Lane], config: TrainConfig, *,
          config_fingerprint: dict | None = None, epoch_callback: Callable | None = None) -> SweepResult:
    """Trains every lane with Adam on its task loss (+ fns.penalty) and returns a SweepResult.

    Args:
      fns: LaneFns of the architecture (init, apply, and optionally augment,
        symmetry_error, penalty).
      pool_x: pytree of arrays (N, ...), the data all lanes index into.
      pool_y: array (N, ...); float targets for 'mse' and 'l1', integer labels for 'cross_entropy'.
      lanes: the lanes to train (one architecture, any seeds / sizes / batch
        sizes / learning rates / penalty hyperparameters).
      config: TrainConfig.
      config_fingerprint: JSON-able dict describing the run (e.g. flags); part of
        the checkpoint compatibility check.
      epoch_callback: called after every epoch (and after its checkpoint) as
        epoch_callback(epoch, summary) with epoch = epochs done (1-based) and
        summary = {'val_loss', 'best_val', 'active', 'diverged'} (numpy (L,)
        arrays over this process's lanes; val_loss is the latest validation
        loss, held from the last epoch its group ran, NaN before any) and
        'devices' (devices the lanes are sharded over).

    Returns:
      SweepResult(rows, params, timings).
    """
    return _sweep(fns, pool_x, pool_y, lanes, config, config_fingerprint, epoch_callback, compile_only=False)


def _sweep(fns: LaneFns, pool_x, pool_y, lanes: list[Lane], config: TrainConfig, config_fingerprint: dict | None,
           epoch_callback: Callable | None, *, compile_only: bool) -> SweepResult | None:
    """sweep(); with compile_only, returns None once every program is compiled (compile_sweep)."""
    start_time = time.perf_counter()
    _validate_fns(fns)
    validate_config(config)
    pool_size = validate_pool(pool_x, pool_y, config.loss)
    validate_predictions(fns.init, fns.apply, pool_x, pool_y, config.loss)
    lanes = list(lanes)
    validate_lanes(lanes, pool_size, fns.augment is not None)

    local = lanes[process_slice(len(lanes), jax.process_count(), jax.process_index())]
    if not local:
        return SweepResult([], None, {})
    local_devices = jax.local_devices()
    placement = execution.resolve_placement(config.execution.lane_placement, local_devices)
    devices = _device_set(local_devices if placement == "shard" else local_devices[:1])  # init and evaluation
    host_lanes = build_lane_arrays(local, config.learning_rate)
    fingerprint = None
    if config.checkpoint_dir is not None:
        fingerprint = make_fingerprint(local, config, pool_x, pool_y, fns.augment is not None, config_fingerprint)
    pool_x, pool_y = jax.device_put((pool_x, pool_y), devices.replicated)
    hyper = jax.device_put(ep.Hyper(patience=np.int32(config.patience),
                                    early_stopping=np.bool_(config.early_stopping)), devices.replicated)
    start_epoch, host_state, earlier_wall_s, store = _init_or_restore(fns, local, host_lanes, config, fingerprint,
                                                                      devices)
    program_fields = dict(init_fn=fns.init, apply_fn=fns.apply, augment_fn=fns.augment, penalty_fn=fns.penalty,
                          loss=config.loss, eval_batch_size=int(config.execution.eval_batch_size),
                          augment_per=config.augment_per, fusion_emitters=config.execution.cpu_fusion_emitters)
    flops = execution.example_flops(fns.init, fns.apply, config.loss, pool_x, pool_y)
    planned = group_lanes(host_lanes, config.execution.lane_groups, config.max_epochs - start_epoch, flops)
    eval_prog = _evaluation_program(fns, config, execution.evaluation_needs_optimizing(
        len(local), int(host_lanes.test_idx.shape[1]), config.sym_samples if fns.symmetry_error else 0, flops,
        buckets.backend_costs()))
    parts = split_groups(planned, config.execution.max_group_lanes)
    groups = [_Group.start(members, local, config.learning_rate, host_state, group_devices, data, program_fields)
              for members, (group_devices, data) in zip(parts, _place_groups(
                  parts, host_lanes, placement, devices, (pool_x, pool_y, hyper), local_devices))]
    init_done = time.perf_counter()

    with Precompiler(config.execution.compile_workers) as pre:
        epoch_jobs, eval_jobs = _precompile(pre, groups, start_epoch, eval_prog, host_state, host_lanes, pool_x,
                                           pool_y, config, devices)
        del host_state  # the groups hold their own copies: free the initial state (memory of large lanes)
        if compile_only:
            pre.wait(epoch_jobs + eval_jobs)
            return None
        pre.wait(epoch_jobs)  # the evaluation program may still compile while the lanes train
        for g, job in zip(groups, epoch_jobs):
            g.flops = job.result()
        compiled = time.perf_counter()
        host, first_epoch_s = _train(groups, start_epoch, config, store,
                                     lambda: earlier_wall_s + time.perf_counter() - start_time, epoch_callback,
                                     len(local))
        train_done = time.perf_counter()
        groups.clear()  # `host` holds every lane's final state: free the devices' copies before evaluating
        pre.wait(eval_jobs)

    chosen = np.asarray(host.diverged) | config.early_stopping
    metrics = _evaluate(eval_prog, host, chosen, host_lanes, pool_x, pool_y, config, devices)
    end = time.perf_counter()
    rows = _build_rows(local, host_lanes, host, chosen, metrics, fns, config, earlier_wall_s + end - start_time)
    params = jax.tree.map(lambda best, final: np.where(chosen.reshape((-1,) + (1,) * (best.ndim - 1)), best, final),
                          host.best_params, host.params)
    timings = {"init": init_done - start_time, "compile": compiled - init_done, "first_epoch": first_epoch_s,
               "train": train_done - compiled,
               "evaluate": end - train_done, "total": end - start_time}
    return SweepResult(rows, params, timings)

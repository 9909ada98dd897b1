"""The jitted programs of a sweep, each vmapped over lanes: state init, an epoch's random draws,
one training epoch, and test evaluation: the training math (how they are compiled, the XLA options
and FLOP counts, is ``symjax.train.execution``'s).

Every function here works on one lane and is vmapped over the lane axis, so no
value of one lane ever enters another lane's computation. All randomness of a
lane comes from its key (raw key data in the state), folded with a salt and the
epoch / example position, never with a lane index or a padded shape, so a
lane's numbers do not depend on which other lanes share the program.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from symjax.train import execution as ex
from symjax.train.lanes import LaneArrays
from symjax.train.losses import masked_mean, per_example_accuracy, per_example_loss

# Salts folded into a lane key for its independent random streams.
INIT, SHUFFLE, AUGMENT, SYMMETRY = 0, 1, 2, 3


class TrainState(NamedTuple):
    """Training state of L lanes (lane axis first on every leaf).

    params, opt_state, best_params: pytrees of (L, ...) arrays.
    best_val: (L,) best validation loss so far (inf before the first); default float dtype.
    bad_epochs: int32 (L,) epochs since the last improvement.
    stopped: bool (L,) the lane no longer trains.
    diverged: bool (L,) a training or validation loss was NaN/inf.
    epochs: int32 (L,) epochs the lane has trained.
    best_epoch: int32 (L,) epoch (1-based) of best_val; 0 = the initial params.
    key: uint32 (L, K) raw data of the lane key (K = 2 for the default threefry keys).
    """

    params: Any
    opt_state: Any
    best_params: Any
    best_val: jnp.ndarray
    bad_epochs: jnp.ndarray
    stopped: jnp.ndarray
    diverged: jnp.ndarray
    epochs: jnp.ndarray
    best_epoch: jnp.ndarray
    key: jnp.ndarray


class Hyper(NamedTuple):
    """Scalar settings shared by all lanes, passed as traced values (changing them does not recompile).

    Per-lane settings (learning rate, penalty hyperparameters) live in LaneArrays.
    """

    patience: jnp.ndarray  # int32 ()
    early_stopping: jnp.ndarray  # bool ()


def optimizer(learning_rate) -> optax.GradientTransformation:
    return optax.adam(learning_rate)


@dataclasses.dataclass(frozen=True)
class TrainProgram:
    """Static (hashable) description of the training program; functions compare by identity."""

    init_fn: Callable
    apply_fn: Callable
    augment_fn: Callable | None
    penalty_fn: Callable | None  # (params, hyper dict) -> scalar added to each batch loss
    loss: str
    batch: int  # padded batch size (max over lanes)
    steps: int  # padded steps per epoch (max over lanes)
    eval_batch_size: int
    augment_per: str = "example"  # 'example' | 'batch' (TrainConfig.augment_per)
    fusion_emitters: bool = False  # XLA:CPU fusion emitters for this program (Execution.cpu_fusion_emitters)


@dataclasses.dataclass(frozen=True)
class EvalProgram:
    """Static description of the test evaluation."""

    apply_fn: Callable
    symmetry_error_fn: Callable | None
    loss: str
    eval_batch_size: int
    sym_samples: int
    fusion_emitters: bool = False  # XLA:CPU fusion emitters for this program (Execution.cpu_fusion_emitters)
    optimize: bool = False  # XLA's backend optimisation on CPU (off for run-once programs unless they are large)


def _gather(tree, idx: jnp.ndarray):
    """Rows idx (B,) of every (N, ...) leaf -> (B, ...)."""
    return jax.tree.map(lambda a: jnp.take(a, idx, axis=0), tree)


def _tree_where(flag: jnp.ndarray, new, old):
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


def _all_finite(tree) -> jnp.ndarray:
    flags = [jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(tree) if jnp.issubdtype(a.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(flags)) if flags else jnp.array(True)


def shuffle_order(key: jax.Array, n: jnp.ndarray, length: int) -> jnp.ndarray:
    """A uniformly random order (length,) of positions 0..n-1, then the padding positions n..length-1.

    Each position draws its own random bits from fold_in(key, position), so the
    order of the real positions does not depend on `length` (the padding).
    """
    pos = jnp.arange(length)
    bits = jax.vmap(lambda p: jax.random.bits(jax.random.fold_in(key, p), dtype=jnp.uint32))(pos)
    return jnp.lexsort((bits, pos >= n))


def augment_batch(augment_fn: Callable, key: jax.Array, pos: jnp.ndarray, x, y, on: jnp.ndarray):
    """Applies augment_fn to each example of a batch with its own key, where `on`.

    Args:
      augment_fn: (key, x_example, y_example) -> (x_example, y_example).
      key: the lane's augmentation key for this epoch.
      pos: int (B,) position of each example in the epoch order; its key is fold_in(key, pos).
      x: pytree of (B, ...); y: (B, ...).
      on: bool scalar; False returns x, y unchanged.
    """
    keys = jax.vmap(lambda p: jax.random.fold_in(key, p))(pos)
    xa, ya = jax.vmap(augment_fn)(keys, x, y)
    return _tree_where(on, xa, x), jnp.where(on, ya, y)


def chunked_sums(values_fn: Callable, idx: jnp.ndarray, n: jnp.ndarray, chunk: int) -> jnp.ndarray:
    """Sums of per-example values over the first n entries of idx, `chunk` examples at a time.

    Args:
      values_fn: (idx (C,), pos (C,)) -> (C, K) float values.
      idx: int (M,) pool indices; entries at positions >= n are padding.
      n: number of real entries.
      chunk: C, examples per evaluation chunk.
    Returns:
      (K,) sums over real entries.
    """
    n_chunks = -(-idx.shape[0] // chunk)
    idx = jnp.pad(idx, (0, n_chunks * chunk - idx.shape[0]), mode="edge").reshape(n_chunks, chunk)
    pos = jnp.arange(n_chunks * chunk).reshape(n_chunks, chunk)

    def chunk_sum(_, xs):
        idx_c, pos_c = xs
        values = values_fn(idx_c, pos_c)
        return None, jnp.sum(jnp.where((pos_c < n)[:, None], values, 0.0), axis=0)

    # Two scans rather than one that carries the total: values_fn is traced once (the carry's shape would
    # need a second, abstract trace) and a carry-free scan is batched in one pass under vmap. The chunk sums
    # are added in the same order as a carried total would add them, so the result is the same.
    _, sums = lax.scan(chunk_sum, None, (idx, pos))  # (n_chunks, K)
    add = lambda total, s: (total + s, None)
    total, _ = lax.scan(add, jnp.zeros(sums.shape[1:], jnp.promote_types(sums.dtype, jnp.float32)), sums)
    return total


def _mean_loss(apply_fn, loss, params, pool_x, pool_y, idx, n, chunk) -> jnp.ndarray:
    """Mean per-example loss over the first n examples of idx."""

    def values(idx_c, pos_c):
        pred = apply_fn(params, _gather(pool_x, idx_c))
        return per_example_loss(loss, pred, _gather(pool_y, idx_c))[:, None]

    return chunked_sums(values, idx, n, chunk)[0] / jnp.maximum(n, 1)


def init_state(key_data: jnp.ndarray, learning_rate: jnp.ndarray, init_fn: Callable) -> TrainState:
    """Fresh state for L lanes from their raw key data (L, K) and learning rates (L,) (jitted, once per sweep)."""
    return ex.one_off_jit(_init_state)(key_data, learning_rate, prog=init_fn)


def _init_state(key_data: jnp.ndarray, learning_rate: jnp.ndarray, prog: Callable) -> TrainState:
    """prog: the init_fn (key -> params); named `prog` for the shared static argument of _one_off_jit."""

    def one(kd, lr):
        params = prog(jax.random.fold_in(jax.random.wrap_key_data(kd), INIT))
        return TrainState(
            params=params,
            opt_state=optimizer(lr).init(params),
            best_params=params,
            best_val=jnp.array(jnp.inf, jnp.result_type(float)),  # float64 under jax_enable_x64
            bad_epochs=jnp.array(0, jnp.int32),
            stopped=jnp.array(False),
            diverged=jnp.array(False),
            epochs=jnp.array(0, jnp.int32),
            best_epoch=jnp.array(0, jnp.int32),
            key=kd,
        )

    return jax.vmap(one)(key_data, learning_rate)


def epoch_randomness(key_data: jnp.ndarray, n_train: jnp.ndarray, epoch, length: int):
    """The random draws of one epoch for L lanes (jitted; see _epoch_randomness)."""
    return ex.epoch_jit(_epoch_randomness, "length")(key_data, n_train, epoch, length=length)


def _epoch_randomness(key_data: jnp.ndarray, n_train: jnp.ndarray, epoch, length: int):
    """The random draws of one epoch for L lanes.

    Kept out of run_epoch because XLA compiles threefry much faster in a small
    program than inside the training loop.

    Args:
      key_data: uint32 (L, K) lane keys; n_train: int32 (L,); epoch: int32 ();
      length: padded train length T.
    Returns:
      order: int32 (L, T) shuffled train positions (real ones first);
      aug_key_data: uint32 (L, K) the epoch's augmentation key.
    """

    def one(kd, n):
        key = jax.random.wrap_key_data(kd)
        order = shuffle_order(jax.random.fold_in(jax.random.fold_in(key, SHUFFLE), epoch), n, length)
        aug_key = jax.random.fold_in(jax.random.fold_in(key, AUGMENT), epoch)
        return order.astype(jnp.int32), jax.random.key_data(aug_key)

    return jax.vmap(one)(key_data, n_train)


def _lane_epoch(state: TrainState, lane: LaneArrays, order, aug_key_data, pool_x, pool_y, epoch, hyper: Hyper,
                prog: TrainProgram):
    """One epoch of one lane: prog.steps (padded) steps, validation, early-stopping bookkeeping.

    Steps past the lane's own n_steps, and all steps of a stopped lane, compute an
    update and discard it: params and optimizer state stay bitwise unchanged.
    order (T,) and aug_key_data (K,) come from epoch_randomness.
    Returns (new state, validation loss).
    """
    active = ~state.stopped
    length = lane.train_idx.shape[0]
    aug_key = jax.random.wrap_key_data(aug_key_data)
    slots = jnp.arange(prog.batch)
    opt = optimizer(lane.learning_rate)

    def batch_loss(params, x, y, mask):
        loss = masked_mean(per_example_loss(prog.loss, prog.apply_fn(params, x), y), mask)
        if prog.penalty_fn is not None:
            loss = loss + prog.penalty_fn(params, lane.hyper)
        return loss

    def step(carry, s):
        params, opt_state, failed = carry
        pos = s * lane.batch_size + slots
        mask = (slots < lane.batch_size) & (pos < lane.n_train)
        idx = lane.train_idx[order[jnp.minimum(pos, length - 1)]]
        x, y = _gather(pool_x, idx), _gather(pool_y, idx)
        if prog.augment_fn is not None:
            draw = pos if prog.augment_per == "example" else jnp.full_like(pos, s)
            x, y = augment_batch(prog.augment_fn, aug_key, draw, x, y, lane.augment)
        loss, grads = jax.value_and_grad(batch_loss)(params, x, y, mask)
        updates, new_opt_state = opt.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        finite = jnp.isfinite(loss) & _all_finite(new_params)
        real = active & ~failed & (s < lane.n_steps)
        keep = real & finite
        params = _tree_where(keep, new_params, params)
        opt_state = _tree_where(keep, new_opt_state, opt_state)
        return (params, opt_state, failed | (real & ~finite)), None

    # `failed` starts False computed from a per-lane value (zeros_like would be a constant), so that vmap
    # sees a batched carry from the start and batches the scan's body once, not twice.
    (params, opt_state, failed), _ = lax.scan(
        step, (state.params, state.opt_state, state.stopped & False), jnp.arange(prog.steps))

    chunk = min(prog.eval_batch_size, lane.val_idx.shape[0])
    val_loss = _mean_loss(prog.apply_fn, prog.loss, params, pool_x, pool_y, lane.val_idx, lane.n_val, chunk)

    diverged_now = active & (failed | ~jnp.isfinite(val_loss))
    improved = active & ~diverged_now & (val_loss < state.best_val)
    bad_epochs = jnp.where(improved, 0, jnp.where(active, state.bad_epochs + 1, state.bad_epochs))
    out_of_patience = active & hyper.early_stopping & (bad_epochs >= hyper.patience)
    new_state = TrainState(
        params=params,
        opt_state=opt_state,
        best_params=_tree_where(improved, params, state.best_params),
        best_val=jnp.where(improved, val_loss.astype(state.best_val.dtype), state.best_val),
        bad_epochs=bad_epochs,
        stopped=state.stopped | diverged_now | out_of_patience,
        diverged=state.diverged | diverged_now,
        epochs=jnp.where(active, epoch + 1, state.epochs),
        best_epoch=jnp.where(improved, epoch + 1, state.best_epoch),
        key=state.key,
    )
    return new_state, val_loss


def train_epoch(state: TrainState, lanes: LaneArrays, order, aug_key_data, pool_x, pool_y, epoch, hyper: Hyper,
                prog: TrainProgram):
    """One epoch (0-based index `epoch`) for all lanes, after epoch_randomness. Returns (state, val_loss (L,))."""
    return ex.epoch_jit(_train_epoch, "prog", prog.fusion_emitters)(state, lanes, order, aug_key_data, pool_x, pool_y,
                                                                  epoch, hyper, prog=prog)


def _train_epoch(state: TrainState, lanes: LaneArrays, order, aug_key_data, pool_x, pool_y, epoch, hyper: Hyper,
                 prog: TrainProgram):
    return jax.vmap(lambda s, l, o, a: _lane_epoch(s, l, o, a, pool_x, pool_y, epoch, hyper, prog))(
        state, lanes, order, aug_key_data)


def run_epoch(state: TrainState, lanes: LaneArrays, pool_x, pool_y, epoch, hyper: Hyper, prog: TrainProgram):
    """One epoch (0-based index `epoch`) for all lanes. Returns (state, val_loss (L,))."""
    order, aug_key_data = epoch_randomness(state.key, lanes.n_train, epoch, length=lanes.train_idx.shape[1])
    return train_epoch(state, lanes, order, aug_key_data, pool_x, pool_y, epoch, hyper, prog)


def compile_epoch(state: TrainState, lanes: LaneArrays, pool_x, pool_y, epoch, hyper: Hyper,
                  prog: TrainProgram) -> float | None:
    """Compiles the two programs `run_epoch` runs for these arguments, without training.

    The epoch's random draws are computed (their program is small) so that the
    training program is lowered for exactly the arrays `run_epoch` will pass it.
    Returns the training program's FLOPs per epoch (XLA's cost analysis, all its
    lanes and padding; XLA counts a loop's body once, so the count is multiplied
    by the program's steps), or None where the backend does not count them.
    """
    order, aug_key_data = epoch_randomness(state.key, lanes.n_train, epoch, length=lanes.train_idx.shape[1])
    compiled = ex.epoch_jit(_train_epoch, "prog", prog.fusion_emitters).lower(
        state, lanes, order, aug_key_data, pool_x, pool_y, epoch, hyper, prog=prog).compile()
    flops = ex.counted_flops(compiled)
    return flops * prog.steps if flops is not None else None


def _lane_evaluate(params, key_data, lane: LaneArrays, pool_x, pool_y, prog: EvalProgram):
    """Test loss, accuracy (NaN for mse) and symmetry error (NaN without a fn) of one lane."""
    n_test = lane.test_idx.shape[0]
    chunk = min(prog.eval_batch_size, n_test)

    def loss_values(idx_c, pos_c):
        pred = prog.apply_fn(params, _gather(pool_x, idx_c))
        y = _gather(pool_y, idx_c)
        columns = [per_example_loss(prog.loss, pred, y)]
        if prog.loss == "cross_entropy":
            columns.append(per_example_accuracy(pred, y))
        return jnp.stack(columns, axis=1)

    sums = chunked_sums(loss_values, lane.test_idx, lane.n_test, chunk) / jnp.maximum(lane.n_test, 1)
    test_loss = sums[0]
    test_acc = sums[1] if prog.loss == "cross_entropy" else jnp.array(jnp.nan, jnp.float32)
    if prog.symmetry_error_fn is None:
        return test_loss, test_acc, jnp.array(jnp.nan, jnp.float32)

    sym_key = jax.random.fold_in(jax.random.wrap_key_data(key_data), SYMMETRY)

    def sym_values(idx_c, pos_c):
        x = _gather(pool_x, idx_c)

        def one_example(x_i, p):
            x_i = jax.tree.map(lambda a: a[None], x_i)
            keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.fold_in(sym_key, p), s))(
                jnp.arange(prog.sym_samples))
            return jnp.mean(jax.vmap(lambda k: prog.symmetry_error_fn(params, k, x_i))(keys))

        return jax.vmap(one_example)(x, pos_c)[:, None]

    sym_chunk = max(1, min(prog.eval_batch_size // prog.sym_samples, n_test))
    sym_error = chunked_sums(sym_values, lane.test_idx, lane.n_test, sym_chunk)[0] / jnp.maximum(lane.n_test, 1)
    return test_loss, test_acc, sym_error


def evaluate(state: TrainState, use_best: jnp.ndarray, lanes: LaneArrays, pool_x, pool_y, prog: EvalProgram):
    """Test metrics of all lanes, each with best_params where use_best (L,) else final params.

    Returns (test_loss, test_acc, sym_error), each float32 (L,) (jitted, once per sweep).
    """
    return ex.one_off_jit(_evaluate, prog.fusion_emitters, prog.optimize)(state, use_best, lanes, pool_x, pool_y,
                                                                       prog=prog)


def compile_evaluate(state: TrainState, use_best: jnp.ndarray, lanes: LaneArrays, pool_x, pool_y,
                     prog: EvalProgram) -> None:
    """Compiles the program `evaluate` runs for these arguments, without running it."""
    ex.one_off_jit(_evaluate, prog.fusion_emitters, prog.optimize).lower(state, use_best, lanes, pool_x, pool_y,
                                                                      prog=prog).compile()


def _evaluate(state: TrainState, use_best: jnp.ndarray, lanes: LaneArrays, pool_x, pool_y, prog: EvalProgram):

    def one(s, best, lane):
        params = _tree_where(best, s.best_params, s.params)
        return _lane_evaluate(params, s.key, lane, pool_x, pool_y, prog)

    return jax.vmap(one)(state, use_best, lanes)

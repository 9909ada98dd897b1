"""How a sweep runs, as against what it trains: the execution record and its policies.

``Execution`` holds every knob that changes how the lanes are run (how they are grouped into
programs, when a program shrinks to its active lanes, how many lanes one program holds, how
programs are compiled, how the evaluation is chunked) and none that changes what is trained
(``TrainConfig``'s loss, learning rate, epochs, patience ...). Results do not depend on it beyond
rounding: a program over other lanes or shapes may round differently (docs/benchmarks.md).

The policies beside it:

* compaction (``Execution.compact_stopped``): ``compaction_horizon`` (the epochs the active lanes
  are forecast to still run), ``compacted_rows`` and ``compaction_pays``;
* placement (``Execution.lane_placement``): ``resolve_placement`` ('auto' for the devices at hand) and
  ``place_groups`` (which device trains each lane group);
* XLA options: ``epoch_jit`` (programs that run every epoch) and ``one_off_jit`` (programs that
  run once per sweep: init, evaluation), with ``cpu_options`` (the fusion emitters) and
  ``evaluation_needs_optimizing`` (whether the evaluation is compiled with XLA's optimisation);
* FLOP counts: ``counted_flops`` (XLA's count of a program) and ``example_flops`` (one training
  example's forward and backward pass, for the cost model of ``symjax.train.buckets``).

The persistent compilation cache is the application's choice, not the sweep's:
``symjax.train.compile_cache.use(setting)`` (the experiment driver calls it before a run; a user
calling ``sweep`` directly calls it, or not, as they like).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Callable, Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np

from symjax.train import buckets
from symjax.train.losses import per_example_loss

LaneGroups = Literal["auto", "shape", "single"]
LANE_GROUPS = get_args(LaneGroups)
LanePlacement = Literal["auto", "shard", "groups"]
LANE_PLACEMENTS = get_args(LanePlacement)


@dataclasses.dataclass(frozen=True)
class Execution:
    """How the lanes of a sweep are run (``TrainConfig.execution``); results agree to rounding either way.

    Attributes:
      lane_groups: how lanes are split into jitted epoch programs.
        'auto': shape buckets chosen by a cost model of compilation vs padding work for the epochs
        left to train (symjax.train.buckets): a few padded programs for short sweeps, one per shape
        for long ones.
        'shape': one program per distinct (batch_size, steps per epoch), so no lane computes another
        lane's padding; each group costs one compilation, and a group whose lanes have all stopped is
        skipped.
        'single': one program for all lanes, padded to the largest batch and step count (one
        compilation; best when compilation dominates, e.g. a few epochs).
      compact_stopped: once at most half of a group's lanes still train (early stopping or
        divergence), its program is replaced by a smaller one over the active lanes only (same batch
        and step count; compiled then, from the persistent cache when it holds it), for the rest of
        the sweep; the stopped lanes' state waits on the host for the evaluation and the checkpoints.
        Only where ``compaction_pays`` over the epochs the active lanes are forecast to still run
        (``compaction_horizon``). The decision depends on no clock, so a run repeats its decisions,
        and a run resumed from a checkpoint shrinks its programs as the uninterrupted run did
        (replayed from the lanes' stopping epochs): the two stay bitwise equal.
      compact_min_flops: None (price a compaction in modelled seconds), or the least FLOPs (XLA's
        count of the programs) a compaction must save.
      max_group_lanes: at most this many lanes per program (0 = no limit): each group is cut into
        near-equal parts, run one after another each epoch (parts of equal size share one compiled
        program). Bounds the memory of the programs' temporaries (gradients, new Adam state) for lanes
        with large weights; the state of every lane stays on the device. The test evaluation runs in
        consecutive parts of as many lanes.
      compile_workers: programs compiled at once before training starts (symjax.train.precompile):
        0 = one per CPU core this process may use; 1 = one after another.
      cpu_fusion_emitters: compile the epoch and evaluation programs with XLA:CPU's fusion emitters
        (off by default: they compile much more slowly; whether their code runs faster depends on the
        model). No effect on other backends.
      eval_batch_size: examples per validation and test evaluation chunk (bounds memory).
      lane_placement: where the lane groups run when this process has several devices.
        'shard': every group's lanes split over all devices (lane axis padded to a multiple of the
        device count): balanced work and memory, one program per group over all devices. A program over
        fewer lanes per device may round differently from the one-device run.
        'groups': each group whole on one device, the groups spread over the devices by their padded
        work per epoch (``place_groups``); initialisation and evaluation on the first device. Groups on
        different devices train at the same time; every program is the one a single device runs, so the
        results are bitwise those of one device.
        'auto' (default): 'groups' on CPU devices (several CPU devices of one host share its cores: the
        programs are the same, and the cores that one group's small kernels leave idle train another),
        'shard' on accelerators.
    """

    lane_groups: LaneGroups = "auto"
    compact_stopped: bool = True
    compact_min_flops: float | None = None
    max_group_lanes: int = 0
    compile_workers: int = 0
    cpu_fusion_emitters: bool = False
    eval_batch_size: int = 4096
    lane_placement: LanePlacement = "auto"


def validate_execution(execution: Execution) -> None:
    """Raises ValueError naming the field (TrainConfig.execution.<name>) for a setting that cannot run."""
    if not isinstance(execution, Execution):
        raise ValueError(f"TrainConfig.execution: expected an Execution, got {type(execution).__name__}")
    where = "TrainConfig.execution"
    if execution.lane_groups not in LANE_GROUPS:
        raise ValueError(f"{where}.lane_groups: expected one of {LANE_GROUPS}, got {execution.lane_groups!r}")
    if execution.lane_placement not in LANE_PLACEMENTS:
        raise ValueError(f"{where}.lane_placement: expected one of {LANE_PLACEMENTS}, got "
                         f"{execution.lane_placement!r}")
    if not isinstance(execution.compile_workers, int) or isinstance(execution.compile_workers, bool) \
            or execution.compile_workers < 0:
        raise ValueError(f"{where}.compile_workers: expected an int >= 0 (0 = one per CPU core), got "
                         f"{execution.compile_workers!r}")
    if not isinstance(execution.compact_stopped, (bool, np.bool_)):
        raise ValueError(f"{where}.compact_stopped: expected a bool, got {execution.compact_stopped!r}")
    if execution.compact_min_flops is not None and (
            isinstance(execution.compact_min_flops, bool) or not isinstance(execution.compact_min_flops, numbers.Real)
            or not execution.compact_min_flops >= 0):
        raise ValueError(f"{where}.compact_min_flops: expected None or a number >= 0, got "
                         f"{execution.compact_min_flops!r}")
    if not isinstance(execution.cpu_fusion_emitters, (bool, np.bool_)):
        raise ValueError(f"{where}.cpu_fusion_emitters: expected a bool, got {execution.cpu_fusion_emitters!r}")
    if not isinstance(execution.max_group_lanes, numbers.Integral) or isinstance(execution.max_group_lanes, bool) \
            or execution.max_group_lanes < 0:
        raise ValueError(f"{where}.max_group_lanes: expected an int >= 0 (0 = no limit), got "
                         f"{execution.max_group_lanes!r}")
    if not isinstance(execution.eval_batch_size, numbers.Integral) or execution.eval_batch_size < 1:
        raise ValueError(f"{where}.eval_batch_size: expected an integer >= 1, got {execution.eval_batch_size!r}")


# ---------------------------------------------------------------------------- compaction
def compaction_horizon(epoch: int, max_epochs: int, patience: int, early_stopping: bool) -> int:
    """Epochs the active lanes are forecast to still run after `epoch`: the epochs left, or with early
    stopping as many as they have trained so far (at least `patience`, at most the epochs left)."""
    epochs_left = max_epochs - epoch
    return min(epochs_left, max(patience, epoch)) if early_stopping else epochs_left


def compacted_rows(n_active: int, n_devices: int) -> int:
    """Rows of a compacted program: the active lanes padded to the device count, and at least 2. XLA:CPU
    compiles a lane axis of length 1 to other kernels than a longer one, which round differently."""
    from symjax.train.lanes import padded_lane_count  # noqa: PLC0415  (lanes imports config, which imports this)

    return max(2, padded_lane_count(n_active, n_devices))


def compaction_pays(g, n_rows: int, horizon: int, execution: Execution) -> bool:
    """Whether shrinking group g's program to n_rows rows saves more than the new program costs over `horizon`
    epochs. With execution.compact_min_flops: the FLOPs saved (XLA's count) reach it. Else in modelled
    seconds (`buckets.CostModel` of the backend): (rows - n_rows) * `buckets.row_epoch_s` * horizon
    >= recompile_s. A program without a FLOP count always shrinks.

    g: the group (its ``flops`` per epoch, ``rows()`` and ``prog.batch`` / ``prog.steps``)."""
    if g.flops is None:
        return True
    if execution.compact_min_flops is not None:
        return g.flops * (1 - n_rows / g.rows()) * horizon >= execution.compact_min_flops
    costs = buckets.backend_costs()
    saved_s = (g.rows() - n_rows) * buckets.row_epoch_s(g.flops, g.rows(), g.prog.batch, g.prog.steps, costs)
    return saved_s * horizon >= costs.recompile_s


# ---------------------------------------------------------------------------- placement
def resolve_placement(setting: str, devices: list) -> str:
    """Execution.lane_placement with 'auto' resolved for these devices: 'groups' on CPU devices, else 'shard'."""
    if setting != "auto":
        return setting
    return "groups" if all(d.platform == "cpu" for d in devices) else "shard"


def place_groups(work: list[float], n_devices: int) -> list[int]:
    """The device (an index below n_devices) of each group with this work per epoch: the largest first, each
    onto the device with the least work so far (the longest-processing-time rule). Ties go to the lower
    index, so the largest group lands on device 0, where initialisation and evaluation run.

    Example: work [1, 8, 3, 4] on 2 devices -> [1, 0, 1, 1] (loads 8 and 8)."""
    load = [0.0] * n_devices
    where = [0] * len(work)
    for i in sorted(range(len(work)), key=lambda i: -work[i]):
        where[i] = min(range(n_devices), key=lambda d: load[d])
        load[where[i]] += work[i]
    return where


# ---------------------------------------------------------------------------- XLA options
def cpu_options(fusion_emitters: bool) -> dict:
    """XLA:CPU's fusion emitters compile much more slowly than its older loop emitters; whether their
    code runs faster depends on the model (docs/benchmarks.md). Off unless asked for
    (Execution.cpu_fusion_emitters)."""
    return {"xla_cpu_use_fusion_emitters": bool(fusion_emitters)}


def epoch_options(fusion_emitters: bool = False) -> dict | None:
    """XLA options for the programs that run every epoch. Decided at call time, after any
    jax.distributed.initialize()."""
    return cpu_options(fusion_emitters) if jax.default_backend() == "cpu" else None


def one_off_options(fusion_emitters: bool = False, optimize: bool = False) -> dict | None:
    """XLA options for programs that run once per sweep (init, evaluation).

    On CPU, LLVM optimization of vectorized threefry (every jax.random call)
    takes seconds per call site; a program that runs once is compiled
    without it, unless `optimize` (a large evaluation, whose unoptimised code
    would cost more than the compilation saved; `evaluation_needs_optimizing`).
    Decided at call time, after any jax.distributed.initialize().
    """
    if jax.default_backend() != "cpu":
        return None
    level = {} if optimize else {"xla_backend_optimization_level": 0}
    return {**level, **cpu_options(fusion_emitters)}


@functools.cache
def one_off_jit(fn: Callable, fusion_emitters: bool = False, optimize: bool = False) -> Callable:
    """jax.jit of a program that runs once per sweep (static argument ``prog``), with ``one_off_options``."""
    return jax.jit(fn, static_argnames=("prog",), compiler_options=one_off_options(fusion_emitters, optimize))


@functools.cache
def epoch_jit(fn: Callable, static_argname: str, fusion_emitters: bool = False) -> Callable:
    """jax.jit of a program that runs every epoch (static argument ``static_argname``), with ``epoch_options``."""
    return jax.jit(fn, static_argnames=(static_argname,), compiler_options=epoch_options(fusion_emitters))


def evaluation_needs_optimizing(n_lanes: int, n_test: int, sym_samples: int, flops_per_example: float,
                                costs) -> bool:
    """Whether the evaluation program is compiled with XLA's optimisation (CPU).

    Its modelled work, n_lanes * n_test * (1 + sym_samples) forward passes of F / 3 FLOPs each (F:
    `example_flops`, forward and backward) at costs.flop_s, against costs.optimize_s, the compilation
    time the optimisation adds (docs/benchmarks.md, item 11).
    """
    work_s = n_lanes * n_test * (1 + sym_samples) * flops_per_example / 3 * costs.flop_s
    return work_s >= costs.optimize_s


# ---------------------------------------------------------------------------- FLOP counts
def counted_flops(program) -> float | None:
    """XLA's FLOP count of a lowered or compiled program, or None where the backend does not count them."""
    try:
        cost = program.cost_analysis()
    except Exception:  # noqa: BLE001  (a backend without cost analysis)
        return None
    cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
    flops = cost.get("flops") if isinstance(cost, dict) else None
    return float(flops) if flops is not None and flops > 0 else None


def example_flops(init_fn: Callable, apply_fn: Callable, loss: str, pool_x, pool_y) -> float:
    """FLOPs of one training example's forward and backward pass; 0.0 where the backend does not count them.

    XLA's estimate for the lowered (not compiled, ~0.05 s) gradient of the loss of one pool row
    (pool_x: pytree of (N, ...) leaves, pool_y (N, ...)). The 'auto' lane groups price a padded
    example slot with it (`buckets.CostModel`); a model that cannot be lowered on one row gets 0.0
    (the plan then prices slots by the cost model's constant alone).
    """
    params = jax.eval_shape(init_fn, jax.random.key(0))
    row = lambda a: jax.ShapeDtypeStruct((1,) + tuple(a.shape[1:]), a.dtype)
    grad = jax.grad(lambda p, x, y: jnp.sum(per_example_loss(loss, apply_fn(p, x), y)))
    try:
        lowered = jax.jit(grad).lower(params, jax.tree.map(row, pool_x), row(pool_y))
    except Exception:  # noqa: BLE001  (a model that cannot take one row: plan without the estimate)
        return 0.0
    return counted_flops(lowered) or 0.0

"""Lane groups as shape buckets chosen by a cost model (Execution.lane_groups='auto').

Every jitted epoch program costs one compilation, and trains its lanes padded to the program's
largest batch B and step count S. With k distinct lane shapes (batch b, steps s), one program per
shape pays k compilations and no padding; one program for all pays one compilation and the most
padding. Between the two, the lanes are split into buckets of shapes, each bucket one program, to
minimize the modelled wall time of the sweep:

    cost(bucket) = compile_s + epochs * S * (step_s + L * (lane_step_s + B * (example_s + F * flop_s)))

with L lanes, B = max b, S = max s over the bucket's lanes: compile_s a compilation, step_s the
fixed cost of one step of a program, lane_step_s the per-lane cost of one step (optimizer update,
bookkeeping), example_s + F * flop_s one example slot of one step (forward and backward, padding
included) for a model of F FLOPs per example (`execution.example_flops`): a wide model's padding costs
more, so it gets more programs.
Shapes are sorted by padded work b * s and cut into contiguous runs; the best cut is found by
dynamic programming over the k sorted shapes (O(k^2) bucket costs). The buckets change a lane's
numbers by rounding only: no value crosses lanes, but a lane computes in its program's padded batch,
and XLA's code for a program can round differently with its shapes, the number of lanes included
(Task 3's large vanilla evaluation split over two programs of 4 lanes instead of one of 8 moved its
symmetry errors in the 7th digit; docs/benchmarks.md, 'Evaluation on several CPU devices').
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np


class CostModel(NamedTuple):
    """Seconds of each part of the modelled sweep time (see the module docstring).

    recompile_s: a program built during training (a compaction's, Execution.compact_stopped):
    traced, lowered and compiled in the training loop, alone, where compile_s prices the programs
    compiled ahead, several at once.
    optimize_s: what XLA's backend optimisation adds to compiling a run-once program (the
    evaluation; `execution.evaluation_needs_optimizing`).
    """

    compile_s: float
    step_s: float
    lane_step_s: float
    example_s: float
    flop_s: float = 0.0
    recompile_s: float = 0.0
    optimize_s: float = 0.0


# Estimated on the 2-core CPU of docs/benchmarks.md from Task 1 sweeps of 18 lanes. Steady epochs of one
# padded program (32 steps x 256 examples) cost per example slot: vanilla 0.69 us at n_blocks=5
# (F = 47 kFLOP per example), 3.9 us at n_blocks=20 (730 kFLOP); shared 1.4 us (21 kFLOP) and 4.3 us
# (85 kFLOP; its per-channel matmuls are small and run at a lower rate). 1.35 us + F / (300 GFLOP/s)
# is within 2.6x of all four (a constant 1.5 us was 2.6x and 2.9x too low at n_blocks=20). One program
# per shape ran 0.165 s for 81,648 real slots in 134 steps of 6 lanes at n_blocks=5 (~0.3 ms per
# step, lanes included). An epoch program compiles in 0.9-1.1 s (fusion emitters off). A compaction's
# program cost 2.4-2.8 s in the training loop (Task 2 vanilla, hidden 3, the machine otherwise quiet).
# Optimising a run-once program added 1-2 s per Task 1 sweep (init and evaluation); its absence made the
# MNIST evaluations 1.8-4.8x slower, so one whose modelled work is a quarter of a second is optimised.
CPU_COSTS = CostModel(compile_s=1.2, step_s=2e-4, lane_step_s=2e-5, example_s=1.35e-6, flop_s=1 / 300e9,
                      recompile_s=2.4, optimize_s=0.25)
# Not measured yet (no accelerator lent): a compilation ~1 s, ~10 TFLOP/s, per-step terms unknown (0).
ACCELERATOR_COSTS = CostModel(compile_s=1.0, step_s=0.0, lane_step_s=0.0, example_s=0.0, flop_s=1e-13,
                              recompile_s=1.0)


def backend_costs() -> CostModel:
    """The cost model of the default backend: CPU_COSTS on CPU, ACCELERATOR_COSTS elsewhere."""
    return CPU_COSTS if jax.default_backend() == "cpu" else ACCELERATOR_COSTS


def row_epoch_s(program_flops: float, rows: int, batch: int, steps: int, costs: CostModel) -> float:
    """Modelled seconds one row (lane) of a program of `rows` rows, `batch` x `steps` slots per row and
    `program_flops` FLOPs per epoch (XLA's count, all rows) adds to its epoch:
    steps * (lane_step_s + batch * example_s) + program_flops / rows * flop_s (the terms of
    `bucket_cost` that grow with the lanes)."""
    return steps * (costs.lane_step_s + batch * costs.example_s) + program_flops / rows * costs.flop_s


def bucket_cost(batch_size: np.ndarray, n_steps: np.ndarray, epochs: int, costs: CostModel,
                flops_per_example: float = 0.0) -> float:
    """Modelled seconds of one program training lanes of these batch sizes and step counts (L,) for `epochs`."""
    lanes = len(batch_size)
    slot_s = costs.example_s + flops_per_example * costs.flop_s
    per_step = costs.step_s + lanes * (costs.lane_step_s + int(np.max(batch_size)) * slot_s)
    return costs.compile_s + epochs * int(np.max(n_steps)) * per_step


def plan_buckets(batch_size: np.ndarray, n_steps: np.ndarray, epochs: int,
                 costs: CostModel = CPU_COSTS, flops_per_example: float = 0.0) -> list[np.ndarray]:
    """Positions of the lanes of each bucket, buckets ordered by their first lane, lanes in order.

    Args:
      batch_size, n_steps: int (L,) per lane.
      epochs: epochs the sweep trains (at most).
      costs: the cost model's constants.
      flops_per_example: F, the model's FLOPs per training example (0: price slots by example_s alone).
    Returns:
      a list of int arrays partitioning range(L); lanes of equal (batch, steps) share a bucket.
    Example: 3 shapes (4, 10), (8, 10), (256, 32), one lane each, with CPU_COSTS and F = 0: at 20
      epochs [[0, 1, 2]]; at 100,000 epochs [[0, 1], [2]] (merging the first two saves more per-step
      cost than their padding costs); with F = 729,523 (Task 1 vanilla, n_blocks=20) at 20 epochs
      [[0, 1], [2]].
    """
    batch_size, n_steps = np.asarray(batch_size), np.asarray(n_steps)
    if batch_size.shape != n_steps.shape or batch_size.ndim != 1 or batch_size.size == 0:
        raise ValueError(f"plan_buckets: expected batch_size and n_steps of one shape (L,), L >= 1, got "
                         f"{batch_size.shape} and {n_steps.shape}")
    shapes = sorted({(int(b), int(s)) for b, s in zip(batch_size, n_steps)}, key=lambda bs: (bs[0] * bs[1], bs))
    members = [np.flatnonzero((batch_size == b) & (n_steps == s)) for b, s in shapes]
    k = len(shapes)
    # best[j]: least cost of the first j shapes; cut[j]: start of the last bucket in that optimum.
    best, cut = [0.0] + [np.inf] * k, [0] * (k + 1)
    for j in range(1, k + 1):
        for i in range(j):
            lanes = np.concatenate(members[i:j])
            cost = best[i] + bucket_cost(batch_size[lanes], n_steps[lanes], epochs, costs, flops_per_example)
            if cost < best[j]:
                best[j], cut[j] = cost, i
    buckets, j = [], k
    while j > 0:
        buckets.append(np.sort(np.concatenate(members[cut[j]:j])))
        j = cut[j]
    return sorted(buckets, key=lambda b: b[0])

"""Lane groups as shape buckets chosen by a cost model (TrainConfig.lane_groups='auto').

Every jitted epoch program costs one compilation, and trains its lanes padded to the program's
largest batch B and step count S. With k distinct lane shapes (batch b, steps s), one program per
shape pays k compilations and no padding; one program for all pays one compilation and the most
padding. Between the two, the lanes are split into buckets of shapes, each bucket one program, to
minimize the modelled wall time of the sweep:

    cost(bucket) = compile_s + epochs * S * (step_s + L * (lane_step_s + B * example_s))

with L lanes, B = max b, S = max s over the bucket's lanes: compile_s a compilation, step_s the
fixed cost of one step of a program, lane_step_s the per-lane cost of one step (optimizer update,
bookkeeping), example_s one example slot of one step (forward and backward, padding included).
Shapes are sorted by padded work b * s and cut into contiguous runs; the best cut is found by
dynamic programming over the k sorted shapes (O(k^2) bucket costs). Results do not depend on the
buckets (a lane's numbers never depend on the other lanes of its program), only the time does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CostModel(NamedTuple):
    """Seconds of each part of the modelled sweep time (see the module docstring)."""

    compile_s: float
    step_s: float
    lane_step_s: float
    example_s: float


# Estimated on the 2-core CPU of docs/benchmarks.md (Task 1, n_blocks=5 lanes): a padded program of
# 36 lanes x 32 steps x 256 examples ran 0.46 s per epoch (1.5 us per example slot); one program per
# shape ran 0.165 s for 81,648 real slots in 134 steps of 6 lanes (the rest: ~0.3 ms per step);
# an epoch program compiles in ~2.5 s.
CPU_COSTS = CostModel(compile_s=2.5, step_s=2e-4, lane_step_s=2e-5, example_s=1.5e-6)


def bucket_cost(batch_size: np.ndarray, n_steps: np.ndarray, epochs: int, costs: CostModel) -> float:
    """Modelled seconds of one program training lanes of these batch sizes and step counts (L,) for `epochs`."""
    lanes = len(batch_size)
    per_step = costs.step_s + lanes * (costs.lane_step_s + int(np.max(batch_size)) * costs.example_s)
    return costs.compile_s + epochs * int(np.max(n_steps)) * per_step


def plan_buckets(batch_size: np.ndarray, n_steps: np.ndarray, epochs: int,
                 costs: CostModel = CPU_COSTS) -> list[np.ndarray]:
    """Positions of the lanes of each bucket, buckets ordered by their first lane, lanes in order.

    Args:
      batch_size, n_steps: int (L,) per lane.
      epochs: epochs the sweep trains (at most).
    Returns:
      a list of int arrays partitioning range(L); lanes of equal (batch, steps) share a bucket.
    Example: 3 shapes (4, 10), (8, 10), (256, 32), one lane each, at 20 epochs with CPU_COSTS:
      [[0, 1], [2]]; at 100,000 epochs: [[0], [1], [2]].
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
            cost = best[i] + bucket_cost(batch_size[lanes], n_steps[lanes], epochs, costs)
            if cost < best[j]:
                best[j], cut[j] = cost, i
    buckets, j = [], k
    while j > 0:
        buckets.append(np.sort(np.concatenate(members[cut[j]:j])))
        j = cut[j]
    return sorted(buckets, key=lambda b: b[0])

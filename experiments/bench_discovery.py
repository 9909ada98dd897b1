"""Speed of the soft-sharing penalties (symjax.discovery), side by side with a dense layer.

1. orbit_tie and its gradient on a 1600 x 1600 weight, S_100 acting on 100
   blocks x 16 channels in and out (512 orbits), against one forward + backward
   of that layer's dense matmul at batch 64 (target: within 3x); also the
   same penalty differentiated by plain autodiff through P_G (no custom JVP).
2. pairwise_tie (p = 1 by sorting, p = 2 closed form) with its gradient on
   10^6 weights (target: well under a second).
3. offset_tie (reference 001 §3.2) with its gradient on the MNIST generic
   weight 10 x 28 x 28 x 56 x 56, shift (16, 16, 4, 4): the shift by
   ``shifts.cyclic_shift`` (what offset_tie uses) against ``jnp.roll``, with
   the largest difference of their gradients.
All jit-compiled, steady state, median of --repeats; the orbit_tie and dense
calls are timed in turn, one of each per round, so that load from other jobs
on a shared machine falls on both alike. Section writing and the pairwise
timing are bench_sharing's (so are its --repeats, --batch, --channels, --out
and --verbose flags).

    python experiments/bench_discovery.py --out=docs/benchmarks.md --note="shared with other jobs"
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.bench_common import publish  # noqa: E402
from bench_sharing import median_time  # noqa: E402  (defines --repeats, --out and more)
from symjax import actions, discovery, groups, sharing  # noqa: E402
from symjax.discovery import shifts  # noqa: E402
from symjax.tasks.common import machine_description  # noqa: E402
from symjax.tasks.progress import configure_logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("points", 100, "S_n on n blocks (x --channels) in and out.")
flags.DEFINE_integer("pairwise_size", 10**6, "Number of weights for pairwise_tie.")
flags.DEFINE_string("note", "", "A line about the conditions (e.g. the machine was shared with other jobs).")

SECTION = "## Soft-sharing penalties (experiments/bench_discovery.py)"


def orbit_tie_timings(points: int, channels: int, batch: int, repeats: int) -> dict:
    action = actions.blocks(groups.symmetric(points), channels)
    size = action.size
    start = time.perf_counter()
    _, orbits = sharing.orbit_index_map(action, action)  # built once, cached for the penalty's use
    build = time.perf_counter() - start
    w = jax.random.normal(jax.random.key(0), (size, size)) / jnp.sqrt(size)
    x = jax.random.normal(jax.random.key(1), (batch, size))

    tie = jax.jit(jax.value_and_grad(lambda w: discovery.orbit_tie(w, action, action, layout="out_in")))
    autodiff = jax.jit(jax.value_and_grad(
        lambda w: jnp.sum(jnp.square(w - discovery.orbit_projection(w, action, action, layout="out_in")))))
    dense = jax.jit(jax.value_and_grad(lambda w, x: jnp.sum(jnp.square(x @ w.T))))
    times = interleaved_medians({"orbit_tie": (tie, (w,)), "autodiff": (autodiff, (w,)), "dense": (dense, (w, x))},
                                repeats)
    return {"size": size, "orbits": orbits, "build": build, **times}


def interleaved_medians(calls: dict, repeats: int) -> dict:
    """Median seconds of each jitted call, timed in turn (one of each per round) so load from other jobs
    falls on all of them alike; each is compiled and run once first."""
    for fn, args in calls.values():
        jax.block_until_ready(fn(*args))
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, (fn, args) in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def pairwise_timings(size: int, repeats: int) -> dict:
    w = jax.random.normal(jax.random.key(2), (size,))
    return {p: median_time(jax.jit(jax.value_and_grad(lambda w, p=p: discovery.pairwise_tie(w, p))), w,
                           repeats=repeats) for p in (1, 2)}


def offset_tie_timings(repeats: int) -> dict:
    """offset_tie's value and gradient on the MNIST generic weight with either cyclic shift (interleaved)."""
    shape, shift, axes = (10, 28, 28, 56, 56), (16, 16, 4, 4), (1, 2, 3, 4)
    w = jax.random.normal(jax.random.key(3), shape)
    tie = lambda shifted: jax.jit(jax.value_and_grad(lambda w: jnp.sum(jnp.abs(w - shifted(w)))))
    fast = tie(lambda w: shifts.cyclic_shift(w, shift, axes))
    roll = tie(lambda w: jnp.roll(w, [-s for s in shift], axes))
    times = interleaved_medians({"cyclic_shift": (fast, (w,)), "roll": (roll, (w,))}, repeats)
    (v_fast, g_fast), (v_roll, g_roll) = fast(w), roll(w)
    return {"shape": shape, "shift": shift, **times, "value_equal": bool(v_fast == v_roll),
            "grad_max_diff": float(jnp.max(jnp.abs(g_fast - g_roll)))}


def markdown(tie: dict, pairwise: dict, offset: dict) -> str:
    ms = lambda seconds: f"{1e3 * seconds:.2f}"
    n, c, m = FLAGS.points, FLAGS.channels, tie["size"]
    lines = [SECTION, "",
             f"Machine: {machine_description()}. Date: {time.strftime('%Y-%m-%d')}."
             + (f" {FLAGS.note}." if FLAGS.note else ""), "",
             f"Value and gradient, jit, median of {FLAGS.repeats} (milliseconds). W is {m} x {m}, S_{n} on {n} "
             f"blocks x {c} channels in and out ({tie['orbits']} orbits; orbit map built once and cached: "
             f"{tie['build']:.2f} s).", "",
             "| computation | ms | / dense layer |", "|---|---:|---:|",
             f"| dense layer x @ W.T, forward + backward, batch {FLAGS.batch} | {ms(tie['dense'])} | 1.00 |",
             f"| orbit_tie(W) + gradient (custom JVP: grad = 2 (W - P_G W)) | {ms(tie['orbit_tie'])} | "
             f"{tie['orbit_tie'] / tie['dense']:.2f} |",
             f"| ‖W - P_G W‖² + gradient by plain autodiff through P_G | {ms(tie['autodiff'])} | "
             f"{tie['autodiff'] / tie['dense']:.2f} |", "",
             f"pairwise_tie with its gradient on {FLAGS.pairwise_size:,} weights (target: well under a second):", "",
             "| p | method | ms |", "|---:|---|---:|",
             f"| 1 | one sort of integer keys (value, -index); sum_k (2k - n + 1) w_(k) | {ms(pairwise[1])} |",
             f"| 2 | closed form n sum (w - mean)^2 | {ms(pairwise[2])} |", "",
             f"offset_tie with its gradient on the MNIST generic weight {' x '.join(map(str, offset['shape']))} "
             f"(reference 001 §3.2), shift {offset['shift']} on axes 1-4, wrap; the two shifts timed in turn "
             f"(value equal: {offset['value_equal']}; largest gradient difference {offset['grad_max_diff']:g}):", "",
             "| cyclic shift | ms | / jnp.roll |", "|---|---:|---:|",
             f"| `jnp.roll` (slices and concatenations; gradient by autodiff) | {ms(offset['roll'])} | 1.00 |",
             f"| `shifts.cyclic_shift` (one constant-index gather per axis; gradient the opposite shift) | "
             f"{ms(offset['cyclic_shift'])} | {offset['cyclic_shift'] / offset['roll']:.2f} |"]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    configure_logging(FLAGS.verbose)
    tie = orbit_tie_timings(FLAGS.points, FLAGS.channels, FLAGS.batch, FLAGS.repeats)
    print(f"orbit_tie: {tie}", flush=True)
    pairwise = pairwise_timings(FLAGS.pairwise_size, FLAGS.repeats)
    print(f"pairwise_tie: {pairwise}", flush=True)
    offset = offset_tie_timings(FLAGS.repeats)
    print(f"offset_tie: {offset}", flush=True)
    text = markdown(tie, pairwise, offset)
    publish(text, FLAGS.out)


if __name__ == "__main__":
    app.run(main)

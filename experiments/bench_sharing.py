"""Benchmark of the orbit engine and of three ways to run an S_n-equivariant layer.

1. Orbit-map build time vs index-set size: S_n on n blocks x C channels, in and
   out (n*C x n*C weights), uncached.
2. Forward + backward time (jit, steady state; median of --repeats) of one
   layer on a batch, four ways with identical math:
     generic      symjax.functional.SharedDense at its default contraction ('auto': here
                  'factored', the points mixed by one-hot matrices, then the channels)
     gather       W = w[M], then x W^T (SharedDense(contraction='dense'))
     dense_basis  W = reshape(Q w) with the dense (mn x k) 0/1 basis matrix Q
                  (the approach of EMLP, Finzi et al. 2021)
     closed_form  h A + (sum_j h_j - h) B (symjax.layers.SetLayer, eq. 10)
   The dense basis is skipped when Q would exceed --max_basis_bytes.

    python experiments/bench_sharing.py --out=docs/benchmarks.md
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.bench_common import publish  # noqa: E402
from symjax import actions, functional, groups, sharing  # noqa: E402
from symjax.layers import SetLayer  # noqa: E402
from symjax.tasks.common import machine_description  # noqa: E402
from symjax.tasks.progress import configure_logging, define_verbose_flag  # noqa: E402

FLAGS = flags.FLAGS
define_verbose_flag()
flags.DEFINE_list("build_sizes", ["5", "20", "100", "300", "1000"], "n for the orbit-map build timing.")
flags.DEFINE_list("layer_sizes", ["5", "20", "100"], "n for the layer timing.")
flags.DEFINE_integer("channels", 16, "Channels per block, in and out.")
flags.DEFINE_integer("batch", 64, "Batch size of the layer timing.")
flags.DEFINE_integer("repeats", 20, "Timed repetitions (median reported).")
flags.DEFINE_float("max_basis_bytes", 6e9, "Skip the dense basis when Q would be larger.")
flags.DEFINE_string("out", None, "Markdown file whose 'Orbit sharing' section is written (replaced if present).")


def time_build(n: int, channels: int) -> tuple[float, int]:
    sn = groups.symmetric(n)
    a = actions.blocks(sn, channels)
    sharing._orbit_index_map_cached.cache_clear()
    sharing._orbit_blocks_cached.cache_clear()
    sharing._component_orbits.cache_clear()
    start = time.perf_counter()
    _, k = sharing.orbit_index_map(a, a)
    return time.perf_counter() - start, k


def median_time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def layer_timings(n: int, channels: int, batch: int, repeats: int, max_basis_bytes: float) -> dict:
    sn = groups.symmetric(n)
    a = actions.blocks(sn, channels)
    spec = functional.SharedDense(a, a, use_bias=False)
    w = functional.init(jax.random.key(0), spec)["w"]
    x = jax.random.normal(jax.random.key(1), (batch, n * channels))
    index_map = spec.weight_map
    m = n * channels

    def loss_and_grad(f):
        return jax.jit(jax.value_and_grad(lambda w, x: jnp.sum(f(w, x) ** 2)))

    results = {}
    gather = loss_and_grad(lambda w, x: x @ spec.weights({"w": w}).T)
    results["gather"] = median_time(gather, w, x, repeats=repeats)
    generic = loss_and_grad(lambda w, x: spec.apply({"w": w}, x))
    results["generic"] = median_time(generic, w, x, repeats=repeats)
    results["generic_contraction"] = "factored" if spec.factored else "dense"

    basis_bytes = m * m * spec.num_weights * 4
    if basis_bytes <= max_basis_bytes:
        q_host = np.zeros((m * m, spec.num_weights), np.float32)
        q_host[np.arange(m * m), index_map.ravel()] = 1.0
        q = jnp.asarray(q_host)
        del q_host
        # Q is an argument, not a constant folded into the program (it can be gigabytes)
        dense_basis = jax.jit(jax.value_and_grad(lambda w, x, q: jnp.sum((x @ (q @ w).reshape(m, m).T) ** 2)))
        results["dense_basis"] = median_time(dense_basis, w, x, q, repeats=repeats)
        del q
    else:
        results["dense_basis"] = None
    results["basis_gb"] = basis_bytes / 1e9

    # closed form with the same coefficients: A = W[block 0, block 0], B = W[block 0, block 1]
    weights = np.asarray(functional.expand(w, index_map))
    closed_params = {"A": jnp.asarray(weights[:channels, :channels].T),
                     "B": jnp.asarray(weights[:channels, channels:2 * channels].T)}
    layer = SetLayer(n, channels, channels, use_bias=False)
    xb = x.reshape(batch, n, channels)
    closed = jax.jit(jax.value_and_grad(lambda p, x: jnp.sum(layer.apply(p, x) ** 2)))
    results["closed_form"] = median_time(closed, closed_params, xb, repeats=repeats)
    gather_out = x @ spec.weights({"w": w}).T
    closed_out = layer.apply(closed_params, xb).reshape(batch, -1)
    results["max_abs_diff"] = float(jnp.max(jnp.abs(gather_out - closed_out)))
    results["max_abs_diff_generic"] = float(jnp.max(jnp.abs(spec.apply({"w": w}, x) - closed_out)))
    return results


def markdown(build_rows, layer_rows) -> str:
    lines = ["## Orbit sharing (experiments/bench_sharing.py)", "",
             f"Machine: {machine_description()}. Date: {time.strftime('%Y-%m-%d')}.", "",
             f"Orbit-map build, S_n on n blocks x {FLAGS.channels} channels in and out (uncached):", "",
             "| n | weights | orbits | build time (s) |", "|---:|---:|---:|---:|"]
    for n, t, k in build_rows:
        size = n * FLAGS.channels
        lines.append(f"| {n} | {size} x {size} | {k} | {t:.4f} |")
    lines += ["", f"Forward + backward of one layer, batch {FLAGS.batch}, jit, median of {FLAGS.repeats} "
              "(milliseconds):", "",
              "| n | generic layer (its default contraction) | generic / closed form | gather W = w[M] "
              "| dense basis W = Q w | closed form (eq. 10) | basis Q size (GB) | max abs diff vs closed "
              "(generic; gather) |",
              "|---:|---|---:|---:|---:|---:|---:|---|"]
    for n, r in layer_rows:
        dense = f"{1e3 * r['dense_basis']:.3f}" if r["dense_basis"] is not None else "skipped (too large)"
        lines.append(f"| {n} | {1e3 * r['generic']:.3f} ({r['generic_contraction']}) | "
                     f"{r['generic'] / r['closed_form']:.2f}x | {1e3 * r['gather']:.3f} | {dense} | "
                     f"{1e3 * r['closed_form']:.3f} | {r['basis_gb']:.3f} | "
                     f"{r['max_abs_diff_generic']:.1e}; {r['max_abs_diff']:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    configure_logging(FLAGS.verbose)
    build_rows = []
    for n in (int(v) for v in FLAGS.build_sizes):
        t, k = time_build(n, FLAGS.channels)
        build_rows.append((n, t, k))
        print(f"build n={n}: {t:.4f} s, {k} orbits", flush=True)
    layer_rows = []
    for n in (int(v) for v in FLAGS.layer_sizes):
        r = layer_timings(n, FLAGS.channels, FLAGS.batch, FLAGS.repeats, FLAGS.max_basis_bytes)
        layer_rows.append((n, r))
        print(f"layer n={n}: {r}", flush=True)
    text = markdown(build_rows, layer_rows)
    publish(text, FLAGS.out)


if __name__ == "__main__":
    app.run(main)

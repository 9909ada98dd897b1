"""Do two jitted programs run at the same time on one CPU device, and on two?

The engine trains a sweep's lane groups as separate programs. This measures what placing them on
separate CPU devices (``Execution.lane_placement='groups'``, the scripts' ``--cpu_devices``) can buy:
the wall time of one program alone, of two independent programs dispatched back to back on one device,
and of the same two on two devices (median of --repeats each), and whether a program gives the same bits
on either device. The program is a scan of small (64 x 64) matmuls and tanh.

    python experiments/bench_cpu_devices.py --out=docs/benchmarks.md
"""

from __future__ import annotations

import os
import statistics
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.bench_common import call_seconds, publish  # noqa: E402
from symjax.tasks.common import machine_description  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("width", 64, "Rows and columns of the scanned matrix.")
flags.DEFINE_integer("steps", 2000, "Scan steps per program.")
flags.DEFINE_integer("repeats", 7, "Timed repetitions of each case (median reported).")
flags.DEFINE_string("out", None, "Markdown file whose section is written (replaced if present).")

SECTION = "## Programs on one or two CPU devices (experiments/bench_cpu_devices.py)"


def program(steps: int):
    """x -> x after `steps` steps of x <- tanh(0.01 x x^T x), jitted."""
    def body(x, _):
        return jnp.tanh(0.01 * (x @ x.T) @ x), None

    return jax.jit(lambda x: jax.lax.scan(body, x, None, length=steps)[0])


def measure() -> dict:
    first, second = jax.devices()[:2]
    f = program(FLAGS.steps)
    x = np.linspace(-1.0, 1.0, FLAGS.width * FLAGS.width, dtype=np.float32).reshape(FLAGS.width, FLAGS.width)
    on_first, on_second = jax.device_put(x, first), jax.device_put(x[::-1].copy(), second)
    other_on_first = jax.device_put(x[::-1].copy(), first)
    for a in (on_first, on_second, other_on_first):  # compile for each device, outside the timings
        f(a).block_until_ready()

    def both(a, b):
        ra, rb = f(a), f(b)  # dispatched back to back; each call returns before its program has run
        ra.block_until_ready()
        rb.block_until_ready()

    cases = {"one program": lambda: f(on_first).block_until_ready(),
             "two programs, one device": lambda: both(on_first, other_on_first),
             "two programs, two devices": lambda: both(on_first, on_second)}
    seconds = {}
    for _ in range(2):  # the first pass warms up (allocator, thread pools); the second is kept
        seconds = {name: statistics.median(call_seconds(run, FLAGS.repeats, warm_up=False))
                   for name, run in cases.items()}
    same_bits = bool(np.array_equal(np.asarray(f(on_second)), np.asarray(f(other_on_first))))
    return {"seconds": seconds, "same_bits": same_bits, "cores": len(os.sched_getaffinity(0))}


def markdown(r: dict) -> str:
    one = r["seconds"]["one program"]
    lines = [SECTION, "",
             f"Measured on {machine_description()} (`python experiments/bench_cpu_devices.py "
             f"--out=docs/benchmarks.md`): a jitted scan of {FLAGS.steps} steps of tanh(0.01 x x^T x) on a "
             f"{FLAGS.width} x {FLAGS.width} float32 matrix, median of {FLAGS.repeats} calls, JAX with two CPU "
             f"devices ({r['cores']} cores).", "",
             "| case | s | / one program |", "|---|---:|---:|"]
    lines += [f"| {name} | {s:.4f} | {s / one:.2f}x |" for name, s in r["seconds"].items()]
    lines += ["", f"The same program on the second device gives the first device's bits: {r['same_bits']}."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    jax.config.update("jax_num_cpu_devices", 2)
    text = markdown(measure())
    publish(text, FLAGS.out)


if __name__ == "__main__":
    app.run(main)

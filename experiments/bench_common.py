"""What the benchmark scripts share: the machine's large-matmul rate, Task 1's useful FLOPs per epoch,
whole-process timings and the time per kind of XLA operation in a profiler trace.

No flags are defined here, so any benchmark script may import it.
"""

import collections
import glob
import gzip
import json
import os
import re
import resource
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np

from symjax.io import write_markdown_section


def call_seconds(run, repeats: int, warm_up: bool = True) -> list[float]:
    """Wall seconds of each of `repeats` calls of run() (which waits for its results), after one untimed
    call when warm_up (compilation, allocation)."""
    if warm_up:
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of an n x n float32 matmul on the default device (median of `repeats`)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda m: m @ m)
    return 2 * n ** 3 / float(np.median(call_seconds(lambda: f(a).block_until_ready(), repeats)))


def task1_epoch_flops(model: str, n_blocks: int, seeds: int, train_sizes) -> float:
    """Useful training FLOPs of one Task 1 epoch of ``model`` over every (train size, seed) lane: XLA's cost
    analysis of one example's forward + backward times the real training examples (no validation, padding or
    optimiser update counted)."""
    from symjax.tasks import set_function_task as task1  # noqa: PLC0415
    from symjax.train.execution import example_flops  # noqa: PLC0415

    (_, fns, pool_x, pool_y, _), = task1.engine_sweeps(task1.Options(
        n_blocks=(n_blocks,), train_sizes=tuple(train_sizes), seeds=tuple(range(seeds)), models=(model,)))
    return example_flops(fns.init, fns.apply, "mse", pool_x, pool_y) * seeds * sum(train_sizes)


def publish(text: str, out: str | None) -> None:
    """Prints a benchmark's markdown section and, with ``out`` (its --out flag), writes it into that file
    (the section with the same heading replaced, the others kept)."""
    print(text)
    if out:
        write_markdown_section(out, text)


def run_process(cmd, env=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system, all threads) of one whole process with `env` added to this
    one's environment; raises with its stderr's tail when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed_process(cmd, env=None) -> float:
    """Wall seconds of one whole process (see run_process)."""
    return run_process(cmd, env)[0]


HLO_NAME = re.compile(r"[a-z][a-z0-9_\-]*(\.\d+)?")
CONTROL_FLOW = {"while", "call", "conditional"}


def op_kind(name: str) -> str | None:
    """The kind of an XLA operation event, or None for events that are not one (Python, runtime, control flow)."""
    if not HLO_NAME.fullmatch(name):
        return None
    kind = name.split(".")[0]
    if kind in CONTROL_FLOW:
        return None
    return "matmul" if kind == "dot" or kind.startswith("ynn") else kind


def op_seconds(trace_dir: str) -> collections.Counter:
    """Seconds per operation kind in the newest perfetto trace under trace_dir (summed over threads)."""
    path = sorted(glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True))[-1]
    with gzip.open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    seconds = collections.Counter()
    for event in events:
        kind = op_kind(event.get("name", "")) if event.get("ph") == "X" else None
        if kind is not None:
            seconds[kind] += event.get("dur", 0) * 1e-6
    return seconds

"""Compile a sweep's programs before their first call, several at once.

A sweep runs a handful of jitted programs: per lane group an epoch's random
draws and a training epoch, and once the test evaluation. Called one after
another, each is traced, lowered and compiled when first needed, one at a time.
`Precompiler` instead runs one job per program in a thread pool: tracing and
lowering hold the GIL, but XLA compilation releases it, so the compilations of
different programs overlap (on a CPU with spare cores, or on an accelerator's
host). A program compiled ahead with `jax.jit(f).lower(...).compile()` is the
one a later call `jax.jit(f)(...)` with the same arguments runs (JAX's
in-memory cache is shared by both routes), so the results do not change.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Callable


def default_workers() -> int:
    """Threads for compilation: the CPU cores this process may use, at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Precompiler:
    """Runs compilation jobs in a thread pool; the caller waits only for the jobs it needs next.

    Usage:
        with Precompiler(workers) as pre:
            first = [pre.submit(job) for job in jobs_needed_first]
            later = pre.submit(job_needed_last)
            pre.wait(first)
            ...
            pre.wait([later])
    A job is a callable without arguments (e.g. `lambda: f.lower(x).compile()`); its
    exception is raised by `wait`. Leaving the block waits for every job.
    """

    def __init__(self, workers: int = 0):
        """workers: threads (0 = default_workers())."""
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise ValueError(f"Precompiler: expected workers to be an int >= 0, got {workers!r}")
        workers = workers or default_workers()
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="symjax-compile")

    def submit(self, job: Callable[[], object]) -> concurrent.futures.Future:
        return self._pool.submit(job)

    @staticmethod
    def wait(futures) -> None:
        for future in futures:
            future.result()

    def __enter__(self) -> "Precompiler":
        return self

    def __exit__(self, *exc) -> None:
        # After an error, jobs not yet started are dropped; running compilations cannot be interrupted.
        self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)

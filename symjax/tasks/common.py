"""Adapters every task shares: augmentation and symmetry-error functions, machine description.

The engine (``symjax.train.sweep``) takes plain functions; these adapters turn
an action of the task's group into them:

* ``augmentation(action_in, action_out)`` -> augment_fn(key, x, y): draws one
  uniform g per example and returns (g . x, g . y) (y untouched when
  action_out is None: invariant targets);
* ``symmetry_error_fn(apply_fn, action_in, action_out)`` -> fn(params, key, x):
  eq. 8 with one sampled g per call (the engine averages ``sym_samples`` keys
  per test example).
"""

from __future__ import annotations

import os
import platform
import sys

import jax

from symjax import metrics


def augmentation(action_in, action_out=None):
    """augment_fn(key, x_example, y_example) applying one sampled group element."""

    def augment(key, x, y):
        g = action_in.group.sample(key, 1)[0]
        x = action_in.act(g, x)
        if action_out is not None:
            y = action_out.act(g, y)
        return x, y

    return augment


def symmetry_error_fn(apply_fn, action_in, action_out):
    """fn(params, key, x_batch) -> eq. 8 estimate with one sampled element."""

    def fn(params, key, x):
        return metrics.symmetry_error(lambda inputs: apply_fn(params, inputs), x, action_in, action_out, key,
                                      num_samples=1)

    return fn


def machine_description() -> str:
    """'Linux x86_64, 2 CPU cores (model), jax 0.x on cpu: TFRT_CPU_0' — for reports."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    devices = ", ".join(sorted({f"{d.platform}: {getattr(d, 'device_kind', d.platform)}" for d in jax.devices()}))
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores ({cpu}), "
            f"python {sys.version.split()[0]}, jax {jax.__version__}, devices [{devices}] x{jax.device_count()}")

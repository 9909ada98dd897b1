"""What every task shares: flags, augmentation and symmetry-error adapters, machine description.

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
from absl import flags

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


def define_common_flags(*, max_epochs: int, patience: int) -> None:
    """Flags every task script takes (defaults from the study: Adam 1e-3, per-task epochs/patience)."""
    flags.DEFINE_list("models", ["vanilla", "vanilla_aug", "shared", "shared_aug"], "Model variants to train.")
    flags.DEFINE_string("seeds", "3", "A count (e.g. 3 -> seeds 0,1,2) or a comma list of seeds (e.g. 0,5,7).")
    flags.DEFINE_integer("max_epochs", max_epochs, "Maximum epochs per lane.")
    flags.DEFINE_integer("patience", patience, "Early-stopping patience in epochs.")
    flags.DEFINE_boolean("early_stopping", True, "Stop each lane after --patience epochs without improvement.")
    flags.DEFINE_float("lr", 1e-3, "Adam learning rate.")
    flags.DEFINE_string("out_dir", None, "Output directory (results, report, figures, checkpoints).")
    flags.DEFINE_boolean("resume", False, "Continue from the newest checkpoint in --out_dir.")
    flags.DEFINE_integer("checkpoint_every", 10, "Epochs between checkpoints.")
    flags.DEFINE_integer("sym_samples", 5, "Group elements per test example for the symmetry error (eq. 8).")
    flags.DEFINE_boolean("x64", False, "Train in float64 (jax_enable_x64).")
    flags.DEFINE_boolean("quick", False, "A tiny grid for CI and smoke tests.")
    flags.DEFINE_boolean("quiet", False, "No progress bar.")
    flags.DEFINE_enum("lane_groups", "shape", ["shape", "single"],
                      "How lanes share jitted epoch programs: 'shape' = one program per distinct (batch size, "
                      "steps per epoch), no padding work; 'single' = one padded program for all lanes of an "
                      "architecture (one compilation). Results are the same.")
    flags.DEFINE_boolean("distributed", False, "Call jax.distributed.initialize() first (multi-host: SLURM, TPU "
                         "pods; see launch/README.md). Each process trains its slice of the lanes.")


def initialize_distributed(enabled: bool) -> None:
    """jax.distributed.initialize() when asked (it reads SLURM / TPU-pod settings from the environment)."""
    if enabled:
        jax.distributed.initialize()


def parse_seeds(text: str) -> list[int]:
    """'3' -> [0, 1, 2]; '0,5,7' -> [0, 5, 7]. Raises ValueError naming the flag."""
    text = str(text).strip()
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise ValueError(f"--seeds must be a count or a comma list of integers; got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"--seeds must give at least one non-negative seed; got {text!r}")
    return seeds


def parse_positive_ints(name: str, values) -> list[int]:
    """A list flag of positive integers; ValueError naming the flag otherwise."""
    try:
        result = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"--{name} must be a comma list of positive integers; got {values!r}") from None
    if not result or any(v <= 0 for v in result):
        raise ValueError(f"--{name} must be a comma list of positive integers; got {values!r}")
    return result


def parse_models(values, allowed) -> list[str]:
    unknown = [m for m in values if m not in allowed]
    if not values or unknown:
        raise ValueError(f"--models must be a comma list from {list(allowed)}; got unknown {unknown or values!r}")
    return list(values)


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

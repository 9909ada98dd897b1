"""The persistent XLA compilation cache of sweeps: on by default, in the user's cache home.

A sweep compiles a handful of programs (lane init, the epoch programs, the test evaluation) that
take seconds each on a CPU, which is most of a short sweep's wall time. JAX can keep compiled
executables on disk; a rerun, a resumed run or the test suite then loads them instead of
compiling. JAX keys each entry by a hash of the program's HLO, the compile options, the XLA flags,
the jax/jaxlib versions and the device kind, so an entry is only ever used for the exact program
it was compiled from: changing the model, the lane shapes, a flag or a version makes a new key
(invalidation is by construction; the folder only grows, deleting it is always safe).

Where (``use(setting)``; the application calls it: the experiment driver before a run, with its
``--compile_cache``; ``sweep`` never touches JAX's global cache, so a user calling it directly
calls ``use`` or not):

* ``'auto'`` (default): ``$SYMJAX_COMPILE_CACHE`` if set, else ``$XDG_CACHE_HOME/symjax/xla``,
  else ``~/.cache/symjax/xla``;
* ``'off'`` (or ``$SYMJAX_COMPILE_CACHE=off`` with ``'auto'``): no persistent cache;
* any other string: that directory.

A cache directory the user already gave JAX (``jax_compilation_cache_dir``, e.g. via
``JAX_COMPILATION_CACHE_DIR``) is left as it is. The cache must be trusted: whoever can write to
it can run code in the processes that read it (JAX's warning), so it lives in the user's home.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import jax
from jax.experimental.compilation_cache import compilation_cache

ENV_VAR = "SYMJAX_COMPILE_CACHE"
OFF = "off"
# Programs that compile faster than this are not written to the cache (reading one back costs
# about as much as compiling it); JAX's own default is 1 s, which skips the init and evaluation programs.
MIN_COMPILE_SECONDS = 0.2


def cache_dir(setting: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The cache directory `setting` ('auto', 'off' or a path) names; None = no cache.

    Example: cache_dir('auto', {'HOME': '/home/a'}) == '/home/a/.cache/symjax/xla'.
    """
    if not isinstance(setting, str) or not setting:
        raise ValueError(f"compile_cache: expected 'auto', 'off' or a directory, got {setting!r}")
    if setting == "auto":
        setting = environ.get(ENV_VAR) or os.path.join(
            environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME", "~"), ".cache"), "symjax", "xla")
    if setting == OFF:
        return None
    return os.path.abspath(os.path.expanduser(setting))


def point_to(path: str) -> None:
    """Makes `path` JAX's persistent compilation cache from the next compilation on (creating the folder)."""
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    compilation_cache.set_cache_dir(path)
    compilation_cache.reset_cache()  # JAX opens its cache folder once; make it open this one


def use(setting: str) -> str | None:
    """Points JAX's persistent compilation cache at cache_dir(setting), unless JAX already has one.

    Returns the directory in use (None: no persistent cache). Called by the application before it compiles
    (the experiment driver, ``symjax.tasks.run``); never by ``sweep``.
    """
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    path = cache_dir(setting)
    if path is not None:
        point_to(path)
    return path

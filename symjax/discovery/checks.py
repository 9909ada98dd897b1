"""Input checks shared by the discovery penalties and metrics.

Shape, layout and option checks are static and run under ``jit`` too (they
raise at trace time). Value checks (NaN weights, a negative scale) need the
numbers, so they run only on concrete arrays: an eager call is checked, a
traced one (inside ``jit``, ``grad`` or ``vmap``) is not.

Example:
    >>> layout("in_out")
    'in_out'
    >>> layout("oi")
    Traceback (most recent call last):
    ...
    ValueError: layout must be 'out_in' (symjax W, shape (out, in)) or 'in_out' (Flax Dense kernel, shape (in, out)); got 'oi'
"""

from __future__ import annotations

from typing import Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np

from symjax.actions import Action

#: How a weight matrix is laid out: (out, in) as ``W x``, or (in, out) as Flax's ``x @ kernel``.
Layout = Literal["out_in", "in_out"]
LAYOUTS = get_args(Layout)
#: Whether a score reads the hidden index as laid out or after its best relabelling.
Hidden = Literal["fixed", "align"]
HIDDEN = get_args(Hidden)


def is_concrete(x) -> bool:
    """True for a value whose numbers are known now (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def weights(w, what: str = "w") -> jax.Array:
    """``w`` as a floating-point jax array; a concrete one must be finite."""
    w = jnp.asarray(w)
    if not jnp.issubdtype(w.dtype, jnp.floating):
        raise ValueError(f"{what} must hold floating-point weights; got dtype {w.dtype}")
    if is_concrete(w) and w.size and not bool(np.all(np.isfinite(np.asarray(w)))):
        bad = int(w.size - np.count_nonzero(np.isfinite(np.asarray(w))))
        raise ValueError(f"{what} must be finite; got {bad} NaN/inf entries of {w.size} (shape {w.shape})")
    return w


def nonnegative(value, what: str):
    """A concrete ``value`` must be a finite number >= 0; a traced one passes unchecked."""
    if is_concrete(value):
        number = float(np.asarray(value))
        if not (np.isfinite(number) and number >= 0):
            raise ValueError(f"{what} must be a finite number >= 0; got {number!r}")
    return value


def exponent(p) -> int:
    """The exponent of an |.|^p penalty: 1 or 2."""
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p!r}")
    return int(p)


def layout(value) -> str:
    if value not in LAYOUTS:
        raise ValueError(f"layout must be 'out_in' (symjax W, shape (out, in)) or 'in_out' (Flax Dense kernel, "
                         f"shape (in, out)); got {value!r}")
    return value


def expected_shape(action_out: Action, action_in: Action, layout_name: str) -> tuple[int, int]:
    """The matrix shape that the pair of actions implies in the given layout."""
    for name, action in (("action_out", action_out), ("action_in", action_in)):
        if not isinstance(action, Action):
            raise TypeError(f"{name} must be a symjax.actions.Action; got {type(action).__name__}")
    m, n = action_out.size, action_in.size
    return (m, n) if layout(layout_name) == "out_in" else (n, m)


def matrix(w, action_out: Action, action_in: Action, layout_name: str) -> jax.Array:
    """``w`` checked against the actions: shape (out, in) for 'out_in', (in, out) for 'in_out'."""
    shape = expected_shape(action_out, action_in, layout_name)
    w = weights(w)
    if w.shape != shape:
        raise ValueError(
            f"w has shape {tuple(w.shape)} but layout {layout_name!r} with action_out of size {action_out.size} "
            f"and action_in of size {action_in.size} expects {shape}")
    return w

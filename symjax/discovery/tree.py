"""Apply a penalty to chosen leaves of any params pytree (Flax linen dicts, NNX states, plain dicts).

Leaves are named by their key path joined with '/': a linen
``model.init(...)`` tree gives 'params/Dense_0/kernel', an NNX
``nnx.state(model, nnx.Param)`` gives 'linear1/kernel/value'. ``select`` is a
regular expression searched in that name, or a predicate (name, leaf) -> bool.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import jax
import jax.numpy as jnp

from symjax.discovery import checks


def named_leaves(params) -> list[tuple[str, Any]]:
    """(name, leaf) for every leaf, the name its '/'-joined key path, in ``jax.tree_util`` order."""
    return [(jax.tree_util.keystr(path, simple=True, separator="/"), leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]]


def tree_penalty(params: Any, penalty: Callable[[jax.Array], jax.Array], *,
                 select: str | Callable[[str, Any], bool], weight=1.0) -> jax.Array:
    """weight * sum of penalty(leaf) over the selected leaves of ``params``.

    Args:
      params: any pytree of arrays.
      penalty: leaf -> scalar, e.g. ``lambda k: discovery.orbit_tie(k, out, inp, layout='in_out')``.
      select: a regex searched in each leaf's name (e.g. r'Dense_0/kernel'),
        or a predicate (name, leaf) -> bool. At least one leaf must match.
      weight: λ >= 0 (a Python number or a traced scalar, e.g. a per-lane
        hyperparameter; checked only when concrete).
    Returns:
      A scalar.
    Example:
      >>> import jax.numpy as jnp
      >>> from symjax import discovery
      >>> params = {'params': {'Dense_0': {'kernel': jnp.ones((2, 3)), 'bias': jnp.zeros(3)}}}
      >>> float(tree_penalty(params, discovery.l1, select='kernel', weight=0.5))
      3.0
    """
    checks.nonnegative(weight, "weight (λ)")
    if isinstance(select, str):
        pattern = re.compile(select)
        chosen = lambda name, leaf: pattern.search(name) is not None
    elif callable(select):
        chosen = select
    else:
        raise ValueError(f"select must be a regex string or a predicate (name, leaf) -> bool; got {select!r}")
    leaves = named_leaves(params)
    terms = [penalty(leaf) for name, leaf in leaves if chosen(name, leaf)]
    if not terms:
        raise ValueError(f"select={select!r} matches no leaf; the leaves are {[name for name, _ in leaves]}")
    return weight * jnp.sum(jnp.stack(terms))

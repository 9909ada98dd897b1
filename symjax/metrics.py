"""Symmetry error (study eq. 8) and parameter counts.

    SymErr(x; f) = E_{g in G} [ L(g . f(x), f(g . x)) ]                      (eq. 8)

with L the mean squared error and the expectation estimated over
``num_samples`` uniform group elements (the study uses 5). An action here is
anything with ``.group`` (a ``PermutationGroup``) and ``.act(g, x)``:
``symjax.actions.Action`` acts on the last axis of flat data (..., p * c),
``actions.points(G)`` on point x channel data (..., p, c) (SetLayer,
SwapBlockLayer, the node features of GraphLayer), ``actions.GraphAction`` on
dense graphs (A, X, mask) and ``actions.GraphsTupleAction`` on a
``jraph.GraphsTuple``. For an invariant output use ``actions.trivial(G, size)``
(g . y = y).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from symjax import actions, groups, metrics
    >>> s4 = groups.symmetric(4)
    >>> x = jnp.arange(8.0).reshape(2, 4)                     # 2 examples, S_4 permutes the 4 entries
    >>> key = jax.random.key(0)
    >>> float(metrics.symmetry_error(lambda v: 2 * v, x, actions.base(s4), actions.base(s4), key))
    0.0
    >>> total = lambda v: v.sum(-1, keepdims=True)           # invariant: g . y = y on 1 output
    >>> float(metrics.symmetry_error(total, x, actions.base(s4), actions.trivial(s4, 1), key))
    0.0
    >>> weigh = lambda v: v * jnp.arange(4.0)                # not equivariant
    >>> float(metrics.symmetry_error(weigh, x, actions.base(s4), actions.base(s4), key)) > 0
    True
    >>> metrics.count_params({"w": jnp.ones((3, 4)), "b": jnp.zeros(4)})
    16
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from symjax.groups import check_same_group


def symmetry_error(f, x, action_in, action_out, rng, num_samples: int = 5):
    """Mean over sampled g of MSE(g . f(x), f(g . x)) (eq. 8).

    Args:
      f: the model, x -> y (batched: x and y carry a leading batch axis, or not;
        the actions only touch their own axes).
      x: input (array or pytree accepted by ``action_in.act``).
      action_in, action_out: actions of the same group on inputs and outputs.
      rng: a jax PRNG key (traceable; works under jit and vmap) or an int seed.
      num_samples: number of group elements g.
    Returns:
      A scalar: the mean of (g . f(x) - f(g . x))^2 over samples, examples and outputs.

    Called eagerly, each operation of f and of the actions compiles on its own (once per shape); for a
    model of many operations, call it inside ``jax.jit`` (one compilation; experiments/examples/jraph_karate.py
    does so, and its 3-step run went from 16.5 s to 8.8 s).
    """
    for name, action in (("action_in", action_in), ("action_out", action_out)):
        if not (hasattr(action, "group") and hasattr(action, "act")):
            raise TypeError(f"{name}: expected an action with .group and .act (symjax.actions), got "
                            f"{type(action).__name__}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples: expected an integer >= 1, got {num_samples!r} (0 samples average to NaN)")
    check_same_group(action_in.group, action_out.group, "action_in", "action_out")
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = jax.random.key(int(rng))
    elements = action_in.group.sample(rng, num_samples)
    y = f(x)
    if any(np.size(leaf) == 0 for leaf in jax.tree_util.tree_leaves(y)):
        raise ValueError(f"symmetry_error: expected a non-empty batch; f(x) is empty (shapes "
                         f"{[tuple(np.shape(leaf)) for leaf in jax.tree_util.tree_leaves(y)]}), and its mean "
                         "would be NaN")

    def one(g):
        diff = action_out.act(g, y) - f(action_in.act(g, x))
        return jnp.mean(jnp.square(diff))

    return jnp.mean(jax.vmap(one)(elements))


def relative_symmetry_error(f, x, action_in, action_out, rng, num_samples: int = 5):
    """``symmetry_error`` divided by the mean square of f(x) (scale-free, for tests)."""
    y = f(x)
    return symmetry_error(f, x, action_in, action_out, rng, num_samples) / jnp.maximum(jnp.mean(jnp.square(y)),
                                                                                       1e-30)


def count_params(tree) -> int:
    """Number of scalars in a params pytree (sum of leaf sizes)."""
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(tree)))

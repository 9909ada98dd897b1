"""How a permutation group acts on the index set of a layer's input or output.

An action of ``G`` on ``range(size)`` is a homomorphism ``rho: G -> S_size``.
Every action here is a direct sum of *components*; a component is a
permutation action of ``G`` on ``points`` (the base points, index tuples, a
single fixed point, or given images) tensored with ``channels`` untouched
channels, so component index ``p * channels + c`` goes to
``rho(g)(p) * channels + c``. Components are laid out one after another.

Keeping the point action and the channel count apart is what lets
``symjax.sharing`` find orbits of index pairs on the (small) point pairs and
multiply by channel pairs, instead of working on all ``size**2`` pairs.

An action stores the images of the group's generators (``.generators``, shape
``(num_generators, size)``), and maps any group element to its index
permutation (``.permutation(g)``, numpy or traced jax). ``.act(g, x)`` applies
``rho(g)`` to the last axis of ``x``: ``(rho(g) x)[rho(g)(i)] = x[i]``.

Layouts. ``Action.act`` permutes the last axis of flat data (..., size).
Data with a point axis and a channel axis, (..., p, c), is the same data
flattened element-major: ``x.reshape(*batch, p * c)`` puts point p, channel c
at index ``p * c_total + c`` (``blocks(G, c)``); ``points(G)`` acts on the
(..., p, c) form directly (on axis -2), so a ``SetLayer`` or
``SwapBlockLayer`` is checked without reshaping. ``GraphAction`` acts on dense
graphs (A, X, mask), ``GraphsTupleAction`` on a ``jraph.GraphsTuple``.

Example:
    >>> from symjax import groups
    >>> blocks(groups.symmetric(5), 8)
    S_5 acting on 5 points x 8 channels: 40 indices
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from symjax.groups import (PermutationGroup, StabilizerChain, _as_permutation_array, check_same_group, difference,
                           inverse, presentation)


def is_integer(value) -> bool:
    """True for Python and numpy integers and concrete 0-d integer jax arrays (``jnp.int32(4)``); not bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return (hasattr(value, "dtype") and np.ndim(value) == 0 and np.issubdtype(value.dtype, np.integer)
            and not isinstance(value, jax.core.Tracer))


class Component:
    """One summand: ``G`` permuting ``points`` points, each carrying ``channels`` channels.

    kind is 'base' (G on its own points), 'tuples' (G on row-major ``arity``-tuples
    of its points), 'trivial' (one fixed point) or 'images' (points moved as the
    given generator images say).
    """

    def __init__(self, group: PermutationGroup, kind: str, channels: int, arity: int = 1, images=None):
        if not is_integer(channels) or int(channels) < 1:
            raise ValueError(f"channels must be a positive integer; got {channels!r}")
        self.group = group
        self.kind = kind
        self.channels = int(channels)
        self.arity = int(arity)
        if kind == "base":
            self.generator_images = group.generators
        elif kind == "tuples":
            self.generator_images = _tuple_images(np, group.generators, group.degree, self.arity)
        elif kind == "trivial":
            self.generator_images = np.zeros((group.num_generators, 1), np.int32)
        elif kind == "images":
            self.generator_images = images
        else:
            raise ValueError(f"unknown component kind {kind!r}")
        self.points = int(self.generator_images.shape[1])

    def with_channels(self, channels: int) -> "Component":
        return Component(self.group, self.kind, channels, self.arity, self.generator_images)

    def over(self, group: PermutationGroup) -> "Component":
        """This component for another presentation of the same group (images of ``group``'s generators)."""
        if self.kind != "images":
            return Component(group, self.kind, self.channels, self.arity)
        images = np.asarray(self.point_permutation(np.asarray(group.generators)), np.int32)
        return Component(group, "images", self.channels, images=images)

    def _key(self):
        return (self.group, self.kind, self.channels, self.arity,
                self.generator_images.tobytes() if self.kind == "images" else None)

    def __eq__(self, other):
        return isinstance(other, Component) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def describe(self) -> str:
        if self.kind == "base":
            what = f"{self.points} points"
        elif self.kind == "tuples":
            what = f"{self.points} {self.arity}-tuples of {self.group.degree} points"
        elif self.kind == "trivial":
            what = "1 fixed point"
        else:
            what = f"{self.points} points (given images)"
        return what if self.channels == 1 else f"{what} x {self.channels} channels"

    @functools.cached_property
    def _homomorphism_tables(self):
        """Sifting tables for mapping elements of G through the given images.

        The graph of the homomorphism, {(g, rho(g))}, is a permutation group on
        degree + points points; its stabiliser chain with base points among the
        first ``degree`` points lets us write any g as u_1...u_m and read off
        rho(g) = rho(u_1)...rho(u_m).
        """
        degree = self.group.degree
        combined = np.concatenate([self.group.generators, self.generator_images + degree], axis=1)
        chain = StabilizerChain(combined, candidates=range(degree))
        if chain.order != self.group.order:
            raise ValueError(
                f"the images do not define an action of {self.group!r}: the pairs (generator, image) "
                f"generate a group of order {chain.order}, expected |G| = {self.group.order}")
        levels = len(chain.base)
        width = max((len(t) for t in chain.transversals), default=1)
        lookup = np.zeros((levels, degree), np.int32)
        deg_inverse = np.tile(np.arange(degree), (levels, width, 1))
        point_part = np.tile(np.arange(self.points), (levels, width, 1))
        for level, (orbit, trans) in enumerate(zip(chain.orbits, chain.transversals)):
            lookup[level, orbit] = np.arange(len(orbit))
            deg_inverse[level, :len(trans)] = inverse(trans[:, :degree])
            point_part[level, :len(trans)] = trans[:, degree:] - degree
        return (np.array(chain.base, np.int32), lookup, deg_inverse.astype(np.int32),
                point_part.astype(np.int32))

    def point_permutation(self, g):
        """Images of this component's points under element(s) g (..., degree) -> (..., points)."""
        xp = np if isinstance(g, np.ndarray) else jnp
        if self.kind == "base":
            return g
        if self.kind == "tuples":
            return _tuple_images(xp, g, self.group.degree, self.arity)
        if self.kind == "trivial":
            return xp.zeros(g.shape[:-1] + (1,), g.dtype)
        base, lookup, deg_inverse, point_part = self._homomorphism_tables
        rest = g
        result = xp.broadcast_to(xp.arange(self.points, dtype=g.dtype), g.shape[:-1] + (self.points,))
        for level in range(len(base)):
            index = xp.asarray(lookup[level])[rest[..., base[level]]]
            u_inverse = xp.asarray(deg_inverse[level])[index]
            rest = xp.take_along_axis(u_inverse, rest, axis=-1)  # u^{-1} ∘ rest
            result = xp.take_along_axis(result, xp.asarray(point_part[level])[index], axis=-1)  # result ∘ rho(u)
        return result


def _tuple_images(xp, perms, degree, arity):
    """Images of row-major arity-tuples of points: (..., degree) -> (..., degree**arity)."""
    images = xp.zeros(perms.shape[:-1] + (1,), perms.dtype)
    for _ in range(arity):
        images = (images[..., :, None] * degree + perms[..., None, :]).reshape(perms.shape[:-1] + (-1,))
    return images


class Action:
    """A permutation action of ``group`` on ``range(size)``: a direct sum of components."""

    def __init__(self, group: PermutationGroup, components: Sequence[Component]):
        if not components:
            raise ValueError("an action needs at least one component")
        for c in components:
            if c.group != group:
                raise ValueError(f"all components must act through one presentation of the group; got "
                                 f"{presentation(c.group)} and {presentation(group)} (see Action.over)")
        self.group = group
        self.components = tuple(components)
        self.sizes = tuple(c.points * c.channels for c in self.components)
        self.offsets = tuple(int(o) for o in np.cumsum((0,) + self.sizes)[:-1])
        self.size = int(sum(self.sizes))

    def __eq__(self, other):
        return isinstance(other, Action) and (self.group, self.components) == (other.group, other.components)

    def __hash__(self):
        return hash((self.group, self.components))

    def __repr__(self):
        parts = " + ".join(c.describe() for c in self.components)
        return f"{self.group.name or 'G'} acting on {parts}: {self.size} indices"

    def over(self, group: PermutationGroup) -> "Action":
        """The same action written for another presentation ``group`` of the same set of permutations.

        ``.generators`` then holds the images of ``group``'s generators; ``permutation(g)``
        is unchanged for every element g. Raises ValueError if the groups differ.
        """
        if group == self.group:
            return self
        why = difference(self.group, group)
        if why is not None:
            raise ValueError(f"cannot move {self!r} to {presentation(group)}: not the same group ({why})")
        return Action(group, [c.over(group) for c in self.components])

    @functools.cached_property
    def generators(self) -> np.ndarray:
        """Index permutations of the group's generators, int32 (num_generators, size)."""
        result = self._expand(np, [c.generator_images for c in self.components])
        result = np.asarray(result, np.int32)
        result.setflags(write=False)
        return result

    def _expand(self, xp, point_images):
        pieces = []
        for comp, offset, images in zip(self.components, self.offsets, point_images):
            channel = xp.arange(comp.channels, dtype=images.dtype)
            full = images[..., :, None] * comp.channels + channel + offset
            pieces.append(full.reshape(images.shape[:-1] + (-1,)))
        return xp.concatenate(pieces, axis=-1)

    def permutation(self, g):
        """Index permutation(s) of group element(s) g: (..., degree) -> (..., size)."""
        xp = np if isinstance(g, np.ndarray) else jnp
        return self._expand(xp, [c.point_permutation(g) for c in self.components])

    def act(self, g, x):
        """rho(g) applied to the last axis of x (..., size); g is one element (degree,)."""
        if x.shape[-1] != self.size:
            raise ValueError(f"expected an input whose last axis is {self.size} ({self!r}); got shape {x.shape}")
        perm = self.permutation(g)
        if not isinstance(perm, np.ndarray):
            x = jnp.asarray(x)  # a traced element cannot index a numpy array
        return x[..., inverse(perm)]


# -- constructors -------------------------------------------------------------------------------------

def _group_of(group_or_action):
    if isinstance(group_or_action, Action):
        return group_or_action.group
    if isinstance(group_or_action, PermutationGroup):
        return group_or_action
    raise TypeError(f"expected a PermutationGroup or an Action; got {type(group_or_action).__name__}")


def base(group: PermutationGroup) -> Action:
    """G on its own points: rho(g) = g."""
    return Action(group, [Component(group, "base", 1)])


def blocks(group_or_action, channels: int) -> Action:
    """Each index i of a base action (or of a given action) carries ``channels`` channels.

    Index ``i * channels + c``; the group moves blocks and leaves channels alone.
    """
    if isinstance(group_or_action, PermutationGroup):
        return Action(group_or_action, [Component(group_or_action, "base", channels)])
    action = group_or_action
    _group_of(action)
    return Action(action.group, [c.with_channels(c.channels * channels) for c in action.components])


def tuples(group: PermutationGroup, arity: int) -> Action:
    """G on row-major ``arity``-tuples of points: (i, j) -> (g i, g j) for arity 2 (adjacency matrices)."""
    if not is_integer(arity) or int(arity) < 1:
        raise ValueError(f"arity must be a positive integer; got {arity!r}")
    return Action(group, [Component(group, "tuples", 1, arity=arity)])


def trivial(group: PermutationGroup, size: int = 1) -> Action:
    """G fixes every one of ``size`` indices (invariant outputs, unconstrained features)."""
    return Action(group, [Component(group, "trivial", size)])


class PointAction:
    """An action on points applied to point x channel data (..., p, c): rho(g) permutes axis -2.

    ``points(G).act(g, x)`` equals ``blocks(G, c).act(g, x.reshape(*batch, p * c))``
    reshaped back: the element-major flattening of ``Action``. ``action`` is
    the action on the p points (its size must be p).
    """

    def __init__(self, action: Action):
        if not isinstance(action, Action):
            raise TypeError(f"points: expected a PermutationGroup or an Action on points; got "
                            f"{type(action).__name__}")
        self.action = action
        self.group = action.group

    def __repr__(self):
        return f"points of {self.action!r}, channels on the last axis"

    def act(self, g, x):
        p = self.action.size
        if x.ndim < 2 or x.shape[-2] != p:
            hint = (f"; flat data (..., {p} * c) reshapes element-major: x.reshape(*x.shape[:-1], {p}, -1)"
                    if x.ndim >= 1 and x.shape[-1] % p == 0 else "")
            raise ValueError(f"expected point x channel data (..., {p}, c) for {self.action!r}; got shape "
                             f"{tuple(x.shape)}{hint}")
        perm = self.action.permutation(g)
        if not isinstance(perm, np.ndarray):
            x = jnp.asarray(x)
        return x[..., inverse(perm), :]


def points(group_or_action) -> PointAction:
    """G (its base action, or the given action on points) acting on axis -2 of (..., p, c) data."""
    if isinstance(group_or_action, PermutationGroup):
        return PointAction(base(group_or_action))
    return PointAction(group_or_action)


def align(*actions: Action, names: Sequence[str] | None = None) -> tuple[Action, ...]:
    """The actions, all written for the first one's presentation of their group (``Action.over``).

    Groups given by different generators (or the same ones in another order)
    are accepted when they hold the same permutations (``groups.difference``).
    Raises ValueError naming the two groups and what tells them apart otherwise.
    """
    names = list(names) if names is not None else [f"actions[{i}]" for i in range(len(actions))]
    for name, a in zip(names, actions):
        if not isinstance(a, Action):
            raise TypeError(f"{name} must be a symjax.actions.Action; got {type(a).__name__}")
    group = actions[0].group
    for name, a in zip(names[1:], actions[1:]):
        check_same_group(group, a.group, names[0], name)
    return tuple(a.over(group) for a in actions)


def direct_sum(*actions: Action) -> Action:
    """Indices of the first action, then of the second, ... (all of one group, any presentation of it)."""
    if not actions:
        raise ValueError("direct_sum needs at least one action")
    actions = align(*actions)
    return Action(actions[0].group, [c for a in actions for c in a.components])


def from_images(group: PermutationGroup, images) -> Action:
    """An action given by the index permutations of the group's generators.

    ``images`` has shape (num_generators, size). Checked: each row is a
    permutation, and the rows define a homomorphism of ``group`` (the group
    generated by the pairs (generator, image) has the order of ``group``).
    """
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[0] != group.num_generators:
        raise ValueError(
            f"images must have shape (num_generators={group.num_generators}, size); got {images.shape}")
    images = _as_permutation_array(list(images), images.shape[1])
    component = Component(group, "images", 1, images=images)
    component._homomorphism_tables  # raises ValueError when the images are no homomorphism
    return Action(group, [component])


class GraphAction:
    """S_n (or a subgroup) relabelling the nodes of dense graphs (A, X, mask).

    rho(P)(A, X, mask) = (P A P^T, P X, P mask) on the node axes: A (..., n, n),
    X (..., n, d), mask (..., n). Has ``group`` and ``act`` like ``Action``, so
    symmetry errors and augmentation treat graphs and vectors alike.
    """

    def __init__(self, group: PermutationGroup):
        self.group = group

    def __repr__(self):
        return f"{self.group.name or 'G'} relabelling the nodes of graphs with {self.group.degree} node slots"

    def act(self, g, graph):
        adjacency, features, mask = graph
        n = self.group.degree
        if adjacency.shape[-2:] != (n, n) or features.shape[-2] != n or mask.shape[-1] != n:
            raise ValueError(
                f"expected A (..., {n}, {n}), X (..., {n}, d), mask (..., {n}); got A {adjacency.shape}, "
                f"X {features.shape}, mask {mask.shape}")
        back = inverse(g)
        if not isinstance(back, np.ndarray):
            adjacency, features, mask = jnp.asarray(adjacency), jnp.asarray(features), jnp.asarray(mask)
        return (adjacency[..., back, :][..., :, back], features[..., back, :], mask[..., back])


class GraphsTupleAction:
    """G relabelling the N nodes of a ``jraph.GraphsTuple``: node i becomes node g(i).

    nodes -> nodes[g^{-1}], senders -> g[senders], receivers -> g[receivers];
    edges, n_node, n_edge and globals unchanged. ``group.degree`` must be N,
    the total node count, and g must keep each graph's nodes inside it (one
    graph; or for a batch a product of per-graph groups, e.g.
    ``groups.direct_product``). The sparse ``GraphLayer`` maps node features
    (N, d); ``points(G)`` is the matching output action.
    """

    def __init__(self, group: PermutationGroup):
        if not isinstance(group, PermutationGroup):
            raise TypeError(f"GraphsTupleAction: expected a PermutationGroup, got {type(group).__name__}")
        self.group = group

    def __repr__(self):
        return f"{self.group.name or 'G'} relabelling the {self.group.degree} nodes of a GraphsTuple"

    def act(self, g, graph):
        if not (hasattr(graph, "senders") and hasattr(graph, "nodes") and hasattr(graph, "_replace")):
            raise TypeError(f"GraphsTupleAction.act: expected a jraph.GraphsTuple, got {type(graph).__name__}")
        n = self.group.degree
        if not hasattr(graph.nodes, "shape") or graph.nodes.shape[0] != n:
            got = getattr(graph.nodes, "shape", type(graph.nodes).__name__)
            raise ValueError(f"GraphsTupleAction: expected nodes (N={n}, d) for {self!r}; got {got}")
        g = jnp.asarray(g)
        return graph._replace(nodes=jnp.asarray(graph.nodes)[inverse(g)], senders=g[jnp.asarray(graph.senders)],
                              receivers=g[jnp.asarray(graph.receivers)])

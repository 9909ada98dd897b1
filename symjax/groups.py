"""Finite permutation groups given by generators (host side, numpy).

A group ``G`` of degree ``d`` is a subgroup of the symmetric group on
``range(d)``, given by generators. A permutation ``g`` is stored as an int
array of images, ``g[i]`` is where ``g`` sends ``i``; composition
``(g h)[i] = g[h[i]]`` (first ``h``, then ``g``), so ``g h == g[h]``.

Exact group order and uniform sampling come from a base and strong generating
set built with the deterministic Schreier–Sims algorithm (Seress,
*Permutation Group Algorithms*, 2003, §4.2): with base ``b_1..b_k`` and
transversals ``U_l`` of the stabiliser chain, every element is uniquely
``u_1 u_2 ... u_k`` with ``u_l in U_l``, so ``|G| = prod_l |U_l|`` and choosing
each ``u_l`` uniformly gives a uniform element. The symmetric group skips the
chain (``n!`` is known and ``jax.random.permutation`` is uniform; ``random_permutation``
draws the same permutations without a sort for small n), so ``S_1000`` costs nothing to build.

Example:
    >>> g = dihedral(5)
    >>> g
    D_5 (order 10) on 5 points
    >>> g.order
    10
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _as_permutation_array(generators, degree: int | None = None) -> np.ndarray:
    """Validates generators and returns them as an int32 array (k, degree)."""
    rows = [np.asarray(g) for g in generators]
    if not rows:
        if degree is None:
            raise ValueError("a group needs at least one generator or an explicit degree; got neither")
        return np.zeros((0, degree), np.int32)
    if degree is None:
        if rows[0].ndim != 1:
            raise ValueError(f"expected a list of permutations (integer images, e.g. [[1, 0]]); got generator 0 "
                             f"of shape {rows[0].shape}: {rows[0].tolist()}")
        degree = len(rows[0])
    for index, row in enumerate(rows):
        if row.ndim != 1 or len(row) != degree:
            raise ValueError(
                f"generator {index} must be a 1-D permutation of range({degree}); got shape {row.shape}: {row.tolist()}")
        if row.dtype.kind not in "iuf":
            raise ValueError(f"generator {index} must hold integer permutation images; got {row.tolist()} "
                             f"(dtype {row.dtype})")
        if not np.issubdtype(row.dtype, np.integer):
            if not np.all(np.equal(np.mod(row, 1), 0)):
                raise ValueError(f"generator {index} must hold integers; got {row.tolist()}")
        ints = row.astype(np.int64)
        if ints.min(initial=0) < 0 or ints.max(initial=0) >= degree:
            raise ValueError(
                f"generator {index} must map into range({degree}); got values {ints.tolist()}")
        if len(np.unique(ints)) != degree:
            values, counts = np.unique(ints, return_counts=True)
            raise ValueError(
                f"generator {index} is not a permutation of range({degree}): "
                f"it repeats {values[counts > 1].tolist()}; got {ints.tolist()}")
    array = np.stack(rows).astype(np.int32)
    array.setflags(write=False)
    return array


# Up to this degree random_permutation and inverse work by pairwise comparison (n^2 work, no sort).
RANKED_PERMUTATION_MAX_DEGREE = 64


def inverse(perm: np.ndarray) -> np.ndarray:
    """Inverse permutation(s) along the last axis (numpy or jax arrays).

    jax arrays are inverted without a sort (XLA:CPU's sort is slow): degree n <= 64 by
    ``inverse_by_matching``, larger ones by ``inverse_by_scatter``.
    """
    if isinstance(perm, np.ndarray):
        return np.argsort(perm, axis=-1).astype(perm.dtype)
    if perm.shape[-1] > RANKED_PERMUTATION_MAX_DEGREE:
        return inverse_by_scatter(perm)
    return inverse_by_matching(perm)


def inverse_by_scatter(perm: jnp.ndarray) -> jnp.ndarray:
    """Inverse jax permutation(s) along the last axis, ``inv[perm[p]] = p`` (one scatter, n work)."""
    points = jnp.broadcast_to(jnp.arange(perm.shape[-1], dtype=perm.dtype), perm.shape)
    return jnp.put_along_axis(jnp.zeros_like(perm), perm, points, axis=-1, inplace=False)


def inverse_by_matching(perm: jnp.ndarray) -> jnp.ndarray:
    """Inverse jax permutation(s) along the last axis, ``inv[a] = sum_p p [perm[p] = a]`` (n^2 work, no sort)."""
    points = jnp.arange(perm.shape[-1], dtype=perm.dtype)
    return jnp.sum(jnp.where(perm[..., :, None] == points, points[:, None], 0), axis=-2, dtype=perm.dtype)


class StabilizerChain:
    """Base, strong generators and transversals of a permutation group.

    Built by deterministic Schreier–Sims from ``generators`` (k, n). Base
    points are drawn only from ``candidates`` (default: all points); a set of
    candidates on which the group acts faithfully always suffices. This is used
    to sift through a larger "graph of a homomorphism" group (see
    ``symjax.actions.from_images``).

    Attributes:
        base: list of base points b_1..b_m.
        orbits: list of arrays; orbits[l] is the orbit of b_l under the l-th
            stabiliser, in discovery order.
        transversals: list of arrays (|orbits[l]|, n); row t maps b_l to
            orbits[l][t].
    """

    def __init__(self, generators: np.ndarray, candidates: Sequence[int] | None = None):
        generators = np.asarray(generators, np.int64)
        self.degree = generators.shape[1]
        self.identity = np.arange(self.degree)
        self.candidates = list(range(self.degree)) if candidates is None else list(candidates)
        self.base: list[int] = []
        self.strong: list[np.ndarray] = []
        self._trans: list[dict[int, np.ndarray]] = []
        for g in generators:
            if not np.array_equal(g, self.identity):
                self._extend(g)
        self.orbits = [np.array(list(t.keys()), np.int64) for t in self._trans]
        self.transversals = [np.stack(list(t.values())) if t else np.zeros((0, self.degree), np.int64)
                             for t in self._trans]

    # -- construction ------------------------------------------------------
    def _level_generators(self, level: int) -> list[np.ndarray]:
        fixed = self.base[:level]
        return [s for s in self.strong if all(s[b] == b for b in fixed)]

    def _orbit(self, level: int) -> dict[int, np.ndarray]:
        gens = self._level_generators(level)
        root = self.base[level]
        trans = {root: self.identity}
        frontier = [root]
        while frontier:
            nxt = []
            for x in frontier:
                ux = trans[x]
                for s in gens:
                    y = int(s[x])
                    if y not in trans:
                        trans[y] = s[ux]
                        nxt.append(y)
            frontier = nxt
        return trans

    def _strip(self, g: np.ndarray, start: int) -> tuple[np.ndarray, int]:
        for level in range(start, len(self.base)):
            x = int(g[self.base[level]])
            trans = self._trans[level]
            if x not in trans:
                return g, level
            g = inverse(trans[x])[g]
        return g, len(self.base)

    def _new_base_point(self, g: np.ndarray) -> int:
        for p in self.candidates:
            if g[p] != p and p not in self.base:
                return p
        raise ValueError(
            "the group does not act faithfully on the candidate base points: a non-identity element "
            "fixes all of them (for from_images this means the images do not define a homomorphism)")

    def _extend(self, g: np.ndarray) -> None:
        """Adds ``g`` to the strong generators and restores the chain (Seress §4.2)."""
        g, level = self._strip(g, 0)
        if np.array_equal(g, self.identity):
            return
        self._add_strong(g, level)
        level = len(self.base) - 1
        while level >= 0:
            added = self._check_schreier_generators(level)
            level = added if added is not None else level - 1

    def _add_strong(self, h: np.ndarray, level: int) -> None:
        if level == len(self.base):
            self.base.append(self._new_base_point(h))
            self._trans.append({})
        self.strong.append(h)
        for l in range(0, level + 1):
            self._trans[l] = self._orbit(l)

    def _check_schreier_generators(self, level: int) -> int | None:
        """Sifts every Schreier generator of ``level``; on failure adds the residue and returns its level."""
        trans = self._trans[level]
        for x, ux in list(trans.items()):
            for s in self._level_generators(level):
                sx = int(s[x])
                schreier = inverse(trans[sx])[s[ux]]
                h, fail = self._strip(schreier, level + 1)
                if not np.array_equal(h, self.identity):
                    self._add_strong(h, fail)
                    return fail
        return None

    # -- queries -------------------------------------------------------------
    @property
    def order(self) -> int:
        return math.prod(len(o) for o in self.orbits)

    def contains(self, g: np.ndarray) -> bool:
        h, level = self._strip(np.asarray(g, np.int64), 0)
        return level == len(self.base) and np.array_equal(h, self.identity)

    def elements(self) -> np.ndarray:
        """All group elements (order, n): products u_1 ... u_m over the transversals."""
        result = self.identity[None, :]
        for trans in reversed(self.transversals):
            result = np.concatenate([t[result] for t in trans])
        return result

    def padded_tables(self):
        """Transversals as padded arrays for traced sampling.

        Returns (orbit_sizes (m,), tables (m, max_orbit, n)); rows past a level's
        orbit size repeat the identity and are never chosen.
        """
        m = len(self.transversals)
        width = max((len(t) for t in self.transversals), default=1)
        tables = np.tile(self.identity, (m, width, 1))
        for level, trans in enumerate(self.transversals):
            tables[level, :len(trans)] = trans
        sizes = np.array([len(t) for t in self.transversals], np.int64)
        return sizes, tables


class PermutationGroup:
    """A finite permutation group of ``degree`` points, given by generators.

    Hashable and comparable by (degree, generators), the presentation: actions
    store images of exactly these generators. Whether two presentations
    generate the same set of permutations is ``same_elements`` (exact, by
    Schreier–Sims membership); ``symjax.actions.Action.over`` moves an action
    to another presentation of its group. ``name`` is for display.
    ``sample`` draws uniform elements with a numpy Generator (host) or a jax
    PRNG key (traceable under jit/vmap).
    """

    def __init__(self, generators, degree: int | None = None, name: str | None = None,
                 _family: tuple | None = None):
        self.generators = _as_permutation_array(generators, degree)
        self.degree = int(self.generators.shape[1])
        self.name = name
        self._family = _family  # ('symmetric', n) enables closed-form order and sampling

    # -- identity ----------------------------------------------------------------
    def _key(self):
        return (self.degree, self.generators.shape, self.generators.tobytes())

    def __eq__(self, other):
        return isinstance(other, PermutationGroup) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        label = self.name or f"group generated by {len(self.generators)} permutations"
        order = self.order if self._family or self.degree <= 12 or '_chain' in self.__dict__ else None
        order_text = f" (order {order})" if order is not None else ""
        return f"{label}{order_text} on {self.degree} points"

    @property
    def num_generators(self) -> int:
        return len(self.generators)

    def same_elements(self, other: "PermutationGroup") -> bool:
        """Whether ``self`` and ``other`` are the same set of permutations (any generators, any order).

        <G> = <H> iff every generator of G lies in H and every generator of H in G.
        """
        return difference(self, other) is None

    # -- structure ----------------------------------------------------------------
    @functools.cached_property
    def _chain(self) -> StabilizerChain:
        return StabilizerChain(self.generators)

    @property
    def is_symmetric(self) -> bool:
        return bool(self._family and self._family[0] == "symmetric")

    @property
    def order(self) -> int:
        if self.is_symmetric:
            return math.factorial(self.degree)
        return self._chain.order

    def contains(self, perm) -> bool:
        perm = np.asarray(perm)
        if perm.shape != (self.degree,) or sorted(perm.tolist()) != list(range(self.degree)):
            return False
        if self.is_symmetric:
            return True
        return self._chain.contains(perm)

    def elements(self, limit: int = 100_000) -> np.ndarray:
        """All elements as an int32 array (order, degree); refuses groups larger than ``limit``."""
        if self.order > limit:
            raise ValueError(f"{self!r} has {self.order} elements, more than limit={limit}")
        return self._chain.elements().astype(np.int32)

    # -- sampling ---------------------------------------------------------------------
    @functools.cached_property
    def _sampling_tables(self):
        sizes, tables = self._chain.padded_tables()
        return sizes, tables.astype(np.int32)

    def sample(self, rng, num: int):
        """``num`` independent uniform elements, shape (num, degree), int32.

        ``rng`` is a ``numpy.random.Generator`` (returns numpy) or a jax PRNG key
        (returns a jax array; works under jit and vmap).
        """
        if isinstance(rng, np.random.Generator):
            if self.is_symmetric:
                return np.stack([rng.permutation(self.degree) for _ in range(num)]).astype(np.int32).reshape(
                    num, self.degree)
            sizes, tables = self._sampling_tables
            picks = np.floor(rng.random((num, len(sizes))) * sizes).astype(np.int64)
            return _compose_choices(np, tables, picks, self.degree).astype(np.int32)
        keys = jax.random.split(rng, num)
        if self.is_symmetric:
            return jax.vmap(lambda k: random_permutation(k, self.degree))(keys)
        sizes, tables = self._sampling_tables
        if len(sizes) == 0:
            return jnp.tile(jnp.arange(self.degree, dtype=jnp.int32), (num, 1))

        def one(key):
            picks = jax.random.randint(key, (len(sizes),), 0, jnp.asarray(sizes))
            return _compose_choices(jnp, jnp.asarray(tables), picks[None, :], self.degree)[0]

        return jax.vmap(one)(keys)


def random_permutation(key: jax.Array, n: int) -> jnp.ndarray:
    """``jax.random.permutation(key, n)``, bitwise, as int32 (n,); without a sort for n <= 64.

    For n <= 1625 jax draws one round of 32-bit keys ``b = bits(split(key)[1], (n,))`` and
    returns ``arange(n)`` stably sorted by ``b``. Here the same ``b`` ranks each point
    directly, ``rank[a] = #{c : b[c] < b[a]} + #{c < a : b[c] = b[a]}``, and position
    ``p`` of the result holds the ``a`` with ``rank[a] = p``. XLA:CPU's sort is a
    comparator loop: sorting 20 points per example cost 28 % of a Task 1 epoch at
    n_blocks=20 with augmenting lanes (``experiments/profile_epoch.py``). Equality with
    jax.random.permutation is tested; larger n call it.
    """
    if n > RANKED_PERMUTATION_MAX_DEGREE or n <= 1:
        return jax.random.permutation(key, n).astype(jnp.int32)
    _, subkey = jax.random.split(key)
    return stable_argsort_by_ranking(jax.random.bits(subkey, (n,), jnp.uint32))


def stable_argsort_by_ranking(values: jnp.ndarray) -> jnp.ndarray:
    """The stable argsort (int32 (n,)) of a short vector (n,), by pairwise comparison instead of a sort."""
    n = values.shape[0]
    points = jnp.arange(n, dtype=jnp.int32)
    before = (values[None, :] < values[:, None]) | ((values[None, :] == values[:, None])
                                                    & (points[None, :] < points[:, None]))
    rank = jnp.sum(before, axis=1, dtype=jnp.int32)  # rank[a]: how many points precede a
    return inverse_by_matching(rank)  # position p holds the a with rank[a] = p


def _compose_choices(xp, tables, picks, degree):
    """u_1[p_1] u_2[p_2] ... u_m[p_m] for each row of picks (num, m)."""
    result = xp.broadcast_to(xp.arange(degree), (picks.shape[0], degree))
    for level in range(tables.shape[0]):
        u = tables[level][picks[:, level]]  # (num, degree)
        result = xp.take_along_axis(result, u, axis=-1)  # result ∘ u
    return result


def difference(g1: PermutationGroup, g2: PermutationGroup) -> str | None:
    """None when g1 and g2 hold the same permutations, else what tells them apart (for error messages)."""
    if g1.degree != g2.degree:
        return f"degrees differ: {g1.degree} and {g2.degree}"
    for first, second, label in ((g1, g2, "first"), (g2, g1, "second")):
        for g in first.generators:
            if not second.contains(g):
                return (f"generator {g.tolist()} of the {label} group (order {first.order}) is not in the other "
                        f"(order {second.order})")
    return None


def presentation(group: PermutationGroup) -> str:
    """repr plus the generators, which tell apart groups whose names print alike."""
    return f"{group!r} with generators {group.generators.tolist()}"


def check_same_group(g1: PermutationGroup, g2: PermutationGroup, owner1: str, owner2: str) -> None:
    """Raises ValueError unless g1 and g2 hold the same permutations; the message prints what differs."""
    why = None if g1 == g2 else difference(g1, g2)
    if why is not None:
        raise ValueError(f"{owner1} and {owner2} must act through the same group; got {presentation(g1)} and "
                         f"{presentation(g2)}: {why}")


# -- constructors ---------------------------------------------------------------------------------------

def from_generators(generators, degree: int | None = None, name: str | None = None) -> PermutationGroup:
    """The group generated by ``generators`` (each a permutation of range(degree)).

    Raises ValueError naming the offending generator when one is not a
    permutation of range(degree).
    """
    return PermutationGroup(generators, degree=degree, name=name)


def _cycle(n: int) -> list[int]:
    return [(i + 1) % n for i in range(n)]


def symmetric(n: int) -> PermutationGroup:
    """S_n: all n! permutations, generated by the n-cycle and a transposition."""
    _check_degree(n, "symmetric")
    gens = []
    if n >= 2:
        swap = list(range(n))
        swap[0], swap[1] = 1, 0
        gens = [swap] if n == 2 else [_cycle(n), swap]
    return PermutationGroup(gens, degree=n, name=f"S_{n}", _family=("symmetric", n))


def cyclic(n: int) -> PermutationGroup:
    """C_n: rotations i -> i + k mod n."""
    _check_degree(n, "cyclic")
    return PermutationGroup([_cycle(n)] if n >= 2 else [], degree=n, name=f"C_{n}")


def dihedral(n: int) -> PermutationGroup:
    """D_n: symmetries of the regular n-gon (order 2n for n >= 3)."""
    _check_degree(n, "dihedral")
    reflection = [(-i) % n for i in range(n)]
    gens = [_cycle(n), reflection] if n >= 2 else []
    return PermutationGroup(gens, degree=n, name=f"D_{n}")


def alternating(n: int) -> PermutationGroup:
    """A_n: even permutations, generated by the 3-cycles (0 1 k), k = 2..n-1."""
    _check_degree(n, "alternating")
    gens = []
    for k in range(2, n):
        g = list(range(n))
        g[0], g[1], g[k] = 1, k, 0
        gens.append(g)
    return PermutationGroup(gens, degree=n, name=f"A_{n}")


def direct_product(g1: PermutationGroup, g2: PermutationGroup) -> PermutationGroup:
    """G1 x G2 acting on degree1 + degree2 points: G1 on the first block, G2 on the second."""
    for name, g in (("g1", g1), ("g2", g2)):
        if not isinstance(g, PermutationGroup):
            raise TypeError(f"direct_product: {name} must be a PermutationGroup; got {type(g).__name__} {g!r}")
    n1, n2 = g1.degree, g2.degree
    gens = [np.concatenate([g, np.arange(n1, n1 + n2)]) for g in g1.generators]
    gens += [np.concatenate([np.arange(n1), g + n1]) for g in g2.generators]
    name = f"{g1.name or 'G1'} x {g2.name or 'G2'}"
    return PermutationGroup(gens, degree=n1 + n2, name=name)


def _check_degree(n, family):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{family}(n) needs an integer n >= 1; got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"{family}(n) needs an integer n >= 1; got {n!r}")

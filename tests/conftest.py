"""Shared test helpers: small random groups and actions for property tests."""

import numpy as np
import pytest
from hypothesis import strategies as st

from symjax import actions, groups


def pytest_configure(config):
    """The suite is an application of the library: like the experiment driver, it keeps compiled programs in
    the persistent compilation cache (symjax.train.compile_cache; ``sweep`` itself never sets it).

    Under pytest-xdist (pyproject's addopts run two workers) each worker, and every script it starts, has a
    cache folder of its own: JAX writes cache entries in place, so a worker could read an entry while the
    other is still writing it. Workers also leave GPU memory unreserved, so that two fit on one GPU.
    """
    import os

    from symjax.train import compile_cache

    worker = os.environ.get("PYTEST_XDIST_WORKER")  # also seen by a test session that a worker's test starts
    if worker:
        shared = compile_cache.cache_dir("auto")
        if shared is not None and not shared.endswith(f"-pytest-{worker}"):
            os.environ[compile_cache.ENV_VAR] = f"{shared}-pytest-{worker}"
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    compile_cache.use("auto")


def small_groups():
    """A strategy over small groups of every constructor (degree <= 6)."""
    family = st.sampled_from(["symmetric", "cyclic", "dihedral", "alternating", "product", "generators"])

    @st.composite
    def build(draw):
        kind = draw(family)
        n = draw(st.integers(2, 5))
        if kind == "symmetric":
            return groups.symmetric(n)
        if kind == "cyclic":
            return groups.cyclic(n)
        if kind == "dihedral":
            return groups.dihedral(n)
        if kind == "alternating":
            return groups.alternating(max(n, 3))
        if kind == "product":
            return groups.direct_product(groups.cyclic(2), groups.symmetric(draw(st.integers(2, 3))))
        seed = draw(st.integers(0, 10_000))
        rng = np.random.default_rng(seed)
        return groups.from_generators([rng.permutation(n) for _ in range(draw(st.integers(1, 2)))])

    return build()


@st.composite
def small_actions(draw, group, max_size=24):
    """A random action of ``group`` whose size stays small enough for dense checks."""
    kinds = ["base", "blocks", "trivial", "direct_sum", "from_images"]
    if group.degree <= 4:
        kinds.append("tuples")
    kind = draw(st.sampled_from(kinds))
    if kind == "base":
        return actions.base(group)
    if kind == "blocks":
        return actions.blocks(group, draw(st.integers(1, max(1, max_size // group.degree))))
    if kind == "trivial":
        return actions.trivial(group, draw(st.integers(1, 3)))
    if kind == "tuples":
        return actions.tuples(group, 2)
    if kind == "from_images":
        return actions.from_images(group, actions.tuples(group, 2).generators if group.degree <= 4
                                   else actions.base(group).generators)
    return actions.direct_sum(actions.base(group), actions.trivial(group, draw(st.integers(1, 2))))


@pytest.fixture
def x64():
    import jax

    with jax.enable_x64(True):
        yield

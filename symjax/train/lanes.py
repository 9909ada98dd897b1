"""Per-lane arrays: index arrays padded to common shapes, lane keys, lane padding and slicing."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from symjax.train.buckets import backend_costs, plan_buckets
from symjax.train.config import Lane

# Folded into jax.random.key(seed) so lane keys differ from keys a caller derives from the same seed.
LANE_KEY_SALT = 0x5EED


class LaneArrays(NamedTuple):
    """Static description of L lanes; every field has the lane axis first.

    train_idx: int32 (L, T) pool indices, padded past n_train with the lane's first index.
    n_train: int32 (L,).
    val_idx: int32 (L, V), padded likewise; n_val: int32 (L,).
    test_idx: int32 (L, E), padded likewise; n_test: int32 (L,).
    batch_size: int32 (L,).
    n_steps: int32 (L,) = ceil(n_train / batch_size).
    augment: bool (L,).
    learning_rate: float32 (L,) Adam learning rate of each lane.
    hyper: {name: float32 (L,)} the lanes' penalty hyperparameters (Lane.hyper).
    """

    train_idx: np.ndarray
    n_train: np.ndarray
    val_idx: np.ndarray
    n_val: np.ndarray
    test_idx: np.ndarray
    n_test: np.ndarray
    batch_size: np.ndarray
    n_steps: np.ndarray
    augment: np.ndarray
    learning_rate: np.ndarray
    hyper: dict


def _pad_indices(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stacks 1-D index arrays into (L, max_len), padding each with its own first entry."""
    sizes = np.array([a.size for a in arrays], np.int32)
    out = np.empty((len(arrays), int(sizes.max())), np.int32)
    for row, a in zip(out, arrays):
        row[:] = a[0]
        row[: a.size] = a
    return out, sizes


def build_lane_arrays(lanes: list[Lane], learning_rate: float) -> LaneArrays:
    """Host-side (numpy) LaneArrays for `lanes`; `learning_rate` for lanes whose own is None."""
    train_idx, n_train = _pad_indices([np.asarray(l.train_idx) for l in lanes])
    val_idx, n_val = _pad_indices([np.asarray(l.val_idx) for l in lanes])
    test_idx, n_test = _pad_indices([np.asarray(l.test_idx) for l in lanes])
    batch_size = np.array([l.batch_size for l in lanes], np.int32)
    return LaneArrays(
        train_idx=train_idx,
        n_train=n_train,
        val_idx=val_idx,
        n_val=n_val,
        test_idx=test_idx,
        n_test=n_test,
        batch_size=batch_size,
        n_steps=-(-n_train // batch_size),
        augment=np.array([bool(l.augment) for l in lanes]),
        learning_rate=np.array([learning_rate if l.learning_rate is None else l.learning_rate for l in lanes],
                               np.float32),
        hyper={name: np.array([l.hyper[name] for l in lanes], np.float32) for name in sorted(lanes[0].hyper)},
    )


def group_lanes(lanes: LaneArrays, mode: str, epochs: int = 1, flops_per_example: float = 0.0) -> list[np.ndarray]:
    """Positions of the lanes trained by each jitted epoch program.

    mode 'single': one group of all lanes. mode 'shape': one group per distinct
    (batch_size, n_steps), groups ordered by their first lane, lanes in order.
    mode 'auto': buckets of shapes from `buckets.plan_buckets` with the default backend's cost model
    (`buckets.backend_costs`) for `epochs` epochs of a model of `flops_per_example` FLOPs per example.
    Example: batch sizes (4, 16, 4) with equal steps -> [[0, 2], [1]] ('shape').
    """
    n = lanes.batch_size.shape[0]
    if mode == "single":
        return [np.arange(n)]
    if mode == "auto":
        return plan_buckets(lanes.batch_size, lanes.n_steps, epochs, backend_costs(), flops_per_example)
    if mode != "shape":
        raise ValueError(f"lane groups: expected 'auto', 'shape' or 'single', got {mode!r}")
    by_shape: dict[tuple[int, int], list[int]] = {}  # insertion order = order of first lane
    for i, shape in enumerate(zip(lanes.batch_size.tolist(), lanes.n_steps.tolist())):
        by_shape.setdefault(shape, []).append(i)
    return [np.array(members) for members in by_shape.values()]


def split_groups(groups: list[np.ndarray], max_lanes: int) -> list[np.ndarray]:
    """Each group cut into the fewest consecutive parts of at most max_lanes lanes, sizes differing by at
    most one (0 = no limit). Example: 7 lanes, max_lanes 3 -> parts of 3, 2, 2."""
    if max_lanes <= 0:
        return list(groups)
    return [part for members in groups
            for part in np.array_split(members, -(-len(members) // max_lanes))]


def take_lanes(tree, members: np.ndarray):
    """Rows `members` of the leading axis of every leaf, as numpy arrays."""
    return jax.tree.map(lambda a: np.asarray(a)[members], tree)


def merge_lanes(parts, groups: list[np.ndarray]):
    """Inverse of splitting by `groups`: parts[g] holds (at least) len(groups[g]) rows for
    lanes groups[g]; returns numpy leaves with all lanes in their original order."""
    n = sum(len(members) for members in groups)

    def merge(*leaves):
        first = np.asarray(leaves[0])
        out = np.empty((n,) + first.shape[1:], first.dtype)
        for members, leaf in zip(groups, leaves):
            out[members] = np.asarray(leaf)[: len(members)]
        return out

    return jax.tree.map(merge, *parts)


def lane_key_data(seeds: list[int]) -> np.ndarray:
    """Raw key data (L, K) uint32 (K = 2 for threefry) of each lane's key: fold_in(key(seed), LANE_KEY_SALT)."""
    by_seed = {}  # each distinct seed's key once (sweeps repeat a few seeds over many lanes)
    for s in map(int, seeds):
        if s not in by_seed:
            by_seed[s] = np.asarray(jax.random.key_data(jax.random.fold_in(jax.random.key(s), LANE_KEY_SALT)))
    return np.stack([by_seed[int(s)] for s in seeds])


def pad_rows(tree, n_rows: int):
    """Pads the leading (lane) axis of every leaf to n_rows by repeating row 0."""

    def pad(a):
        a = np.asarray(a)
        extra = n_rows - a.shape[0]
        if extra < 0:
            raise ValueError(f"pad_rows: expected at most {n_rows} rows, got {a.shape[0]}")
        return np.concatenate([a, np.repeat(a[:1], extra, axis=0)]) if extra else a

    return jax.tree.map(pad, tree)


def take_rows(tree, n_rows: int):
    """The first n_rows of the leading axis of every leaf, as numpy arrays."""
    return jax.tree.map(lambda a: np.asarray(a)[:n_rows], tree)


def padded_lane_count(n_lanes: int, n_devices: int) -> int:
    """n_lanes rounded up to a multiple of n_devices."""
    return -(-n_lanes // n_devices) * n_devices


def process_slice(n_lanes: int, process_count: int, process_index: int) -> slice:
    """The contiguous block of lanes owned by one process; blocks differ in size by at most 1.

    Example: 10 lanes over 4 processes -> [0:2], [2:5], [5:7], [7:10].
    """
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index: expected in [0, {process_count}), got {process_index}")
    return slice(n_lanes * process_index // process_count, n_lanes * (process_index + 1) // process_count)

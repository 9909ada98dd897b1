"""Data of the five discovery experiments of reference 001 (§3.1–3.3), pure numpy.

Every generator is deterministic given its ``seed`` (``numpy.random.default_rng``)
and returns a :class:`Splits`: one pool ``x``, ``y`` and disjoint index arrays
``train_idx``, ``val_idx``, ``test_idx`` into it (the lane engine's data
contract). Sizes are arguments so CI can use tiny ones.

==================  =====================  ================  ==================================
experiment          x                      y                 reference sizes (train/val/test)
==================  =====================  ================  ==================================
set_sum (§3.1)      float32 (N, 10)        float32 (N, 1)    8k / 1k / 1k
translation_1d      float32 (N, 10)        int32 (N,)        35k / 10k / 5k
translation_2d      float32 (N, 10, 10)    int32 (N,)        21k / 6k / 3k
mnist (§3.2)        float32 (N, 56, 56)    int32 (N,)        48k / 12k / 10k (see symjax.data.mnist)
degree (§3.3)       float32 (N, 10, 10)    float32 (N, 10)   48k / 12k (train / test)
==================  =====================  ================  ==================================

Where the reference is silent, the choice made here is written in
:data:`CHOICES` (printed by the reports). The image datasets place their
patterns on the *torus* (positions wrap around the border), so each class is
mapped onto itself by every cyclic translation: C_10 (1-D) and C_10 x C_10
(2-D) keep every label, and they are what the hard-shared models and the
reference's offset penalties build in. They are not the largest groups that
keep the labels (:data:`LABEL_SYMMETRY`): the 1-D class is the number of
bright pixels, which every permutation of the 10 pixels keeps (S_10); the
2-D shapes keep their class under the flips of either axis as well
(D_10 x D_10: a flipped segment, right triangle or square is one again).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = [
    "CHOICES",
    "LABEL_SYMMETRY",
    "REFERENCE_SIZES",
    "Splits",
    "degree",
    "mnist_canvas",
    "set_sum",
    "train_subset",
    "translation_1d",
    "translation_2d",
]

LABEL_SYMMETRY: dict[str, str] = {
    "set_sum": "S_10",
    "translation_1d": "S_10",
    "translation_2d": "D_10 x D_10",
    "mnist": "none exactly",
    "degree": "S_10",
}
"""The largest candidate group (of ``symjax.report.discovery.candidates``) under which the labels are invariant.

set_sum: the sum of a set; degree: node degrees, equivariant under relabelling
the 10 nodes (S_10 acting on outputs and inputs); translation_1d: the class is
the number of bright pixels (1..5), kept by all of S_10 (the inputs are not:
consecutive runs stay runs only under C_10 and D_10); translation_2d: cyclic
translations and flips of either axis keep every shape (D_10 x D_10; S_100
does not: it scatters a shape). mnist: a digit moved on the canvas keeps its
label only while it stays inside (no wrap-around), so no group keeps every
label exactly; translations by less than the margin do.
"""

CHOICES: dict[str, dict[str, str]] = {
    "set_sum": {
        "inputs": "10 i.i.d. U[0, 1) reals per set (float32)",
        "target": "their sum, shape (1,)",
    },
    "translation_1d": {
        "image": "10 pixels, background 0.0, bright pixel 1.0, no noise",
        "labels": "0..4 = one pixel, two consecutive, three scattered, four consecutive, five scattered "
                  "(the reference numbers the last class 5)",
        "consecutive": "a run starting at a uniform position, wrapping around the border (cyclic)",
        "scattered": "a uniform k-subset of the 10 pixels, redrawn while it is one cyclic run",
        "class balance": "labels i mod 5 over the pool, then shuffled (balanced to within one)",
    },
    "translation_2d": {
        "image": "10 x 10 pixels, background 0.0, shape pixels 1.0, no noise; positions wrap (torus)",
        "labels": "0 line segment, 1 triangle, 2 square",
        "line segment": "horizontal or vertical (equal odds), length uniform in 3..6",
        "triangle": "filled right isosceles triangle, legs uniform in 3..5 pixels, one of 4 orientations "
                    "(right angle at any corner of its bounding box)",
        "square": "filled square, side uniform in 2..4",
        "position": "top-left corner of the bounding box uniform over the 10 x 10 torus",
        "class balance": "labels i mod 3 over the pool, then shuffled",
    },
    "mnist": {
        "canvas": "56 x 56 zeros; each 28 x 28 digit pasted with its top-left corner at (r, c), r and c "
                  "uniform in 0..28 (random padding on every side, no wrap)",
        "intensity": "uint8 / 255 -> float32 in [0, 1]",
        "split": "digits shuffled once by the seed, then train / val / test in that order",
    },
    "degree": {
        "graphs": "undirected, 10 nodes, no self-loops; each of the 45 node pairs an edge with probability "
                  "0.5 independently (uniform over labelled graphs)",
        "copies": "each source graph plus 5 uniform random relabellings P A P^T (copies may coincide)",
        "input": "adjacency matrix, float32 (10, 10), symmetric, zero diagonal",
        "target": "node degrees, float32 (10,)",
        "validation": "the reference has train/test only; validation graphs are taken out of its 48k "
                      "training examples (default 6k: train 42k / val 6k / test 12k)",
        "split random": "the reference's split: examples shuffled, copies of a test graph may be in training",
        "split by_graph": "source graphs shuffled and split; all copies of a graph share its split",
    },
}
"""Choices made where reference 001 is silent, per experiment."""

REFERENCE_SIZES = {
    "set_sum": (8000, 1000, 1000),
    "translation_1d": (35000, 10000, 5000),
    "translation_2d": (21000, 6000, 3000),
    "mnist": (48000, 12000, 10000),
    "degree": (48000, 0, 12000),
}
"""(train, validation, test) sizes of reference 001 (§3.1, §3.2, §3.3)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
    """A data pool and its three disjoint splits.

    Attributes:
      name: experiment name.
      x: inputs (N, ...), float32.
      y: targets (N, ...): float32 for regression, int32 class labels.
      train_idx, val_idx, test_idx: int64 index arrays into the pool.
      info: facts about this instance (e.g. 'reduced' for MNIST, 'group' for degree's copies).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    info: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        return (f"Splits({self.name}: x {self.x.shape} {self.x.dtype}, y {self.y.shape} {self.y.dtype}, "
                f"train/val/test {self.train_idx.size}/{self.val_idx.size}/{self.test_idx.size})")


def _check_sizes(what: str, **sizes) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{what}: {name} must be an integer >= 0; got {value!r}")
    if sizes.get("n_train", 1) == 0:
        raise ValueError(f"{what}: expected a training set of at least one example; got sizes {sizes}")


def _consecutive_splits(n_train: int, n_val: int, n_test: int):
    """Index ranges [0, n_train), [n_train, n_train + n_val), then test (the pool is already shuffled)."""
    edges = np.cumsum([0, n_train, n_val, n_test])
    return tuple(np.arange(a, b, dtype=np.int64) for a, b in zip(edges[:-1], edges[1:]))


def train_subset(splits: Splits, n_train: int) -> np.ndarray:
    """The first ``n_train`` training indices (nested subsets for sample-efficiency curves).

    Raises:
      ValueError: ``n_train`` is not in 1..len(splits.train_idx).
    """
    available = int(splits.train_idx.size)
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or not 1 <= n_train <= available:
        raise ValueError(f"{splits.name}: training-set size must be in 1..{available} (the training split's "
                         f"size); got {n_train!r}")
    return splits.train_idx[:n_train]


def _pattern_images(name: str, seed: int, sizes: tuple, image_shape: tuple, num_classes: int,
                    bright_pixels) -> Splits:
    """Binary images with balanced labels (i mod num_classes, shuffled); bright_pixels(rng, label) -> index tuple."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    y = rng.permutation(np.arange(n) % num_classes).astype(np.int32)
    x = np.zeros((n,) + image_shape, np.float32)
    for i, label in enumerate(y):
        x[(i,) + tuple(bright_pixels(rng, int(label)))] = 1.0
    return Splits(name, x, y, *_consecutive_splits(*sizes))


# -- set_sum (§3.1) -----------------------------------------------------------------------------------

def set_sum(seed: int, n_train: int = 8000, n_val: int = 1000, n_test: int = 1000, set_size: int = 10) -> Splits:
    """Sets of ``set_size`` reals from U[0, 1); target y = sum_i x_i, shape (N, 1)."""
    _check_sizes("set_sum", n_train=n_train, n_val=n_val, n_test=n_test, set_size=set_size)
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    x = rng.random((n, set_size), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    return Splits("set_sum", x, y, *_consecutive_splits(n_train, n_val, n_test))


# -- translation_1d (§3.2) ----------------------------------------------------------------------------

TRANSLATION_1D_CLASSES = (("one", 1, "run"), ("two consecutive", 2, "run"), ("three scattered", 3, "scattered"),
                          ("four consecutive", 4, "run"), ("five scattered", 5, "scattered"))
"""(name, bright pixels, arrangement) of labels 0..4."""


def _is_cyclic_run(positions: np.ndarray, width: int) -> bool:
    """True when the sorted positions form one contiguous run on the cycle Z_width."""
    k = positions.size
    if k in (0, width):
        return True
    gaps = np.diff(np.concatenate([positions, [positions[0] + width]]))
    return int(np.sum(gaps > 1)) == 1


def _pixels_1d(rng, label: int, width: int) -> np.ndarray:
    _, k, arrangement = TRANSLATION_1D_CLASSES[label]
    if arrangement == "run":
        return (rng.integers(width) + np.arange(k)) % width
    while True:
        positions = np.sort(rng.choice(width, size=k, replace=False))
        if not _is_cyclic_run(positions, width):
            return positions


def translation_1d(seed: int, n_train: int = 35000, n_val: int = 10000, n_test: int = 5000,
                   width: int = 10) -> Splits:
    """1-D images (N, width) of 5 classes of bright-pixel patterns placed cyclically (see CHOICES)."""
    _check_sizes("translation_1d", n_train=n_train, n_val=n_val, n_test=n_test)
    if not isinstance(width, (int, np.integer)) or width < 7:
        raise ValueError(f"translation_1d: width must be an integer >= 7 (five scattered pixels); got {width!r}")
    return _pattern_images("translation_1d", seed, (n_train, n_val, n_test), (width,), len(TRANSLATION_1D_CLASSES),
                           lambda rng, label: (_pixels_1d(rng, label, width),))


# -- translation_2d (§3.2) ----------------------------------------------------------------------------

TRANSLATION_2D_CLASSES = ("line segment", "triangle", "square")


def _shape_cells(rng, label: int) -> np.ndarray:
    """Cells (k, 2) of one shape with its bounding box's top-left corner at (0, 0)."""
    if label == 0:
        length = rng.integers(3, 7)
        cells = np.stack([np.zeros(length, np.int64), np.arange(length)], axis=1)
        return cells[:, ::-1] if rng.integers(2) else cells
    if label == 1:
        leg = int(rng.integers(3, 6))
        r, c = np.nonzero(np.tril(np.ones((leg, leg), bool)))  # right angle at the bottom-left corner
        orientation = rng.integers(4)
        if orientation & 1:
            r = leg - 1 - r
        if orientation & 2:
            c = leg - 1 - c
        return np.stack([r, c], axis=1)
    if label == 2:
        side = int(rng.integers(2, 5))
        r, c = np.nonzero(np.ones((side, side), bool))
        return np.stack([r, c], axis=1)
    raise ValueError(f"translation_2d: label must be in 0..2; got {label}")


def translation_2d(seed: int, n_train: int = 21000, n_val: int = 6000, n_test: int = 3000,
                   size: int = 10) -> Splits:
    """2-D images (N, size, size) of a line segment, a triangle or a square on the torus (see CHOICES)."""
    _check_sizes("translation_2d", n_train=n_train, n_val=n_val, n_test=n_test)
    if not isinstance(size, (int, np.integer)) or size < 6:
        raise ValueError(f"translation_2d: size must be an integer >= 6 (the longest line); got {size!r}")

    def pixels(rng, label):
        cells = (_shape_cells(rng, label) + rng.integers(size, size=2)) % size
        return cells[:, 0], cells[:, 1]

    return _pattern_images("translation_2d", seed, (n_train, n_val, n_test), (size, size),
                           len(TRANSLATION_2D_CLASSES), pixels)


# -- mnist canvas (§3.2) ------------------------------------------------------------------------------

def mnist_canvas(seed: int, digits: np.ndarray, labels: np.ndarray, n_train: int, n_val: int, n_test: int,
                 test_start: int | None = None, canvas: int = 56) -> Splits:
    """Each 28 x 28 digit pasted at a uniform random position of a ``canvas`` x ``canvas`` zero image.

    Args:
      digits: uint8 (M, 28, 28) MNIST images (``symjax.data.mnist.load_mnist``).
      labels: int (M,) in 0..9.
      n_train, n_val, n_test: split sizes.
      test_start: digits ``test_start:`` form the test pool and ``:test_start``
        the train / validation pool (the official MNIST training / test files);
        None draws all three splits from one shuffled pool (the reduced run).

    Returns:
      Splits with x float32 (N, canvas, canvas) in [0, 1], y int32 (N,), N = n_train + n_val + n_test;
      info['source_index'] (N,) the digit used, info['corners'] (N, 2) its top-left corner.

    Raises:
      ValueError: more digits requested than a pool holds.
    """
    _check_sizes("mnist", n_train=n_train, n_val=n_val, n_test=n_test)
    digits = np.asarray(digits)
    labels = np.asarray(labels)
    if digits.ndim != 3 or digits.shape[1] != digits.shape[2] or labels.shape != digits.shape[:1]:
        raise ValueError(f"mnist: expected digits (M, h, h) and labels (M,); got {digits.shape} and {labels.shape}")
    side = digits.shape[1]
    if canvas < side:
        raise ValueError(f"mnist: canvas {canvas} is smaller than the digits ({side} x {side})")
    rng = np.random.default_rng(seed)
    total = digits.shape[0]
    if test_start is None:
        pools = [(np.arange(total), n_train + n_val + n_test, "train + val + test")]
    else:
        pools = [(np.arange(test_start), n_train + n_val, "train + val"),
                 (np.arange(test_start, total), n_test, "test")]
    order = []
    for pool, wanted, what in pools:
        if wanted > pool.size:
            raise ValueError(f"mnist: {what} = {wanted} digits requested, the pool holds {pool.size}")
        order.append(rng.permutation(pool)[:wanted])
    order = np.concatenate(order)
    n = order.size
    corners = rng.integers(0, canvas - side + 1, size=(n, 2))
    rows = corners[:, 0, None, None] + np.arange(side)[None, :, None]  # (n, side, 1)
    cols = corners[:, 1, None, None] + np.arange(side)[None, None, :]  # (n, 1, side)
    x = np.zeros((n, canvas, canvas), np.float32)
    x[np.arange(n)[:, None, None], rows, cols] = digits[order].astype(np.float32) / 255.0
    return Splits("mnist", x, labels[order].astype(np.int32), *_consecutive_splits(n_train, n_val, n_test),
                  info={"corners": corners, "source_index": order})


# -- degree (§3.3) ------------------------------------------------------------------------------------

SPLITS = ("random", "by_graph")


def random_graphs(rng, n_graphs: int, n_nodes: int, edge_prob: float) -> np.ndarray:
    """float32 (n_graphs, n_nodes, n_nodes) symmetric 0/1 adjacency, zero diagonal, pairs i.i.d. Bernoulli."""
    upper = np.triu(rng.random((n_graphs, n_nodes, n_nodes)) < edge_prob, k=1)
    return (upper | upper.transpose(0, 2, 1)).astype(np.float32)


def degree(seed: int, split: str = "random", n_graphs: int = 10000, n_copies: int = 5, n_val_graphs: int = 1000,
           n_test_graphs: int = 2000, n_nodes: int = 10, edge_prob: float = 0.5) -> Splits:
    """Degree prediction: each source graph and ``n_copies`` random relabellings of it.

    Example k * (n_copies + 1) + c is copy c of source graph k (c = 0 the graph
    itself); ``info['source']`` int64 (N,) holds k. Split sizes in examples are
    (n_copies + 1) times the graph counts: train (n_graphs - n_val_graphs -
    n_test_graphs), val n_val_graphs, test n_test_graphs. ``split='random'``
    shuffles examples (the reference's split: copies of a test graph can be in
    training); ``'by_graph'`` shuffles source graphs so all copies share a split.

    Returns:
      Splits with x float32 (N, n_nodes, n_nodes) adjacency, y float32 (N, n_nodes) degrees.
    """
    _check_sizes("degree", n_graphs=n_graphs, n_copies=n_copies, n_val_graphs=n_val_graphs,
                 n_test_graphs=n_test_graphs, n_nodes=n_nodes)
    if split not in SPLITS:
        raise ValueError(f"degree: split must be one of {SPLITS}; got {split!r}")
    if not 0.0 <= edge_prob <= 1.0:
        raise ValueError(f"degree: edge_prob must be in [0, 1]; got {edge_prob!r}")
    n_train_graphs = n_graphs - n_val_graphs - n_test_graphs
    if n_train_graphs < 1:
        raise ValueError(f"degree: n_graphs={n_graphs} leaves no training graph after {n_val_graphs} validation "
                         f"and {n_test_graphs} test graphs")
    rng = np.random.default_rng(seed)
    sources = random_graphs(rng, n_graphs, n_nodes, edge_prob)
    per = n_copies + 1
    perms = np.stack([np.tile(np.arange(n_nodes), (n_graphs, 1))]
                     + [rng.permuted(np.tile(np.arange(n_nodes), (n_graphs, 1)), axis=1) for _ in range(n_copies)],
                     axis=1)  # (n_graphs, per, n_nodes): copy c has A_c[i, j] = A[p[i], p[j]]
    g = np.arange(n_graphs)[:, None, None, None]
    x = sources[g, perms[..., :, None], perms[..., None, :]].reshape(n_graphs * per, n_nodes, n_nodes)
    y = x.sum(axis=-1)
    source = np.repeat(np.arange(n_graphs), per)
    sizes = (n_train_graphs * per, n_val_graphs * per, n_test_graphs * per)
    if split == "random":
        order = rng.permutation(n_graphs * per)
    else:
        order = (rng.permutation(n_graphs)[:, None] * per + np.arange(per)).reshape(-1)
    train, val, test = (order[idx] for idx in _consecutive_splits(*sizes))
    return Splits("degree", x, y.astype(np.float32), train, val, test,
                  info={"source": source, "split": split, "copies_per_graph": per})

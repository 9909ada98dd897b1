"""Loader for graph-classification datasets in the TU Dortmund format (NCI1).

TU format
---------
A dataset ``DS`` is a directory holding comma-separated text files in which
nodes are numbered globally, 1-based, across all graphs:

* ``DS_A.txt`` (m lines): one directed edge ``i, j`` per line (global node
  ids).  An undirected edge is listed in both directions.
* ``DS_graph_indicator.txt`` (n lines): line ``k`` holds the 1-based graph
  id of node ``k``.  Ids are non-decreasing, so the nodes of a graph form a
  contiguous block.
* ``DS_graph_labels.txt`` (N lines): the class label of graph ``g`` on line
  ``g``.
* ``DS_node_labels.txt`` (n lines): the discrete label of node ``k`` on
  line ``k``.

Line endings may be ``\\n`` or ``\\r\\n``; blank lines at the end of a file
are ignored, anywhere else they are an error.

Where the files are looked for
------------------------------
:func:`find_dataset_dir` takes the first directory that holds all four files:

1. ``data_dir`` when given (and nothing else: an error if files are missing);
2. ``$SYMJAX_DATA_DIR/NCI1``, then ``$SYMJAX_DATA_DIR`` itself;
3. ``~/.cache/symjax/NCI1``;
4. ``<repository root>/../shared/data/NCI1``.

If none does, the official archive ``NCI1.zip`` is downloaded from the TU
Dortmund graph kernel dataset site (:data:`NCI1_URL`) into
``~/.cache/symjax`` (temporary file, then an atomic ``os.replace``).  The
four ``.txt`` files are taken out of the archive, their SHA-256 digests are
checked against :data:`NCI1_SHA256` (embedded in this module), and each is
moved into ``~/.cache/symjax/NCI1`` atomically.  Without network access a
:class:`DatasetNotFoundError` says where to put the files.

Parsed form
-----------
:func:`load_tu_dataset` returns a :class:`TUDataset` with 0-based int32
arrays.  :func:`to_graphs_tuple` batches chosen graphs into one
``jraph.GraphsTuple``; :func:`dense_batch` gives padded dense adjacency,
one-hot features and a node mask.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Sequence

import jraph
import numpy as np

from symjax.layers.graph import check_graphs

__all__ = [
    "NCI1_URL",
    "NCI1_SHA256",
    "ENV_VAR",
    "ChecksumMismatchError",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "TUDataset",
    "cache_dir",
    "dataset_files",
    "dense_batch",
    "find_dataset_dir",
    "load_tu_dataset",
    "node_cap",
    "select_by_size",
    "to_graphs_tuple",
    "verify_checksums",
]

ENV_VAR = "SYMJAX_DATA_DIR"
"""Environment variable naming a directory that holds (or contains) the dataset."""

URL_TEMPLATE = "https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip"
NCI1_URL = URL_TEMPLATE.format(name="NCI1")

NCI1_SHA256 = {
    "NCI1_A.txt": "b2d5f854a3954f675348f27f938275bacf02a9c8a20d84c45e1ef56b87199f3d",
    "NCI1_graph_indicator.txt": "d7f2f70ddbe7d9ac9318b14849e32be850d02d6be013743a7838cd2c4fd2d1ac",
    "NCI1_graph_labels.txt": "a0b254f8582278b7347eaa65a8cd9eb4fd61d174ab5b6d625b2b2c4cf50c5ce7",
    "NCI1_node_labels.txt": "55d28db7d9b6fcc54c131eab108395f7e9de0bf155212d0f3a1f72b8c8d237e1",
}
"""SHA-256 digests of the four files of the official NCI1 release."""

_CHECKSUMS = {"NCI1": NCI1_SHA256}

# ``<repo root>/../shared/data``; a module attribute so tests can redirect it.
SHARED_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"

_INT_RE = re.compile(r"[+-]?[0-9]+")


class DatasetNotFoundError(FileNotFoundError):
    """The dataset files are nowhere to be found and could not be downloaded."""


class ChecksumMismatchError(ValueError):
    """A dataset file's SHA-256 digest differs from the expected one."""


class CorruptDatasetError(ChecksumMismatchError):
    """A file of a dataset with known digests (NCI1) is damaged.

    The message is one line: the file, the first malformed or changed line,
    and how to restore the official files.
    """


# ---------------------------------------------------------------------------
# Locating / downloading
# ---------------------------------------------------------------------------


def dataset_files(name: str = "NCI1") -> tuple[str, str, str, str]:
    """File names of a TU dataset: (A, graph_indicator, graph_labels, node_labels)."""
    return (
        f"{name}_A.txt",
        f"{name}_graph_indicator.txt",
        f"{name}_graph_labels.txt",
        f"{name}_node_labels.txt",
    )


def cache_dir() -> Path:
    """The download cache, ``~/.cache/symjax``."""
    return Path.home() / ".cache" / "symjax"


def _has_files(directory: Path, name: str) -> bool:
    return all((directory / f).is_file() for f in dataset_files(name))


def _candidates(name: str) -> list[Path]:
    out = []
    env = os.environ.get(ENV_VAR)
    if env:
        out += [Path(env) / name, Path(env)]
    out.append(cache_dir() / name)
    out.append(SHARED_DATA_DIR / name)
    return out


def find_dataset_dir(
    name: str = "NCI1", data_dir: str | os.PathLike | None = None, download: bool = True
) -> Path:
    """Return the directory holding the TU dataset ``name``.

    Args:
      name: dataset name; file names are ``{name}_A.txt`` etc.
      data_dir: if given, this directory is used and nothing else is searched.
      download: when the files are found nowhere, download them (only
        possible for datasets with embedded checksums, i.e. NCI1).

    Returns:
      The directory, as a :class:`pathlib.Path`.

    Raises:
      DatasetNotFoundError: ``data_dir`` lacks a file, or the dataset is in
        none of the searched places and cannot be downloaded.
    """
    if data_dir is not None:
        directory = Path(data_dir)
        missing = [f for f in dataset_files(name) if not (directory / f).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"data_dir {directory} lacks the {name} files {missing}; expected all of "
                f"{list(dataset_files(name))} there"
            )
        return directory

    searched = _candidates(name)
    for directory in searched:
        if _has_files(directory, name):
            return directory

    target = cache_dir() / name
    where = (
        f"Put the files {list(dataset_files(name))} in ${ENV_VAR}/{name} (or in "
        f"${ENV_VAR} itself) or in {target}. Searched: {[str(p) for p in searched]}."
    )
    if not download or name not in _CHECKSUMS:
        reason = "downloading is disabled" if not download else f"no checksums are known for {name}"
        raise DatasetNotFoundError(f"{name} dataset not found and {reason}. {where}")

    url = URL_TEMPLATE.format(name=name)
    try:
        zip_path = _download(url, cache_dir() / f"{name}.zip")
    except OSError as err:  # urllib.error.URLError, timeouts, disk errors
        raise DatasetNotFoundError(
            f"{name} dataset not found locally and downloading {url} failed ({err}). {where}"
        ) from err
    _unpack_verified(zip_path, target, name)
    return target


def _download(url: str, dest: Path) -> Path:
    """Download ``url`` to ``dest`` via a temporary file and ``os.replace``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def _unpack_verified(zip_path: Path, target: Path, name: str) -> None:
    """Extract the four dataset files from ``zip_path`` into ``target``.

    Members are matched by base name (nothing else is written, so paths inside
    the archive cannot escape ``target``); each file's digest is checked in
    memory before it is moved into place atomically.
    """
    expected = _CHECKSUMS[name]
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        members = {Path(m).name: m for m in zf.namelist() if not m.endswith("/")}
        for fname, digest in expected.items():
            if fname not in members:
                raise DatasetNotFoundError(f"{zip_path} holds no {fname}; members: {sorted(members)}")
            data = zf.read(members[fname])
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                raise ChecksumMismatchError(
                    f"{fname} in {zip_path}: expected SHA-256 {digest}, found {actual}"
                )
            fd, tmp = tempfile.mkstemp(dir=target, prefix=fname + ".", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, target / fname)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)


def _first_mismatch(directory: Path, name: str) -> tuple[str, str, str] | None:
    """(file name, expected digest, actual digest) of the first file that differs, or None."""
    for fname, digest in _CHECKSUMS[name].items():
        actual = hashlib.sha256((directory / fname).read_bytes()).hexdigest()
        if actual != digest:
            return fname, digest, actual
    return None


def verify_checksums(directory: str | os.PathLike, name: str = "NCI1") -> None:
    """Check the SHA-256 digests of the four files of ``name`` in ``directory``.

    Raises:
      KeyError: no checksums are embedded for ``name``.
      ChecksumMismatchError: naming the first file whose digest differs, with
        the expected and the actual digest.
    """
    if name not in _CHECKSUMS:
        raise KeyError(f"no checksums known for dataset {name!r}; known: {sorted(_CHECKSUMS)}")
    directory = Path(directory)
    mismatch = _first_mismatch(directory, name)
    if mismatch is not None:
        fname, digest, actual = mismatch
        raise ChecksumMismatchError(f"{directory / fname}: expected SHA-256 {digest}, found {actual}")


def _restore_hint(directory: Path, name: str) -> str:
    """How to get the official files back into ``directory`` (one clause)."""
    ways = []
    shared = SHARED_DATA_DIR / name
    if _has_files(shared, name) and shared.resolve() != directory.resolve():
        ways.append(f"copy the four {name}_*.txt files from the shared copy {shared}")
    ways.append(f"download {URL_TEMPLATE.format(name=name)} again and unpack its {name}_*.txt files there")
    return f"to restore the official files in {directory}, " + " or ".join(ways)


def _locate_change(directory: Path, name: str, fname: str) -> str:
    """The first line of ``fname`` that differs from an intact shared copy, or '' without one."""
    shared = SHARED_DATA_DIR / name
    if not _has_files(shared, name) or shared.resolve() == directory.resolve() or \
            _first_mismatch(shared, name) is not None:
        return ""
    damaged, intact = _read_lines(directory / fname), _read_lines(shared / fname)
    for k, (found, official) in enumerate(zip(damaged, intact)):
        if found != official:
            return f"line {k + 1}: found {found!r}, the official release has {official!r}"
    k = min(len(damaged), len(intact))
    return f"line {k + 1}: found {len(damaged)} lines, the official release has {len(intact)}"


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    """Lines of an ASCII text file, trailing blank lines dropped."""
    data = path.read_bytes()
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path}: line {line}: expected ASCII text, found byte {data[err.start]:#04x}"
        ) from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _parse_int_table(path: Path, ncols: int) -> np.ndarray:
    """Parse a file of ``ncols`` comma-separated integers per line.

    Returns:
      int64 array of shape (num_lines, ncols).
    """
    lines = _read_lines(path)
    if not lines:
        return np.zeros((0, ncols), dtype=np.int64)
    # Fast path: numpy's C parser.  It skips blank lines and tolerates a
    # varying column count in some cases, so its result is accepted only if it
    # has exactly one row of ``ncols`` values per line; otherwise the checks
    # below find the offending line.
    try:
        values = np.loadtxt(lines, dtype=np.int64, delimiter=",", comments=None, ndmin=2)
    except ValueError:
        values = None
    if values is not None and values.shape == (len(lines), ncols):
        return values
    if ncols == 1:
        tokens = [line.strip() for line in lines]
    else:
        rows = [line.split(",") for line in lines]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        bad = np.flatnonzero(lengths != ncols)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{path}: line {i + 1}: expected {ncols} comma-separated columns, "
                f"found {lengths[i]}: {lines[i]!r}"
            )
        tokens = [tok.strip() for row in rows for tok in row]
    if not all(map(_INT_RE.fullmatch, tokens)):
        i = next(k for k, tok in enumerate(tokens) if not _INT_RE.fullmatch(tok))
        raise ValueError(
            f"{path}: line {i // ncols + 1}: expected an integer, found {tokens[i]!r}"
        )
    return np.array(tokens).astype(np.int64).reshape(-1, ncols)


def _check_length(path: Path, values: np.ndarray, expected: int, what: str) -> None:
    """Raise a ValueError pointing at the first missing or surplus line."""
    found = int(values.shape[0])
    if found < expected:
        raise ValueError(
            f"{path}: line {found + 1}: expected {expected} lines ({what}), "
            f"found end of file after {found} lines"
        )
    if found > expected:
        raise ValueError(
            f"{path}: line {expected + 1}: expected {expected} lines ({what}), "
            f"found {found} lines"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class TUDataset:
    """A parsed TU dataset; all ids are 0-based.

    Attributes:
      name: dataset name.
      node_graph: int32 (num_nodes,), graph id of each node, non-decreasing.
      node_labels: int32 (num_nodes,), in ``[0, num_node_labels)``.
      senders: int32 (num_edges,), global node id of each directed edge's source.
      receivers: int32 (num_edges,), global node id of its target.
      graph_labels: int32 (num_graphs,), class of each graph in ``[0, num_classes)``.
      num_node_labels: size of the one-hot node features.
    """

    name: str
    node_graph: np.ndarray
    node_labels: np.ndarray
    senders: np.ndarray
    receivers: np.ndarray
    graph_labels: np.ndarray
    num_node_labels: int

    @property
    def num_graphs(self) -> int:
        return int(self.graph_labels.shape[0])

    @property
    def num_nodes(self) -> int:
        return int(self.node_graph.shape[0])

    @property
    def num_edges(self) -> int:
        """Number of directed edges (lines of ``A.txt``)."""
        return int(self.senders.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.graph_labels.max()) + 1 if self.num_graphs else 0

    @functools.cached_property
    def num_undirected_edges(self) -> int:
        """Number of distinct unordered node pairs {s, r} joined by an edge."""
        lo = np.minimum(self.senders, self.receivers).astype(np.int64)
        hi = np.maximum(self.senders, self.receivers).astype(np.int64)
        return int(np.unique(lo * self.num_nodes + hi).size)

    @functools.cached_property
    def node_counts(self) -> np.ndarray:
        """int64 (num_graphs,): nodes per graph."""
        return np.bincount(self.node_graph, minlength=self.num_graphs)

    @functools.cached_property
    def node_offsets(self) -> np.ndarray:
        """int64 (num_graphs + 1,): graph g owns nodes ``node_offsets[g]:node_offsets[g+1]``."""
        return np.concatenate([[0], np.cumsum(self.node_counts)])

    @functools.cached_property
    def edge_graph(self) -> np.ndarray:
        """int32 (num_edges,): graph id of each directed edge."""
        return self.node_graph[self.senders]

    @functools.cached_property
    def edge_counts(self) -> np.ndarray:
        """int64 (num_graphs,): directed edges per graph."""
        return np.bincount(self.edge_graph, minlength=self.num_graphs)

    @functools.cached_property
    def edge_order(self) -> np.ndarray:
        """int64 (num_edges,): edge ids grouped by graph (file order within a graph)."""
        return np.argsort(self.edge_graph, kind="stable")

    @functools.cached_property
    def edge_offsets(self) -> np.ndarray:
        """int64 (num_graphs + 1,): graph g owns ``edge_order[edge_offsets[g]:edge_offsets[g+1]]``."""
        return np.concatenate([[0], np.cumsum(self.edge_counts)])


def load_tu_dataset(
    directory: str | os.PathLike, name: str = "NCI1", verify: bool = True
) -> TUDataset:
    """Parse the TU dataset ``name`` from ``directory``.

    Node labels are shifted so that the smallest label in the file becomes 0
    (NCI1 uses 1..37, giving 0..36), and ``num_node_labels`` is
    ``max - min + 1`` of the file's labels (37 for NCI1).  Graph labels
    ``{0, 1}`` are kept and ``{-1, 1}`` become ``{0, 1}``; any other label set
    is mapped to ``0..k-1`` in increasing order.

    Args:
      directory: directory holding the four files.
      name: dataset name (file-name prefix).
      verify: check SHA-256 digests first; applies only to datasets with
        embedded checksums (NCI1) and is skipped for other names.

    Files are parsed before their digests are checked, so a damaged file of
    an official dataset (``verify`` and NCI1) is reported by its first bad
    line: malformed, or (when the file parses but its digest differs)
    different from the intact shared copy ``SHARED_DATA_DIR/name`` if there
    is one; each message ends with how to restore the files.

    Raises:
      ValueError: a malformed file; the message names the file, the 1-based
        line number, what was expected and what was found.
      CorruptDatasetError: ``verify`` and a file of NCI1 is malformed or its
        digest differs (one line: file, line, how to restore).
    """
    directory = Path(directory)
    official = verify and name in _CHECKSUMS
    try:
        dataset = _parse_tu(directory, name)
    except ValueError as err:
        if not official:
            raise
        raise CorruptDatasetError(f"{err}; {_restore_hint(directory, name)}") from None
    mismatch = _first_mismatch(directory, name) if official else None
    if mismatch is not None:
        fname, digest, actual = mismatch
        where = _locate_change(directory, name, fname) or f"expected SHA-256 {digest}, found {actual}"
        raise CorruptDatasetError(f"{directory / fname}: {where}; {_restore_hint(directory, name)}")
    return dataset


def _parse_tu(directory: Path, name: str) -> TUDataset:
    """``load_tu_dataset`` without the digest check; ValueError names file and line."""
    f_a, f_ind, f_glab, f_nlab = (directory / f for f in dataset_files(name))
    indicator = _parse_int_table(f_ind, 1)[:, 0]
    num_nodes = indicator.shape[0]
    if num_nodes == 0:
        raise ValueError(f"{f_ind}: expected one graph id per node, found an empty file")
    if indicator[0] != 1:
        raise ValueError(f"{f_ind}: line 1: expected graph id 1, found {indicator[0]}")
    steps = np.diff(indicator)
    bad = np.flatnonzero((steps != 0) & (steps != 1))
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(
            f"{f_ind}: line {i + 1}: expected graph id {indicator[i - 1]} or "
            f"{indicator[i - 1] + 1} (ids must be non-decreasing without gaps), found {indicator[i]}"
        )
    num_graphs = int(indicator[-1])

    graph_labels = _parse_int_table(f_glab, 1)[:, 0]
    _check_length(f_glab, graph_labels, num_graphs, f"one per graph of {f_ind.name}")
    classes = np.unique(graph_labels)
    if set(classes.tolist()) <= {0, 1}:
        graph_labels = graph_labels.copy()
    elif set(classes.tolist()) <= {-1, 1}:
        graph_labels = (graph_labels == 1).astype(np.int64)
    else:
        graph_labels = np.searchsorted(classes, graph_labels)

    node_labels = _parse_int_table(f_nlab, 1)[:, 0]
    _check_length(f_nlab, node_labels, num_nodes, f"one per node of {f_ind.name}")
    lowest = int(node_labels.min())
    node_labels = node_labels - lowest
    num_node_labels = int(node_labels.max()) + 1

    edges = _parse_int_table(f_a, 2)
    out_of_range = np.flatnonzero(((edges < 1) | (edges > num_nodes)).any(axis=1))
    if out_of_range.size:
        i = int(out_of_range[0])
        raise ValueError(
            f"{f_a}: line {i + 1}: expected node ids in 1..{num_nodes}, "
            f"found {edges[i, 0]}, {edges[i, 1]}"
        )
    senders = edges[:, 0] - 1
    receivers = edges[:, 1] - 1
    node_graph = indicator - 1
    cross = np.flatnonzero(node_graph[senders] != node_graph[receivers])
    if cross.size:
        i = int(cross[0])
        raise ValueError(
            f"{f_a}: line {i + 1}: expected an edge within one graph, found nodes "
            f"{senders[i] + 1} (graph {node_graph[senders[i]] + 1}) and "
            f"{receivers[i] + 1} (graph {node_graph[receivers[i]] + 1})"
        )

    return TUDataset(
        name=name,
        node_graph=node_graph.astype(np.int32),
        node_labels=node_labels.astype(np.int32),
        senders=senders.astype(np.int32),
        receivers=receivers.astype(np.int32),
        graph_labels=graph_labels.astype(np.int32),
        num_node_labels=num_node_labels,
    )


# ---------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------


def _check_indices(ds: TUDataset, indices) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"expected a 1-D sequence of integer graph indices, found {idx!r}")
    idx = idx.astype(np.int64)
    bad = np.flatnonzero((idx < 0) | (idx >= ds.num_graphs))
    if bad.size:
        raise ValueError(
            f"expected graph indices in 0..{ds.num_graphs - 1}, found {idx[bad[0]]} "
            f"at position {bad[0]}"
        )
    return idx


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for each (s, c); int64 (counts.sum(),)."""
    total = int(counts.sum())
    first = np.cumsum(counts) - counts  # position of each range in the output
    return np.repeat(starts - first, counts) + np.arange(total)


def _gather(ds: TUDataset, idx: np.ndarray):
    """Nodes and edges of graphs ``idx``, in batch order.

    Returns:
      node_ids: int64 (total_nodes,) global ids of the chosen graphs' nodes.
      node_batch: int64 (total_nodes,) position in ``idx`` of each node's graph.
      edge_ids: int64 (total_edges,) ids of the chosen graphs' edges.
      edge_batch: int64 (total_edges,) position in ``idx`` of each edge's graph.
    """
    n_count = ds.node_counts[idx]
    e_count = ds.edge_counts[idx]
    node_ids = _ranges(ds.node_offsets[idx], n_count)
    edge_ids = ds.edge_order[_ranges(ds.edge_offsets[idx], e_count)]
    pos = np.arange(idx.size)
    return node_ids, np.repeat(pos, n_count), edge_ids, np.repeat(pos, e_count)


def to_graphs_tuple(ds: TUDataset, indices: Sequence[int]) -> jraph.GraphsTuple:
    """The graphs ``indices`` (in that order) as one batched, unpadded GraphsTuple.

    Returns:
      ``jraph.GraphsTuple`` of numpy arrays with
      nodes float32 (total_nodes, num_node_labels) one-hot node labels,
      senders / receivers int32 (total_edges,) renumbered into the batch,
      n_node / n_edge int32 (len(indices),), edges None, globals None;
      checked by ``symjax.layers.check_graphs``.
    """
    idx = _check_indices(ds, indices)
    node_ids, _, edge_ids, _ = _gather(ds, idx)
    n_node = ds.node_counts[idx]
    batch_start = np.cumsum(n_node) - n_node  # first batch node of each chosen graph
    shift = np.repeat(batch_start - ds.node_offsets[idx], ds.edge_counts[idx])
    nodes = np.zeros((node_ids.size, ds.num_node_labels), dtype=np.float32)
    nodes[np.arange(node_ids.size), ds.node_labels[node_ids]] = 1.0
    graphs = jraph.GraphsTuple(
        nodes=nodes,
        edges=None,
        senders=(ds.senders[edge_ids] + shift).astype(np.int32),
        receivers=(ds.receivers[edge_ids] + shift).astype(np.int32),
        n_node=n_node.astype(np.int32),
        n_edge=ds.edge_counts[idx].astype(np.int32),
        globals=None,
    )
    check_graphs(graphs)  # a TUDataset built by hand (not by load_tu_dataset) may hold bad ids
    return graphs


def select_by_size(ds: TUDataset, max_nodes: int) -> tuple[np.ndarray, int]:
    """Graphs with at most ``max_nodes`` nodes.

    Returns:
      kept: int64 (num_kept,) increasing graph indices.
      num_dropped: number of graphs with more than ``max_nodes`` nodes.
    """
    kept = np.flatnonzero(ds.node_counts <= max_nodes)
    return kept, ds.num_graphs - int(kept.size)


def node_cap(ds: TUDataset, max_nodes: int | None = None) -> int:
    """The node cap of the dense (padded) form: ``max_nodes``, or the largest graph's node count if None.

    The study (ch. 4 §3) caps graphs at 50 nodes ("최대 노드 개수가 50개
    이하인 그래프만을 이용하였다"); ``None`` is the "all graphs" reading of its
    4110 condition, in which every graph is kept (``select_by_size(ds,
    node_cap(ds))`` drops none) and padded to the largest one (111 nodes for
    NCI1).
    """
    if max_nodes is None:
        return int(ds.node_counts.max())
    if not isinstance(max_nodes, (int, np.integer)) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive integer or None; got {max_nodes!r}")
    return int(max_nodes)


def dense_batch(
    ds: TUDataset, indices: Sequence[int], max_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded dense form of the graphs ``indices``; B = len(indices), M = max_nodes.

    Returns:
      A: float32 (B, M, M), ``A[b, s, r] = 1`` for each directed edge s -> r of
        graph ``indices[b]`` (local node numbers); symmetric for NCI1.
      X: float32 (B, M, num_node_labels), one-hot node labels.
      mask: float32 (B, M), 1 for real nodes and 0 for padding.
      Padding rows and columns are zero in A and X.

    Raises:
      ValueError: a graph has more than ``max_nodes`` nodes.
    """
    idx = _check_indices(ds, indices)
    sizes = ds.node_counts[idx]
    too_big = np.flatnonzero(sizes > max_nodes)
    if too_big.size:
        b = int(too_big[0])
        raise ValueError(
            f"graph {idx[b]} has {sizes[b]} nodes, expected at most max_nodes={max_nodes}"
        )
    node_ids, node_batch, edge_ids, edge_batch = _gather(ds, idx)
    first = ds.node_offsets[idx]
    local = node_ids - first[node_batch]
    B = idx.size
    A = np.zeros((B, max_nodes, max_nodes), dtype=np.float32)
    edge_first = first[edge_batch]
    A[edge_batch, ds.senders[edge_ids] - edge_first, ds.receivers[edge_ids] - edge_first] = 1.0
    X = np.zeros((B, max_nodes, ds.num_node_labels), dtype=np.float32)
    X[node_batch, local, ds.node_labels[node_ids]] = 1.0
    mask = np.zeros((B, max_nodes), dtype=np.float32)
    mask[node_batch, local] = 1.0
    return A, X, mask

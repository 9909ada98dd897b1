"""Tests for the TU-format (NCI1) loader in symjax.data.tu.

Expected values come from the dataset's published statistics (4110 graphs,
122747 nodes, 132753 edges, 37 node labels, 2053/2057 classes) or from a
separate pure-Python reading of the raw files.
"""

import collections
import hashlib
import io
import shutil
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from symjax.data import tu

NCI1_DIR = Path(tu.__file__).resolve().parents[2].parent / "shared" / "data" / "NCI1"
needs_nci1 = pytest.mark.skipif(
    not (NCI1_DIR / "NCI1_A.txt").is_file(), reason=f"NCI1 not present at {NCI1_DIR}"
)
FILES = ["NCI1_A.txt", "NCI1_graph_indicator.txt", "NCI1_graph_labels.txt", "NCI1_node_labels.txt"]


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ds():
    return tu.load_tu_dataset(NCI1_DIR)


@pytest.fixture(scope="module")
def raw():
    """The NCI1 files read line by line in plain Python (1-based ids as in the files)."""

    def ints(fname):
        return [int(x) for x in (NCI1_DIR / fname).read_text().split()]

    edges = []
    for line in (NCI1_DIR / "NCI1_A.txt").read_text().splitlines():
        if line.strip():
            a, b = line.split(",")
            edges.append((int(a), int(b)))
    indicator = ints("NCI1_graph_indicator.txt")
    nodes_of = collections.defaultdict(list)  # graph id -> its node ids, increasing
    for node, g in enumerate(indicator, start=1):
        nodes_of[g].append(node)
    edges_of = collections.defaultdict(list)  # graph id -> its edges
    for a, b in edges:
        edges_of[indicator[a - 1]].append((a, b))
    return dict(
        edges=edges,
        indicator=indicator,
        node_labels=ints("NCI1_node_labels.txt"),
        graph_labels=ints("NCI1_graph_labels.txt"),
        nodes_of=nodes_of,
        edges_of=edges_of,
    )


def adjacency_by_hand(raw, g, size):
    """Dense adjacency of 0-based graph g built from the raw edge list."""
    nodes = raw["nodes_of"][g + 1]
    local = {node: i for i, node in enumerate(nodes)}
    A = np.zeros((size, size), dtype=np.float32)
    for a, b in raw["edges_of"][g + 1]:
        A[local[a], local[b]] = 1.0
    return A


TINY = {
    # graph 1: nodes 1-2-3 (path), graph 2: nodes 4-5
    "A": ["1, 2", "2, 1", "2, 3", "3, 2", "4, 5", "5, 4"],
    "graph_indicator": ["1", "1", "1", "2", "2"],
    "graph_labels": ["1", "-1"],
    "node_labels": ["1", "2", "1", "3", "2"],
}


def write_tiny(directory, name="TINY", **changes):
    """Write the tiny 2-graph dataset (with files replaced by ``changes``) into directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for key, lines in {**TINY, **changes}.items():
        (directory / f"{name}_{key}.txt").write_text("\n".join(lines) + "\n")
    return directory


# ---------------------------------------------------------------------------
# Real NCI1
# ---------------------------------------------------------------------------


@needs_nci1
def test_nci1_published_statistics(ds):
    assert ds.name == "NCI1"
    assert ds.num_graphs == 4110
    assert ds.num_nodes == 122747
    assert ds.num_edges == 265506
    assert ds.num_undirected_edges == 132753
    assert ds.num_node_labels == 37
    assert ds.num_classes == 2
    assert np.sum(ds.graph_labels == 0) == 2053
    assert np.sum(ds.graph_labels == 1) == 2057
    for arr in (ds.node_graph, ds.node_labels, ds.senders, ds.receivers, ds.graph_labels):
        assert arr.dtype == np.int32
    assert ds.node_labels.min() == 0 and ds.node_labels.max() == 36


@needs_nci1
def test_nci1_matches_raw_files(ds, raw):
    np.testing.assert_array_equal(ds.node_graph, np.array(raw["indicator"]) - 1)
    np.testing.assert_array_equal(ds.node_labels, np.array(raw["node_labels"]) - 1)
    np.testing.assert_array_equal(ds.graph_labels, np.array(raw["graph_labels"]))
    edges = np.array(raw["edges"]) - 1
    np.testing.assert_array_equal(ds.senders, edges[:, 0])
    np.testing.assert_array_equal(ds.receivers, edges[:, 1])
    counts = collections.Counter(raw["indicator"])
    np.testing.assert_array_equal(ds.node_counts, [counts[g] for g in range(1, 4111)])
    assert ds.node_offsets[0] == 0 and ds.node_offsets[-1] == ds.num_nodes
    np.testing.assert_array_equal(ds.edge_counts, [len(raw["edges_of"][g]) for g in range(1, 4111)])
    # every edge appears in both directions
    assert set(raw["edges"]) == {(b, a) for a, b in raw["edges"]}


@needs_nci1
def test_nci1_checksums_match_sha256sums_file():
    listed = {}
    for line in (NCI1_DIR / "SHA256SUMS").read_text().splitlines():
        digest, fname = line.split()
        listed[fname] = digest
    for fname in FILES:
        actual = hashlib.sha256((NCI1_DIR / fname).read_bytes()).hexdigest()
        assert actual == listed[fname] == tu.NCI1_SHA256[fname]
    tu.verify_checksums(NCI1_DIR)


@needs_nci1
def test_nci1_loads_fast():
    start = time.perf_counter()
    tu.load_tu_dataset(NCI1_DIR)
    assert time.perf_counter() - start < 3.0


@needs_nci1
def test_select_by_size_and_node_counts(ds, raw):
    counts = collections.Counter(raw["indicator"])
    small = sorted(g - 1 for g, c in counts.items() if c <= 50)
    assert len(small) == 3802
    kept, dropped = tu.select_by_size(ds, 50)
    np.testing.assert_array_equal(kept, small)
    assert dropped == 4110 - 3802
    sizes = ds.node_counts
    assert sizes.shape == (4110,)
    assert sizes.sum() == 122747
    assert sizes.max() == max(counts.values())


@needs_nci1
def test_checksum_mismatch_detected(tmp_path):
    for fname in FILES:
        shutil.copy(NCI1_DIR / fname, tmp_path / fname)
    tu.verify_checksums(tmp_path)  # intact copy passes
    target = tmp_path / "NCI1_node_labels.txt"
    data = bytearray(target.read_bytes())
    data[0] = ord("2") if data[0] != ord("2") else ord("3")
    target.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    expected = tu.NCI1_SHA256["NCI1_node_labels.txt"]
    with pytest.raises(tu.ChecksumMismatchError, match="NCI1_node_labels.txt") as info:
        tu.verify_checksums(tmp_path)
    assert expected in str(info.value) and actual in str(info.value)
    with pytest.raises(tu.ChecksumMismatchError, match="NCI1_node_labels.txt"):
        tu.load_tu_dataset(tmp_path)
    assert tu.load_tu_dataset(tmp_path, verify=False).num_graphs == 4110


# ---------------------------------------------------------------------------
# dense_batch / to_graphs_tuple on NCI1
# ---------------------------------------------------------------------------


@needs_nci1
def test_dense_batch_matches_hand_construction(ds, raw):
    indices = [0, 1, 17, 2500, 4109]
    sizes = [len(raw["nodes_of"][g + 1]) for g in indices]
    M = 120
    A, X, mask = tu.dense_batch(ds, indices, M)
    assert A.shape == (5, M, M) and X.shape == (5, M, 37) and mask.shape == (5, M)
    assert A.dtype == X.dtype == mask.dtype == np.float32
    for b, (g, n) in enumerate(zip(indices, sizes)):
        np.testing.assert_array_equal(A[b], adjacency_by_hand(raw, g, M))
        np.testing.assert_array_equal(mask[b], [1.0] * n + [0.0] * (M - n))
        assert not A[b, n:, :].any() and not A[b, :, n:].any()
        assert not X[b, n:].any()
        labels = [raw["node_labels"][node - 1] - 1 for node in raw["nodes_of"][g + 1]]
        np.testing.assert_array_equal(X[b, :n], np.eye(37, dtype=np.float32)[labels])
    np.testing.assert_array_equal(A, np.transpose(A, (0, 2, 1)))


@needs_nci1
def test_dense_batch_all_small_graphs_fast_and_symmetric(ds, raw):
    kept, _ = tu.select_by_size(ds, 50)
    start = time.perf_counter()
    A, X, mask = tu.dense_batch(ds, kept, 50)
    assert time.perf_counter() - start < 2.0
    assert A.shape == (3802, 50, 50)
    np.testing.assert_array_equal(A, np.transpose(A, (0, 2, 1)))
    np.testing.assert_array_equal(mask.sum(axis=1), [len(raw["nodes_of"][g + 1]) for g in kept])
    np.testing.assert_array_equal(X.sum(axis=2), mask)
    # no duplicate edges in NCI1, so the dense entries count the edges
    np.testing.assert_array_equal(A.sum(axis=(1, 2)), [len(raw["edges_of"][g + 1]) for g in kept])
    # padding rows/columns are zero
    np.testing.assert_array_equal(A * (1 - mask[:, :, None]), 0)
    np.testing.assert_array_equal(A * (1 - mask[:, None, :]), 0)


@needs_nci1
def test_dense_batch_rejects_large_graph(ds, raw):
    big = next(g - 1 for g in range(1, 4111) if len(raw["nodes_of"][g]) > 50)
    size = len(raw["nodes_of"][big + 1])
    with pytest.raises(ValueError, match=rf"graph {big} has {size} nodes.*max_nodes=50"):
        tu.dense_batch(ds, [0, big], 50)


@needs_nci1
def test_to_graphs_tuple(ds, raw):
    indices = [7, 3, 3, 4000, 0, 2999]
    gt = tu.to_graphs_tuple(ds, indices)
    n_node = [len(raw["nodes_of"][g + 1]) for g in indices]
    n_edge = [len(raw["edges_of"][g + 1]) for g in indices]
    np.testing.assert_array_equal(gt.n_node, n_node)
    np.testing.assert_array_equal(gt.n_edge, n_edge)
    assert gt.edges is None and gt.globals is None
    assert gt.nodes.shape == (sum(n_node), 37) and gt.nodes.dtype == np.float32
    assert gt.senders.shape == gt.receivers.shape == (sum(n_edge),)
    # one-hot features in batch order
    labels = [raw["node_labels"][node - 1] - 1 for g in indices for node in raw["nodes_of"][g + 1]]
    np.testing.assert_array_equal(gt.nodes, np.eye(37, dtype=np.float32)[labels])
    # each edge stays inside the node range of its own graph
    starts = np.concatenate([[0], np.cumsum(n_node)])
    edge_graph = np.repeat(np.arange(len(indices)), n_edge)
    for ends in (gt.senders, gt.receivers):
        assert (ends >= starts[edge_graph]).all() and (ends < starts[edge_graph + 1]).all()
    # the dense adjacency equals the one rebuilt from the GraphsTuple edges
    M = max(n_node)
    A, _, _ = tu.dense_batch(ds, indices, M)
    for b in range(len(indices)):
        rebuilt = np.zeros((M, M), dtype=np.float32)
        sel = edge_graph == b
        rebuilt[gt.senders[sel] - starts[b], gt.receivers[sel] - starts[b]] = 1.0
        np.testing.assert_array_equal(A[b], rebuilt)
        np.testing.assert_array_equal(A[b], adjacency_by_hand(raw, indices[b], M))


@needs_nci1
def test_to_graphs_tuple_whole_dataset(ds):
    gt = tu.to_graphs_tuple(ds, np.arange(4110))
    assert gt.n_node.sum() == 122747 and gt.n_edge.sum() == 265506
    np.testing.assert_array_equal(gt.senders, ds.senders)  # identity batch keeps ids


def test_bad_indices_rejected(tmp_path):
    small = tu.load_tu_dataset(write_tiny(tmp_path), name="TINY")
    with pytest.raises(ValueError, match="0..1"):
        tu.to_graphs_tuple(small, [0, 2])
    with pytest.raises(ValueError, match="0..1"):
        tu.dense_batch(small, [-1], 5)


# ---------------------------------------------------------------------------
# Tiny hand-made dataset and malformed files
# ---------------------------------------------------------------------------


def test_tiny_dataset_parses(tmp_path):
    small = tu.load_tu_dataset(write_tiny(tmp_path), name="TINY")
    np.testing.assert_array_equal(small.node_graph, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(small.node_labels, [0, 1, 0, 2, 1])
    np.testing.assert_array_equal(small.senders, [0, 1, 1, 2, 3, 4])
    np.testing.assert_array_equal(small.receivers, [1, 0, 2, 1, 4, 3])
    np.testing.assert_array_equal(small.graph_labels, [1, 0])  # -1 -> 0
    assert small.num_node_labels == 3
    assert (small.num_graphs, small.num_nodes, small.num_edges) == (2, 5, 6)
    assert small.num_undirected_edges == 3
    np.testing.assert_array_equal(small.node_offsets, [0, 3, 5])
    np.testing.assert_array_equal(small.node_counts, [3, 2])
    A, X, mask = tu.dense_batch(small, [1, 0], 4)
    np.testing.assert_array_equal(A[0], [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(A[1], [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [1, 1, 1, 0]])
    np.testing.assert_array_equal(X.argmax(-1)[0, :2], [2, 1])
    gt = tu.to_graphs_tuple(small, [1, 0])
    np.testing.assert_array_equal(gt.senders, [0, 1, 2, 3, 3, 4])
    np.testing.assert_array_equal(gt.receivers, [1, 0, 3, 2, 4, 3])


def test_crlf_and_trailing_blank_lines(tmp_path):
    write_tiny(tmp_path)
    path = tmp_path / "TINY_A.txt"
    path.write_bytes(b"\r\n".join(line.encode() for line in TINY["A"]) + b"\r\n\r\n")
    small = tu.load_tu_dataset(tmp_path, name="TINY")
    assert small.num_edges == 6


@pytest.mark.parametrize(
    "changes, fname, line, what",
    [
        ({"A": ["1, 2", "2, 1", "2, 3, 1", "3, 2"]}, "TINY_A.txt", 3, "2 comma-separated columns, found 3"),
        ({"A": ["1, 2", "2"]}, "TINY_A.txt", 2, "2 comma-separated columns, found 1"),
        ({"A": ["1, 2", "2, x"]}, "TINY_A.txt", 2, "integer, found 'x'"),
        ({"A": ["1, 2", "2, 1", "2.0, 3"]}, "TINY_A.txt", 3, "integer, found '2.0'"),
        ({"A": ["1, 2", "", "2, 1"]}, "TINY_A.txt", 2, "columns, found 1"),
        ({"A": ["1, 2", "2, 1", "4, 5", "5, 6"]}, "TINY_A.txt", 4, r"node ids in 1\.\.5, found 5, 6"),
        ({"A": ["0, 2"]}, "TINY_A.txt", 1, r"node ids in 1\.\.5, found 0, 2"),
        ({"A": ["1, 2", "2, 1", "3, 4"]}, "TINY_A.txt", 3, "within one graph"),
        ({"node_labels": ["1", "2", "1", "3"]}, "TINY_node_labels.txt", 5, "5 lines"),
        ({"node_labels": ["1", "2", "1", "3", "2", "2"]}, "TINY_node_labels.txt", 6, "5 lines"),
        ({"node_labels": ["1", "2", "1.5", "3", "2"]}, "TINY_node_labels.txt", 3, "integer, found '1.5'"),
        ({"graph_labels": ["1"]}, "TINY_graph_labels.txt", 2, "2 lines"),
        ({"graph_labels": ["1", "0", "1"]}, "TINY_graph_labels.txt", 3, "2 lines"),
        ({"graph_indicator": ["1", "1", "2", "1", "2"]}, "TINY_graph_indicator.txt", 4, "non-decreasing"),
        ({"graph_indicator": ["1", "1", "1", "3", "3"]}, "TINY_graph_indicator.txt", 4, "found 3"),
        ({"graph_indicator": ["2", "2", "2", "3", "3"]}, "TINY_graph_indicator.txt", 1, "graph id 1, found 2"),
        ({"graph_indicator": ["1", "1", "a", "2", "2"]}, "TINY_graph_indicator.txt", 3, "integer, found 'a'"),
    ],
)
def test_malformed_files_raise(tmp_path, changes, fname, line, what):
    write_tiny(tmp_path, **changes)
    with pytest.raises(ValueError, match=rf"{fname}: line {line}: expected .*{what}"):
        tu.load_tu_dataset(tmp_path, name="TINY")


def test_non_ascii_byte_reported(tmp_path):
    write_tiny(tmp_path)
    (tmp_path / "TINY_node_labels.txt").write_bytes(b"1\n2\n\xe91\n3\n2\n")
    with pytest.raises(ValueError, match=r"TINY_node_labels.txt: line 3: expected ASCII"):
        tu.load_tu_dataset(tmp_path, name="TINY")


# ---------------------------------------------------------------------------
# find_dataset_dir
# ---------------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No dataset anywhere: empty HOME, no env var, shared dir redirected; network refused."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(tu.ENV_VAR, raising=False)
    monkeypatch.setattr(tu, "SHARED_DATA_DIR", tmp_path / "no_shared")
    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return home, calls


def test_find_with_data_dir(tmp_path, isolated):
    d = write_tiny(tmp_path / "somewhere")
    assert tu.find_dataset_dir("TINY", data_dir=d) == d
    (d / "TINY_node_labels.txt").unlink()
    with pytest.raises(FileNotFoundError, match="TINY_node_labels.txt"):
        tu.find_dataset_dir("TINY", data_dir=d)


def test_find_via_env_var(tmp_path, monkeypatch, isolated):
    root = tmp_path / "data"
    write_tiny(root / "TINY")
    monkeypatch.setenv(tu.ENV_VAR, str(root))
    assert tu.find_dataset_dir("TINY") == root / "TINY"
    flat = write_tiny(tmp_path / "flat")
    monkeypatch.setenv(tu.ENV_VAR, str(flat))
    assert tu.find_dataset_dir("TINY") == flat


def test_find_in_cache_and_shared(tmp_path, monkeypatch, isolated):
    home, _ = isolated
    shared = tmp_path / "shared_data"
    write_tiny(shared / "TINY")
    monkeypatch.setattr(tu, "SHARED_DATA_DIR", shared)
    assert tu.find_dataset_dir("TINY") == shared / "TINY"
    cached = write_tiny(home / ".cache" / "symjax" / "TINY")
    assert tu.find_dataset_dir("TINY") == cached  # the cache comes before the shared dir


def test_offline_error_says_where_to_put_files(isolated):
    home, calls = isolated
    with pytest.raises(tu.DatasetNotFoundError) as info:
        tu.find_dataset_dir("NCI1")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert tu.ENV_VAR in message
    assert str(home / ".cache" / "symjax" / "NCI1") in message
    assert "network unreachable" in message
    assert calls == [tu.NCI1_URL]
    assert not list((home / ".cache" / "symjax").glob("*.part"))


def test_unknown_dataset_not_downloaded(isolated):
    _, calls = isolated
    with pytest.raises(tu.DatasetNotFoundError, match=tu.ENV_VAR):
        tu.find_dataset_dir("TINY")
    assert calls == []


def _zip_of(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for fname, data in files.items():
            zf.writestr(f"NCI1/{fname}", data)
    return buffer.getvalue()


@needs_nci1
def test_download_unpacks_and_verifies(monkeypatch, isolated):
    home, _ = isolated
    payload = _zip_of({f: (NCI1_DIR / f).read_bytes() for f in FILES})
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: io.BytesIO(payload))
    found = tu.find_dataset_dir("NCI1")
    assert found == home / ".cache" / "symjax" / "NCI1"
    for fname in FILES:
        assert (found / fname).read_bytes() == (NCI1_DIR / fname).read_bytes()
    assert tu.load_tu_dataset(found).num_graphs == 4110


@needs_nci1
def test_download_with_bad_digest_rejected(monkeypatch, isolated):
    home, _ = isolated
    files = {f: (NCI1_DIR / f).read_bytes() for f in FILES}
    files["NCI1_graph_labels.txt"] = b"1\r\n" + files["NCI1_graph_labels.txt"][3:]
    payload = _zip_of(files)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: io.BytesIO(payload))
    with pytest.raises(tu.ChecksumMismatchError, match="NCI1_graph_labels.txt"):
        tu.find_dataset_dir("NCI1")
    assert not (home / ".cache" / "symjax" / "NCI1" / "NCI1_graph_labels.txt").exists()

"""Tests for the MNIST IDX loader (symjax.data.mnist); no network needed.

Synthetic IDX files are written byte by byte with ``struct`` (an independent
writer); the shared test set is checked against the class counts its README
publishes.
"""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from symjax.data import mnist

needs_shared = pytest.mark.skipif(not (mnist.SHARED_MNIST_DIR / mnist.TEST_FILES[0]).is_file(),
                                  reason=f"MNIST test files not at {mnist.SHARED_MNIST_DIR}")


def _idx_bytes(array: np.ndarray) -> bytes:
    magic = 2051 if array.ndim == 3 else 2049
    header = struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _write_set(directory: Path, names, n: int, seed: int):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / names[0]).write_bytes(_idx_bytes(images))
    (directory / names[1]).write_bytes(_idx_bytes(labels))
    return images, labels


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env var, an empty home (cache) and an empty shared dir."""
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(mnist, "SHARED_MNIST_DIR", tmp_path / "shared")
    return tmp_path


@needs_shared
def test_shared_test_set_loads_verified_with_the_published_class_counts():
    digits = mnist.load_mnist(mnist.SHARED_MNIST_DIR)
    assert digits.reduced and digits.test_start == 0 and digits.default_sizes == (6000, 2000, 2000)
    assert digits.images.shape == (10000, 28, 28) and digits.images.dtype == np.uint8
    assert np.bincount(digits.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert "reduced-data run" in digits.describe()
    sums = (mnist.SHARED_MNIST_DIR / "SHA256SUMS").read_text().split()
    assert dict(zip(sums[1::2], sums[0::2])) == {k: mnist.MNIST_SHA256[k] for k in mnist.TEST_FILES}


def test_read_idx_round_trips_synthetic_files(tmp_path):
    images, labels = _write_set(tmp_path, mnist.TEST_FILES, 7, 0)
    assert np.array_equal(mnist.read_idx(tmp_path / mnist.TEST_FILES[0], 3, verify=False), images)
    assert np.array_equal(mnist.read_idx(tmp_path / mnist.TEST_FILES[1], 1, verify=False), labels)


def test_training_files_in_the_env_dir_give_the_full_split(isolated, monkeypatch):
    directory = isolated / "env"
    train_images, train_labels = _write_set(directory, mnist.TRAIN_FILES, 12, 1)
    test_images, _ = _write_set(directory, mnist.TEST_FILES, 5, 2)
    monkeypatch.setenv(mnist.ENV_VAR, str(directory))
    digits = mnist.load_mnist(verify=False)
    assert not digits.reduced and digits.test_start == 12 and digits.default_sizes == (48000, 12000, 10000)
    assert np.array_equal(digits.images[:12], train_images) and np.array_equal(digits.images[12:], test_images)
    assert np.array_equal(digits.labels[:12], train_labels)


def test_test_files_only_give_a_reduced_run(isolated):
    _write_set(isolated / "shared", mnist.TEST_FILES, 6, 3)
    digits = mnist.load_mnist(verify=False)
    assert digits.reduced and digits.images.shape[0] == 6 and digits.directory == isolated / "shared"


def test_missing_files_are_a_one_line_error_naming_the_file(isolated):
    with pytest.raises(mnist.DatasetNotFoundError, match="t10k-images-idx3-ubyte.gz") as err:
        mnist.load_mnist()
    assert "\n" not in str(err.value) and mnist.ENV_VAR in str(err.value)
    (isolated / "given").mkdir()
    with pytest.raises(mnist.DatasetNotFoundError, match="lacks t10k-images-idx3-ubyte.gz"):
        mnist.load_mnist(isolated / "given")


def test_corrupt_file_fails_its_checksum_in_one_line(tmp_path):
    _write_set(tmp_path, mnist.TEST_FILES, 4, 4)
    actual = hashlib.sha256((tmp_path / mnist.TEST_FILES[0]).read_bytes()).hexdigest()
    with pytest.raises(mnist.ChecksumMismatchError, match=f"found {actual}; the file is corrupt") as err:
        mnist.load_mnist(tmp_path)
    assert "\n" not in str(err.value) and mnist.TEST_FILES[0] in str(err.value)


@pytest.mark.parametrize("payload, message", [
    (b"not gzip at all", "could not decompress"),
    (gzip.compress(struct.pack(">iiii", 2049, 1, 28, 28) + bytes(784), mtime=0), "expected IDX magic 2051"),
    (gzip.compress(struct.pack(">iiii", 2051, 2, 28, 28) + bytes(784), mtime=0), "expected 1568 payload bytes"),
    (gzip.compress(b"\x00\x00", mtime=0), "expected an IDX header of 16 bytes"),
])
def test_malformed_idx_is_a_one_line_error(tmp_path, payload, message):
    path = tmp_path / mnist.TEST_FILES[0]
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message) as err:
        mnist.read_idx(path, 3, verify=False)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_label_count_must_match_image_count(tmp_path):
    _write_set(tmp_path, mnist.TEST_FILES, 4, 5)
    (tmp_path / mnist.TEST_FILES[1]).write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="expected 4 labels"):
        mnist.load_mnist(tmp_path, verify=False)


def test_failed_download_is_a_one_line_error(isolated, monkeypatch):
    _write_set(isolated / "shared", mnist.TEST_FILES, 3, 6)

    def offline(url, dest):
        raise OSError("network unreachable")

    monkeypatch.setattr(mnist, "_download", offline)
    with pytest.raises(mnist.DatasetNotFoundError, match="downloading .*train-images-idx3-ubyte.gz failed") as err:
        mnist.load_mnist(download=True, verify=False)
    assert "\n" not in str(err.value)

"""MNIST digits from gzipped IDX files, checksum-verified (for reference 001 §3.2).

Where the files are looked for
------------------------------
:func:`find_mnist_dir` takes the first directory that holds the two test-set
files ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``:

1. ``data_dir`` when given (and nothing else);
2. ``$SYMJAX_MNIST_DIR``;
3. ``~/.cache/symjax/MNIST``;
4. ``<repository root>/../shared/data/MNIST`` (the 10,000 test digits only).

If that directory also holds ``train-images-idx3-ubyte.gz`` and
``train-labels-idx1-ubyte.gz``, the 60,000 training digits are loaded too
(the reference's 48k / 12k / 10k run); otherwise only the 10,000 test digits
are (a *reduced* run, 6k / 2k / 2k by default, flagged by
``MnistDigits.reduced``). With ``download=True`` and no training files
anywhere, the training files are downloaded from :data:`MNIST_URL` into
``~/.cache/symjax/MNIST`` (temporary file, then ``os.replace``; the same
helper as ``symjax.data.tu``) and verified before use.

Every file read is checked against :data:`MNIST_SHA256` (the SHA-256 of the
official release; ``../shared/data/MNIST/SHA256SUMS`` lists the test files'
and its README the published MD5 of all four). Every failure is one
:class:`DatasetNotFoundError` / :class:`ChecksumMismatchError` /
``ValueError`` whose one-line message names the file and what to do.

IDX layout: big-endian int32 magic (2051 images, 2049 labels), the count,
rows and columns for images, then the uint8 payload.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from symjax.data.tu import SHARED_DATA_DIR, ChecksumMismatchError, DatasetNotFoundError, _download, cache_dir

__all__ = [
    "ENV_VAR",
    "MNIST_SHA256",
    "MNIST_URL",
    "MnistDigits",
    "TEST_FILES",
    "TRAIN_FILES",
    "find_mnist_dir",
    "load_mnist",
    "read_idx",
]

ENV_VAR = "SYMJAX_MNIST_DIR"
"""Environment variable naming a directory with the MNIST ``.gz`` files."""

MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
"""Mirror of the official files (the one TensorFlow's loader uses)."""

TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
"""SHA-256 of the four gzipped files of the official MNIST release."""

SHARED_MNIST_DIR = SHARED_DATA_DIR / "MNIST"
"""``<repository root>/../shared/data/MNIST``; a module attribute so tests can redirect it."""

IDX_MAGIC = {3: 2051, 1: 2049}  # number of dimensions -> magic number


@dataclasses.dataclass(frozen=True, eq=False)
class MnistDigits:
    """Loaded digits: the training digits (when present) first, then the 10,000 test digits.

    Attributes:
      images: uint8 (M, 28, 28).
      labels: int32 (M,) in 0..9.
      test_start: index of the first test digit (60000 with the training files, 0 without).
      reduced: True when only the 10,000 test digits are available.
      directory: where the files were read.
    """

    images: np.ndarray
    labels: np.ndarray
    test_start: int
    reduced: bool
    directory: Path

    @property
    def default_sizes(self) -> tuple[int, int, int]:
        """(train, val, test): the reference's 48k / 12k / 10k, or 6k / 2k / 2k of the test digits when reduced."""
        return (6000, 2000, 2000) if self.reduced else (48000, 12000, 10000)

    def describe(self) -> str:
        if self.reduced:
            return (f"reduced-data run: the {self.images.shape[0]} MNIST test digits only ({self.directory}); "
                    "the reference trained on the 60,000 training digits")
        return f"MNIST training ({self.test_start}) and test ({self.images.shape[0] - self.test_start}) digits " \
               f"({self.directory})"


def _has(directory: Path, names) -> bool:
    return all((directory / name).is_file() for name in names)


def _candidates() -> list[Path]:
    out = []
    env = os.environ.get(ENV_VAR)
    if env:
        out.append(Path(env))
    out.append(cache_dir() / "MNIST")
    out.append(SHARED_MNIST_DIR)
    return out


def find_mnist_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory with the MNIST test files (see the module docstring for the search order).

    Raises:
      DatasetNotFoundError: no searched directory holds both test files.
    """
    if data_dir is not None:
        directory = Path(data_dir)
        missing = [name for name in TEST_FILES if not (directory / name).is_file()]
        if missing:
            raise DatasetNotFoundError(f"MNIST data_dir {directory} lacks {missing[0]}: put the MNIST .gz files "
                                       f"{list(TEST_FILES)} (and optionally {list(TRAIN_FILES)}) there")
        return directory
    searched = _candidates()
    for directory in searched:
        if _has(directory, TEST_FILES):
            return directory
    raise DatasetNotFoundError(f"MNIST test files {list(TEST_FILES)} not found in {[str(p) for p in searched]}: "
                               f"put them in ${ENV_VAR} or {cache_dir() / 'MNIST'}")


def _verified_bytes(path: Path) -> bytes:
    """The file's bytes after its SHA-256 matched :data:`MNIST_SHA256`."""
    expected = MNIST_SHA256.get(path.name)
    if expected is None:
        raise KeyError(f"no checksum known for {path.name}; known: {sorted(MNIST_SHA256)}")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetNotFoundError(f"{path}: cannot read ({err.strerror}); put the official {path.name} there") \
            from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ChecksumMismatchError(f"{path}: expected SHA-256 {expected}, found {actual}; the file is corrupt or "
                                    f"not the official {path.name}: replace it")
    return data


def read_idx(path: str | os.PathLike, ndim: int, verify: bool = True) -> np.ndarray:
    """A gzipped IDX file as a uint8 array of ``ndim`` dimensions (3 images, 1 labels).

    Raises:
      ChecksumMismatchError, DatasetNotFoundError, ValueError: one line naming the file.
    """
    path = Path(path)
    raw = _verified_bytes(path) if verify else path.read_bytes()
    try:
        data = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: expected gzip-compressed IDX data, could not decompress ({err})") from None
    header = 4 * (1 + ndim)
    if len(data) < header:
        raise ValueError(f"{path}: expected an IDX header of {header} bytes, found {len(data)} bytes")
    magic, *dims = np.frombuffer(data[:header], ">i4").tolist()
    if magic != IDX_MAGIC[ndim]:
        raise ValueError(f"{path}: expected IDX magic {IDX_MAGIC[ndim]} ({ndim}-D uint8), found {magic}")
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise ValueError(f"{path}: expected {expected} payload bytes for shape {tuple(dims)}, "
                         f"found {len(data) - header}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def _read_pair(directory: Path, names, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(directory / names[0], 3, verify)
    labels = read_idx(directory / names[1], 1, verify)
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{directory / names[1]}: expected {images.shape[0]} labels (one per image of "
                         f"{names[0]}), found {labels.shape[0]}")
    return images, labels.astype(np.int32)


def _download_train_files() -> Path:
    target = cache_dir() / "MNIST"
    for name in TRAIN_FILES:
        if not (target / name).is_file():
            try:
                _download(MNIST_URL + name, target / name)
            except OSError as err:
                raise DatasetNotFoundError(f"downloading {MNIST_URL + name} failed ({err}); put {name} in "
                                           f"${ENV_VAR} or {target}, or run without download") from None
        _verified_bytes(target / name)
    return target


def load_mnist(data_dir: str | os.PathLike | None = None, download: bool = False, verify: bool = True) -> MnistDigits:
    """MNIST digits: the training files when found (or downloaded), and always the test files.

    Args:
      data_dir: read only this directory.
      download: fetch the training files into ~/.cache/symjax/MNIST when no
        searched directory has them (checksum-verified).
      verify: check SHA-256 digests (leave on except for synthetic test files).
    """
    directory = find_mnist_dir(data_dir)
    test_images, test_labels = _read_pair(directory, TEST_FILES, verify)
    present = [name for name in TRAIN_FILES if (directory / name).exists()]
    if present and len(present) < len(TRAIN_FILES):  # half a training set: refuse, never fall back silently
        missing = [name for name in TRAIN_FILES if name not in present]
        raise DatasetNotFoundError(f"{directory} has {present[0]} but not {missing[0]}: expected both MNIST "
                                   "training files (or neither, for the reduced run on the test digits)")
    train_dir = directory if _has(directory, TRAIN_FILES) else None
    if train_dir is None and data_dir is None:
        train_dir = next((d for d in _candidates() if _has(d, TRAIN_FILES)), None)
    if train_dir is None and download:
        train_dir = _download_train_files()
    if train_dir is None:
        return MnistDigits(test_images, test_labels, 0, True, directory)
    train_images, train_labels = _read_pair(train_dir, TRAIN_FILES, verify)
    return MnistDigits(np.concatenate([train_images, test_images]), np.concatenate([train_labels, test_labels]),
                       int(train_images.shape[0]), False, directory)

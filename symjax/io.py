"""Atomic file writes: nothing is lost or half-written when a run is killed.

Each writer puts the data in a temporary file in the target's folder, flushes
it to disk, then ``os.replace``s it over the target (atomic on POSIX), so a
reader sees either the old file or the new one, never a partial one.
"""

from __future__ import annotations

import json
import os
import tempfile


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> str:
    """Writes ``data`` to ``path`` atomically; creates the folder; returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> str:
    """Writes UTF-8 text atomically (line endings kept as given)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, **dump_kwargs) -> str:
    """Writes ``json.dumps(obj, **dump_kwargs)`` atomically."""
    return atomic_write_text(path, json.dumps(obj, **dump_kwargs))

"""Atomic file writes: nothing is lost or half-written when a run is killed.

Each writer puts the data in a temporary file in the target's folder, flushes
it to disk, then ``os.replace``s it over the target (atomic on POSIX), so a
reader sees either the old file or the new one, never a partial one. The new
file gets the permissions ``open()`` would give it, ``0o666 & ~umask`` (a shared
project folder stays readable to the group when the umask says so), not the
owner-only 0o600 of a temporary file.
"""

from __future__ import annotations

import json
import os
import tempfile


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (/proc/self/status), else by
    setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> str:
    """Writes ``data`` to ``path`` atomically; creates the folder; returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), 0o666 & ~_umask())
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


def write_markdown_section(path: str | os.PathLike, section: str) -> str:
    """Replaces the section of the markdown file at path whose heading is section's first line (up to the
    next ``## `` heading), or appends it; atomically. A missing file starts as ``# Benchmarks``."""
    heading = section.splitlines()[0]
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    if heading in text:
        start = text.index(heading)
        rest = text[start + len(heading):]
        nxt = rest.find("\n## ")
        end = len(text) if nxt < 0 else start + len(heading) + nxt + 1
        following = text[end:]
        text = text[:start] + (section.rstrip("\n") + "\n\n" if following else section) + following
    else:
        text = text.rstrip("\n") + "\n\n" + section
    return atomic_write_text(path, text)

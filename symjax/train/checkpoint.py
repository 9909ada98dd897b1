"""Saving and restoring a sweep's training state with orbax's CheckpointManager, guarded by a run fingerprint.

Layout of a checkpoint directory (orbax's ``CheckpointManager`` names, lists, commits and prunes the steps)::

    checkpoint_dir/step_<epoch>/state/          orbax item: the state's leaves (StandardSave)
    checkpoint_dir/step_<epoch>/fingerprint/    orbax item (JsonSave):
        {"fingerprint": {...run description...}, "epoch": e, "state_sha256": "...", "wall_s": t}
    checkpoint_dir/step_<epoch>/files_sha256.json   written after the commit: {"files_sha256": "..."}

The manager writes both items into a temporary folder and renames it to step_<epoch>, so a step is
whole or absent; it keeps the newest ``keep``. wall_s is the sweep's wall time up to the save, earlier
resumed passes included; it is bookkeeping for reports, not part of the run's identity.

On restore, steps are tried newest first. A step whose fingerprint differs from the current run raises
ValueError; a step whose files do not match files_sha256, or whose state does not match state_sha256, is
skipped with one warning line. Steps written before the manager (``step_<epoch>/fingerprint.json`` beside
the leaves, files_sha256 inside it) are read as well.

Damaged files are caught by files_sha256 before orbax reads them: when an
orbax restore fails part-way, its event loop closes while tensorstore reads
are still in flight, and each late read reports "RuntimeError: Event loop is
closed" through sys.unraisablehook (hundreds of lines for a sweep state).
For steps without files_sha256 the restore runs under
``_quiet_closed_loop_reports``, which drops exactly those reports; after a
failed restore it stays installed, since the late reads have no deadline.
The reads' own failures, when their asyncio tasks are collected, are logged by
asyncio as "Task exception was never retrieved" with a traceback; a filter on
the 'asyncio' logger (``_FAILED_RESTORE_READS``) drops the records whose
exception names a checkpoint whose restore failed, and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import warnings

import jax
import numpy as np

from symjax.io import atomic_write_json

FILES_DIGEST_FILE = "files_sha256.json"
LEGACY_FINGERPRINT_FILE = "fingerprint.json"  # steps saved before the CheckpointManager
_UNFINISHED_SAVE = re.compile(r"step_\d+\.orbax-checkpoint-tmp.*")


def _json_normal(obj):
    """obj as it reads back from JSON (tuples become lists, numpy scalars become Python ones)."""

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return repr(o)

    return json.loads(json.dumps(obj, sort_keys=True, default=default))


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def make_fingerprint(lanes, config, pool_x, pool_y, has_augment_fn: bool, extra: dict | None) -> dict:
    """Everything a saved training state depends on, as a JSON-normal dict.

    Covers each lane's seed, batch size, augment flag, index arrays (sizes and
    a hash), learning rate and penalty hyperparameters (when the lane sets them), the data pool (shapes, dtypes, hash), the config fields that change
    training (loss, learning_rate, patience, early_stopping; augment_per when
    not the default) and `extra` (the caller's config_fingerprint). max_epochs is left out: a run may be resumed
    with more epochs.
    """
    pool_leaves = [np.asarray(a) for a in jax.tree.leaves(pool_x)] + [np.asarray(pool_y)]
    return _json_normal({
        "lanes": [
            {
                "seed": int(l.seed),
                "batch_size": int(l.batch_size),
                "augment": bool(l.augment),
                "train_size": int(np.size(l.train_idx)),
                "val_size": int(np.size(l.val_idx)),
                "test_size": int(np.size(l.test_idx)),
                "indices_sha256": _digest([np.asarray(l.train_idx, np.int64), np.asarray(l.val_idx, np.int64),
                                           np.asarray(l.test_idx, np.int64)])[:16],
                # Only when set, so lanes without their own settings keep their earlier fingerprints.
                **({"learning_rate": float(l.learning_rate)} if l.learning_rate is not None else {}),
                **({"hyper": {k: float(v) for k, v in l.hyper.items()}} if l.hyper else {}),
            }
            for l in lanes
        ],
        "pool": {
            "shapes": [list(a.shape) for a in pool_leaves],
            "dtypes": [a.dtype.str for a in pool_leaves],
            "sha256": _digest(pool_leaves)[:16],
        },
        "config": {
            "loss": config.loss,
            "learning_rate": float(config.learning_rate),
            "patience": int(config.patience),
            "early_stopping": bool(config.early_stopping),
            "augment_fn": has_augment_fn,
            # Only when not the default, so earlier checkpoints keep their fingerprints.
            **({"augment_per": config.augment_per} if config.augment_per != "example" else {}),
        },
        "extra": extra if extra is not None else {},
    })


def _short(value, limit: int = 200) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def fingerprint_diff(saved: dict, current: dict) -> list[str]:
    """Human-readable differences between two fingerprints (empty if equal)."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if old == new:
            continue
        if key == "lanes" and isinstance(old, list) and isinstance(new, list):
            if len(old) != len(new):
                diffs.append(f"number of lanes: checkpoint has {len(old)}, this run has {len(new)}")
            for i, (a, b) in enumerate(zip(old, new)):
                for field in sorted(set(a) | set(b)):
                    if a.get(field) != b.get(field):
                        diffs.append(f"lanes[{i}].{field}: checkpoint has {_short(a.get(field))}, "
                                     f"this run has {_short(b.get(field))}")
        elif isinstance(old, dict) and isinstance(new, dict):
            for field in sorted(set(old) | set(new)):
                if old.get(field) != new.get(field):
                    diffs.append(f"{key}.{field}: checkpoint has {_short(old.get(field))}, "
                                 f"this run has {_short(new.get(field))}")
        else:
            diffs.append(f"{key}: checkpoint has {_short(old)}, this run has {_short(new)}")
    return diffs


def _files_digest(step_dir: str) -> str:
    """SHA-256 over the relative paths and contents of every file of a step but the digest's own file."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(step_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, step_dir)
            if relative in (FILES_DIGEST_FILE, LEGACY_FINGERPRINT_FILE):
                continue
            h.update(relative.encode() + b"\0")
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


class _DamagedFiles(Exception):
    """A step's files do not match the files_sha256 it records."""


def _is_closed_loop_report(unraisable) -> bool:
    return isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"


class _DropClosedLoopReports:
    """A sys.unraisablehook that drops "Event loop is closed" reports and passes all others to ``previous``."""

    def __init__(self, previous):
        self.previous = previous

    def __call__(self, unraisable):
        if not _is_closed_loop_report(unraisable):
            self.previous(unraisable)


@contextlib.contextmanager
def _quiet_closed_loop_reports():
    """Drops "Event loop is closed" reports of sys.unraisablehook while active; all others pass on.

    When the body returns, the previous hook is back. When it raises (a failed
    restore), the reads it left in flight report at unknown times later, after
    however long tensorstore's threads take on a loaded machine; no wait bounds
    that, so the filter then stays installed for the rest of the process (or
    until something replaces sys.unraisablehook). It drops nothing else.
    """
    if isinstance(sys.unraisablehook, _DropClosedLoopReports):
        yield
        return
    previous = sys.unraisablehook
    sys.unraisablehook = _DropClosedLoopReports(previous)
    yield  # a failed restore raises out of here and leaves the filter installed
    sys.unraisablehook = previous


class _DropFailedRestoreReads(logging.Filter):
    """Drops log records whose exception names a checkpoint folder in ``paths`` (a failed restore or save)."""

    def __init__(self):
        super().__init__()
        self.paths: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not any(path in str(exc) for path in self.paths)


_FAILED_RESTORE_READS = _DropFailedRestoreReads()


def _drop_late_read_logs(path: str) -> None:
    """From now on, asyncio's records of failed reads under checkpoint folder `path` are dropped."""
    _FAILED_RESTORE_READS.paths.add(os.path.join(os.path.abspath(path), ""))
    for name in ("asyncio", "absl"):  # absl: orbax's helper threads log their failures there
        logger = logging.getLogger(name)
        if _FAILED_RESTORE_READS not in logger.filters:
            logger.addFilter(_FAILED_RESTORE_READS)


def _one_line(err: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters (tensorstore errors embed whole specs)."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[:limit] + "..."


@contextlib.contextmanager
def _sigint_after_body():
    """Ctrl-C (SIGINT) during the body raises KeyboardInterrupt when the body has returned, not inside it.

    An orbax save or restore runs helper threads and an event loop; a KeyboardInterrupt inside it leaves
    them running into the interpreter's shutdown, and each then prints a traceback. Only in the main thread
    and only while Python's own SIGINT handler is installed (otherwise the body runs as it is).
    """
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def _save_failure(err: Exception, path: str) -> Exception:
    """The OSError behind a failed orbax save of ``path``: the errno tensorstore names (os_error_code), else the
    one a small write beside it meets (a full disk, a read-only file system); else ``err`` itself.

    The save's temporary folders are removed (they hold space a full disk needs back).
    """
    folder = os.path.dirname(path)
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if _UNFINISHED_SAVE.fullmatch(name):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    if isinstance(err, OSError):
        return err
    found = re.search(r"os_error_code='?(\d+)", str(err))
    code = int(found.group(1)) if found else None
    if code is None:
        try:
            with open(os.path.join(folder, ".write-probe"), "wb") as probe:
                probe.write(b"\0" * 4096)
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as probe_err:
            code = probe_err.errno
        finally:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, ".write-probe"))
    if code is None:
        return err
    return OSError(code, f"{os.strerror(code)} (saving a checkpoint: {_one_line(err, 200)})", path)


class CheckpointStore:
    """The step_<epoch> checkpoints of one process's sweep in one directory.

    State trees are pytrees of numpy arrays; they are stored as their flat list of
    leaves, and restored into the structure of a template tree.
    """

    def __init__(self, directory: str, fingerprint: dict, keep: int):
        self.directory = os.path.abspath(directory)
        self.fingerprint = fingerprint
        self.keep = keep
        self._manager = None  # made on first use: orbax wants the directory to exist

    @property
    def manager(self):
        """orbax's CheckpointManager of the directory (created with it), private to this process."""
        if self._manager is None:
            import orbax.checkpoint as ocp  # noqa: PLC0415  (imported on use: the library core loads without orbax)

            os.makedirs(self.directory, exist_ok=True)
            me = jax.process_index()
            self._manager = ocp.CheckpointManager(
                self.directory, item_names=("state", "fingerprint"),
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=self.keep, step_prefix="step", create=False, enable_async_checkpointing=False,
                    multiprocessing_options=ocp.options.MultiprocessingOptions(
                        primary_host=me, active_processes={me}, barrier_sync_key_prefix=f"symjax_sweep_p{me}")))
        return self._manager

    def steps(self) -> list[int]:
        """Epochs of the step_<epoch> checkpoints present, newest first."""
        if not os.path.isdir(self.directory) or not any(n.startswith("step") for n in os.listdir(self.directory)):
            return []  # nothing to list: orbax (about 1 s to import) is not loaded
        self.manager.reload()
        return sorted(self.manager.all_steps(), reverse=True)

    def _path(self, epoch: int) -> str:
        return os.path.join(self.directory, f"step_{epoch}")

    def remove_unfinished(self) -> None:
        """Removes the temporary folders of saves a stopped run left (orbax's ``step_<e>.orbax-checkpoint-tmp*``),
        with one warning line; orbax would otherwise remove each at the next save with a warning of its own."""
        if not os.path.isdir(self.directory):
            return
        unfinished = sorted(name for name in os.listdir(self.directory) if _UNFINISHED_SAVE.fullmatch(name))
        if unfinished:
            warnings.warn(f"removing {len(unfinished)} unfinished checkpoint save(s) {unfinished} from "
                          f"{self.directory}: a run was stopped while saving them")
        for name in unfinished:
            shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    def clear(self) -> None:
        """Removes every step (a fresh, non-resumed run), with a warning."""
        self.remove_unfinished()
        stale = self.steps()
        if stale:
            warnings.warn(f"fresh run (resume=False): removing {len(stale)} old checkpoint(s) "
                          f"{[f'step_{e}' for e in stale]} from {self.directory}")
        for epoch in stale:
            self.manager.delete(epoch)

    def save(self, epoch: int, state, wall_s: float = 0.0) -> None:
        """Saves state (pytree of numpy arrays) as step_<epoch>; the manager keeps the newest `keep`.

        A step of the same epoch already there (one a resume skipped as damaged) is replaced.
        wall_s: the sweep's wall time so far (seconds), returned again by restore_latest.
        """
        import orbax.checkpoint as ocp  # noqa: PLC0415

        leaves = [np.asarray(a) for a in jax.tree.leaves(state)]
        path = self._path(epoch)
        info = {"fingerprint": self.fingerprint, "epoch": epoch, "state_sha256": _digest(leaves),
                "wall_s": float(wall_s)}
        with _sigint_after_body():
            if os.path.exists(path):
                shutil.rmtree(path)
                self.manager.reload()
            _drop_late_read_logs(self.directory)  # a failed save's threads log it; save() raises it, once
            try:
                with _quiet_closed_loop_reports():
                    self.manager.save(epoch, force=True, args=ocp.args.Composite(
                        state=ocp.args.StandardSave({f"{i:05d}": a for i, a in enumerate(leaves)}),
                        fingerprint=ocp.args.JsonSave(info)))
            except Exception as err:  # tensorstore reports a full disk as ValueError('RESOURCE_EXHAUSTED: ...')
                raise _save_failure(err, path) from None
            atomic_write_json(os.path.join(path, FILES_DIGEST_FILE), {"files_sha256": _files_digest(path)})

    def _read_info(self, epoch: int) -> dict:
        """The step's {"fingerprint", "epoch", "state_sha256", "wall_s"}.

        Raises _DamagedFiles when the step's files do not match the files_sha256 it records (checked
        before orbax reads anything).
        """
        import orbax.checkpoint as ocp  # noqa: PLC0415

        path = self._path(epoch)
        legacy = os.path.isfile(os.path.join(path, LEGACY_FINGERPRINT_FILE))
        digest_file = os.path.join(path, LEGACY_FINGERPRINT_FILE if legacy else FILES_DIGEST_FILE)
        digest = {}
        with contextlib.suppress(OSError, ValueError):
            with open(digest_file) as f:
                digest = json.load(f)
        if "files_sha256" in digest and _files_digest(path) != digest["files_sha256"]:
            raise _DamagedFiles(os.path.basename(digest_file))
        if legacy:
            return digest
        with _quiet_closed_loop_reports(), _sigint_after_body():
            restored = self.manager.restore(epoch, args=ocp.args.Composite(fingerprint=ocp.args.JsonRestore()))
        return restored["fingerprint"]

    def _read_state(self, epoch: int, target: dict) -> dict:
        import orbax.checkpoint as ocp  # noqa: PLC0415

        path = self._path(epoch)
        with _quiet_closed_loop_reports(), _sigint_after_body():
            if os.path.isfile(os.path.join(path, LEGACY_FINGERPRINT_FILE)):
                return ocp.Checkpointer(ocp.StandardCheckpointHandler()).restore(path, target)
            return self.manager.restore(epoch, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target)))["state"]

    def restore_latest(self, template):
        """(epoch, state, wall_s) from the newest valid checkpoint, or None if there is none.

        wall_s is the value given to save (0.0 for checkpoints that do not record it).

        Args:
          template: pytree of numpy arrays with the structure, shapes and dtypes of the state.
        Raises:
          ValueError: the newest readable checkpoint belongs to a different run.
        """
        self.remove_unfinished()
        leaves, treedef = jax.tree.flatten(template)
        target = {f"{i:05d}": np.asarray(a) for i, a in enumerate(leaves)}
        for epoch in self.steps():
            path = self._path(epoch)
            try:
                info = self._read_info(epoch)
                saved_fingerprint, saved_epoch, saved_sha = info["fingerprint"], info["epoch"], info["state_sha256"]
            except _DamagedFiles as err:
                warnings.warn(f"skipping checkpoint {path}: its files do not match {err} (damaged or incomplete)")
                continue
            except Exception as err:  # a damaged JSON item: orbax raises many types
                _drop_late_read_logs(path)
                warnings.warn(f"skipping checkpoint {path}: unreadable fingerprint ({_one_line(err)})")
                continue
            diffs = fingerprint_diff(saved_fingerprint, self.fingerprint)
            if diffs:
                raise ValueError(f"checkpoint {path} was written by a different run; not resuming. "
                                 "Differences:\n  " + "\n  ".join(diffs))
            try:
                restored = self._read_state(epoch, target)
                restored = [np.asarray(restored[k]) for k in sorted(target)]
            except Exception as err:  # orbax/tensorstore raise many types for damaged files
                _drop_late_read_logs(path)
                warnings.warn(f"skipping checkpoint {path}: cannot be restored ({_one_line(err)})")
                continue
            bad = [(k, r.shape, r.dtype, t.shape, t.dtype) for (k, t), r in zip(sorted(target.items()), restored)
                   if r.shape != t.shape or r.dtype != t.dtype]
            if bad:
                warnings.warn(f"skipping checkpoint {path}: leaf {bad[0][0]} expected {bad[0][3]} {bad[0][4]}, "
                              f"got {bad[0][1]} {bad[0][2]}")
                continue
            if _digest(restored) != saved_sha or saved_epoch != epoch:
                warnings.warn(f"skipping checkpoint {path}: contents do not match its fingerprint's state_sha256")
                continue
            return epoch, jax.tree.unflatten(treedef, restored), float(info.get("wall_s", 0.0))
        if self.steps():
            warnings.warn(f"no valid checkpoint in {self.directory}; starting fresh")
        else:
            warnings.warn(f"resume=True but no checkpoint in {self.directory}; starting fresh")
        return None

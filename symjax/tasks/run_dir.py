"""The output folder of a run: its lock, what it may hold, and what an earlier run left in it.

Everything here runs before a run writes anything (``symjax.tasks.driver.run``) and raises
ValueError with one line naming the flag and what was expected:

* ``check_writable_folder``: --out_dir / --compile_cache is (or can be created as) a writable folder;
  a path under a file, a dangling link or a read-only file system is refused. Creates nothing
  (``check_out_dir``, ``check_compile_cache``).
* ``check_entries``: the files a run writes into out_dir (results.csv ...) are files if present, and
  ``checkpoints`` is a folder.
* ``check_same_task``: out_dir holds no sweep of another task or experiment (each sweep's record,
  ``checkpoints/<sweep>/sweep.json``, names its task).
* ``recorded_options`` / ``check_recorded_options``: the options of the run in out_dir read back from
  its flags.txt (``--report_only`` reports with them and refuses flags that contradict them).

``RunLock``: one run at a time writes to an out_dir. The lock is ``out_dir/run.lock``, held with
``fcntl.flock`` (the kernel releases it when its process ends, however it ends) and holding a JSON
record of the holder {pid, host, started, command}. A second run is refused with one line naming the
holder. A record left by a run that was killed (its file is there, but nobody holds the lock) is
taken over with a one-line notice. Release removes the file while still holding the lock; a run that
opened the removed file sees that its inode is no longer ``run.lock`` and opens it again.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import glob
import json
import os
import socket
import tempfile
import time

LOCK_FILE = "run.lock"
RECORD_FILE = "sweep.json"
#: Files a run writes into out_dir (each atomically, by replacing it).
RUN_FILES = ("results.csv", "results.jsonl", "flags.txt", "report.md", "aggregate.csv")


# ---------------------------------------------------------------------------- folders
def check_writable_folder(label: str, path: str) -> None:
    """ValueError naming ``label`` unless ``path`` is a folder, or can be created as one, that this process can
    write to. Creates nothing (a temporary file in the nearest existing folder is removed again)."""
    target = os.path.abspath(os.path.expanduser(path))
    existing = target
    while not os.path.exists(existing):
        if os.path.islink(existing):
            raise ValueError(f"{label}={path}: {existing} is a dangling link (to {os.readlink(existing)}); expected "
                             "a folder or a path that does not exist yet")
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"{label}={path}: expected a folder, but {existing} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"{label}={path}: {existing} is not writable ({error.strerror})") from None


def check_out_dir(path: str) -> None:
    """ValueError naming --out_dir unless it is (or can be created as) a writable folder. Creates nothing."""
    check_writable_folder("--out_dir", path)


def check_compile_cache(setting: str) -> None:
    """ValueError naming --compile_cache (or $SYMJAX_COMPILE_CACHE, where 'auto' took it from there) unless the
    cache folder it names is (or can be created as) a writable folder. Nothing to check when it is 'off' or
    JAX already has a cache folder ($JAX_COMPILATION_CACHE_DIR), which the engine then keeps."""
    from symjax.train import compile_cache  # noqa: PLC0415

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    path = compile_cache.cache_dir(setting)
    if path is None:
        return
    label = (f"${compile_cache.ENV_VAR}" if setting == "auto" and os.environ.get(compile_cache.ENV_VAR)
             else "--compile_cache")
    try:
        check_writable_folder(label, path)
    except ValueError as error:
        raise ValueError(f"{error} (--compile_cache=off runs without a compilation cache)") from None


def check_entries(out_dir: str) -> None:
    """ValueError naming --out_dir if a file the run writes is there as something else (a folder, a dangling
    link), or ``checkpoints`` or one of its sweep folders is not a folder."""
    for name in RUN_FILES:
        path = os.path.join(out_dir, name)
        if os.path.lexists(path) and not os.path.isfile(path):
            kind = "a dangling link" if not os.path.exists(path) else "a folder"
            raise ValueError(f"--out_dir={out_dir}: {path} is {kind}; expected a file the run can replace "
                             "(or nothing): move it away")
    checkpoints = os.path.join(out_dir, "checkpoints")
    if os.path.lexists(checkpoints) and not os.path.isdir(checkpoints):
        raise ValueError(f"--out_dir={out_dir}: {checkpoints} is a file; expected the run's checkpoint folder "
                         "(or nothing): move it away")
    if os.path.isdir(checkpoints):
        for name in sorted(os.listdir(checkpoints)):
            path = os.path.join(checkpoints, name)
            if not os.path.isdir(path):
                raise ValueError(f"--out_dir={out_dir}: {path} is a file; expected only sweep folders in "
                                 f"{checkpoints}: move it away")


def describe_errno(error: OSError) -> str:
    """A short reason for a failed write: 'the disk is full' / 'the file system is read-only' / strerror."""
    if error.errno == errno.ENOSPC:
        return "no space left on the device (the disk is full)"
    if error.errno == errno.EROFS:
        return "the file system is read-only"
    if error.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    return error.strerror or str(error)


# ---------------------------------------------------------------------------- the lock
@dataclasses.dataclass
class RunLock:
    """The lock of one run on out_dir (see the module docstring); ``acquire`` makes one."""

    out_dir: str
    fd: int
    created_dir: bool
    notice: str | None = None  # set when a stale lock was taken over

    @classmethod
    def acquire(cls, out_dir: str, command: str | None = None) -> "RunLock":
        """Creates out_dir if needed and locks it. Raises ValueError naming the holder if another run has it."""
        created = not os.path.lexists(out_dir)
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, LOCK_FILE)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise ValueError(f"--out_dir={out_dir} is in use by another run ({describe_holder(holder)}); wait "
                                 "for it to end, or give this run another --out_dir") from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder released (and removed) the file between our open and flock: open anew
        previous = _read_holder(fd)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": command}
        data = json.dumps(record).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        notice = None
        if previous is not None:
            notice = (f"taking over the lock {path} of an earlier run that ended without releasing it "
                      f"({describe_holder(previous)})")
        return cls(out_dir, fd, created, notice)

    def release(self) -> None:
        """Removes run.lock and unlocks; removes out_dir too when this run created it and left it empty."""
        if self.fd < 0:
            return
        try:
            os.unlink(os.path.join(self.out_dir, LOCK_FILE))
        except OSError:
            pass  # a read-only or vanished folder: the kernel still drops the lock below
        os.close(self.fd)
        self.fd = -1
        if self.created_dir:
            try:
                os.rmdir(self.out_dir)
            except OSError:
                pass  # not empty: the run wrote something


def _read_holder(fd: int) -> dict | None:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else None
    except (OSError, ValueError):
        return {}


def describe_holder(holder: dict | None) -> str:
    """'pid 123 on host h, started 2026-01-01 10:00:00' (what is known of it)."""
    if not holder:
        return "holder not recorded"
    text = f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"
    alive = _pid_alive(holder)
    if alive is False:
        text += ", no longer running"
    return text


def _pid_alive(holder: dict) -> bool | None:
    """Whether the holder's process runs (None: another host, or not known)."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return None
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# ---------------------------------------------------------------------------- what an earlier run left
def _read_json(path: str):
    with open(path) as f:
        return json.load(f)


def sweep_records(out_dir: str) -> list[str]:
    """Every sweep record under out_dir/checkpoints (one per sweep, or one per process of a multi-process run)."""
    checkpoints = os.path.join(out_dir, "checkpoints")
    return sorted(glob.glob(os.path.join(checkpoints, "*", RECORD_FILE))
                  + glob.glob(os.path.join(checkpoints, "*", "process_*", RECORD_FILE)))


def check_same_task(task_name: str, out_dir: str) -> None:
    """ValueError naming --out_dir if a sweep record there belongs to another task or experiment."""
    for path in sweep_records(out_dir):
        try:
            other = _read_json(path)["settings"]["task"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: check_resume reports it when it matters
        if other != task_name:
            raise ValueError(f"--out_dir={out_dir} holds a run of {other} ({path}), not of {task_name}; give "
                             "this run another --out_dir (or remove that run)")


def recorded_options(options_type, out_dir: str) -> dict | None:
    """The options of the run in out_dir from its flags.txt ({field: value} of the fields it names and
    ``options_type`` has), or None when there is no flags.txt. Raises ValueError for a line it cannot read."""
    path = os.path.join(out_dir, "flags.txt")
    if not os.path.isfile(path):
        return None
    fields = {f.name: f for f in dataclasses.fields(options_type)}
    out = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, sep, text = line.partition("=")
            if not name.startswith("--") or not sep:
                raise ValueError(f"{path}: line {number} is not '--name=value' ({line[:80]!r})")
            field = fields.get(name[2:])
            if field is not None:
                out[field.name] = _value(field, text, path)
    return out


def _value(field, text: str, path: str):
    from symjax.tasks.options import _parse_list  # noqa: PLC0415

    default = field.default
    try:
        if isinstance(default, bool):
            if text not in ("True", "False"):
                raise ValueError(text)
            return text == "True"
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            values = [v for v in text.split(",") if v != ""]
            return tuple(int(v) for v in values) if field.name == "seeds" else _parse_list(field.name, values,
                                                                                              default)
    except ValueError:
        raise ValueError(f"{path}: --{field.name}={text} is not a {type(default).__name__}") from None
    return text


def check_recorded_options(opts, recorded: dict, ignore) -> None:
    """ValueError naming --report_only for every option (not in ``ignore``) whose value differs from the run's."""
    diffs = [f"--{name}={_text(getattr(opts, name))} (the run's: --{name}={_text(value)})"
             for name, value in recorded.items() if name not in ignore and getattr(opts, name) != value]
    if diffs:
        raise ValueError(f"--report_only: {', '.join(diffs)} differs from the run in {opts.out_dir} (its flags.txt); "
                         "leave those flags out, the report uses the run's own options")


def _text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)

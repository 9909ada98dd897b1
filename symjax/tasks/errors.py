"""The driver's exceptions and exit codes: how a run that cannot go on ends.

``BadInput`` (a ValueError) is input that cannot run, found before anything is compiled; ``WriteFailed``
(a BadInput) is an out_dir that could not be written during the run; ``Interrupted`` is the simulated
interruption of ``--stop_after_epochs``; ``StoppedByUser`` (a KeyboardInterrupt) is Ctrl-C. A script turns
each into one line on stderr and its exit code (``symjax.tasks.script.exit_on_bad_input``).
"""

from __future__ import annotations

USAGE_EXIT = 2  # bad input: one line on stderr
INTERRUPTED_EXIT = 75  # --stop_after_epochs reached (a simulated interruption)
CTRL_C_EXIT = 130  # Ctrl-C (SIGINT), as a shell reports a process it interrupted


class BadInput(ValueError):
    """Input that cannot run (a flag, a file, an out_dir), found before anything was compiled."""


class Interrupted(RuntimeError):
    """Raised after ``stop_after_epochs`` epochs (a simulated interruption, to test ``--resume``)."""


class StoppedByUser(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a run; the message says where, and that --resume continues it."""


class WriteFailed(BadInput):
    """out_dir could not be written during the run (disk full, read-only file system, removed folder)."""


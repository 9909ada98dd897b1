"""What an experiments/ script does around a run: flags to options, then one line and an exit code for
every fault (``exit_on_bad_input``), and ``main``, the body of every script's main()."""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import sys
import threading
from typing import Callable, Mapping, NoReturn

from symjax.tasks.errors import CTRL_C_EXIT, INTERRUPTED_EXIT, USAGE_EXIT, BadInput, Interrupted
from symjax.tasks.options import HELP_FLAGS, help_text, options_from_flags
from symjax.tasks.run import run
from symjax.tasks.task import Task

def command_line(script: str) -> str:
    """'python <script> <arguments of this process>', shell-quoted (flags.txt, report.md).

    ``script`` may carry fixed arguments ('experiments/discovery.py --experiment=mnist'); an argument of
    this process equal to one of them is not repeated.
    """
    words = shlex.split(script)
    return shlex.join(["python", *words, *(a for a in sys.argv[1:] if a not in words[1:])])


def parse_flags_or_exit(argv):
    """absl flag parsing with absl's own errors (unknown flag, bad integer) as one line, exit code 2.

    --help prints the script's docstring and every flag under its heading (``options.help_text``), exit 0.
    """
    from absl import flags  # noqa: PLC0415

    words = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    if any(word in HELP_FLAGS for word in words):
        print(help_text(flags.FLAGS, sys.modules["__main__"].__doc__ or f"python {argv[0]} [flags]", argv[0]))
        sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        exit_with_error(argv[0], str(error).splitlines()[0])


def exit_with_error(script: str, message: str) -> None:
    """'<script>: error: <message>' on stderr, exit code 2."""
    print(f"{os.path.basename(script)}: error: {message}", file=sys.stderr)
    sys.exit(USAGE_EXIT)


@contextlib.contextmanager
def exit_on_bad_input(script: str):
    """BadInput -> one stderr line, exit 2; Interrupted -> exit 75; Ctrl-C -> one line, exit 130."""
    try:
        yield
    except BadInput as error:
        exit_with_error(script, str(error))
    except Interrupted as error:
        print(f"interrupted: {error}", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT)
    except KeyboardInterrupt as error:
        print(f"{os.path.basename(script)}: {error or 'interrupted before the run started'}", file=sys.stderr)
        sys.exit(CTRL_C_EXIT)


def initialize_distributed() -> None:
    """jax.distributed.initialize(); BadInput naming --distributed when no cluster is found."""
    import jax  # noqa: PLC0415

    try:
        jax.distributed.initialize()
    except (ValueError, RuntimeError) as error:
        text = " ".join(str(error).split())
        raise BadInput(f"--distributed: expected a cluster that jax.distributed.initialize() detects (SLURM, "
                       f"a TPU pod, or its JAX_COORDINATOR_ADDRESS / process variables; see launch/README.md), "
                       f"got: {text[:300]}") from None


def use_cpu_devices(count: int) -> None:
    """Makes JAX's CPU backend ``count`` devices (--cpu_devices; 0 = one per core this process may use).

    Only before JAX's backends start: with 0 a started backend is left as it is (as is the device count
    of XLA_FLAGS' --xla_force_host_platform_device_count, which 0 does not override); an explicit count
    after the start is BadInput.
    """
    import jax  # noqa: PLC0415

    from symjax.train.precompile import default_workers  # noqa: PLC0415

    if count == 0 and "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        jax.config.update("jax_num_cpu_devices", count or default_workers())
    except RuntimeError:
        if count:
            raise BadInput(f"--cpu_devices={count}: expected to be set before JAX starts, but its backends "
                           f"started already in this process") from None


def main(task: Task, argv, flag_values, explicit: Mapping | None = None) -> list[dict]:
    """The body of every experiments/taskN.py main(): flags -> options -> run, bad input as one line."""
    from symjax.tasks.progress import configure_logging  # noqa: PLC0415

    with exit_on_bad_input(task.script):
        if len(argv) > 1:
            raise BadInput(f"unexpected positional arguments {argv[1:]}; every setting is a --flag")
        try:
            opts = options_from_flags(task, flag_values, explicit)
        except ValueError as error:
            raise BadInput(str(error)) from None
        configure_logging(opts.verbose)
        use_cpu_devices(int(opts.cpu_devices))
        if opts.distributed:
            initialize_distributed()
        return run(task, opts, command=command_line(task.script))


def run_script(main_fn: Callable) -> NoReturn:
    """``absl.app.run(main_fn)`` for an experiments/ script (flags parsed by ``parse_flags_or_exit``), then the
    process ends without the interpreter's teardown.

    When main_fn has returned (or exited), every result, report and checkpoint is written and closed; what
    the interpreter would do next is free every object one by one (XLA's executables and buffers,
    matplotlib's fonts), 0.3-0.7 s after a task run. Instead, the steps of CPython's exit before that
    teardown run here, in its order: ``threading._shutdown`` (idle executor pools told to stop, non-daemon
    threads joined), the atexit handlers (logging's flush, JAX's shutdown), stdout and stderr flushed; then
    ``os._exit`` with main_fn's exit code. An exception other than SystemExit propagates as usual
    (traceback, exit code 1). Where those two private hooks are missing (not CPython) the process exits the
    usual way.
    """
    from absl import app  # noqa: PLC0415

    try:
        app.run(main_fn, flags_parser=parse_flags_or_exit)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    shutdown_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if shutdown_threads is None or run_exit_handlers is None:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    shutdown_threads()  # as the interpreter's exit: stops idle executor pools, joins non-daemon threads
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing left to save
            pass
    os._exit(code)

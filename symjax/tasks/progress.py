"""What an experiment script prints while it runs: progress of its sweeps, and quiet library logs.

Two jobs, both for the experiment driver (one call each, so every script behaves the same):

* ``configure_logging(verbose)``: hides INFO/DEBUG records of the libraries
  (orbax logs ~40 INFO lines per checkpoint through absl's logger; jax logs
  "Unable to initialize backend 'tpu'" at INFO) unless ``verbose``; warnings
  stay, as one line each.
* ``RunProgress``: the sweeps of one invocation. On a terminal a tqdm bar for
  the running sweep; off a terminal (a log file under SLURM, nohup, ``| tee``)
  one flushed line every ``every_epochs`` epochs or ``interval_s`` seconds,
  whichever comes first. One line when each sweep starts, ends or is skipped.

Time left (whole invocation), from the epochs seen so far::

    left = (max_epochs - epoch of the running sweep + sum of max_epochs of the sweeps not started) * t_epoch

t_epoch is the mean wall time between consecutive epoch callbacks, leaving out
each sweep's first epoch (it includes initialisation and compilation) once any
other epoch has been seen. Early stopping can end sweeps sooner, and sweeps of
different models or data sizes run at different speeds, so the estimate is
rough and usually an upper bound; the lines print it as ``left <= h:mm:ss``.

Example line off a terminal::

    [task3] sweep 2/8 large/shared: epoch 40/400, 10/12 lanes active, best val 3.2e-04, elapsed 0:04:10, left <= 1:02:03
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings

import numpy as np
from absl import flags
from absl import logging as absl_logging
from tqdm import tqdm

# Loggers whose INFO/DEBUG records configure_logging(False) hides. orbax logs through absl.logging,
# whose records go to the Python logger 'absl'; jax logs to 'jax.*' (e.g. jax._src.xla_bridge).
LIBRARY_LOGGERS = (
    "absl", "jax", "jaxlib", "orbax", "tensorstore", "etils", "flax", "chex", "optax", "jraph", "asyncio")

_PYTHON_FORMATWARNING = warnings.formatwarning


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """'UserWarning: text' on one line (the default adds the file, line number and a second source line)."""
    text = " ".join(str(message).split("\n"))
    return f"{category.__name__}: {text}\n"


def configure_logging(verbose: bool) -> None:
    """Sets how much the libraries log; called once by every experiment script before anything else.

    verbose=False: records below WARNING from the loggers in LIBRARY_LOGGERS
    (and their children) are dropped, absl's verbosity is WARNING (under
    ``absl.app.run`` that is the level of the root logger, so no library's
    INFO line reaches the absl handler), and ``warnings.warn`` messages print
    as one line 'Category: message'. WARNING and above stay.

    verbose=True: the library loggers inherit the root level again, absl's
    verbosity is INFO (absl.app.run's default) and warnings print in Python's
    default format. Idempotent; the last call wins.
    """
    if not isinstance(verbose, (bool, np.bool_)):
        raise TypeError(f"configure_logging: verbose must be a bool; got {type(verbose).__name__} {verbose!r}")
    # absl first: when its handler is on the root logger, set_verbosity resets the 'absl' logger to NOTSET.
    absl_logging.set_verbosity(absl_logging.INFO if verbose else absl_logging.WARNING)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    warnings.formatwarning = _PYTHON_FORMATWARNING if verbose else _one_line_warning


def define_verbose_flag(flag_values=flags.FLAGS) -> None:
    """Defines the boolean --verbose flag that configure_logging takes."""
    flags.DEFINE_boolean("verbose", False, "Show the INFO logs of orbax, jax and absl (hidden by default).",
                         flag_values=flag_values)


def format_duration(seconds: float) -> str:
    """h:mm:ss, rounded to the second ('?' for None, NaN or negative)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    total = int(round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _format_loss(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.3g}"


class _Sweep:
    """Bookkeeping of one planned sweep. status: 'pending', 'running', 'finished' or 'skipped'."""

    def __init__(self, index: int, label: str, max_epochs: int):
        self.index, self.label, self.max_epochs = index, label, max_epochs
        self.status = "pending"
        self.epoch = 0               # epochs done, as the last callback reported
        self.last_tick = None        # clock() at the previous epoch callback (or at the start)
        self.epochs_seen = 0         # callbacks received in this invocation
        self.line_epoch = 0          # epoch of the last progress line
        self.line_time = None        # clock() of the last progress line (or the start)


class RunProgress:
    """Progress of one experiment invocation: its sweeps in order, each a run of epochs.

    Args:
      name: the script's name, the prefix of every line ('[name] ...').
      sweeps: (label, max_epochs) of every sweep the invocation will run, in order.
        Labels name the sweep in the lines (e.g. 'large/shared'); a label may repeat
        (sweep_started takes the first pending sweep of that label).
      quiet: print nothing (warnings go through the warnings module, not here).
      stream: where lines and the bar go; sys.stdout by default.
      interval_s, every_epochs: off a terminal, a progress line when either has
        passed since the sweep's last line (checked at each epoch), and at the
        sweep's last epoch (max_epochs reached or no lane active).
      clock: seconds, monotonic (a fake one in tests).
      is_tty: True draws a tqdm bar, False writes lines; None asks stream.isatty().

    Methods take the engine's numbers: on_epoch is the engine's epoch_callback.
    How a driver uses it (the engine runs with TrainConfig(quiet=True), so it draws no bar)::

        progress = RunProgress("task3", [(plan.label, plan.max_epochs) for plan in plans])
        for plan in plans:
            if plan.done:
                progress.sweep_skipped(plan.label, "finished earlier; results reused")
                continue
            progress.sweep_started(plan.label, len(plan.lanes))
            result = sweep(plan.fns, x, y, plan.lanes, plan.config, epoch_callback=progress.on_epoch)
            progress.sweep_finished(plan.label, len(plan.lanes), result.timings)
            progress.message(f"wrote {path}")   # not print(): keeps the terminal bar intact
        progress.close()
    """

    def __init__(self, name: str, sweeps: list[tuple[str, int]], *, quiet: bool = False, stream=None,
                 interval_s: float = 30.0, every_epochs: int = 10, clock=time.monotonic,
                 is_tty: bool | None = None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"RunProgress: name must be a non-empty string; got {name!r}")
        sweeps = list(sweeps)
        for entry in sweeps:
            if (not isinstance(entry, tuple) or len(entry) != 2 or not isinstance(entry[0], str)
                    or isinstance(entry[1], bool) or not isinstance(entry[1], (int, np.integer)) or entry[1] < 1):
                raise ValueError(f"RunProgress: sweeps must be (label: str, max_epochs: int >= 1) tuples; "
                                 f"got {entry!r}")
        if not interval_s > 0:
            raise ValueError(f"RunProgress: interval_s must be > 0 seconds; got {interval_s!r}")
        if isinstance(every_epochs, bool) or not isinstance(every_epochs, (int, np.integer)) or every_epochs < 1:
            raise ValueError(f"RunProgress: every_epochs must be an integer >= 1; got {every_epochs!r}")
        self.name = name
        self.quiet = bool(quiet)
        self.stream = sys.stdout if stream is None else stream
        self.interval_s = float(interval_s)
        self.every_epochs = int(every_epochs)
        self.clock = clock
        if is_tty is None:
            isatty = getattr(self.stream, "isatty", None)
            is_tty = bool(isatty()) if callable(isatty) else False
        self.is_tty = bool(is_tty)
        self._sweeps = [_Sweep(i, label, int(n)) for i, (label, n) in enumerate(sweeps)]
        self._running: _Sweep | None = None
        self._first_epoch_s: list[float] = []   # each sweep's first epoch callback: init + compile + epoch
        self._epoch_s: list[float] = []         # every later epoch
        self._bar = None
        self._start = clock()

    # ----- estimates -------------------------------------------------------------------------

    def seconds_per_epoch(self) -> float | None:
        """Mean seconds per epoch seen so far (first epochs of sweeps only while nothing else is seen)."""
        seen = self._epoch_s or self._first_epoch_s
        return float(np.mean(seen)) if seen else None

    def epochs_left(self) -> int:
        """Epochs left in the running sweep plus max_epochs of every sweep not started."""
        left = sum(s.max_epochs for s in self._sweeps if s.status == "pending")
        if self._running is not None:
            left += max(self._running.max_epochs - self._running.epoch, 0)
        return left

    def seconds_left(self) -> float | None:
        """epochs_left() x seconds_per_epoch(); None before any epoch. A rough upper bound (module docstring)."""
        per_epoch = self.seconds_per_epoch()
        return None if per_epoch is None else self.epochs_left() * per_epoch

    def elapsed(self) -> float:
        return self.clock() - self._start

    # ----- events ------------------------------------------------------------------------------

    def sweep_started(self, label: str, lanes: int) -> None:
        """Marks the first pending sweep named `label` as running; one line."""
        sweep = self._pending(label, "sweep_started")
        if self._running is not None:
            raise RuntimeError(f"RunProgress.sweep_started({label!r}): sweep {self._running.label!r} is still "
                               "running; call sweep_finished first")
        sweep.status = "running"
        sweep.last_tick = sweep.line_time = self.clock()
        self._running = sweep
        self._line(f"{self._where(sweep)}: started, {int(lanes)} lanes, at most {sweep.max_epochs} epochs")
        if self.is_tty and not self.quiet:
            # No tqdm ETA: the postfix carries the estimate for the whole invocation.
            self._bar = tqdm(total=sweep.max_epochs, desc=self._where(sweep), unit="epoch", file=self.stream,
                             leave=False, dynamic_ncols=True,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                        "[{elapsed}, {rate_fmt}{postfix}]")

    def sweep_skipped(self, label: str, reason: str) -> None:
        """Marks the first pending sweep named `label` as skipped (no epochs left to it); one line."""
        sweep = self._pending(label, "sweep_skipped")
        sweep.status = "skipped"
        self._line(f"{self._where(sweep)}: skipped ({reason})")

    def on_epoch(self, epoch: int, summary: dict) -> None:
        """The engine's epoch_callback: `epoch` epochs done (1-based) in the running sweep.

        summary: numpy arrays (L,) 'best_val' (best validation loss of each lane),
        'active' (lane still training) and optionally 'diverged' (counted in the
        line when any); other keys are ignored.
        """
        sweep = self._running
        if sweep is None:
            raise RuntimeError("RunProgress.on_epoch: no sweep is running; call sweep_started first")
        missing = [k for k in ("best_val", "active") if k not in summary]
        if missing:
            raise ValueError(f"RunProgress.on_epoch: summary needs keys 'best_val' and 'active'; missing {missing}, "
                             f"got {sorted(summary)}")
        now = self.clock()
        (self._epoch_s if sweep.epochs_seen else self._first_epoch_s).append(now - sweep.last_tick)
        if not sweep.epochs_seen:
            sweep.line_epoch = int(epoch) - 1  # a resumed sweep starts past epoch 0
        sweep.epochs_seen += 1
        sweep.last_tick = now
        sweep.epoch = int(epoch)
        if self.quiet:
            return
        active = np.asarray(summary["active"], bool)
        best = np.asarray(summary["best_val"], float)
        best_val = float(np.min(best[np.isfinite(best)])) if np.isfinite(best).any() else float("nan")
        diverged = int(np.sum(summary.get("diverged", 0)))
        lanes = f"{int(active.sum())}/{active.size} lanes active" + (f" ({diverged} diverged)" if diverged else "")
        left = format_duration(self.seconds_left())
        if self._bar is not None:
            self._bar.n = min(sweep.epoch, sweep.max_epochs)
            self._bar.set_postfix_str(f"{lanes}, best val {_format_loss(best_val)}, left <= {left}", refresh=False)
            self._bar.refresh()
            return
        last = sweep.epoch >= sweep.max_epochs or not active.any()
        if (last or sweep.epoch - sweep.line_epoch >= self.every_epochs
                or now - sweep.line_time >= self.interval_s):
            sweep.line_epoch, sweep.line_time = sweep.epoch, now
            self._line(f"{self._where(sweep)}: epoch {sweep.epoch}/{sweep.max_epochs}, {lanes}, "
                       f"best val {_format_loss(best_val)}, elapsed {format_duration(self.elapsed())}, "
                       f"left <= {left}")

    def sweep_finished(self, label: str, lanes: int, timings: dict) -> None:
        """Ends the running sweep `label`; one line with the engine's timings (seconds).

        timings: 'compile' (the epoch programs), 'first_epoch', 'train' (all
        epochs), 'evaluate', 'total'; missing or None entries are left out of the line.
        """
        sweep = self._running
        if sweep is None or sweep.label != label:
            running = None if sweep is None else sweep.label
            raise RuntimeError(f"RunProgress.sweep_finished({label!r}): the running sweep is {running!r}")
        if not isinstance(timings, dict):
            raise ValueError(f"RunProgress.sweep_finished: timings must be a dict of seconds; got {timings!r}")
        self._close_bar()
        sweep.status = "finished"
        self._running = None
        parts = [f"{sweep.epoch} epochs" if sweep.epochs_seen else "no epochs run"]
        for key, text in (("compile", "compilation"), ("first_epoch", "first epoch"), ("train", "training"),
                          ("evaluate", "evaluation"), ("total", "total")):
            if timings.get(key) is not None:
                parts.append(f"{text} {format_duration(float(timings[key]))}")
        self._line(f"{self._where(sweep)}: finished, {int(lanes)} lanes, " + ", ".join(parts)
                   + f"; elapsed {format_duration(self.elapsed())}")

    def message(self, text: str) -> None:
        """One flushed '[name] text' line (none when quiet)."""
        self._line(text)

    def close(self) -> None:
        """Closes the progress bar, if one is drawn. Safe to call more than once."""
        self._close_bar()

    def __enter__(self) -> "RunProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- helpers ---------------------------------------------------------------------------

    def _pending(self, label: str, caller: str) -> _Sweep:
        for sweep in self._sweeps:
            if sweep.label == label and sweep.status == "pending":
                return sweep
        planned = [s.label for s in self._sweeps]
        raise ValueError(f"RunProgress.{caller}: no pending sweep {label!r}; planned sweeps {planned}")

    def _where(self, sweep: _Sweep) -> str:
        return f"sweep {sweep.index + 1}/{len(self._sweeps)} {sweep.label}"

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        line = f"[{self.name}] {text}"
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self.stream.flush()

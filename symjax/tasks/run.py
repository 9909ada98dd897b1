"""The run: every check before training (``prepare``), then the sweeps one after another (``run``).

``run(task, opts)``, in this order:

  1. checks everything it can before any compilation (``prepare``): the options (``opts.validate()``),
     that ``out_dir`` and the compilation cache are writable folders, then, holding out_dir's lock (one
     run at a time: ``symjax.tasks.run_dir.RunLock``), what ``out_dir`` already holds: files of the right
     kind, no other task's run; an earlier run is continued only with ``--resume`` (and only when its
     settings match: ``symjax.tasks.resume``) and replaced only with ``--overwrite``; then the lanes of
     every sweep to train (a batch larger than a training set ...); nothing is written or deleted before
     these checks pass;
  2. loads the task's data once and builds each data pool once (sweeps with the same ``SweepPlan.pool``
     share it);
  3. trains each sweep with ``symjax.train.sweep`` (its ``TrainConfig``: ``train_config``) and writes
     results.csv, results.jsonl and flags.txt after every sweep (atomically);
  4. writes report.md, aggregate.csv and the figures (``symjax.tasks.run_report``).

Faults during a run end it with one exception (``symjax.tasks.errors``): a write that fails (disk full,
read-only file system) raises ``WriteFailed``, Ctrl-C ``StoppedByUser``; what was written is kept for
``--resume``. Progress: one ``symjax.tasks.progress.RunProgress`` per run owns every line the user sees;
the engine's own progress bar is off.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import threading
import time

import numpy as np

from symjax.io import atomic_write_json
from symjax.tasks import run_dir
from symjax.tasks.errors import BadInput, Interrupted, StoppedByUser, WriteFailed
from symjax.tasks.options import RUN_CONTROL, options_text
from symjax.tasks.resume import (CONTINUABLE, check_resume, earlier_run, kept_rows, read_json, record_path,
                                 saved_settings, sweep_settings)
from symjax.tasks.run_report import SweepLog, log_entry, logged_sweeps, recorded_command, write_run_report
from symjax.tasks.task import SweepPlan, Task

def train_config(task: Task, opts, plan: SweepPlan):
    """The engine's TrainConfig of one sweep (progress is the driver's: quiet engine), its execution from the
    engine's flags."""
    from symjax.train import TrainConfig  # noqa: PLC0415
    from symjax.train.execution import Execution  # noqa: PLC0415

    execution = Execution(lane_groups=opts.lane_groups, compact_stopped=bool(opts.compact_stopped),
                          max_group_lanes=int(opts.max_group_lanes), eval_batch_size=int(opts.eval_batch_size),
                          cpu_fusion_emitters=fusion_emitters(task, opts, plan), lane_placement=opts.lane_placement)
    return TrainConfig(loss=task.training_loss(opts), learning_rate=float(opts.lr), max_epochs=int(opts.max_epochs),
                       patience=int(opts.patience), early_stopping=bool(opts.early_stopping),
                       checkpoint_dir=os.path.join(opts.out_dir, "checkpoints", plan.name),
                       checkpoint_every=int(opts.checkpoint_every), resume=bool(opts.resume),
                       sym_samples=int(opts.sym_samples), quiet=True, augment_per=opts.augment_per,
                       execution=execution)


def fusion_emitters(task: Task, opts, plan: SweepPlan) -> bool:
    """Whether the sweep's programs compile with XLA:CPU's fusion emitters (--cpu_fusion_emitters)."""
    if opts.cpu_fusion_emitters == "auto":
        return plan.architecture in task.cpu_fusion_emitters
    return opts.cpu_fusion_emitters == "on"


def check_options(task: Task, opts) -> None:
    """The checks that read nothing in out_dir: the options, and that out_dir and the compilation cache can be
    folders this process writes to. Raises BadInput; creates nothing."""
    try:
        if not isinstance(opts, task.options):
            raise ValueError(f"options: expected {task.options.__name__}, got {type(opts).__name__}")
        opts.validate()
        run_dir.check_out_dir(opts.out_dir)
        run_dir.check_compile_cache(opts.compile_cache)
    except BadInput:
        raise
    except ValueError as error:
        raise BadInput(str(error)) from None


def prepare(task: Task, opts) -> list[SweepPlan]:
    """Every check that needs no data and no compilation; returns the sweeps. Raises BadInput.

    ``run`` calls it while it holds out_dir's lock, so what it reads of out_dir cannot change under it.
    """
    check_options(task, opts)
    try:
        plans = task.plan_sweeps(opts)
        if os.path.isdir(opts.out_dir):
            run_dir.check_entries(opts.out_dir)
            run_dir.check_same_task(task.name, opts.out_dir)
        if opts.report_only:
            check_report_only(task, opts)
        elif opts.resume:
            check_resume(task, opts, plans)
        elif not opts.overwrite:
            found = earlier_run(opts.out_dir)
            if found:
                raise ValueError(f"--out_dir={opts.out_dir} holds an earlier run ({', '.join(found)}); pass "
                                 "--resume to continue it or --overwrite to replace it")
    except BadInput:
        raise
    except ValueError as error:
        raise BadInput(str(error)) from None
    return plans


def check_report_only(task: Task, opts) -> None:
    """--report_only: results.jsonl must read back, and every option that shapes the report must be the run's
    own (its flags.txt). Raises ValueError."""
    from symjax.train import read_results  # noqa: PLC0415

    path = os.path.join(opts.out_dir, "results.jsonl")
    if not os.path.isfile(path):
        raise ValueError(f"--report_only: expected results.jsonl in --out_dir={opts.out_dir}")
    try:
        read_results(path)
    except ValueError as error:
        raise ValueError(f"--report_only: {error}") from None
    recorded = run_dir.recorded_options(task.options, opts.out_dir)
    if recorded is None:
        raise ValueError(f"--report_only: expected the run's flags.txt in --out_dir={opts.out_dir} (its options)")
    run_dir.check_recorded_options(opts, recorded, RUN_CONTROL | {"quick", "settings"})


def _status(resume: bool, first_epoch: int | None) -> str:
    if not resume:
        return "trained"
    if first_epoch is None:
        return "resumed from a checkpoint with no epoch left to train"
    if first_epoch > 1:
        return f"resumed at epoch {first_epoch}"
    return "resume found no checkpoint; trained from scratch"


@dataclasses.dataclass
class _RunState:
    """What one invocation accumulates over its sweeps."""

    rows: list = dataclasses.field(default_factory=list)
    log: list = dataclasses.field(default_factory=list)  # SweepLog per sweep
    pools: dict = dataclasses.field(default_factory=dict)  # SweepPlan.pool -> (pool_x, pool_y, ...)
    lanes: dict = dataclasses.field(default_factory=dict)  # SweepPlan.name -> its lanes, built and checked once
    fns: dict = dataclasses.field(default_factory=dict)  # SweepPlan.name -> its LaneFns, built once (_lane_fns)
    ahead: threading.Thread | None = None  # compiling the next sweep (compile_ahead)
    artifacts: dict = dataclasses.field(default_factory=dict)  # the task's after_sweep -> write_figures
    epochs_done: int = 0  # epochs trained in this invocation, all sweeps
    sweep: str | None = None  # the sweep training now
    epoch: int = 0  # epochs done in that sweep


def _sweep_lanes(task: Task, opts, plan: SweepPlan, data, state: _RunState) -> list:
    """The sweep's lanes (its pool built once per key), checked as the engine will check them; BadInput
    otherwise, naming --batch_size when the lanes' batch does not fit their training sets."""
    from symjax.train.validate import validate_lanes  # noqa: PLC0415

    if plan.name in state.lanes:
        return state.lanes[plan.name]
    try:
        if plan.pool not in state.pools:
            state.pools[plan.pool] = task.build_pool(opts, plan, data)
        pool = state.pools[plan.pool]
        lanes = task.build_lanes(opts, plan, data, pool)
        validate_lanes(lanes, int(np.shape(pool[1])[0]), task.lane_fns(opts, plan, data).augment is not None)
    except ValueError as error:
        flag = ("--batch_size (or larger training sets): " if "batch_size" in str(error) and hasattr(opts, "batch_size")
                else "")
        raise BadInput(f"{flag}sweep {plan.name} cannot train: {error}") from None
    state.lanes[plan.name] = lanes
    return lanes


def _lane_fns(task: Task, opts, plan: SweepPlan, data, state: _RunState):
    """The sweep's LaneFns, built once: the sweep and its compilation ahead use the same function objects, so
    that the sweep finds the programs compiled ahead in JAX's in-memory caches."""
    if plan.name not in state.fns:
        state.fns[plan.name] = task.lane_fns(opts, plan, data)
    return state.fns[plan.name]


def compile_ahead(task: Task, opts, plan: SweepPlan, data, state: _RunState) -> threading.Thread:
    """Compiles ``plan``'s programs (``symjax.train.compile_sweep``) on a daemon thread (started), meant to
    run while another sweep trains. A failure is left for the sweep itself to report when it runs."""
    from symjax.train import compile_sweep  # noqa: PLC0415

    lanes = _sweep_lanes(task, opts, plan, data, state)
    pool = state.pools[plan.pool]
    fns = _lane_fns(task, opts, plan, data, state)
    config = train_config(task, opts, plan)

    def work():
        try:
            compile_sweep(fns, pool[0], pool[1], lanes, config)
        except Exception:  # noqa: BLE001  (the sweep raises it again in the main thread, with its context)
            pass

    thread = threading.Thread(target=work, name="symjax-compile-ahead", daemon=True)
    thread.start()
    return thread


def _train_sweep(task: Task, opts, plan: SweepPlan, data, settings: dict, record: str, state: _RunState,
                 progress, next_plan: SweepPlan | None = None) -> tuple[list[dict], SweepLog]:
    """Trains one sweep (continuing its checkpoint with --resume); records it; returns its rows and log line.
    With ``next_plan``, that sweep's programs compile on a thread (compile_ahead) once this one has trained
    an epoch."""
    from symjax.train import sweep  # noqa: PLC0415

    lanes = _sweep_lanes(task, opts, plan, data, state)
    pool = state.pools[plan.pool]
    fns = _lane_fns(task, opts, plan, data, state)
    atomic_write_json(record, {"settings": settings, "rows": None}, indent=1)
    first_epoch: list[int] = []
    state.sweep, state.epoch = plan.name, 0

    def on_epoch(epoch, summary):
        if not first_epoch:
            first_epoch.append(epoch)
            if epoch > 1:
                progress.message(f"{plan.name}: resumed from its checkpoint at epoch {epoch - 1}")
            if next_plan is not None and state.ahead is None:
                state.ahead = compile_ahead(task, opts, next_plan, data, state)
        state.epochs_done += 1
        state.epoch = epoch
        progress.on_epoch(epoch, summary)
        if opts.stop_after_epochs and state.epochs_done >= opts.stop_after_epochs:
            raise Interrupted(f"stopped after {state.epochs_done} epochs (--stop_after_epochs), in sweep "
                              f"{plan.name} at epoch {epoch}")

    progress.sweep_started(plan.name, len(lanes))
    fingerprint = {k: v for k, v in settings["options"].items() if k not in CONTINUABLE}
    result = sweep(fns, pool[0], pool[1], lanes, train_config(task, opts, plan),
                   config_fingerprint={"task": task.name, "plan": settings["plan"], "options": fingerprint},
                   epoch_callback=on_epoch)
    rows = result.rows
    if rows:
        rows = task.after_sweep(opts, plan, data, pool, result, state.artifacts)
    atomic_write_json(record, {"settings": settings, "rows": rows}, indent=1)
    state.sweep = None
    progress.sweep_finished(plan.name, len(lanes), result.timings)
    return rows, log_entry(plan.name, rows, _status(opts.resume, first_epoch[0] if first_epoch else None))


#: Packages the report needs (matplotlib's figures, scipy.stats' tests): about a second of imports on a 2-core
#: CPU, loaded on a thread while the sweeps train (``prefetch``). Third-party only, so that no module is
#: imported by this thread and the training thread at once.
REPORT_PACKAGES = ("matplotlib.figure", "matplotlib.backends.backend_agg", "scipy.stats")


def prefetch(modules) -> threading.Thread:
    """Imports ``modules`` on a daemon thread (started); join it before using them. A failed import is left
    for the code that needs the module to report."""
    def load():
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001  (reported where the module is used)
                return

    thread = threading.Thread(target=load, name="symjax-prefetch", daemon=True)
    thread.start()
    return thread


def run(task: Task, opts, *, command: str | None = None) -> list[dict]:
    """Trains every sweep of ``opts``, writing results after each, then the report; returns all rows.

    One run at a time writes to an out_dir: this one holds its lock (``symjax.tasks.run_dir.RunLock``)
    from before it reads what the folder holds until it returns. With several JAX processes every process
    returns its own rows, except process 0, which returns the merged rows of all processes (and holds the
    lock).

    Raises:
      BadInput: options, out_dir or data that cannot run, before anything is compiled or written (the
        lock, and out_dir when this run created it, are removed again).
      WriteFailed (a BadInput): out_dir could not be written during the run; what was written is kept.
      Interrupted: after ``opts.stop_after_epochs`` epochs.
      StoppedByUser (a KeyboardInterrupt): Ctrl-C; its message names the sweep and epoch.
    """
    start = time.perf_counter()
    check_options(task, opts)
    import jax  # noqa: PLC0415

    lock = None
    if jax.process_index() == 0:
        try:
            lock = run_dir.RunLock.acquire(opts.out_dir, command)
        except ValueError as error:
            raise BadInput(str(error)) from None
        except OSError as error:
            raise BadInput(f"--out_dir={opts.out_dir}: cannot create it or its lock file "
                           f"({run_dir.describe_errno(error)})") from None
        if lock.notice and not opts.quiet:
            print(f"[{task.name}] {lock.notice}", file=sys.stderr, flush=True)
    state = _RunState()
    try:
        return _run_locked(task, opts, command, start, state)
    except KeyboardInterrupt:
        where = (f"at epoch {state.epoch + 1} of sweep {state.sweep}" if state.sweep is not None
                 else "before a sweep was training")
        raise StoppedByUser(f"interrupted {where}; resume with --resume") from None
    except OSError as error:
        inside = not error.filename or os.path.abspath(str(error.filename)).startswith(
            os.path.join(os.path.abspath(opts.out_dir), ""))
        if not inside:  # not out_dir's: a data file or a cache the task read
            raise WriteFailed(f"{error.filename}: {run_dir.describe_errno(error)}") from None
        where = f" ({error.filename})" if error.filename else ""
        raise WriteFailed(f"--out_dir={opts.out_dir}: cannot write{where}: {run_dir.describe_errno(error)}; what "
                          "was written is kept: fix the folder, then continue with --resume") from None
    finally:
        if lock is not None:
            lock.release()


def _run_locked(task: Task, opts, command: str | None, start: float, state: _RunState) -> list[dict]:
    plans = prepare(task, opts)
    import jax  # noqa: PLC0415

    if opts.x64:
        jax.config.update("jax_enable_x64", True)
    from symjax.tasks.progress import RunProgress  # noqa: PLC0415
    from symjax.train import compile_cache, read_results, write_results  # noqa: PLC0415

    try:
        data = task.load_data(opts)
    except ValueError as error:
        raise BadInput(str(error)) from None
    if opts.report_only:
        rows = read_results(opts.out_dir)
        return write_run_report(task, opts, rows, data, logged_sweeps(rows), None, recorded_command(opts.out_dir),
                                rewritten_by=command)
    reused = {}  # sweep name -> its record's rows, for finished sweeps resumed with the same settings
    for plan in plans:
        saved = read_json(record_path(opts, plan, jax.process_index(), jax.process_count())) if opts.resume else None
        if (saved is not None and saved.get("rows") is not None
                and saved_settings(task, opts, plan, saved.get("settings", {})) == sweep_settings(task, opts, plan)):
            reused[plan.name] = saved["rows"]
        else:
            _sweep_lanes(task, opts, plan, data, state)  # every grid check before anything is written
    kept = []  # process 0 writes the merged results, so it alone keeps the earlier rows
    if opts.resume and jax.process_index() == 0:
        kept = kept_rows(opts.out_dir, [p.name for p in plans])
    if jax.process_count() > 1:  # every process has checked out_dir before any process writes to it
        from jax.experimental import multihost_utils  # noqa: PLC0415

        multihost_utils.sync_global_devices("symjax_driver_prepared")
    os.makedirs(opts.out_dir, exist_ok=True)
    flags_text = options_text(opts, command)
    compile_cache.use(opts.compile_cache)  # the application's choice (JAX's global cache), before compiling
    report_imports = prefetch(REPORT_PACKAGES)
    with RunProgress(task.name, [(p.name, int(opts.max_epochs)) for p in plans], quiet=opts.quiet) as progress:
        if kept:
            names = list(dict.fromkeys(r["sweep"] for r in kept))
            progress.message(f"keeping {len(kept)} rows of sweeps outside this run's grid: {', '.join(names)}")
        to_train = [p for p in plans if p.name not in reused]
        compile_next = opts.compile_ahead and jax.process_count() == 1
        for plan in plans:
            record = record_path(opts, plan, jax.process_index(), jax.process_count())
            if state.ahead is not None:  # this sweep's programs, compiled while the previous one trained
                state.ahead.join()
                state.ahead = None
            if plan.name in reused:
                rows, entry = reused[plan.name], log_entry(plan.name, reused[plan.name], "finished earlier, reused")
                progress.sweep_skipped(plan.name, f"finished earlier with the same settings; {len(rows)} rows reused")
            else:
                later = to_train[to_train.index(plan) + 1:]
                rows, entry = _train_sweep(task, opts, plan, data, sweep_settings(task, opts, plan), record, state,
                                           progress, later[0] if compile_next and later else None)
            state.rows.extend(rows)
            state.log.append(entry)
            write_results(opts.out_dir, state.rows + kept, flags_text)
    for name in dict.fromkeys(r["sweep"] for r in kept):
        state.log.append(log_entry(name, [r for r in kept if r["sweep"] == name],
                                    "kept from an earlier invocation (outside this grid)"))

    rows = state.rows + kept
    if jax.process_count() > 1:  # each process trained its slice of the lanes; process 0 reports on all rows
        if jax.process_index() != 0:
            return rows
        rows = read_results(opts.out_dir)
    report_imports.join()
    task.write_figures(opts, state.artifacts, opts.out_dir)
    return write_run_report(task, opts, rows, data, state.log, time.perf_counter() - start, command)



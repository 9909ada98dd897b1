"""The experiment driver: what every task shares, once.

A task (``symjax.tasks.set_function_task`` ...) supplies only its own parts as a
``Task``: an options dataclass (a ``CommonOptions`` subclass), the sweeps of a run
(``plan_sweeps``), its data (``load_data``, ``build_pool``), the lanes of a
sweep (``build_lanes``), the per-lane model functions (``lane_fns``, a
``symjax.train.LaneFns``), an optional hook after each sweep and its report
notes. ``run(task, opts)`` then does the rest, in this order:

  1. checks everything it can before any compilation (``prepare``): the
     options (``opts.validate()``), that ``out_dir`` and the compilation cache
     are writable folders, then, holding out_dir's lock (one run at a time:
     ``symjax.tasks.run_dir.RunLock``), what ``out_dir`` already holds: files
     of the right kind, no other task's run; an earlier run is continued only
     with ``--resume`` (and only when its settings match) and replaced only
     with ``--overwrite``; then the lanes of every sweep to train (a batch
     larger than a training set ...); nothing is written or deleted before
     these checks pass;
  2. loads the task's data once and builds each data pool once (sweeps with
     the same ``SweepPlan.pool`` share it);
  3. trains each sweep with ``symjax.train.sweep`` and writes results.csv,
     results.jsonl and flags.txt after every sweep (atomically);
  4. writes report.md, aggregate.csv and the figures.

Resume (one scheme for every task). Each sweep has a folder
``out_dir/checkpoints/<sweep name>/`` holding the engine's checkpoints and a
record ``sweep.json`` = {"settings": ..., "rows": null | [...]}, written when
the sweep starts (rows null) and again when it has finished (its rows). The
settings are the sweep's plan plus every option that changes its numbers. With
``--resume``, a finished sweep whose settings match is not trained again (its
rows are reused); an unfinished one (or one whose only difference is
``max_epochs``) continues from its newest checkpoint; any other difference is
refused before anything runs. A resume never removes rows: the rows of
results.jsonl whose sweep is outside the resumed grid are written back after
this invocation's own (``run_dir.kept_rows``).

Faults during a run end it with one line (``exit_on_bad_input``): a write
that fails (disk full, read-only file system) raises ``WriteFailed`` (exit 2),
Ctrl-C raises ``StoppedByUser`` ("interrupted at epoch k of sweep s; resume
with --resume", exit 130); what was written is kept for ``--resume``.

Progress: one ``symjax.tasks.progress.RunProgress`` per run owns every line
the user sees; the engine's own progress bar is off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import math
import os
import shlex
import sys
import time
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from symjax.io import atomic_write_json
from symjax.tasks import run_dir

USAGE_EXIT = 2  # bad input: one line on stderr
INTERRUPTED_EXIT = 75  # --stop_after_epochs reached (a simulated interruption)
CTRL_C_EXIT = 130  # Ctrl-C (SIGINT), as a shell reports a process it interrupted

#: Options that steer a run without changing its numbers (left out of a sweep's settings).
RUN_CONTROL = frozenset({"out_dir", "resume", "overwrite", "checkpoint_every", "lane_groups", "compile_cache",
                         "compact_stopped", "max_group_lanes", "cpu_fusion_emitters",
                         "eval_batch_size", "quiet", "verbose", "distributed", "stop_after_epochs", "report_only"})
#: Settings a resumed sweep may change: it continues from its checkpoint.
CONTINUABLE = frozenset({"max_epochs"})
RECORD_FILE = "sweep.json"
#: --settings: the project's defaults, or every departure at the study's value (Task.study).
SETTINGS = ("project", "study")


class BadInput(ValueError):
    """Input that cannot run (a flag, a file, an out_dir), found before anything was compiled."""


class Interrupted(RuntimeError):
    """Raised after ``stop_after_epochs`` epochs (a simulated interruption, to test ``--resume``)."""


def option(default, help: str, choices: tuple | None = None):
    """A dataclass field that is also a command-line flag (``define_flags``) with this help text."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


# ---------------------------------------------------------------------------- options
@dataclasses.dataclass(frozen=True)
class CommonOptions:
    """Options every task takes. A task subclasses it with its own fields and its study's defaults.

    ``MODELS`` (class attribute) lists the task's model variants.
    """

    MODELS: ClassVar[tuple] = ()

    models: tuple = option((), "Model variants to train.")
    seeds: tuple = option((0, 1, 2), "A count (3 -> seeds 0,1,2) or a comma list of distinct seeds (0,5,7).")
    max_epochs: int = option(250, "Maximum epochs per lane.")
    patience: int = option(15, "Early-stopping patience in epochs.")
    early_stopping: bool = option(True, "Stop each lane after --patience epochs without improvement.")
    lr: float = option(1e-3, "Adam learning rate.")
    sym_samples: int = option(5, "Group elements per test example for the symmetry error (eq. 8).")
    x64: bool = option(False, "Train in float64 (jax_enable_x64).")
    out_dir: str = option("runs/experiment", "Output folder (results, report, figures, checkpoints).")
    resume: bool = option(False, "Continue the run in --out_dir (finished sweeps are reused).")
    overwrite: bool = option(False, "Replace the run in --out_dir (its checkpoints are deleted).")
    checkpoint_every: int = option(10, "Epochs between checkpoints.")
    lane_groups: str = option("shape", "How lanes share jitted epoch programs: 'shape' = one program per distinct "
                              "(batch size, steps per epoch), no padding work; 'single' = one padded program per "
                              "architecture (one compilation); 'auto' = a few padded shape buckets chosen by a cost "
                              "model of compilation vs padding work (symjax.train.buckets). Results agree to "
                              "rounding.", ("shape", "single", "auto"))
    compile_cache: str = option("auto", "Persistent XLA compilation cache: 'auto' = $SYMJAX_COMPILE_CACHE, else "
                                "$XDG_CACHE_HOME/symjax/xla, else ~/.cache/symjax/xla; 'off' = none; or a folder. "
                                "Results do not depend on it.")
    compact_stopped: bool = option(True, "Once at most half of a program's lanes still train, continue with a "
                                   "smaller program over those (one compilation); results agree to rounding "
                                   "(XLA may round a program over fewer lanes differently; a resumed run shrinks "
                                   "as the first did).")
    max_group_lanes: int = option(0, "At most this many lanes per jitted program (0 = no limit): bounds the "
                                  "memory of the training step's temporaries for large models, e.g. the MNIST "
                                  "generic weight (0.1 GB per lane); the test evaluation runs in parts of as "
                                  "many lanes.")
    cpu_fusion_emitters: str = option("auto", "XLA:CPU's fusion emitters for the epoch and evaluation programs: "
                                      "'auto' = on for the architectures the task measured faster with them "
                                      "(Task 2's vanilla), off for the rest; 'on'; 'off'. They compile more "
                                      "slowly and speed some models up, others down (docs/benchmarks.md). "
                                      "Results agree to rounding.", ("auto", "on", "off"))
    eval_batch_size: int = option(4096, "Test/validation examples per evaluation chunk (bounds memory).")
    quick: bool = option(False, "The quick grid (CI, smoke tests); flags given explicitly still win.")
    settings: str = option("project", "'project': every option at its default (the project's choices); 'study': "
                           "every departure from the study's text (the task's DEPARTURES) at the study's value. "
                           "Flags given explicitly still win.", SETTINGS)
    augment_per: str = option("example", "Augmentation draws one group element per training 'example' (the "
                              "project) or one per 'batch' for all its examples (the study, ch. 4 §1: \"매 batch마다 "
                              "임의의 permutation\").", ("example", "batch"))
    quiet: bool = option(False, "No progress output.")
    verbose: bool = option(False, "Show the INFO logging of orbax, jax and absl.")
    distributed: bool = option(False, "Call jax.distributed.initialize() first (multi-host: SLURM, TPU pods; see "
                               "launch/README.md). Each process trains its slice of the lanes.")
    stop_after_epochs: int = option(0, f"Exit with status {INTERRUPTED_EXIT} after this many epochs in total "
                                    "(simulates an interruption, to test --resume); 0 = never.")
    report_only: bool = option(False, "Rewrite report.md of the run in --out_dir from its results; no training.")

    def validate(self) -> None:
        """Raises ValueError naming the flag (--name) for a setting that cannot run; compiles nothing."""
        models = list(self.models)
        unknown = [m for m in models if m not in self.MODELS]
        if not models or unknown or len(set(models)) != len(models):
            raise ValueError(f"--models: expected distinct names from {list(self.MODELS)}, got {models}")
        check_ints("seeds", self.seeds, low=0)
        for name in ("max_epochs", "patience", "sym_samples", "checkpoint_every", "eval_batch_size"):
            check_int(name, getattr(self, name), low=1)
        check_int("stop_after_epochs", self.stop_after_epochs, low=0)
        check_int("max_group_lanes", self.max_group_lanes, low=0)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (
                math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr: expected a finite number > 0, got {self.lr!r}")
        if self.settings not in SETTINGS:
            raise ValueError(f"--settings: expected one of {list(SETTINGS)}, got {self.settings!r}")
        if self.augment_per not in ("example", "batch"):
            raise ValueError(f"--augment_per: expected 'example' or 'batch', got {self.augment_per!r}")
        if self.lane_groups not in ("shape", "single", "auto"):
            raise ValueError(f"--lane_groups: expected 'shape', 'single' or 'auto', got {self.lane_groups!r}")
        if self.cpu_fusion_emitters not in ("auto", "on", "off"):
            raise ValueError(f"--cpu_fusion_emitters: expected 'auto', 'on' or 'off', got "
                             f"{self.cpu_fusion_emitters!r}")
        if not isinstance(self.compile_cache, str) or not self.compile_cache:
            raise ValueError(f"--compile_cache: expected 'auto', 'off' or a folder, got {self.compile_cache!r}")
        if not self.out_dir:
            raise ValueError("--out_dir: expected a folder path, got an empty value")
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite: expected at most one of them")


#: The largest integer an option may take: JAX indexes and seeds with int32 (a larger value overflows there).
INT_MAX = 2**31 - 1


def check_int(name: str, value, low: int) -> None:
    """ValueError naming --name unless value is an integer in [low, INT_MAX]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= INT_MAX:
        raise ValueError(f"--{name}: expected an integer in [{low}, {INT_MAX}], got {value!r}")


def check_ints(name: str, values, low: int, allowed=None) -> None:
    """ValueError naming --name unless values is a non-empty tuple or list of distinct integers in [low, INT_MAX]
    (and in ``allowed``)."""
    if not isinstance(values, (tuple, list)):
        raise ValueError(f"--{name}: expected a tuple of integers, got {type(values).__name__} {values!r}")
    values = list(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not low <= v <= INT_MAX
                         for v in values):
        raise ValueError(f"--{name}: expected a non-empty list of integers in [{low}, {INT_MAX}], got {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"--{name}: expected distinct values, got {values}")
    if allowed is not None and any(v not in allowed for v in values):
        raise ValueError(f"--{name}: expected values from {sorted(allowed)}, got "
                         f"{[v for v in values if v not in allowed]} in {values}")


#: The most seeds a count may ask for (--seeds=N); a comma list may name any seeds in [0, INT_MAX].
MAX_SEED_COUNT = 10_000


def parse_seeds(text: str) -> tuple[int, ...]:
    """'3' -> (0, 1, 2); '0,5,7' -> (0, 5, 7). Raises ValueError naming --seeds."""
    text = str(text).strip()
    try:
        if "," in text:
            seeds = tuple(int(s) for s in text.split(",") if s.strip())
        else:
            count = int(text)
            if count > MAX_SEED_COUNT:
                raise ValueError(f"--seeds: expected a count of at most {MAX_SEED_COUNT} seeds, got {text!r}")
            seeds = tuple(range(count))
    except ValueError as error:
        if str(error).startswith("--seeds"):
            raise
        raise ValueError(f"--seeds: expected a count or a comma list of integers, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"--seeds: expected a count >= 1 or non-negative seeds, got {text!r}")
    return seeds


def _parse_list(name: str, values, like) -> tuple:
    """A list flag's strings as a tuple of the type of ``like`` (the field's default elements: int, float or str)."""
    for kind, what in ((int, "integers"), (float, "numbers")):
        if like and all(isinstance(v, kind) for v in like):
            try:
                return tuple(kind(v) for v in values)
            except (TypeError, ValueError):
                raise ValueError(f"--{name}: expected a comma list of {what}, got "
                                 f"{','.join(map(str, values))!r}") from None
    return tuple(str(v) for v in values)


def options_from_flags(task: "Task", flag_values, explicit: Mapping | None = None):
    """The task's options from parsed absl flags.

    A field takes, in this order: ``explicit[name]`` (a value the script derived
    from another flag), the flag's value when the user set it, the task's
    ``study`` value with ``--settings=study``, the task's ``quick`` default
    with ``--quick``, the dataclass default. With ``--report_only`` a field no flag sets is the run's own,
    from out_dir's flags.txt. Raises ValueError
    naming the flag; does not validate (``opts.validate()`` does).
    """
    explicit = dict(explicit or {})
    quick = bool(flag_values["quick"].value)
    study = flag_values["settings"].value == "study"
    recorded = {}
    if flag_values["report_only"].value:  # the run's own options, where no flag says otherwise
        recorded = {k: v for k, v in (run_dir.recorded_options(task.options, flag_values["out_dir"].value) or
                                      {}).items() if k not in RUN_CONTROL}
    values = {}
    for field in dataclasses.fields(task.options):
        if field.name in explicit:
            values[field.name] = explicit[field.name]
        elif field.name in recorded and not (field.name in flag_values and flag_values[field.name].present):
            values[field.name] = recorded[field.name]
        elif field.name in flag_values and flag_values[field.name].present:
            value = flag_values[field.name].value
            if field.name == "seeds":
                value = parse_seeds(value)
            elif isinstance(field.default, tuple):
                value = _parse_list(field.name, value, field.default)
            values[field.name] = value
        elif study and field.name in task.study:
            values[field.name] = task.study[field.name]
        elif quick and field.name in task.quick:
            values[field.name] = task.quick[field.name]
    return task.options(**values)


def define_flags(options_type, flag_values=None) -> None:
    """One absl flag per field of ``options_type`` (name, default and help from the dataclass)."""
    from absl import flags  # noqa: PLC0415

    flag_values = flags.FLAGS if flag_values is None else flag_values
    for field in dataclasses.fields(options_type):
        default, help_text, choices = field.default, field.metadata.get("help", ""), field.metadata.get("choices")
        if field.name == "seeds":
            text = str(len(default)) if tuple(default) == tuple(range(len(default))) else ",".join(map(str, default))
            flags.DEFINE_string("seeds", text, help_text, flag_values=flag_values)
        elif isinstance(default, bool):
            flags.DEFINE_boolean(field.name, default, help_text, flag_values=flag_values)
        elif isinstance(default, int):
            flags.DEFINE_integer(field.name, default, help_text, flag_values=flag_values)
        elif isinstance(default, float):
            flags.DEFINE_float(field.name, default, help_text, flag_values=flag_values)
        elif isinstance(default, tuple):
            flags.DEFINE_list(field.name, [str(v) for v in default], help_text, flag_values=flag_values)
        elif choices:
            flags.DEFINE_enum(field.name, default, list(choices), help_text, flag_values=flag_values)
        else:
            flags.DEFINE_string(field.name, default, help_text, flag_values=flag_values)


def options_text(opts, command: str | None) -> str:
    """flags.txt: '# <command>' (if known), then every option as --name=value (lists comma-joined)."""
    lines = [f"# {command}"] if command else []
    for field in dataclasses.fields(opts):
        value = getattr(opts, field.name)
        lines.append(f"--{field.name}={','.join(map(str, value)) if isinstance(value, tuple) else value}")
    return "\n".join(lines) + "\n"


def _json_normal(obj):
    return json.loads(json.dumps(obj))


# ---------------------------------------------------------------------------- tasks and plans
@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """One ``sweep`` call: the lanes of one architecture at one setting.

    name: unique in the run; names the checkpoint folder and the progress lines.
    setting: the task's setting (n_blocks, hidden setting, model size ...).
    architecture: the model all lanes of the sweep share.
    variants: the model names of its lanes (e.g. ('shared', 'shared_aug')).
    pool: key of the data pool it indexes; sweeps with equal keys share one pool.
    """

    name: str
    setting: Any
    architecture: str
    variants: tuple
    pool: Any = None


@dataclasses.dataclass(frozen=True)
class Task:
    """What one experiment supplies to the driver.

    name: 'task1' ... (the prefix of progress lines); number: the task id of
    ``symjax.report`` (tables, figures, reference numbers); script: its
    experiments/ script; options: its ``CommonOptions`` subclass; quick: the
    --quick defaults (option name -> value); loss: 'mse' | 'l1' | 'cross_entropy',
    or a function opts -> one of them (a loss chosen by an option);
    plan_fields: option fields split over the sweeps (not part of a sweep's
    resume settings, so a run can be extended along them); labels: names of
    option fields in the report's grid differences; departures: the task's
    ``symjax.tasks.departures.Departure`` records (--settings=study, the report's
    "Departures and their effect" section).

    Functions (opts = the task's options; data = ``load_data(opts)``):
      plan_sweeps(opts) -> [SweepPlan]
      load_data(opts) -> data (raises ValueError naming the flag when the data cannot serve the options)
      build_pool(opts, plan, data) -> (pool_x, pool_y, *anything build_lanes needs, e.g. split indices)
      build_lanes(opts, plan, data, pool) -> [Lane]
      lane_fns(opts, plan, data) -> LaneFns
      notes(opts, data) -> [markdown bullet text] (data, models, settings of the report)
      after_sweep(opts, plan, data, pool, result, artifacts) -> rows: optional, adds columns to the
        sweep's rows (artifacts: a dict kept for the whole run, e.g. figure panels)
      write_figures(opts, artifacts, out_dir) -> [paths]: optional, figures beyond symjax.report's
      write_report(opts, rows, extra_md) -> [paths]: optional, report.md into opts.out_dir for a task
        without a table of the study (e.g. the discovery experiments); default
        ``symjax.report.write_report(number, ...)``
    cpu_fusion_emitters: architectures whose programs compile with XLA:CPU's fusion emitters under
      --cpu_fusion_emitters=auto: those measured faster with them (docs/benchmarks.md).
    sweep_ignores(opts, plan) -> option names the sweep's numbers do not depend on: optional; left out of
      its resume settings, so that after changing one (e.g. a baseline's learning rate) --resume reuses
      the sweeps that do not read it.
    complete_rows(opts, data, rows) -> rows: optional, fills in columns the report needs that rows of
      older runs lack (e.g. Task 3's no_change_loss), before the report is written.
    """

    name: str
    number: int
    script: str
    options: type
    quick: Mapping
    loss: str
    plan_fields: tuple
    plan_sweeps: Callable
    load_data: Callable
    build_pool: Callable
    build_lanes: Callable
    lane_fns: Callable
    notes: Callable
    after_sweep: Callable | None = None
    write_figures: Callable | None = None
    write_report: Callable | None = None
    labels: Mapping = dataclasses.field(default_factory=dict)
    departures: tuple = ()
    cpu_fusion_emitters: tuple = ()
    sweep_ignores: Callable | None = None
    complete_rows: Callable | None = None

    @property
    def study(self) -> dict:
        """The --settings=study values: {option: the study's value} of the departures that have one."""
        from symjax.tasks.departures import study_values  # noqa: PLC0415

        return study_values(self.departures)


def sweep_settings(task: Task, opts, plan: SweepPlan) -> dict:
    """Everything a sweep's numbers depend on: its plan and every option not in RUN_CONTROL or plan_fields,
    nor among the options the task says this sweep ignores (Task.sweep_ignores)."""
    ignored = _ignored_options(task, opts, plan)
    options = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)
               if f.name not in RUN_CONTROL and f.name not in task.plan_fields and f.name not in ignored}
    return _json_normal({"task": task.name, "plan": dataclasses.asdict(plan), "options": options})


def _ignored_options(task: Task, opts, plan: SweepPlan) -> frozenset:
    return frozenset(task.sweep_ignores(opts, plan)) if task.sweep_ignores is not None else frozenset()


def saved_settings(task: Task, opts, plan: SweepPlan, saved: dict) -> dict:
    """A sweep record's settings without the options this sweep ignores (records written before
    Task.sweep_ignores named them hold them too)."""
    ignored = _ignored_options(task, opts, plan)
    options = {k: v for k, v in saved.get("options", {}).items() if k not in ignored}
    return dict(saved, options=options)


def settings_diff(saved: dict, current: dict) -> list[str]:
    """'name: saved X, now Y' for every option or plan entry that differs."""
    diffs = []
    for part in ("plan", "options"):
        old, new = saved.get(part, {}), current.get(part, {})
        diffs += [f"{k}: saved {old.get(k)!r}, now {new.get(k)!r}" for k in sorted(set(old) | set(new))
                  if old.get(k) != new.get(k)]
    return diffs


def train_config(task: Task, opts, plan: SweepPlan):
    """The engine's TrainConfig of one sweep (progress is the driver's: quiet engine)."""
    from symjax.train import TrainConfig  # noqa: PLC0415

    loss = task.loss(opts) if callable(task.loss) else task.loss
    return TrainConfig(loss=loss, learning_rate=float(opts.lr), max_epochs=int(opts.max_epochs),
                       patience=int(opts.patience), early_stopping=bool(opts.early_stopping),
                       checkpoint_dir=os.path.join(opts.out_dir, "checkpoints", plan.name),
                       checkpoint_every=int(opts.checkpoint_every), resume=bool(opts.resume),
                       sym_samples=int(opts.sym_samples), quiet=True, eval_batch_size=int(opts.eval_batch_size),
                       lane_groups=opts.lane_groups, compile_cache=opts.compile_cache,
                       augment_per=opts.augment_per, compact_stopped=bool(opts.compact_stopped),
                       max_group_lanes=int(opts.max_group_lanes),
                       cpu_fusion_emitters=fusion_emitters(task, opts, plan))


def fusion_emitters(task: Task, opts, plan: SweepPlan) -> bool:
    """Whether the sweep's programs compile with XLA:CPU's fusion emitters (--cpu_fusion_emitters)."""
    if opts.cpu_fusion_emitters == "auto":
        return plan.architecture in task.cpu_fusion_emitters
    return opts.cpu_fusion_emitters == "on"


def record_path(opts, plan: SweepPlan, process_index: int = 0, process_count: int = 1) -> str:
    """checkpoints/<sweep>/sweep.json; checkpoints/<sweep>/process_<k>/sweep.json with several processes
    (beside that process's engine checkpoints)."""
    folder = os.path.join(opts.out_dir, "checkpoints", plan.name)
    if process_count > 1:
        folder = os.path.join(folder, f"process_{process_index}")
    return os.path.join(folder, RECORD_FILE)


def _read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------- checks before training
def check_out_dir(path: str) -> None:
    """ValueError naming --out_dir unless it is (or can be created as) a writable folder. Creates nothing."""
    run_dir.check_writable_folder("--out_dir", path)


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
        run_dir.check_writable_folder(label, path)
    except ValueError as error:
        raise ValueError(f"{error} (--compile_cache=off runs without a compilation cache)") from None


def earlier_run(out_dir: str) -> list[str]:
    """What out_dir holds of an earlier run: results.jsonl / results.csv / report.md and non-empty checkpoint folders."""
    found = [n for n in ("results.jsonl", "results.csv", "report.md") if os.path.isfile(os.path.join(out_dir, n))]
    checkpoints = os.path.join(out_dir, "checkpoints")
    if os.path.isdir(checkpoints) and any(os.listdir(os.path.join(checkpoints, d)) for d in os.listdir(checkpoints)
                                          if os.path.isdir(os.path.join(checkpoints, d))):
        found.append("checkpoints/")
    return found


def check_resume(task: Task, opts, plans: list[SweepPlan]) -> None:
    """With --resume: ValueError if a sweep's saved settings differ (other than CONTINUABLE) or its record is
    damaged, or results.jsonl cannot be read back (its rows outside the grid are kept). Deletes nothing."""
    problems = []
    for plan in plans:
        current = sweep_settings(task, opts, plan)
        folder = os.path.dirname(record_path(opts, plan))
        for path in sorted(glob.glob(os.path.join(folder, RECORD_FILE))
                           + glob.glob(os.path.join(folder, "process_*", RECORD_FILE))):
            saved = _read_json(path)
            if not isinstance(saved, dict) or not isinstance(saved.get("settings"), dict):
                raise ValueError(f"--resume: {path} is damaged (expected the sweep's JSON record); remove "
                                 f"{os.path.dirname(path)} to retrain that sweep, or pass --overwrite")
            diffs = [d for d in settings_diff(saved_settings(task, opts, plan, saved["settings"]), current)
                     if d.split(":", 1)[0] not in CONTINUABLE]
            if diffs:
                problems.append((plan.name, f"sweep {plan.name} ({'; '.join(diffs)})"))
                break
    if problems:
        folders = ", ".join(os.path.join(opts.out_dir, "checkpoints", name) for name, _ in problems)
        raise ValueError(f"--resume: {opts.out_dir} holds a run with other settings: "
                         f"{', '.join(text for _, text in problems)}; use that run's flags, another --out_dir, "
                         f"--overwrite to replace it, or remove {folders} to retrain "
                         f"{'that sweep alone' if len(problems) == 1 else 'those sweeps alone'}")
    run_dir.kept_rows(opts.out_dir, [p.name for p in plans])  # readable, every row naming its sweep


def check_options(task: Task, opts) -> None:
    """The checks that read nothing in out_dir: the options, and that out_dir and the compilation cache can be
    folders this process writes to. Raises BadInput; creates nothing."""
    try:
        if not isinstance(opts, task.options):
            raise ValueError(f"options: expected {task.options.__name__}, got {type(opts).__name__}")
        opts.validate()
        check_out_dir(opts.out_dir)
        check_compile_cache(opts.compile_cache)
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


# ---------------------------------------------------------------------------- the run
@dataclasses.dataclass
class SweepLog:
    """One line of the report's sweep table."""

    name: str
    lanes: int
    epochs: int
    wall_s: float
    status: str


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
    artifacts: dict = dataclasses.field(default_factory=dict)  # the task's after_sweep -> write_figures
    epochs_done: int = 0  # epochs trained in this invocation, all sweeps
    sweep: str | None = None  # the sweep training now
    epoch: int = 0  # epochs done in that sweep


class StoppedByUser(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a run; the message says where, and that --resume continues it."""


class WriteFailed(BadInput):
    """out_dir could not be written during the run (disk full, read-only file system, removed folder)."""


def _log_entry(name: str, rows: list[dict], status: str) -> SweepLog:
    return SweepLog(name, len(rows), max((r["epochs"] for r in rows), default=0),
                    max((r["wall_s"] for r in rows), default=0.0), status)


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


def _train_sweep(task: Task, opts, plan: SweepPlan, data, settings: dict, record: str, state: _RunState,
                 progress) -> tuple[list[dict], SweepLog]:
    """Trains one sweep (continuing its checkpoint with --resume); records it; returns its rows and log line."""
    from symjax.train import sweep  # noqa: PLC0415

    lanes = _sweep_lanes(task, opts, plan, data, state)
    pool = state.pools[plan.pool]
    fns = task.lane_fns(opts, plan, data)
    atomic_write_json(record, {"settings": settings, "rows": None}, indent=1)
    first_epoch: list[int] = []
    state.sweep, state.epoch = plan.name, 0

    def on_epoch(epoch, summary):
        if not first_epoch:
            first_epoch.append(epoch)
            if epoch > 1:
                progress.message(f"{plan.name}: resumed from its checkpoint at epoch {epoch - 1}")
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
    if task.after_sweep is not None and rows:
        rows = task.after_sweep(opts, plan, data, pool, result, state.artifacts)
    atomic_write_json(record, {"settings": settings, "rows": rows}, indent=1)
    state.sweep = None
    progress.sweep_finished(plan.name, len(lanes), result.timings)
    return rows, _log_entry(plan.name, rows, _status(opts.resume, first_epoch[0] if first_epoch else None))


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
    from symjax.train import read_results, write_results  # noqa: PLC0415

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
        saved = _read_json(record_path(opts, plan, jax.process_index(), jax.process_count())) if opts.resume else None
        if (saved is not None and saved.get("rows") is not None
                and saved_settings(task, opts, plan, saved.get("settings", {})) == sweep_settings(task, opts, plan)):
            reused[plan.name] = saved["rows"]
        else:
            _sweep_lanes(task, opts, plan, data, state)  # every grid check before anything is written
    kept = []  # process 0 writes the merged results, so it alone keeps the earlier rows
    if opts.resume and jax.process_index() == 0:
        kept = run_dir.kept_rows(opts.out_dir, [p.name for p in plans])
    if jax.process_count() > 1:  # every process has checked out_dir before any process writes to it
        from jax.experimental import multihost_utils  # noqa: PLC0415

        multihost_utils.sync_global_devices("symjax_driver_prepared")
    os.makedirs(opts.out_dir, exist_ok=True)
    flags_text = options_text(opts, command)
    with RunProgress(task.name, [(p.name, int(opts.max_epochs)) for p in plans], quiet=opts.quiet) as progress:
        if kept:
            names = list(dict.fromkeys(r["sweep"] for r in kept))
            progress.message(f"keeping {len(kept)} rows of sweeps outside this run's grid: {', '.join(names)}")
        for plan in plans:
            record = record_path(opts, plan, jax.process_index(), jax.process_count())
            if plan.name in reused:
                rows, entry = reused[plan.name], _log_entry(plan.name, reused[plan.name], "finished earlier, reused")
                progress.sweep_skipped(plan.name, f"finished earlier with the same settings; {len(rows)} rows reused")
            else:
                rows, entry = _train_sweep(task, opts, plan, data, sweep_settings(task, opts, plan), record, state,
                                           progress)
            state.rows.extend(rows)
            state.log.append(entry)
            write_results(opts.out_dir, state.rows + kept, flags_text)
    for name in dict.fromkeys(r["sweep"] for r in kept):
        state.log.append(_log_entry(name, [r for r in kept if r["sweep"] == name],
                                    "kept from an earlier invocation (outside this grid)"))

    rows = state.rows + kept
    if jax.process_count() > 1:  # each process trained its slice of the lanes; process 0 reports on all rows
        if jax.process_index() != 0:
            return rows
        rows = read_results(opts.out_dir)
    if task.write_figures is not None:
        task.write_figures(opts, state.artifacts, opts.out_dir)
    return write_run_report(task, opts, rows, data, state.log, time.perf_counter() - start, command)


# ---------------------------------------------------------------------------- report
def grid_differences(opts, study, labels: Mapping | None = None, skip=frozenset()) -> list[str]:
    """What ``opts`` leaves out of, or changes from, the study's options ``study`` (empty: the study's grid).

    Compares every field not in RUN_CONTROL (nor quick, whose grid shows in the
    other fields) and ``skip`` (the departure flags, reported on their own): lists by their entries ('<label> a, b not run' / '... are not
    in the study'), seeds by their count, other values as '<name> <value>
    instead of <study value>'.
    """
    labels = dict(labels or {})
    out = []
    for field in dataclasses.fields(study):
        name = field.name
        if name in RUN_CONTROL or name in ("quick", "settings") or name in skip:
            continue
        value, default = getattr(opts, name), getattr(study, name)
        label = labels.get(name, name)
        if name == "seeds":
            if len(value) < len(default):
                out.append(f"{len(value)} seed(s) {list(value)} instead of {len(default)}")
        elif isinstance(default, tuple):
            missing = [v for v in default if v not in value]
            extra = [v for v in value if v not in default]
            if missing:
                out.append(f"{label} {', '.join(map(str, missing))} not run (study: {', '.join(map(str, default))})")
            if extra:
                out.append(f"{label} {', '.join(map(str, extra))} are not in the study")
        elif isinstance(default, bool):
            if value != default:
                out.append(f"{label} {'on' if value else 'off'} (study: {'on' if default else 'off'})")
        elif value != default:
            out.append(f"{label} {value} instead of {default}")
    return out


def machine_description() -> str:
    from symjax.tasks.common import machine_description as describe  # noqa: PLC0415

    return describe()


def run_markdown(task: Task, opts, rows: list[dict], data, log: list[SweepLog] | None, wall_s: float | None,
                 command: str | None, rewritten_by: str | None = None) -> str:
    """The report's 'How this run was produced' section: command, machine, wall time, sweeps, task notes, scope.

    ``rewritten_by``: the --report_only command that rewrites the report of a finished run (``command`` is
    then the run's own, from its flags.txt).
    """
    sweep_wall = {}  # the slowest process's wall time of each sweep
    for r in rows:
        sweep_wall[r.get("sweep")] = max(sweep_wall.get(r.get("sweep"), 0.0), float(r["wall_s"]))
    lines = [f"- Command: `{command}`" if command else f"- Called from Python (`symjax.tasks.driver.run` on "
             f"{task.name}).", f"- Machine: {machine_description()}."]
    if rewritten_by:
        lines[1:] = [f"- Report rewritten from the run's results by `{rewritten_by}` on {machine_description()} "
                     "(the run's own machine is not recorded)."]
    total = f"{sum(sweep_wall.values()):.1f} s"
    lines.append(f"- Wall time of this invocation: {wall_s:.1f} s; the sweeps' own wall times sum to {total} "
                 "(a resumed sweep counts its earlier passes up to the checkpoint it resumed from)."
                 if wall_s is not None else f"- Wall time: the sweeps' own wall times sum to {total} (report "
                 "rewritten from the results).")
    lines.append(f"- Precision: {'float64 (--x64)' if opts.x64 else 'float32'}.")
    lines += [f"- {note}" for note in task.notes(opts, data)]
    if log:
        lines += ["", "| sweep | lanes | epochs trained (max over lanes) | sweep wall s | status |",
                  "|---|---:|---:|---:|---|"]
        lines += [f"| {s.name} | {s.lanes} | {s.epochs} | {s.wall_s:.1f} | {s.status} |" for s in log]
    unfinished = [p.name for p in task.plan_sweeps(opts) if p.name not in sweep_wall]
    differences = grid_differences(opts, task.options(), task.labels, skip={d.flag for d in task.departures})
    if unfinished:
        differences.insert(0, f"sweeps {', '.join(unfinished)} not finished, so their models are missing")
    lines += ["", "### Scope against the study's grid", ""]
    if differences:
        lines += ["This run is a reduced grid:", ""] + [f"- {d}" for d in differences]
        lines += ["", f"The study's full grid runs with the script's defaults: `python {task.script} "
                      f"--out_dir runs/{task.name}_full`."]
        if all(d.startswith("max_epochs") for d in differences) and command:
            lines += ["", f"Only epochs were cut, so the lanes can be continued from this run's checkpoints "
                          f"(`{opts.out_dir}/checkpoints`): `{command} --resume --max_epochs="
                          f"{task.options().max_epochs}`."]
    else:
        lines.append("This run is the study's full grid.")
    return "\n".join(lines)


def recorded_command(out_dir: str) -> str | None:
    """The command that made the run in ``out_dir``: the '# ' first line of its flags.txt (None if absent)."""
    try:
        with open(os.path.join(out_dir, "flags.txt"), encoding="utf-8") as handle:
            first = handle.readline().rstrip("\n")
    except OSError:
        return None
    return first[2:] if first.startswith("# ") else None


def logged_sweeps(rows: list[dict]) -> list[SweepLog] | None:
    """The sweep table of a finished run rebuilt from its rows (None unless every row names its sweep)."""
    if not rows or any(r.get("sweep") is None for r in rows):
        return None
    names = dict.fromkeys(r["sweep"] for r in rows)
    return [_log_entry(name, [r for r in rows if r["sweep"] == name], "from the results") for name in names]


def write_run_report(task: Task, opts, rows, data, log, wall_s, command, rewritten_by: str | None = None) -> list[dict]:
    """report.md (with ``run_markdown``), aggregate.csv and figures of the task; returns rows."""
    if task.complete_rows is not None:
        rows = task.complete_rows(opts, data, rows)
    extra_md = run_markdown(task, opts, rows, data, log, wall_s, command, rewritten_by)
    if task.write_report is not None:
        task.write_report(opts, rows, extra_md)
    else:
        from symjax.report import write_report  # noqa: PLC0415
        from symjax.report.departures import departures_markdown  # noqa: PLC0415

        defaults = {d.flag: getattr(task.options(), d.flag) for d in task.departures}
        current = ", ".join(f"--{d.flag}={getattr(opts, d.flag)}" for d in task.departures)
        section = (f"This run: `--settings={opts.settings}` ({current}).\n\n"
                   + departures_markdown(task.number, task.departures, defaults))
        write_report(task.number, rows, opts.out_dir, extra_md=extra_md,
                     sections=[("Departures and their effect", section)] if task.departures else ())
    return rows


# ---------------------------------------------------------------------------- scripts
def command_line(script: str) -> str:
    """'python <script> <arguments of this process>', shell-quoted (flags.txt, report.md).

    ``script`` may carry fixed arguments ('experiments/discovery.py --experiment=mnist'); an argument of
    this process equal to one of them is not repeated.
    """
    words = shlex.split(script)
    return shlex.join(["python", *words, *(a for a in sys.argv[1:] if a not in words[1:])])


def parse_flags_or_exit(argv):
    """absl flag parsing with absl's own errors (unknown flag, bad integer) as one line, exit code 2."""
    from absl import flags  # noqa: PLC0415

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
        if opts.distributed:
            initialize_distributed()
        return run(task, opts, command=command_line(task.script))

"""The experiment driver: what every task shares, once. This module re-exports its parts' public names.

A task (``symjax.tasks.set_function_task`` ...) supplies only its own parts as a ``Task``
(``symjax.tasks.task``): an options dataclass (a ``CommonOptions`` subclass), the sweeps of a run, its
data, the lanes of a sweep, the per-lane model functions and its report notes. ``run(task, opts)`` does
the rest. The driver's modules, one job each:

* ``symjax.tasks.options``: ``option``, ``CommonOptions`` and their validation, the dataclass-field ->
  absl-flag bridge (``define_flags``, ``options_from_flags``) and --help's science / run / engine headings
  (``help_text``), ``options_text`` (flags.txt);
* ``symjax.tasks.task``: the contract, ``Task`` and ``SweepPlan``;
* ``symjax.tasks.resume``: a sweep's settings, its ``sweep.json`` record, ``check_resume``, the rows a
  resume keeps;
* ``symjax.tasks.run_dir``: out_dir's lock and the checks of what it holds (and of the compilation cache);
* ``symjax.tasks.run``: ``prepare`` (every check before compiling) and ``run`` (the run loop);
* ``symjax.tasks.run_report``: the run's section of report.md and ``write_run_report``;
* ``symjax.tasks.errors``: ``BadInput``, ``WriteFailed``, ``Interrupted``, ``StoppedByUser`` and the exit
  codes;
* ``symjax.tasks.script``: what an experiments/ script does (``main``, one line per fault).
"""

from __future__ import annotations

from symjax.io import atomic_write_json
from symjax.tasks.errors import (CTRL_C_EXIT, INTERRUPTED_EXIT, USAGE_EXIT, BadInput, Interrupted, StoppedByUser,
                                 WriteFailed)
from symjax.tasks.options import (ENGINE_OPTIONS, FLAG_GROUPS, INT_MAX, MAX_SEED_COUNT, RUN_CONTROL, SETTINGS,
                                  CommonOptions, check_int, check_ints, define_flags, flag_group, help_text, option,
                                  options_from_flags, options_text, parse_seeds)
from symjax.tasks.resume import (CONTINUABLE, RECORD_FILE, check_resume, earlier_run, kept_rows, read_json,
                                 record_path, saved_settings, settings_diff, sweep_settings)
from symjax.tasks.run import check_options, check_report_only, fusion_emitters, prepare, run, train_config
from symjax.tasks.run_dir import check_compile_cache, check_out_dir
from symjax.tasks.run_report import (SweepLog, grid_differences, logged_sweeps, recorded_command, run_markdown,
                                     write_run_report)
from symjax.tasks.script import (command_line, exit_on_bad_input, exit_with_error, initialize_distributed, main,
                                 parse_flags_or_exit, run_script, use_cpu_devices)
from symjax.tasks.task import SweepPlan, Task

__all__ = [
    "CONTINUABLE", "CTRL_C_EXIT", "ENGINE_OPTIONS", "FLAG_GROUPS", "INTERRUPTED_EXIT", "INT_MAX", "MAX_SEED_COUNT", "RECORD_FILE", "RUN_CONTROL",
    "SETTINGS", "USAGE_EXIT", "BadInput", "CommonOptions", "Interrupted", "StoppedByUser", "SweepLog",
    "SweepPlan", "Task", "WriteFailed", "atomic_write_json", "check_compile_cache", "check_int", "check_ints",
    "check_options", "check_out_dir", "check_report_only", "check_resume", "command_line", "define_flags",
    "earlier_run", "exit_on_bad_input", "exit_with_error", "flag_group", "fusion_emitters", "grid_differences",
    "help_text", "initialize_distributed", "kept_rows", "logged_sweeps", "main", "option", "options_from_flags",
    "options_text", "parse_flags_or_exit", "parse_seeds", "prepare", "read_json", "record_path",
    "recorded_command", "run", "run_markdown", "run_script", "saved_settings", "settings_diff", "sweep_settings",
    "train_config", "use_cpu_devices", "write_run_report",
]

"""The contract between a task and the driver: a run's sweeps (``SweepPlan``) and the ``Task`` itself."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

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

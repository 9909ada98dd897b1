"""The contract between a task and the driver: a run's sweeps (``SweepPlan``) and the ``Task`` itself.

A task module subclasses ``Task``: class attributes for what it is (name, options, --quick defaults ...),
methods for what it does (its sweeps, data, lanes, model functions, report notes), e.g.

    class SetFunctionTask(Task):
        name, number, script, options, loss = "task1", 1, "experiments/task1.py", Options, "mse"
        plan_sweeps = staticmethod(plan_sweeps)  # the module's functions are the methods
        ...

    TASK = SetFunctionTask()
"""

from __future__ import annotations

import abc
import dataclasses
import types
from typing import Any, Mapping

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


class Task(abc.ABC):
    """What one experiment supplies to the driver (``symjax.tasks.run.run``).

    Attributes (class attributes, or set per instance by a task with several experiments):
      name: 'task1' ... (the prefix of progress lines, the sweep records' task).
      number: the task id of ``symjax.report`` (tables, figures, reference numbers).
      script: its experiments/ script (with fixed arguments, e.g. 'experiments/discovery.py --experiment=mnist').
      options: its ``CommonOptions`` subclass.
      quick: the --quick defaults (option name -> value).
      loss: 'mse' | 'l1' | 'cross_entropy' (``training_loss`` may choose it by an option instead).
      plan_fields: option fields split over the sweeps (not part of a sweep's resume settings, so a run can
        be extended along them).
      labels: names of option fields in the report's grid differences.
      departures: the task's ``symjax.tasks.departures.Departure`` records (--settings=study, the report's
        "Departures and their effect" section).
      cpu_fusion_emitters: architectures whose programs compile with XLA:CPU's fusion emitters under
        --cpu_fusion_emitters=auto: those measured faster with them (docs/benchmarks.md).

    Methods (opts = the task's options; data = ``load_data(opts)``): six to implement, six optional.
    """

    name: str
    number: int
    script: str
    options: type
    quick: Mapping = types.MappingProxyType({})
    loss: str = "mse"
    plan_fields: tuple = ()
    labels: Mapping = types.MappingProxyType({})
    departures: tuple = ()
    cpu_fusion_emitters: tuple = ()

    @property
    def study(self) -> dict:
        """The --settings=study values: {option: the study's value} of the departures that have one."""
        from symjax.tasks.departures import study_values  # noqa: PLC0415

        return study_values(self.departures)

    # ------------------------------------------------------------------ what every task implements
    @abc.abstractmethod
    def plan_sweeps(self, opts) -> list[SweepPlan]:
        """The sweeps of a run, in the order they train."""

    @abc.abstractmethod
    def load_data(self, opts):
        """The task's data, loaded once per run; raises ValueError naming the flag when it cannot serve opts."""

    @abc.abstractmethod
    def build_pool(self, opts, plan: SweepPlan, data) -> tuple:
        """(pool_x, pool_y, *anything build_lanes needs, e.g. split indices): built once per ``plan.pool``."""

    @abc.abstractmethod
    def build_lanes(self, opts, plan: SweepPlan, data, pool) -> list:
        """The sweep's ``symjax.train.Lane`` list, indexing ``pool``."""

    @abc.abstractmethod
    def lane_fns(self, opts, plan: SweepPlan, data):
        """The sweep's per-lane model functions, a ``symjax.train.LaneFns``."""

    @abc.abstractmethod
    def notes(self, opts, data) -> list[str]:
        """Markdown bullet texts of the report's run section (data, models, settings)."""

    # ------------------------------------------------------------------ optional, with defaults
    def training_loss(self, opts) -> str:
        """The engine's loss of this run: ``loss``, unless a task chooses it by an option."""
        return self.loss

    def after_sweep(self, opts, plan: SweepPlan, data, pool, result, artifacts: dict) -> list[dict]:
        """The sweep's rows, with any columns the task adds (``result``: the ``symjax.train.SweepResult``;
        ``artifacts``: a dict kept for the whole run, e.g. figure panels). Default: ``result.rows``."""
        return result.rows

    def write_figures(self, opts, artifacts: dict, out_dir: str) -> list[str]:
        """Figures beyond ``symjax.report``'s, from the run's artifacts; returns their paths. Default: none."""
        return []

    def write_report(self, opts, rows: list[dict], extra_md: str) -> list[str]:
        """report.md (and aggregate.csv, figures) into opts.out_dir; ``extra_md`` is the driver's run section.

        Default: ``symjax.report.write_report(number, ...)`` with the "Departures and their effect" section;
        a task without a table of the study (e.g. the discovery experiments) writes its own.
        """
        from symjax.report import write_report  # noqa: PLC0415
        from symjax.report.departures import departures_markdown  # noqa: PLC0415

        defaults = {d.flag: getattr(self.options(), d.flag) for d in self.departures}
        current = ", ".join(f"--{d.flag}={getattr(opts, d.flag)}" for d in self.departures)
        section = (f"This run: `--settings={opts.settings}` ({current}).\n\n"
                   + departures_markdown(self.number, self.departures, defaults))
        return write_report(self.number, rows, opts.out_dir, extra_md=extra_md,
                            sections=[("Departures and their effect", section)] if self.departures else ())

    def sweep_ignores(self, opts, plan: SweepPlan) -> tuple:
        """Option names the sweep's numbers do not depend on: left out of its resume settings, so that after
        changing one (e.g. a baseline's learning rate) --resume reuses the sweeps that do not read it."""
        return ()

    def complete_rows(self, opts, data, rows: list[dict]) -> list[dict]:
        """Fills in columns the report needs that rows of older runs lack (e.g. Task 3's no_change_loss),
        before the report is written. Default: the rows as they are."""
        return rows

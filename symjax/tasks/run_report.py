"""The report of a run: the "How this run was produced" section and report.md, aggregate.csv and figures.

* ``run_markdown``: command, machine, wall time, the sweep table (``SweepLog`` per sweep), the task's
  notes and the run's scope against the study's grid (``grid_differences``);
* ``write_run_report``: report.md (the task's own report, or ``symjax.report.write_report`` with the
  "Departures and their effect" section), aggregate.csv and figures;
* ``recorded_command`` / ``logged_sweeps``: what ``--report_only`` rebuilds from a finished run.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping

from symjax.tasks.options import RUN_CONTROL
from symjax.tasks.task import Task

@dataclasses.dataclass
class SweepLog:
    """One line of the report's sweep table."""

    name: str
    lanes: int
    epochs: int
    wall_s: float
    status: str


def log_entry(name: str, rows: list[dict], status: str) -> SweepLog:
    return SweepLog(name, len(rows), max((r["epochs"] for r in rows), default=0),
                    max((r["wall_s"] for r in rows), default=0.0), status)


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
    return [log_entry(name, [r for r in rows if r["sweep"] == name], "from the results") for name in names]


def write_run_report(task: Task, opts, rows, data, log, wall_s, command, rewritten_by: str | None = None) -> list[dict]:
    """report.md (``Task.write_report`` with ``run_markdown``), aggregate.csv and figures of the task; returns
    rows (completed by ``Task.complete_rows``)."""
    rows = task.complete_rows(opts, data, rows)
    task.write_report(opts, rows, run_markdown(task, opts, rows, data, log, wall_s, command, rewritten_by))
    return rows



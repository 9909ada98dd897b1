"""Resume: what each sweep's numbers depend on, its record in out_dir, and the checks of ``--resume``.

Each sweep has a folder ``out_dir/checkpoints/<sweep name>/`` holding the engine's checkpoints and a
record ``sweep.json`` = {"settings": ..., "rows": null | [...]}, written when the sweep starts (rows null)
and again when it has finished (its rows). The settings (``sweep_settings``) are the sweep's plan plus
every option that changes its numbers. With ``--resume``, a finished sweep whose settings match is not
trained again (its rows are reused); an unfinished one (or one whose only difference is ``max_epochs``,
``CONTINUABLE``) continues from its newest checkpoint; any other difference is refused before anything
runs (``check_resume``). A resume never removes rows: the rows of results.jsonl whose sweep is outside
the resumed grid are written back after this invocation's own (``kept_rows``).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os

from symjax.tasks import run_dir
from symjax.tasks.options import RUN_CONTROL
from symjax.tasks.task import SweepPlan, Task

#: Settings a resumed sweep may change: it continues from its checkpoint.
CONTINUABLE = frozenset({"max_epochs"})
RECORD_FILE = run_dir.RECORD_FILE


def _json_normal(obj):
    return json.loads(json.dumps(obj))


def sweep_settings(task: Task, opts, plan: SweepPlan) -> dict:
    """Everything a sweep's numbers depend on: its plan and every option not in RUN_CONTROL or plan_fields,
    nor among the options the task says this sweep ignores (Task.sweep_ignores)."""
    ignored = _ignored_options(task, opts, plan)
    options = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)
               if f.name not in RUN_CONTROL and f.name not in task.plan_fields and f.name not in ignored}
    return _json_normal({"task": task.name, "plan": dataclasses.asdict(plan), "options": options})


def _ignored_options(task: Task, opts, plan: SweepPlan) -> frozenset:
    return frozenset(task.sweep_ignores(opts, plan))


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


def record_path(opts, plan: SweepPlan, process_index: int = 0, process_count: int = 1) -> str:
    """checkpoints/<sweep>/sweep.json; checkpoints/<sweep>/process_<k>/sweep.json with several processes
    (beside that process's engine checkpoints)."""
    folder = os.path.join(opts.out_dir, "checkpoints", plan.name)
    if process_count > 1:
        folder = os.path.join(folder, f"process_{process_index}")
    return os.path.join(folder, RECORD_FILE)


def read_json(path: str):
    """The JSON value in path; None when it cannot be read or parsed."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


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
            saved = read_json(path)
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
    kept_rows(opts.out_dir, [p.name for p in plans])  # readable, every row naming its sweep


def kept_rows(out_dir: str, sweep_names) -> list[dict]:
    """The rows of out_dir/results.jsonl whose sweep is not in ``sweep_names`` (none when there is no file).

    Raises ValueError naming --resume for a damaged results.jsonl or rows that do not name their sweep.
    """
    from symjax.train.results import read_results  # noqa: PLC0415

    path = os.path.join(out_dir, "results.jsonl")
    if not os.path.isfile(path):
        return []
    try:
        rows = read_results(path)
    except ValueError as error:
        raise ValueError(f"--resume: {error}; restore it, or pass --overwrite to replace the run") from None
    unnamed = sum(1 for r in rows if r.get("sweep") is None)
    if unnamed:
        raise ValueError(f"--resume: {unnamed} rows of {path} do not name their sweep, so the rows outside this "
                         "run's grid cannot be told apart; pass --overwrite or another --out_dir")
    names = set(sweep_names)
    return [r for r in rows if r["sweep"] not in names]



"""Which contradictions of the study does the test split explain, and which the training budget?

Three runs of one task, all at ``--settings=study``:

* ``study``: the held-out test trajectories (``--test_split=trajectories``), the study's budget;
* ``split``: the same grid with ``--test_split=pool``;
* ``budget``: ``--test_split=pool`` on part of the grid, trained to convergence (more epochs, more patience).

For each claim the study makes that the ``study`` run contradicts (its share of holding conditions differs
from the study's table on the same conditions, ``symjax.report.departures.contradicts``), the label is, in
this order:

* "explained by the test split": the ``split`` run agrees with the study's table;
* "explained by the budget": on the ``budget`` run's conditions, the ``split`` run still contradicts the
  table and the ``budget`` run agrees with it;
* "persists under both": the ``split`` run contradicts the table, and so does the ``budget`` run on its
  conditions;
* "untested": a run is missing, the ``budget`` run has none of the claim's conditions, or the ``split`` run
  already agrees on the ``budget`` run's conditions (so more epochs cannot show anything there).
"""

from __future__ import annotations

import math
from typing import Sequence

from .departures import claim_counts, contradicts, study_claims
from .rows import is_diverged, model_rank, setting_rank, size_key
from .tables import markdown_table

Run = tuple  # (name, rows, flags) as ``symjax.report.departures.load_run`` returns


def _conditions(task: int, rows: Sequence[dict]) -> set:
    key = size_key(task)
    return {(r["setting"], r[key]) for r in rows if r["task"] == int(task)}


def _restrict(task: int, rows: Sequence[dict], conditions: set) -> list[dict]:
    key = size_key(task)
    return [r for r in rows if (r["setting"], r[key]) in conditions]


def _count(claim: dict | None) -> str:
    return "—" if claim is None else f"{claim['holds']} of {claim['total']}"


def label(text: str, split: dict, split_on_budget: dict, budget: dict, study_split: dict | None,
          study_budget: dict | None) -> str:
    """The label of one contradicted claim ``text`` (module docstring); arguments are {text: claim} counts:
    the split run, the split run on the budget run's conditions, the budget run, and the study's table on
    the split run's and on the budget run's conditions."""
    split_differs = contradicts(split.get(text), study_split)
    if split_differs is False:
        return "explained by the test split"
    budget_differs = contradicts(budget.get(text), study_budget)
    before = contradicts(split_on_budget.get(text), study_budget)
    if split_differs and before and budget_differs is False:
        return "explained by the budget"
    if split_differs and budget_differs:
        return "persists under both"
    return "untested"


def labels_markdown(task: int, study: Run, split: Run | None, budget: Run | None) -> str:
    """The table of the ``study`` run's contradictions with their labels (module docstring)."""
    study_rows = study[1]
    run_claims, table_study = claim_counts(task, study_rows), study_claims(task, study_rows)
    contradicted = [t for t, c in run_claims.items() if contradicts(c, table_study.get(t))]
    if not contradicted:
        return f"The run `{study[0]}` contradicts none of the study's counted claims."
    split_claims = claim_counts(task, split[1]) if split else {}
    table_split = study_claims(task, split[1]) if split else {}
    budget_claims = claim_counts(task, budget[1]) if budget else {}
    table_budget = study_claims(task, budget[1]) if budget else {}
    on_budget = claim_counts(task, _restrict(task, split[1], _conditions(task, budget[1]))) \
        if split and budget else {}
    body = []
    for text in contradicted:
        if split is None:
            verdict = "untested"
        elif budget is None:
            agrees = contradicts(split_claims.get(text), table_split.get(text)) is False
            verdict = "explained by the test split" if agrees else "untested (no budget run)"
        else:
            verdict = label(text, split_claims, on_budget, budget_claims, table_split.get(text),
                            table_budget.get(text))
        body.append([text, _count(table_study.get(text)), _count(run_claims.get(text)),
                     _count(split_claims.get(text)) if split else "—",
                     _count(table_budget.get(text)) if budget else "—",
                     _count(on_budget.get(text)) if split and budget else "—",
                     _count(budget_claims.get(text)) if budget else "—", verdict])
    names = (f"`{split[0]}`" if split else "split run (not given)", f"`{budget[0]}`" if budget else "budget run")
    return markdown_table(["claim", "study's table", f"`{study[0]}`", names[0],
                           f"study's table on {names[1]}'s conditions", f"{names[0]} on those",
                           names[1], "label"], body)


def _means(task: int, rows: Sequence[dict], metric: str = "test_loss") -> dict:
    """{(setting, size, model): (mean, number of lanes)} over non-diverged lanes."""
    key, groups = size_key(task), {}
    for r in rows:
        if not is_diverged(r) and r.get(metric) is not None:
            groups.setdefault((r["setting"], r[key], r["model"]), []).append(float(r[metric]))
    return {k: (sum(v) / len(v), len(v)) for k, v in groups.items()}


def order_markdown(task: int, short: Run, long: Run, first: str = "vanilla", second: str = "shared") -> str:
    """Per condition of ``long``: mean test loss of ``first`` and ``second`` in both runs, whether their order
    is the same, and how many lanes ran to the epoch cap (--max_epochs of the run's flags.txt, else the most
    epochs of any lane) without early stopping: still improving within their patience when the budget ran out."""
    a, b = _means(task, short[1]), _means(task, long[1])
    caps = {}
    for name, rows, flags in (short, long):
        cap = int(flags["max_epochs"]) if flags.get("max_epochs") else max(int(r["epochs"]) for r in rows)
        for r in rows:
            k = (name, r["setting"], r[size_key(task)], r["model"])
            at_cap = r.get("epochs") is not None and int(r["epochs"]) >= cap and not is_diverged(r)
            caps.setdefault(k, [0, 0])
            caps[k][0] += at_cap
            caps[k][1] += 1
    body, flips = [], 0
    conditions = sorted(_conditions(task, long[1]), key=lambda c: (setting_rank(c[0]), c[1]))
    for setting, size in conditions:
        pair = [(m, run) for run in (a, b) for m in (first, second)]
        if any((setting, size, m) not in run for m, run in pair):
            continue
        before = a[(setting, size, first)][0] < a[(setting, size, second)][0]
        after = b[(setting, size, first)][0] < b[(setting, size, second)][0]
        flips += before != after
        cap = lambda name, m: "{}/{}".format(*caps.get((name, setting, size, m), [0, 0]))  # noqa: E731
        body.append([setting, size] + [f"{run[(setting, size, m)][0]:.4g}" for m, run in pair]
                    + [f"{first if before else second} lower", f"{first if after else second} lower",
                       "no" if before == after else "**yes**",
                       f"{cap(short[0], first)}, {cap(short[0], second)}", f"{cap(long[0], first)}, {cap(long[0], second)}"])
    if not body:
        return f"No condition of `{long[0]}` has both {first} and {second} in both runs."
    return "\n".join([
        markdown_table(["model size", "data size", f"{first} `{short[0]}`", f"{second} `{short[0]}`",
                        f"{first} `{long[0]}`", f"{second} `{long[0]}`", f"order `{short[0]}`",
                        f"order `{long[0]}`", "order changed", f"lanes at the cap `{short[0]}` ({first}, {second})",
                        f"lanes at the cap `{long[0]}` ({first}, {second})"], body), "",
        f"The order of {first} and {second} changes in {flips} of {len(body)} conditions. A lane is 'at the cap' "
        "when it trained every epoch of its run's --max_epochs without early stopping (its validation loss was "
        "still improving within the patience when the budget ran out)."])


def ratio_markdown(task: int, run: Run, metric: str = "test_loss") -> str:
    """Per (setting, size, model): the run's mean ``metric`` divided by the study's table value."""
    from .reference import reference_rows  # noqa: PLC0415

    key = size_key(task)
    table = {(r["setting"], r[key], r["model"]): r.get(metric) for r in reference_rows(task)}
    means = _means(task, run[1], metric)
    models = sorted({k[2] for k in means}, key=model_rank)
    conditions = sorted({k[:2] for k in means}, key=lambda c: (setting_rank(c[0]), c[1]))
    body, ratios = [], []
    for setting, size in conditions:
        line = [setting, size]
        for m in models:
            ours, theirs = means.get((setting, size, m), (None, 0))[0], table.get((setting, size, m))
            if ours is None or not theirs or not math.isfinite(ours):
                line.append("—")
                continue
            ratios.append(ours / theirs)
            line.append(f"{ours / theirs:.3g}")
        body.append(line)
    summary = (f"Ratios {min(ratios):.3g}-{max(ratios):.3g} (median {sorted(ratios)[len(ratios) // 2]:.3g})."
               if ratios else "No cell of the study's table to compare.")
    return "\n".join([markdown_table(["model size", "data size"] + models, body), "", summary])

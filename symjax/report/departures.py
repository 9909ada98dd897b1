"""Departures from the study's text, and their measured effect on the study's claims.

A task lists its departures as ``Departure`` records (defined here, and
re-exported by ``symjax.tasks.departures``; ``DEPARTURES`` in the task's
module): the option (flag) that controls the setting, what the study says and
its value. ``--settings=study`` sets every option whose ``study`` value is
known (``study_values``).

The effect of a departure is measured by comparing runs: a base run (the
project's defaults) and ablation runs that differ from it in one option (or in
all of them, ``--settings=study``), at the same budget. For each claim of
``symjax.report.summary.check_claims`` that the study makes:

    contradiction  <=>  the run's share holds/total != the study's share on the run's conditions

(the study's count is the same claim checked on the study's table restricted
to the (setting, size) conditions the run has: ``study_claims``; a reduced grid
is compared with the same part of the study)

and each contradiction is labelled, in this order:

* "explained by departure X": the run that restores X alone (an ablation
  whose flags.txt differs from the base in X) reaches the study's count;
* "persists under the study's settings (a finding)": the ``--settings=study``
  ablation still differs from the study's count; when some departures have no
  study value (the study is silent, so ``--settings=study`` cannot restore
  them), the label names them: "persists under the study's known settings
  (ablation study; open readings: X, Y)";
* "untested": no ablation decides it.

A claim the base run reproduces can still fail in an ablation: such claims
are listed too, each labelled "broken by the study's setting of X" (a run
that restores X alone contradicts the study) or "broken under the study's
settings" (only the ``--settings=study`` run does).

Counts are comparable only between runs of the same grid; ``compare_markdown``
says so when the grids differ.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from typing import Mapping, Sequence

from .rows import load_results, normalize_row
from .summary import check_claims
from .tables import markdown_table


@dataclasses.dataclass(frozen=True)
class Departure:
    """One place where the project's default differs from (or has to choose a reading of) the study's text.

    flag: the option (command-line flag without --) that controls it;
    what: the setting, in words;
    study_text: what the study says (with its section), or that it is silent;
    study: the option value that restores the study's setting; None when the
      study gives no value (then --settings=study leaves the project's default).
    """

    flag: str
    what: str
    study_text: str
    study: object = None


def study_values(departures: Sequence[Departure]) -> dict:
    """{flag: study value} of the departures whose study value is known (``Task.study``)."""
    return {d.flag: d.study for d in departures if d.study is not None}


def read_flags(run_dir: str) -> dict[str, str]:
    """flags.txt of a run as {name: text value} (the '# command' line skipped)."""
    values = {}
    with open(os.path.join(run_dir, "flags.txt")) as f:
        for line in f:
            match = re.match(r"--([^=]+)=(.*)$", line.rstrip("\n"))
            if match:
                values[match.group(1)] = match.group(2)
    return values


def claim_counts(task: int, rows: Sequence[dict]) -> dict[str, dict]:
    """{claim text: claim} of the claims the study makes (``thesis_made``) checked on ``rows``."""
    return {c["text"]: c for c in check_claims(task, rows) if c["thesis_made"]}


def study_claims(task: int, rows: Sequence[dict]) -> dict[str, dict]:
    """The study's claims counted on its own table (``reference_rows``), restricted to the conditions of ``rows``."""
    from .reference import reference_rows  # noqa: PLC0415
    from .rows import size_key  # noqa: PLC0415

    key = size_key(task)
    conditions = {(r["setting"], r[key]) for r in rows if r["task"] == int(task)}
    table = [normalize_row(dict(r, seed=0, diverged=False)) for r in reference_rows(task)]
    return claim_counts(task, [r for r in table if (r["setting"], r[key]) in conditions])


def contradicts(claim: dict | None, study: dict | None) -> bool | None:
    """True when a run's share holds/total differs from the study's on the same conditions; None if either
    is missing."""
    if claim is None or study is None or not claim["total"] or not study["total"]:
        return None
    # Shares, not counts: a per-lane claim counts the run's lanes but the study's one row per condition.
    return claim["holds"] * study["total"] != study["holds"] * claim["total"]


def _agrees_with_study(claim: dict | None, study: dict | None) -> bool | None:
    differs = contradicts(claim, study)
    return None if differs is None else not differs


def changed_flags(base: Mapping[str, str], other: Mapping[str, str], departures: Sequence[Departure],
                  defaults: Mapping[str, object]) -> list[str]:
    """The departure flags whose values differ between two runs' flags.txt (a flag missing from a run
    recorded before it existed counts as its project default)."""
    value = lambda flags, flag: flags.get(flag, _value(defaults.get(flag)))
    return [d.flag for d in departures if value(base, d.flag) != value(other, d.flag)]


def label_contradiction(text: str, study: dict, ablations: Mapping[str, dict], changed: Mapping[str, list[str]],
                        study_name: str | None, open_readings: Sequence[str] = ()) -> str:
    """The label of the base run's contradiction ``text`` (module docstring) from the ablations' claims;
    ``study``: the study's claim on the same conditions; ``open_readings``: the departure flags with no study
    value (which ``--settings=study`` cannot restore)."""
    for name, claims in ablations.items():
        if len(changed[name]) == 1 and _agrees_with_study(claims.get(text), study):
            return f"explained by departure {changed[name][0]} (ablation {name})"
    if study_name is not None and _agrees_with_study(ablations[study_name].get(text), study) is False:
        if open_readings:
            return (f"persists under the study's known settings (ablation {study_name}; open readings: "
                    f"{', '.join(open_readings)})")
        return f"persists under the study's settings (a finding; ablation {study_name})"
    if study_name is not None and _agrees_with_study(ablations[study_name].get(text), study):
        return f"explained by the departures together (ablation {study_name}; no single one restores it)"
    return "untested"


def label_broken(text: str, study: dict, ablations: Mapping[str, dict], changed: Mapping[str, list[str]],
                 study_name: str | None) -> str:
    """The label of a claim the base run reproduces but an ablation contradicts (module docstring)."""
    single = [f"{changed[n][0]} (ablation {n})" for n, claims in ablations.items()
              if len(changed[n]) == 1 and contradicts(claims.get(text), study)]
    if single:
        return "broken by the study's setting of " + ", ".join(single)
    if study_name is not None and contradicts(ablations[study_name].get(text), study):
        return f"broken under the study's settings (ablation {study_name}; no single departure run breaks it)"
    return "broken in an ablation that changes several departures"


def _count(claim: dict | None) -> str:
    return "—" if claim is None else f"{claim['holds']} of {claim['total']}"


def departures_markdown(task: int, departures: Sequence[Departure], defaults: Mapping[str, object],
                        base: tuple[str, Sequence[dict], Mapping[str, str]] | None = None,
                        ablations: Sequence[tuple[str, Sequence[dict], Mapping[str, str]]] = ()) -> str:
    """The "Departures and their effect" section.

    departures: the task's ``Departure`` records; defaults: {flag: the project's default}.
    base: (name, rows, flags) of the run at the project's settings; ablations: the same for each
    ablation run. Without them every effect is "untested". The effect of a departure is read from the
    ablations that change only its flag: the study's contradicted claims counted there beside the base.
    """
    base_claims = claim_counts(task, base[1]) if base else {}
    study = study_claims(task, base[1]) if base else {}
    contradicted = [t for t, c in base_claims.items() if contradicts(c, study.get(t))]
    abl_claims = {name: claim_counts(task, rows) for name, rows, _ in ablations}
    changed = {name: changed_flags(base[2], flags, departures, defaults) for name, _, flags in ablations} \
        if base else {}
    # The --settings=study ablation of a base at the project's settings (a base already at the study's settings
    # has none: its ablations vary departures the study leaves open).
    study_name = None if base is None or base[2].get("settings") == "study" else next(
        (n for n, _, flags in ablations if flags.get("settings") == "study"), None)
    effects = departure_effects(task, departures, defaults, base, ablations)
    rows = [[d.what, d.study_text, f"`{d.flag}={_value(defaults.get(d.flag))}`",
             f"`--{d.flag}={_value(d.study)}`" if d.study is not None else "— (study gives no value)",
             effects[d.flag] or "untested"] for d in departures]
    lines = ["Every known place where the project departs from (or has to choose a reading of) the study's text. "
             "`--settings=study` sets every flag of the fourth column at once (explicit flags still win).", "",
             markdown_table(["departure", "study", "project default", "flag that restores the study",
                             "measured effect"], rows)]
    if base is None:
        lines += ["", "No ablation runs were given, so every effect is untested and no contradiction is labelled; "
                  "compare runs with `python experiments/compare_runs.py --task=N --base=DIR --ablation=name:DIR`."]
        return "\n".join(lines)
    lines += ["", f"Base run `{base[0]}`; ablations: " + (", ".join(
        f"`{n}` ({', '.join(f'--{f}={flags.get(f)}' for f in changed[n]) or 'no departure flag changed'})"
        for n, _, flags in ablations) or "none") + "."]
    grid = [k for k in ("data_sizes", "train_sizes", "n_blocks", "hidden", "model_sizes", "seeds", "max_epochs",
                        "patience", "models") if base[2].get(k) is not None
            and any(_grid_value(k, flags.get(k)) != _grid_value(k, base[2].get(k)) for _, _, flags in ablations)]
    if grid:
        lines.append(f"Caution: the ablations differ from the base in {', '.join(grid)} too, so their counts are "
                     "not directly comparable.")
    lines += ["", "### Contradictions of the study and what explains them", ""]
    if not contradicted:
        lines.append("The base run contradicts none of the study's counted claims.")
    else:
        body = [[t, _count(study[t]), _count(base_claims[t])]
                + [_count(abl_claims[n].get(t)) for n, _, _ in ablations]
                + [label_contradiction(t, study[t], abl_claims, changed, study_name,
                                       [d.flag for d in departures if d.study is None])] for t in contradicted]
        lines.append(markdown_table(["claim", "study (same conditions)", f"base `{base[0]}`"]
                                    + [f"`{n}`" for n, _, _ in ablations] + ["label"], body))
    broken = [t for t, c in base_claims.items() if contradicts(c, study.get(t)) is False
              and any(contradicts(claims.get(t), study[t]) for claims in abl_claims.values())]
    if broken:
        body = [[t, _count(study[t]), _count(base_claims[t])]
                + [_count(abl_claims[n].get(t)) for n, _, _ in ablations]
                + [label_broken(t, study[t], abl_claims, changed, study_name)] for t in broken]
        lines += ["", "### Claims the base run reproduces that an ablation contradicts", "",
                  markdown_table(["claim", "study (same conditions)", f"base `{base[0]}`"]
                                 + [f"`{n}`" for n, _, _ in ablations] + ["label"], body)]
    return "\n".join(lines)


def departure_effects(task: int, departures: Sequence[Departure], defaults: Mapping[str, object],
                      base: tuple[str, Sequence[dict], Mapping[str, str]] | None,
                      ablations: Sequence[tuple[str, Sequence[dict], Mapping[str, str]]]) -> dict[str, str | None]:
    """{flag: the measured effect of that departure, or None when no ablation changes its flag alone}.

    The effect is read from the ablations that change only that flag against ``base``: the counts of the
    study's claims that the base contradicts, base -> ablation.
    """
    if base is None:
        return {d.flag: None for d in departures}
    base_claims = claim_counts(task, base[1])
    study = study_claims(task, base[1])
    contradicted = [t for t, c in base_claims.items() if contradicts(c, study.get(t))]
    abl_claims = {name: claim_counts(task, rows) for name, rows, _ in ablations}
    changed = {name: changed_flags(base[2], flags, departures, defaults) for name, _, flags in ablations}

    def effect(flag: str) -> str | None:
        runs = [n for n in abl_claims if changed.get(n) == [flag]]
        if not runs:
            return None
        if not contradicted:
            return f"no contradicted claim to move (ablation {', '.join(runs)})"
        return "; ".join(f"{n}: " + ", ".join(f"{_short(t)} {_count(base_claims[t])} → {_count(abl_claims[n].get(t))}"
                                               for t in contradicted) for n in runs)

    return {d.flag: effect(d.flag) for d in departures}


def departure_index_markdown(task: int, departures: Sequence[Departure], defaults: Mapping[str, object],
                             sets: Sequence[tuple[str, tuple, Sequence[tuple]]]) -> str:
    """One table of every departure with its measured effect in each ablation set that measures it.

    sets: (set name, base run, ablation runs) per ablation set (``load_run`` triples), e.g. one folder of
    runs at one budget. A departure no set measures reads "untested".
    """
    by_set = [(name, departure_effects(task, departures, defaults, base, ablations), base)
              for name, base, ablations in sets]
    rows = []
    for d in departures:
        measured = [f"{name} (base `{base[0]}`): {effects[d.flag]}" for name, effects, base in by_set
                    if effects[d.flag] is not None]
        rows.append([d.what, f"`{d.flag}={_value(defaults.get(d.flag))}`",
                     f"`--{d.flag}={_value(d.study)}`" if d.study is not None else "— (study gives no value)",
                     "<br>".join(measured) or "untested"])
    return markdown_table(["departure", "project default", "flag that restores the study",
                           "measured effect (ablation set: claim counts base → ablation)"], rows)


def _grid_value(flag: str, text: str | None) -> str | None:
    """A grid flag's flags.txt text, with `--seeds=N` (N seeds, as older runs wrote it) as `0,...,N-1`."""
    if flag == "seeds" and text is not None and text.isdigit():
        return ",".join(str(i) for i in range(int(text)))
    return text


def _value(value) -> str:
    """An option value as flags.txt writes it (lists comma-joined)."""
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def load_run(name: str, run_dir: str) -> tuple[str, list[dict], dict]:
    """(name, rows, flags) of a run folder (results.csv and flags.txt)."""
    for file in ("results.csv", "flags.txt"):
        if not os.path.isfile(os.path.join(run_dir, file)):
            raise ValueError(f"run {name}: expected {file} in {run_dir}")
    rows = [normalize_row(r) for r in load_results(os.path.join(run_dir, "results.csv"))]
    return name, rows, read_flags(run_dir)


TASK_MODULES = {1: "symjax.tasks.set_function_task", 2: "symjax.tasks.graph_task", 3: "symjax.tasks.three_body_task"}
_BEST = {1: ("test_loss", min), 2: ("test_acc", max), 3: ("test_loss", min)}


def best_means(task: int, rows: Sequence[dict]) -> dict[str, tuple[float, tuple]]:
    """{model: (best mean over seeds of the task's headline metric, its (setting, size))} of a run."""
    from .aggregate import aggregate  # noqa: PLC0415
    from .rows import size_key  # noqa: PLC0415

    metric, pick = _BEST[int(task)]
    best = {}
    for agg in aggregate([r for r in rows if r["task"] == int(task)]):
        value = agg.get(f"{metric}_mean")
        if value is None or not math.isfinite(float(value)):
            continue
        model = agg["model"]
        if model not in best or pick(float(value), best[model][0]) != best[model][0]:
            best[model] = (float(value), (agg["setting"], agg[size_key(task)]))
    return best


def best_markdown(task: int, runs: Sequence[tuple[str, Sequence[dict], Mapping[str, str]]]) -> str:
    """Best mean (over seeds) test loss (accuracy for task 2) of each model in each run, with its condition."""
    metric, pick = _BEST[int(task)]
    bests = [(name, best_means(task, rows)) for name, rows, _ in runs]
    models = [m for m in ("vanilla", "vanilla_aug", "vanilla_flat", "vanilla_flat_aug", "shared", "shared_aug",
                          "shared_sparse") if any(m in b for _, b in bests)]
    body = [[f"`{name}`"] + [f"{b[m][0]:.4g} ({b[m][1][0]}, {b[m][1][1]})" if m in b else "—" for m in models]
            for name, b in bests]
    word = "lowest mean test loss" if pick is min else "highest mean accuracy"
    return f"{word.capitalize()} of each model over the run's conditions (setting, size):\n\n" + markdown_table(
        ["run"] + models, body)


def compare_markdown(task: int, base: tuple[str, Sequence[dict], Mapping[str, str]],
                     ablations: Sequence[tuple[str, Sequence[dict], Mapping[str, str]]]) -> str:
    """The "Departures and their effect" section of ``task`` from a base run and its ablations (``load_run``)."""
    import importlib  # noqa: PLC0415

    module = importlib.import_module(TASK_MODULES[int(task)])
    defaults = {d.flag: getattr(module.Options(), d.flag) for d in module.DEPARTURES}
    return "\n\n".join([departures_markdown(task, module.DEPARTURES, defaults, base, ablations),
                         best_markdown(task, [base, *ablations])])


def index_markdown(task: int, sets: Sequence[tuple[str, tuple, Sequence[tuple]]]) -> str:
    """``departure_index_markdown`` for ``task``'s departures and options (see compare_markdown)."""
    import importlib  # noqa: PLC0415

    module = importlib.import_module(TASK_MODULES[int(task)])
    defaults = {d.flag: getattr(module.Options(), d.flag) for d in module.DEPARTURES}
    return departure_index_markdown(task, module.DEPARTURES, defaults, sets)


def load_ablation_set(name: str, folder: str, base: str) -> tuple[str, tuple, list[tuple]]:
    """(name, base run, ablation runs) of a folder of runs: ``folder/base`` and every other subfolder holding a
    results.csv, in name order."""
    if not os.path.isdir(os.path.join(folder, base)):
        raise ValueError(f"ablation set {name}: expected the base run folder {os.path.join(folder, base)}")
    ablations = [load_run(sub, os.path.join(folder, sub)) for sub in sorted(os.listdir(folder))
                 if sub != base and os.path.isfile(os.path.join(folder, sub, "results.csv"))]
    return name, load_run(base, os.path.join(folder, base)), ablations

"""Claims checked on a run's data, with counts, beside what the thesis says.

Each claim is a dict::

    {"task": 1, "text": "...", "holds": 12, "total": 15, "unit": "conditions",
     "detail": "...", "thesis_made": True, "thesis_note": "...",
     "thesis_count": "X of Y"}

* ``holds`` / ``total`` are counted on the run: per condition on the
  aggregated means (:func:`symjax.report.aggregate.aggregate`), or per lane
  for the symmetry-error thresholds (diverged lanes excluded).
* ``thesis_made`` says whether the thesis's text makes the claim and
  ``thesis_note`` what it says and where;
  ``thesis_count`` is the same count computed on the thesis's own table where
  that table has the inputs (``None`` otherwise).
* A claim is emitted only when its inputs exist in the run's rows.
* Comparisons are strict: a tie (e.g. two exact zeros) does not count as lower.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

from .aggregate import aggregate, index_aggregates
from .reference import reference_rows, reference_table_name
from .rows import is_diverged, normalize_row, setting_rank, size_key

SHARED_FAMILY = ("shared", "shared_aug", "shared_sparse")
VANILLA_FAMILY = ("vanilla", "vanilla_aug")
#: Symmetry errors below this count as "exact up to float round-off".
EXACT_SYM = 1e-9
#: Symmetry errors above this count as a clear violation.
VIOLATION_SYM = 1e-4

_METRIC_LABEL = {
    "test_loss": "test loss",
    "test_acc": "accuracy",
    "sym_error": "symmetry error",
    "rollout_mse": "rollout MSE",
}


# ----------------------------------------------------------------- helpers
def reference_aggregates(task: int) -> list[dict]:
    """The thesis's rows shaped like aggregates (``<metric>_mean`` fields, n = 1)."""
    out = []
    for row in reference_rows(task):
        record = {k: row[k] for k in ("task", "setting", size_key(task), "model")}
        for metric in ("test_loss", "test_acc", "sym_error", "params"):
            if metric in row:
                record[f"{metric}_mean"] = float(row[metric])
        record["n"] = 1
        out.append(record)
    return out


def _conditions(index: dict) -> list[tuple]:
    """Sorted (setting, size) conditions of an aggregate index."""
    return sorted({(s, d) for s, d, _ in index}, key=lambda c: (setting_rank(c[0]), c[1]))


def _mean(index: dict, cond: tuple, model: str, metric: str) -> float | None:
    """Mean of ``metric`` for ``model`` in ``cond``; ``None`` if absent."""
    agg = index.get((cond[0], cond[1], model))
    if agg is None or not agg.get("n"):
        return None
    return agg.get(f"{metric}_mean")


def _count_pairs(index: dict, a: str, b: str, metric: str, better: str, keep: Callable) -> tuple[int, int]:
    """Count conditions where model ``a`` beats ``b`` on ``metric`` (strictly)."""
    holds = total = 0
    for cond in _conditions(index):
        if not keep(cond):
            continue
        va, vb = _mean(index, cond, a, metric), _mean(index, cond, b, metric)
        if va is None or vb is None:
            continue
        total += 1
        holds += (va < vb) if better == "lower" else (va > vb)
    return holds, total


def _claim(task: int, text: str, holds: int, total: int, unit: str, thesis: tuple[bool, str],
           thesis_count: tuple[int, int] | None = None, detail: str = "") -> dict:
    """Assemble one claim record; ``thesis`` is ``(made in the thesis's text?, note)``."""
    count = None
    if thesis_count is not None and thesis_count[1] > 0:
        count = f"{thesis_count[0]} of {thesis_count[1]}"
    return {"task": task, "text": text, "holds": holds, "total": total, "unit": unit, "detail": detail,
            "thesis_made": bool(thesis[0]), "thesis_note": thesis[1], "thesis_count": count}


def _pair_claim(task: int, run: dict, ref: dict | None, a: str, b: str, metric: str, better: str,
                scope: str, keep: Callable, thesis: tuple[bool, str]) -> dict | None:
    """Claim "``a`` has <better> mean <metric> than ``b`` <scope>", or ``None`` without inputs."""
    holds, total = _count_pairs(run, a, b, metric, better, keep)
    if total == 0:
        return None
    ref_count = _count_pairs(ref, a, b, metric, better, keep) if ref is not None else None
    text = f"{a} has {better} mean {_METRIC_LABEL[metric]} than {b}{scope}"
    return _claim(task, text, holds, total, "conditions", thesis, ref_count)


def _lanes(rows: Sequence[dict], models: Sequence[str], keep: Callable) -> list[dict]:
    """Non-diverged lanes of ``models`` whose (setting, size) passes ``keep`` and that have a sym error."""
    out = []
    for row in rows:
        if row["model"] not in models or is_diverged(row) or row.get("sym_error") is None:
            continue
        if keep((row["setting"], row[size_key(row["task"])])) and math.isfinite(row["sym_error"]):
            out.append(row)
    return out


def _sym_threshold_claim(task: int, rows: Sequence[dict], ref: dict | None, models: Sequence[str],
                         below: bool, threshold: float, scope: str, keep: Callable, thesis: tuple[bool, str]) -> dict | None:
    """Per-lane claim: symmetry error below (or above) ``threshold`` for ``models``."""
    lanes = _lanes(rows, models, keep)
    if not lanes:
        return None
    ok = [r for r in lanes if (r["sym_error"] < threshold if below else r["sym_error"] > threshold)]
    present = [m for m in models if any(r["model"] == m for r in lanes)]
    extremes = []
    for model in present:
        values = [r["sym_error"] for r in lanes if r["model"] == model]
        value = max(values) if below else min(values)
        extremes.append(f"{model} {'max' if below else 'min'} {value:.2e}")
    ref_count = None
    if ref is not None:
        cells = [_mean(ref, c, m, "sym_error") for c in _conditions(ref) if keep(c) for m in present]
        cells = [v for v in cells if v is not None]
        ref_count = (sum((v < threshold) if below else (v > threshold) for v in cells), len(cells))
    word = "below" if below else "above"
    text = f"{' / '.join(present)} symmetry error {word} {_short_sci(threshold)}{scope}"
    detail = "; ".join(extremes)
    if ref_count is not None:
        detail += "; the thesis count is per table cell"
    return _claim(task, text, len(ok), len(lanes), "lanes", thesis, ref_count, detail=detail)


def _params_claim(task: int, run: dict, ref: dict | None, setting_name: str, thesis: tuple[bool, str]) -> dict | None:
    """Parameter efficiency: shared / vanilla parameter ratio per setting."""
    def ratios(index):
        out = {}
        for setting, size in _conditions(index):
            s = _mean(index, (setting, size), "shared", "params")
            v = _mean(index, (setting, size), "vanilla", "params")
            if s is not None and v:
                out[setting] = s / v
        return out

    run_ratios = ratios(run)
    if not run_ratios:
        return None
    ref_ratios = ratios(ref) if ref is not None else {}
    holds = sum(r < 1 for r in run_ratios.values())
    detail = ", ".join(f"{setting_name}={s}: {r:.3g}" for s, r in sorted(run_ratios.items(), key=lambda kv: setting_rank(kv[0])))
    ref_count = (sum(r < 1 for r in ref_ratios.values()), len(ref_ratios)) if ref_ratios else None
    text = "shared has fewer parameters than vanilla (ratio shared/vanilla < 1)"
    return _claim(task, text, holds, len(run_ratios), f"{setting_name} settings", thesis, ref_count,
                  detail=f"ratios {detail}")


def _short_sci(x: float) -> str:
    """``1e-09`` → ``1e-9``."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _all(_cond) -> bool:
    return True


# ------------------------------------------------------------------ task 1
def _with_significance(claim: dict | None, rows: Sequence[dict], keep: Callable) -> dict | None:
    """Adds to a task-1 "shared lower than vanilla" claim: in how many of its conditions the seed-paired
    difference is significant (95% paired t interval below 0, ``symjax.report.significance``)."""
    from .significance import paired_differences  # noqa: PLC0415  (significance imports tables, not summary)

    if claim is None:
        return None
    try:
        results = [r for r in paired_differences(rows, ("shared", "vanilla"), "test_loss", "train_size")
                   if keep((r["setting"], r["train_size"]))]
    except ValueError as error:  # fewer than 2 seeds, unpaired seeds
        return dict(claim, detail=f"significance not computed: {error}")
    lower = sum(r["verdict"] == "shared lower" for r in results)
    higher = sum(r["verdict"] == "vanilla lower" for r in results)
    return dict(claim, detail=f"significantly lower (95% paired t over seeds) in {lower} of {len(results)}; "
                              f"significantly higher in {higher}")


def _task1_claims(rows: Sequence[dict], run: dict) -> list[dict | None]:
    ref = index_aggregates(reference_aggregates(1), 1)
    big = lambda c: c[0] >= 5
    small = lambda c: c[0] < 5
    multi = lambda c: c[0] >= 2
    claims = [
        _with_significance(_pair_claim(
            1, run, ref, "shared", "vanilla", "test_loss", "lower", " for n_blocks ≥ 5", big,
            (True, "shared has lower test loss in most conditions for n_block = 5, 10, 20 (Ch. 5, Task 1)")), rows, big),
        _with_significance(_pair_claim(
            1, run, ref, "shared", "vanilla", "test_loss", "lower", " for n_blocks < 5", small,
            (False, "the thesis reports no shared advantage at n_block = 1 (Ch. 5, Discussion Q1)")), rows, small),
        _sym_threshold_claim(1, rows, ref, ("shared",), True, EXACT_SYM, "", _all,
                             (True, "shared keeps the symmetry error near 0 in every condition (Ch. 5, Task 1)")),
        _sym_threshold_claim(1, rows, ref, ("vanilla",), False, VIOLATION_SYM, " for n_blocks ≥ 2", multi,
                             (True, "vanilla's symmetry error grows quickly with n_block (Ch. 5, Task 1)")),
        _pair_claim(1, run, None, "vanilla_aug", "vanilla", "sym_error", "lower", " for n_blocks ≥ 2", multi,
                    (False, "Table 5 has no augmented models")),
        _params_claim(1, run, ref, "n_blocks",
                      (True, "shared's count stays constant while vanilla's grows with n_block (Ch. 5, Task 1; Figure 5)")),
    ]
    claims.append(_constant_shared_params(run, ref))
    return claims


def _shared_params_by_setting(index: dict) -> dict:
    """Task 1: shared's mean parameter count per n_blocks (first size seen)."""
    counts = {}
    for (setting, _size, model), agg in sorted(index.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if model == "shared" and agg.get("n") and agg.get("params_mean") is not None:
            counts.setdefault(setting, agg["params_mean"])
    return counts


def _constant_shared_params(run: dict, ref: dict) -> dict | None:
    """Task 1: shared's parameter count does not depend on n_blocks.

    Counts the n_blocks settings whose count equals the one at the smallest n_blocks.
    """
    def count(index):
        counts = _shared_params_by_setting(index)
        if not counts:
            return 0, 0
        first = counts[min(counts)]
        return sum(v == first for v in counts.values()), len(counts)

    counts = _shared_params_by_setting(run)
    if len(counts) < 2:
        return None
    holds, total = count(run)
    first = counts[min(counts)]
    return _claim(1, f"shared has the same parameter count as at n_blocks={min(counts)} ({first:.0f})", holds, total,
                  "n_blocks settings", (True, "shared has the same parameter count in every condition (Ch. 5, Task 1)"), count(ref))


# ------------------------------------------------------------------ task 2
def _task2_claims(rows: Sequence[dict], run: dict) -> list[dict | None]:
    ref = index_aggregates(reference_aggregates(2), 2)
    return [
        _pair_claim(2, run, ref, "shared", "vanilla", "test_acc", "higher", "", _all,
                    (True, "shared beats vanilla in accuracy for every hidden setting and data size (Ch. 5, Task 2)")),
        _pair_claim(2, run, ref, "shared", "vanilla_aug", "test_acc", "higher", "", _all,
                    (True, "shared without augmentation is consistently more accurate than vanilla + aug (Discussion Q2)")),
        _pair_claim(2, run, ref, "vanilla_aug", "vanilla", "test_acc", "higher", "", _all,
                    (True, "augmentation improves vanilla's accuracy (Ch. 5, Task 2; Discussion Q2)")),
        _pair_claim(2, run, ref, "shared_aug", "shared", "test_acc", "higher", "", _all,
                    (False, "the thesis says the opposite: shared + aug gives no consistent gain over shared (Discussion Q2)")),
        _pair_claim(2, run, None, "shared_sparse", "vanilla", "test_acc", "higher", "", _all,
                    (False, "no shared_sparse model")),
        _pair_claim(2, run, ref, "shared", "vanilla", "test_loss", "lower", "", _all,
                    (False, "not in the text, but Table 6 shows it")),
        _sym_threshold_claim(2, rows, ref, SHARED_FAMILY, True, EXACT_SYM, "", _all,
                             (True, "shared keeps the symmetry error at float round-off level (Discussion Q2)")),
        _pair_claim(2, run, ref, "vanilla_aug", "vanilla", "sym_error", "lower", "", _all,
                    (True, "augmentation cuts vanilla's symmetry error by orders of magnitude (Discussion Q2)")),
        _sym_threshold_claim(2, rows, ref, ("vanilla", "vanilla_aug"), False, VIOLATION_SYM, "", _all,
                             (True, "augmentation does not reach exact equivariance (Ch. 5, Figure 7 caption)")),
    ]


# ------------------------------------------------------------------ task 3
def _family_best(index: dict, cond: tuple, family: Sequence[str]) -> float | None:
    """Lowest mean test loss of a model family in a condition (``None`` if none present)."""
    values = [_mean(index, cond, m, "test_loss") for m in family]
    values = [v for v in values if v is not None]
    return min(values) if values else None


def _family_claim(run: dict, ref: dict) -> dict | None:
    """Task 3: the best vanilla-family model beats the best shared-family model."""
    def count(index):
        holds = total = 0
        for cond in _conditions(index):
            v = _family_best(index, cond, VANILLA_FAMILY)
            s = _family_best(index, cond, ("shared", "shared_aug"))
            if v is not None and s is not None:
                total += 1
                holds += v < s
        return holds, total

    holds, total = count(run)
    if total == 0:
        return None
    return _claim(3, "the best vanilla-family model (vanilla, vanilla_aug) has lower mean test loss than the best "
                  "shared-family model (shared, shared_aug)", holds, total, "conditions",
                  (True, "the lowest test loss is from the vanilla family in every condition (Discussion Q3)"), count(ref))


def _decreasing_claim(run: dict, ref: dict) -> dict | None:
    """Task 3: test loss decreases with data size for every (model size, model) series."""
    def count(index):
        series = {}
        for (setting, size, model), agg in index.items():
            if agg.get("n") and agg.get("test_loss_mean") is not None:
                series.setdefault((setting, model), []).append((size, agg["test_loss_mean"]))
        holds = total = 0
        for points in series.values():
            if len(points) < 2:
                continue
            losses = [loss for _, loss in sorted(points)]
            total += 1
            holds += all(b < a for a, b in zip(losses, losses[1:]))
        return holds, total

    holds, total = count(run)
    if total == 0:
        return None
    return _claim(3, "mean test loss falls strictly with every increase in data size", holds, total,
                  "(model size, model) series", (True, "test loss decreases as data size grows for every model size (Figure 8 caption)"),
                  count(ref))


def _task3_claims(rows: Sequence[dict], run: dict) -> list[dict | None]:
    ref = index_aggregates(reference_aggregates(3), 3)
    claims = [
        _pair_claim(3, run, ref, "vanilla", "shared", "test_loss", "lower", "", _all,
                    (True, "the vanilla family has the lower test loss in every model size and data size (Ch. 5, Task 3)")),
        _family_claim(run, ref),
        _decreasing_claim(run, ref),
        _sym_threshold_claim(3, rows, ref, ("shared", "shared_aug"), True, EXACT_SYM, "", _all,
                             (True, "shared keeps the symmetry error at float round-off level in every condition (Ch. 5, Task 3)")),
        _pair_claim(3, run, ref, "vanilla_aug", "vanilla", "sym_error", "lower", "", _all,
                    (True, "augmentation greatly reduces vanilla's symmetry violation (Discussion Q3)")),
        _params_claim(3, run, ref, "model size",
                      (True, "shared preserves the symmetry with fewer parameters at every model size (Ch. 5, Task 3)")),
    ]
    if any(agg.get("rollout_mse_mean") is not None for agg in run.values()):
        claims.append(_pair_claim(3, run, None, "shared", "vanilla", "rollout_mse", "lower", "", _all,
                                  (False, "not made numerically (Figure 9 shows rollouts qualitatively)")))
    return claims


# -------------------------------------------------------------------- API
def check_claims(task: int, rows: Iterable[dict]) -> list[dict]:
    """Claims for ``task`` checked on the run's per-lane ``rows`` (see the module docstring)."""
    rows = [normalize_row(row) for row in rows]
    rows = [row for row in rows if row["task"] == int(task)]
    if not rows:
        return []
    run = index_aggregates(aggregate(rows), task)
    builders = {1: _task1_claims, 2: _task2_claims, 3: _task3_claims}
    return [claim for claim in builders[int(task)](rows, run) if claim is not None]


def claim_line(claim: dict) -> str:
    """One markdown bullet for a claim."""
    line = f"- {claim['text']}: **holds in {claim['holds']} of {claim['total']} {claim['unit']}**."
    if claim["detail"]:
        line += f" ({claim['detail']}.)"
    line += f" Made in the thesis: {'yes' if claim['thesis_made'] else 'no'} — {claim['thesis_note']}."
    if claim["thesis_count"]:
        line += f" In the thesis's {reference_table_name(claim['task'])}: {claim['thesis_count']}."
    return line


def summary_markdown(task: int, rows: Iterable[dict]) -> str:
    """The summary section: one bullet per claim whose inputs exist."""
    claims = check_claims(task, rows)
    if not claims:
        return "No claims could be checked: the run lacks the models or metrics they need."
    return "\n".join(claim_line(claim) for claim in claims)

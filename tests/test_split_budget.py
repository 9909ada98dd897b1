"""Labels of Task 3's contradictions by test split and budget (symjax.report.split_budget), on runs built from
the study's own Table 7: a run equal to the table agrees with every claim; swapping vanilla's and shared's
test losses contradicts "vanilla has lower mean test loss than shared" in every condition."""

from __future__ import annotations

import pytest

from symjax.report import split_budget
from symjax.report.reference import reference_rows
from symjax.report.rows import normalize_row

CLAIM = "vanilla has lower mean test loss than shared"
BUDGET_CONDITIONS = {(s, n) for s in ("small", "large") for n in (20000, 40000)}


def _table(swap: bool = False, conditions=None) -> list[dict]:
    rows = [normalize_row(dict(r, seed=0, diverged=False, epochs=400, best_epoch=100)) for r in reference_rows(3)]
    if conditions is not None:
        rows = [r for r in rows if (r["setting"], r["data_size"]) in conditions]
    if swap:
        loss = {(r["setting"], r["data_size"], r["model"]): r["test_loss"] for r in rows}
        for r in rows:
            other = {"vanilla": "shared", "shared": "vanilla"}.get(r["model"])
            if other:
                r["test_loss"] = loss[(r["setting"], r["data_size"], other)]
    return rows


def _label(study, split, budget) -> str:
    text = split_budget.labels_markdown(3, ("study", study, {}), ("pool", split, {}) if split else None,
                                        ("converged", budget, {}) if budget else None)
    line = next(line for line in text.splitlines() if line.startswith(f"| {CLAIM} |"))
    return line.rstrip(" |").rsplit("| ", 1)[1]


@pytest.mark.parametrize("split_swapped, budget_swapped, want", [
    (False, True, "explained by the test split"),
    (True, False, "explained by the budget"),
    (True, True, "persists under both"),
])
def test_labels(split_swapped, budget_swapped, want):
    study = _table(swap=True)
    split = _table(swap=split_swapped)
    budget = _table(swap=budget_swapped, conditions=BUDGET_CONDITIONS)
    assert _label(study, split, budget) == want


def test_missing_run_is_untested_and_agreeing_run_has_no_row():
    assert _label(_table(swap=True), _table(swap=True), None) == "untested (no budget run)"
    assert _label(_table(swap=True), _table(), None) == "explained by the test split"
    assert "contradicts none" in split_budget.labels_markdown(3, ("study", _table(), {}), None, None)


def test_order_table_counts_flips_and_lanes_at_the_cap():
    short = _table(swap=True, conditions=BUDGET_CONDITIONS)  # every lane trained 400 epochs: the pool run's cap
    text = split_budget.order_markdown(3, ("pool", short, {"max_epochs": "400"}),
                                       ("converged", _table(conditions=BUDGET_CONDITIONS), {"max_epochs": "1500"}))
    assert "changes in 4 of 4 conditions" in text
    assert "| 1/1, 1/1 | 0/1, 0/1 |" in text


def test_ratio_to_the_table_is_one_for_the_table_itself():
    text = split_budget.ratio_markdown(3, ("table", _table(), {}))
    assert "Ratios 1-1 (median 1)." in text

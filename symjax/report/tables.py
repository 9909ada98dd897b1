"""Markdown tables in the layouts of the thesis's Tables 5, 6 and 7.

Each table shows the run's mean ± std over seeds (see
:mod:`symjax.report.aggregate` for the conventions) with the thesis's number
in the adjacent column, printed exactly as the thesis prints it ("—" where
the thesis reports nothing for that cell).

Number formats of the run's values: losses and accuracies with 3 decimals
(losses below 0.001 with 3 significant digits), symmetry errors and rollout
metrics in scientific notation with 2 decimals, parameter counts as integers.
"""

from __future__ import annotations

import statistics
from typing import Callable, Iterable, Sequence

from .aggregate import index_aggregates
from .reference import reference_index, reference_table_name
from .rows import is_diverged, model_rank, setting_rank, size_key

DASH = "—"
ROLLOUT_METRICS = ("rollout_mse", "energy_drift", "momentum_drift")
#: Models the thesis's Table 5 reports (the others have no thesis column).
TABLE5_MODELS = ("vanilla", "shared")


# ---------------------------------------------------------------- formatting
def fmt_loss(x: float | None) -> str:
    """Loss: 3 decimals, or 3 significant digits when ``0 < |x| < 0.001``."""
    if x is None:
        return DASH
    if x != 0 and abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.3f}"


def fmt_acc(x: float | None) -> str:
    """Accuracy: 3 decimals."""
    return DASH if x is None else f"{x:.3f}"


def fmt_sci(x: float | None) -> str:
    """Symmetry error (and rollout metrics): scientific notation, 2 decimals."""
    return DASH if x is None else f"{x:.2e}"


def fmt_params(x: float | None) -> str:
    """Parameter count: integer."""
    return DASH if x is None else f"{int(round(x))}"


def fmt_mean_std(agg: dict | None, metric: str, fmt: Callable[[float | None], str]) -> str:
    """``"mean ± std"`` of ``metric`` in an aggregate record, ``—`` if missing.

    Parameter counts with zero spread print as a plain integer.
    """
    if agg is None or agg.get(f"{metric}_mean") is None:
        return DASH
    mean, std = agg[f"{metric}_mean"], agg[f"{metric}_std"]
    if metric == "params" and std == 0:
        return fmt(mean)
    return f"{fmt(mean)} ± {fmt(std)}"


def thesis_cell(ref: dict | None, field: str) -> str:
    """The thesis's printed value for a field, ``—`` when not reported."""
    if ref is None or ref.get(field) is None:
        return DASH
    return ref[field]


# ------------------------------------------------------------------ markdown
def markdown_table(header: Sequence[str], body: Iterable[Sequence[str]]) -> str:
    """Render a GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in body:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def _models(aggregates: Sequence[dict]) -> list[str]:
    """Models present in the run, in the study's order."""
    return sorted({agg["model"] for agg in aggregates}, key=model_rank)


def _caption(task: int) -> str:
    """One-line explanation placed above each table."""
    return (
        f"Layout of the thesis's {reference_table_name(task)}. Run values: mean ± sample std over "
        "seeds (ddof=1; std 0 for a single seed), diverged lanes excluded and counted in "
        "`div`; `n` = seeds kept. Columns marked *(thesis)* are the thesis's numbers as printed; "
        f"{DASH} = not reported."
    )


# ------------------------------------------------------------------- task 1
_TASK1_METRICS = (("loss", "test_loss", fmt_loss), ("sym", "sym_error", fmt_sci), ("params", "params", fmt_params))


def _task1_columns(models: Sequence[str]) -> list[tuple[str, str, str, bool]]:
    """Columns ``(header, model, field, is_thesis)`` for the Table 5 layout."""
    columns = []
    for label, field, _ in _TASK1_METRICS:
        shown = list(models) + [m for m in TABLE5_MODELS if m not in models]
        for model in sorted(shown, key=model_rank):
            if model in models:
                columns.append((f"{model} {label}", model, field, False))
            if model in TABLE5_MODELS:
                columns.append((f"{model} {label} *(thesis)*", model, field, True))
    return columns


def _count_cell(aggs: Sequence[dict], key: str) -> str:
    """Lane counts of one row's models: a single number if all agree, else joined by '/'."""
    counts = [agg[key] for agg in aggs]
    if key == "n_diverged":
        return str(sum(counts))
    return str(counts[0]) if len(set(counts)) == 1 else "/".join(str(c) for c in counts)


def task1_table(aggregates: Sequence[dict]) -> str:
    """Table 5 layout: rows (n_blocks, train size); loss, sym error, params per model."""
    runs = index_aggregates(aggregates, 1)
    thesis = reference_index(1, as_text=True)
    models = _models(aggregates)
    columns = _task1_columns(models)
    formats = {field: fmt for _, field, fmt in _TASK1_METRICS}
    conditions = sorted({(a["setting"], a["train_size"]) for a in aggregates}, key=lambda c: (setting_rank(c[0]), c[1]))
    header = ["n_blocks", "train size"] + [c[0] for c in columns] + ["n", "div"]
    body = []
    for setting, train_size in conditions:
        cells = [str(setting), str(train_size)]
        for _, model, field, is_thesis in columns:
            key = (setting, train_size, model)
            if is_thesis:
                cells.append(thesis_cell(thesis.get(key), field))
            else:
                cells.append(fmt_mean_std(runs.get(key), field, formats[field]))
        present = [runs[(setting, train_size, m)] for m in models if (setting, train_size, m) in runs]
        cells += [_count_cell(present, "n"), _count_cell(present, "n_diverged")]
        body.append(cells)
    return _caption(1) + "\n\n" + markdown_table(header, body)


# --------------------------------------------------------------- tasks 2, 3
def _long_table(task: int, aggregates: Sequence[dict], metrics: Sequence[tuple]) -> str:
    """Tables 6 and 7 layout: one row per (setting, data size, model).

    ``metrics`` holds ``(label, field, formatter, has_thesis_column)``.
    """
    thesis = reference_index(task, as_text=True)
    size = size_key(task)
    header = ["hidden setting" if task == 2 else "model size", "data size", "model"]
    for label, _, _, with_thesis in metrics:
        header.append(label)
        if with_thesis:
            header.append(f"{label} *(thesis)*")
    header += ["n", "div"]
    body = []
    for agg in aggregates:
        key = (agg["setting"], agg[size], agg["model"])
        ref = thesis.get(key)
        cells = [str(agg["setting"]), str(agg[size]), agg["model"]]
        for _, field, fmt, with_thesis in metrics:
            cells.append(fmt_mean_std(agg, field, fmt))
            if with_thesis:
                cells.append(thesis_cell(ref, field))
        cells += [str(agg["n"]), str(agg["n_diverged"])]
        body.append(cells)
    return _caption(task) + "\n\n" + markdown_table(header, body)


def task2_table(aggregates: Sequence[dict]) -> str:
    """Table 6 layout: loss, accuracy, symmetry error (+ the run's parameter count)."""
    metrics = [
        ("loss", "test_loss", fmt_loss, True),
        ("accuracy", "test_acc", fmt_acc, True),
        ("sym error", "sym_error", fmt_sci, True),
        ("params", "params", fmt_params, False),
    ]
    return _long_table(2, aggregates, metrics)


def task3_table(aggregates: Sequence[dict]) -> str:
    """Table 7 layout: test loss, symmetry error, parameters (+ rollout columns if present)."""
    metrics = [
        ("test loss", "test_loss", fmt_loss, True),
        ("sym error", "sym_error", fmt_sci, True),
        ("params", "params", fmt_params, True),
    ]
    for field in ROLLOUT_METRICS:
        if any(agg.get(f"{field}_mean") is not None for agg in aggregates):
            metrics.append((field.replace("_", " "), field, fmt_sci, False))
    return _long_table(3, aggregates, metrics)


def rollout_median_table(rows: Sequence[dict]) -> str:
    """Medians of the rollout metrics per (model size, variant) over all its non-diverged lanes.

    The rollout metrics are heavy-tailed (one runaway rollout dominates a mean), so
    the median over every data size and seed is the robust summary. Rows are
    normalised result rows of task 3; returns "" when none has rollout metrics.
    """
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        if is_diverged(row) or row.get("rollout_mse") is None:
            continue
        cells.setdefault((row["setting"], row["model"]), []).append(row)
    if not cells:
        return ""
    lines = ["| model size | variant | lanes | " + " | ".join(f"median {m.replace('_', ' ')}" for m in ROLLOUT_METRICS)
             + " |", "|---|---|---|" + "---|" * len(ROLLOUT_METRICS)]
    for setting, model in sorted(cells, key=lambda k: (setting_rank(k[0]), model_rank(k[1]))):
        group = cells[setting, model]
        medians = [fmt_sci(float(statistics.median(r[m] for r in group))) for m in ROLLOUT_METRICS]
        lines.append(f"| {setting} | {model} | {len(group)} | " + " | ".join(medians) + " |")
    return "\n".join(lines)


def make_table(task: int, aggregates: Sequence[dict]) -> str:
    """The markdown table of ``task`` (1, 2 or 3) from its aggregates."""
    builders = {1: task1_table, 2: task2_table, 3: task3_table}
    return builders[int(task)](list(aggregates))

"""Mean ± standard deviation over seeds, per experimental condition.

Conventions (used everywhere in the reports):

* A lane is *diverged* when its ``diverged`` flag is set or its test loss is not
  finite (:func:`symjax.report.rows.is_diverged`).  Diverged lanes are left out
  of every mean and standard deviation and counted in ``n_diverged``.
* ``n`` is the number of non-diverged lanes (seeds) in the group.
* The standard deviation is the sample standard deviation over seeds
  (``ddof=1``) when at least two values exist, and ``0.0`` for a single value.
* A metric that is empty in every kept lane (``test_acc`` for regression, the
  rollout columns outside task 3) gets ``None`` for mean and std.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from .rows import METRICS, is_diverged, model_rank, normalize_row, setting_rank, size_key


def default_keys(task: int) -> tuple[str, ...]:
    """Grouping keys of a task: ``task, setting, <size column>, model``."""
    return ("task", "setting", size_key(task), "model")


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof=1; 0.0 for one value; ``None`` for none)."""
    n = len(values)
    if n == 0:
        return None, None
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var)


def _finite_values(rows: Iterable[dict], metric: str) -> list[float]:
    """The finite, non-empty values of ``metric`` in ``rows``."""
    out = []
    for row in rows:
        value = row.get(metric)
        if value is not None and math.isfinite(float(value)):
            out.append(float(value))
    return out


def _sort_key(group: tuple, keys: Sequence[str]) -> tuple:
    """Order groups by task, setting, size and model in the study's order."""
    parts = []
    for key, value in zip(keys, group):
        if key == "model":
            parts.append(model_rank(value))
        elif key == "setting":
            parts.append(setting_rank(value))
        else:
            parts.append((0, value) if value is not None else (1, 0))
    return tuple(parts)


def group_rows(rows: Iterable[dict], keys: Sequence[str]) -> dict[tuple, list[dict]]:
    """Group normalised rows by the values of ``keys`` (insertion order)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        group = tuple(row.get(key) for key in keys)
        groups.setdefault(group, []).append(row)
    return groups


def aggregate(rows: Iterable[dict], keys: Sequence[str] | None = None) -> list[dict]:
    """Aggregate per-lane rows into one dict per group.

    ``keys`` defaults to ``task, setting, train_size|data_size, model`` (taken
    from the first row's task).  Each output dict holds the key values, ``n``
    (kept lanes), ``n_diverged``, ``n_lanes`` (all lanes) and, for every metric
    in :data:`symjax.report.rows.METRICS` present in the rows,
    ``<metric>_mean`` and ``<metric>_std`` (see the module docstring for the
    conventions).  Groups are sorted in the study's order.
    """
    rows = [normalize_row(row) for row in rows]
    if not rows:
        return []
    if keys is None:
        keys = default_keys(rows[0]["task"])
    keys = tuple(keys)
    present = [metric for metric in METRICS if any(metric in row for row in rows)]
    groups = group_rows(rows, keys)
    out = []
    for group in sorted(groups, key=lambda g: _sort_key(g, keys)):
        lanes = groups[group]
        kept = [row for row in lanes if not is_diverged(row)]
        record = dict(zip(keys, group))
        record["n"] = len(kept)
        record["n_diverged"] = len(lanes) - len(kept)
        record["n_lanes"] = len(lanes)
        for metric in present:
            mean, std = mean_std(_finite_values(kept, metric))
            record[f"{metric}_mean"] = mean
            record[f"{metric}_std"] = std
        out.append(record)
    return out


def index_aggregates(aggregates: Iterable[dict], task: int) -> dict[tuple, dict]:
    """Map ``(setting, size, model)`` to the aggregate record."""
    size = size_key(task)
    return {(agg["setting"], agg[size], agg["model"]): agg for agg in aggregates}

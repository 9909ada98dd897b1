"""Reading and normalising the per-lane rows of an experiment's ``results.csv``.

Every experiment script writes one row per training lane with the columns
``task, model, setting, train_size, seed, test_loss, test_acc, sym_error,
params, epochs, best_epoch, diverged, wall_s`` and, depending on the task,
``data_size`` (tasks 2 and 3) and the rollout columns ``rollout_mse,
energy_drift, momentum_drift`` (task 3).

Rows may come straight from :func:`csv.DictReader` (all strings) or from
Python code (numbers); :func:`normalize_row` turns either into one typed form
so that the rest of :mod:`symjax.report` never has to care.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any, Iterable

#: Metric columns aggregated over seeds (rollout columns only exist for task 3).
METRICS = (
    "test_loss",
    "test_acc",
    "sym_error",
    "params",
    "epochs",
    "rollout_mse",
    "energy_drift",
    "momentum_drift",
)

#: Order of the model variants in tables and figures (the thesis's order first).
MODEL_ORDER = ("shared", "shared_aug", "shared_sparse", "vanilla", "vanilla_aug")

#: Order of the task-3 model sizes.
SIZE_ORDER = ("small", "medium", "large")

_INT_COLUMNS = ("task", "train_size", "data_size", "seed", "params", "epochs", "best_epoch")
_FLOAT_COLUMNS = (
    "test_loss",
    "test_acc",
    "sym_error",
    "wall_s",
    "rollout_mse",
    "energy_drift",
    "momentum_drift",
    "no_change_loss",
)


def size_key(task: int) -> str:
    """Column that holds a task's data-size condition.

    Task 1 is keyed by the actual training-set size (``train_size``); tasks 2
    and 3 by the study's data-size label (``data_size``).
    """
    return "train_size" if int(task) == 1 else "data_size"


def _to_float(value: Any) -> float | None:
    """Parse a float; empty strings and ``None`` become ``None`` (NaN stays NaN)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value == "" or value.lower() in ("none", "null"):
            return None
    return float(value)


def _to_int(value: Any) -> int | None:
    """Parse an integer that may be written as ``"120"`` or ``"120.0"``."""
    number = _to_float(value)
    if number is None or not math.isfinite(number):
        return None
    return int(round(number))


def _to_bool(value: Any) -> bool:
    """Parse the ``diverged`` flag (``True/False``, ``1/0``, ``yes/no``, empty)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "t")
    return bool(value)


def _setting(task: int, value: Any) -> int | str:
    """n_blocks (task 1) and hidden setting (task 2) are ints; task 3 is a size name."""
    if task in (1, 2):
        return _to_int(value)
    return str(value).strip().lower()


def normalize_row(row: dict) -> dict:
    """Return a typed copy of one results row.

    ``task``, sizes, ``seed``, ``params`` and epochs become ints; metrics become
    floats (``None`` when empty); ``diverged`` becomes a bool; ``setting`` is an
    int for tasks 1 and 2 and a lower-case size name for task 3.  Unknown
    columns are copied unchanged.
    """
    out = dict(row)
    task = _to_int(row["task"])
    out["task"] = task
    out["model"] = str(row["model"]).strip()
    out["setting"] = _setting(task, row["setting"])
    for column in _INT_COLUMNS[1:]:
        if column in row:
            out[column] = _to_int(row[column])
    for column in _FLOAT_COLUMNS:
        if column in row:
            out[column] = _to_float(row[column])
    out["diverged"] = _to_bool(row.get("diverged", False))
    return out


def is_diverged(row: dict) -> bool:
    """A lane counts as diverged when flagged so or when its test loss is not finite.

    Such lanes are left out of every mean and counted separately.
    """
    loss = row.get("test_loss")
    return bool(row.get("diverged")) or loss is None or not math.isfinite(loss)


def load_results(path: str | os.PathLike) -> list[dict]:
    """Read a ``results.csv`` and return its normalised rows."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [normalize_row(row) for row in csv.DictReader(handle)]


def normalize_rows(rows: Iterable[dict]) -> list[dict]:
    """Normalise many rows (see :func:`normalize_row`)."""
    return [normalize_row(row) for row in rows]


def model_rank(model: str) -> tuple[int, str]:
    """Sort key putting models in :data:`MODEL_ORDER`, unknown names last."""
    if model in MODEL_ORDER:
        return (MODEL_ORDER.index(model), model)
    return (len(MODEL_ORDER), model)


def setting_rank(setting: int | str) -> tuple[int, Any]:
    """Sort key for settings: numbers ascending, task-3 sizes small→large."""
    if isinstance(setting, str):
        if setting in SIZE_ORDER:
            return (0, SIZE_ORDER.index(setting))
        return (1, setting)
    return (0, setting)


"""The study's published numbers (Tables 5, 6 and 7), loaded from ``reference.json``.

``reference.json`` is the only place in the project where the thesis's numbers
appear.  It keeps every cell as the string printed in the thesis; this module
turns the rows into the same long format the experiment scripts write (one
dict per task / setting / size / model) so they can be put beside a run's
aggregates.
"""

from __future__ import annotations

import functools
import json
import os

from .rows import size_key

REFERENCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")

#: Fields a reference row may carry, besides its keys.
REFERENCE_METRICS = ("test_loss", "test_acc", "sym_error", "params")


@functools.lru_cache(maxsize=1)
def load_reference() -> dict:
    """Parsed content of ``reference.json`` (cached; treat as read-only)."""
    with open(REFERENCE_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def reference_source() -> dict:
    """Bibliographic information about the study (title, author, tables)."""
    return dict(load_reference()["source"])


def reference_table_name(task: int) -> str:
    """Name of the thesis table holding a task's results, e.g. ``"Table 5"``."""
    return load_reference()["tables"][str(int(task))]["table"]


def _key_value(field: str, text: str, model_names: dict) -> int | str:
    """Convert one key cell (setting, size or model) from thesis text."""
    if field == "model":
        return model_names[text]
    if field == "setting" and not text.isdigit():
        return text.lower()
    return int(text)


def _metric_value(field: str, text: str, as_text: bool) -> str | float | int:
    """Convert one metric cell; parameter counts become ints."""
    if as_text:
        return text
    if field == "params":
        return int(text)
    return float(text)


def reference_rows(task: int, as_text: bool = False) -> list[dict]:
    """The thesis's rows for ``task`` (1, 2 or 3) in long format.

    Each dict has ``task``, ``setting``, the task's size key (``train_size``
    for task 1, ``data_size`` otherwise), ``model`` and the metrics the table
    reports (a subset of ``test_loss, test_acc, sym_error, params``).  Metric
    values are floats (``params`` ints), or the printed strings when
    ``as_text`` is true.  Table 5 is wide (vanilla and shared side by side);
    it is split into one row per model.
    """
    data = load_reference()
    table = data["tables"][str(int(task))]
    names = data["model_names"]
    out = []
    for cells in table["rows"]:
        shared_keys = {"task": int(task)}
        per_model: dict[str, dict] = {}
        for column, text in zip(table["columns"], cells):
            field = column["field"]
            if field in REFERENCE_METRICS:
                model = column.get("model")
                target = per_model.setdefault(model, {})
                target[field] = _metric_value(field, text, as_text)
            else:
                shared_keys[field] = _key_value(field, text, names)
        for model, metrics in per_model.items():
            row = dict(shared_keys)
            if model is not None:
                row["model"] = model
            row.update(metrics)
            out.append(row)
    return out


def reference_key(task: int, row: dict) -> tuple:
    """Lookup key ``(setting, size, model)`` of a row (run or reference)."""
    return (row["setting"], row[size_key(task)], row["model"])


@functools.lru_cache(maxsize=8)
def _index(task: int, as_text: bool) -> dict:
    return {reference_key(task, row): row for row in reference_rows(task, as_text)}


def reference_index(task: int, as_text: bool = False) -> dict[tuple, dict]:
    """Map ``(setting, size, model)`` to the thesis row (see :func:`reference_rows`)."""
    return dict(_index(int(task), bool(as_text)))


def reference_lookup(task: int, setting, size: int, model: str, as_text: bool = False) -> dict | None:
    """The thesis's row for one condition and model, or ``None`` if the table lacks it."""
    row = _index(int(task), bool(as_text)).get((setting, size, model))
    return dict(row) if row is not None else None


def reference_value(task: int, setting, size: int, model: str, field: str, as_text: bool = False):
    """One thesis number (or printed string), ``None`` when not reported."""
    row = reference_lookup(task, setting, size, model, as_text)
    if row is None:
        return None
    return row.get(field)

"""Result files of a sweep: results.csv, results.jsonl and flags.txt, each written atomically."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np

from symjax.io import atomic_write_text

# Leading columns of results.csv, in this order; other meta columns follow in first-seen order.
COLUMNS = ("task", "model", "setting", "train_size", "seed", "test_loss", "test_acc", "sym_error",
           "params", "epochs", "best_epoch", "diverged", "wall_s")


def columns(rows: list[dict]) -> list[str]:
    """COLUMNS, then every other key of rows in order of first appearance."""
    out = list(COLUMNS)
    seen = set(out)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                out.append(key)
    return out


def _plain(value):
    """numpy scalars/arrays -> Python values, so rows serialize the same way everywhere."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _cell(value) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, str)):
        return str(value) if not isinstance(value, float) else repr(value)
    return json.dumps(value, default=str)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps({k: _plain(v) for k, v in row.items()}, default=str) + "\n" for row in rows)


def _csv(rows: list[dict]) -> str:
    header = columns(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(col)) for col in header])
    return buf.getvalue()


def _write_local(out_dir: str, rows: list[dict], flags_text: str | None) -> None:
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_text(os.path.join(out_dir, "results.csv"), _csv(rows))
    atomic_write_text(os.path.join(out_dir, "results.jsonl"), _jsonl(rows))
    if flags_text is not None:
        atomic_write_text(os.path.join(out_dir, "flags.txt"), flags_text)


def write_results(out_dir: str, rows: list[dict], flags_text: str | None = None) -> None:
    """Writes the full set of rows (replacing existing files) as results.csv and results.jsonl.

    results.csv has COLUMNS first (empty cells for missing values), then other
    keys. flags_text, if given, goes to flags.txt.

    With several JAX processes (jax.process_count() > 1) each process passes its
    own rows: every process writes results.part<k>.jsonl, all processes meet at a
    barrier, and process 0 writes the merged files with the parts in process order
    (which is lane order when each process ran its slice of the lanes).
    """
    import jax  # noqa: PLC0415 (only needed for the process count)

    if jax.process_count() == 1:
        _write_local(out_dir, rows, flags_text)
        return
    from jax.experimental import multihost_utils  # noqa: PLC0415

    os.makedirs(out_dir, exist_ok=True)
    atomic_write_text(os.path.join(out_dir, f"results.part{jax.process_index()}.jsonl"), _jsonl(rows))
    multihost_utils.sync_global_devices(f"symjax_write_results:{os.path.abspath(out_dir)}")
    if jax.process_index() == 0:
        merged = []
        for k in range(jax.process_count()):
            merged.extend(read_results(os.path.join(out_dir, f"results.part{k}.jsonl")))
        _write_local(out_dir, merged, flags_text)


def _parse_cell(text: str):
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_results(path: str) -> list[dict]:
    """Rows from results.jsonl or results.csv (a directory means its results.jsonl).

    CSV cells are parsed back: '' -> None, 'True'/'False' -> bool, numbers -> int/float.

    Raises:
      ValueError: a results.jsonl line that is not one JSON object (a truncated or edited file), naming
        the file and the line.
    """
    if os.path.isdir(path):
        path = os.path.join(path, "results.jsonl")
    with open(path, newline="") as f:
        if path.endswith(".csv"):
            return [{k: _parse_cell(v) for k, v in row.items()} for row in csv.DictReader(f)]
        rows = []
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}: line {number} is not valid JSON ({error.msg}); expected one result "
                                 "row per line (a truncated or edited file)") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {number} is not a JSON object; expected one result row per line")
            rows.append(row)
        return rows


"""Tests of the sweep result files (symjax.train.results)."""

import csv
import json
import os

import numpy as np
import pytest

from symjax.train import COLUMNS, read_results, write_results

CONTRACT = ["task", "model", "setting", "train_size", "seed", "test_loss", "test_acc", "sym_error", "params",
            "epochs", "best_epoch", "diverged", "wall_s"]

ROWS = [
    {"lr": 0.01, "model": "mlp", "task": "task1", "setting": "aug", "seed": 0, "train_size": 40,
     "test_loss": 0.125, "test_acc": None, "sym_error": None, "params": 81, "epochs": 12, "best_epoch": 9,
     "diverged": False, "wall_s": 1.5},
    {"model": "gnn", "task": "task1", "seed": np.int64(1), "train_size": 80, "test_loss": np.float32(0.25),
     "test_acc": 0.75, "sym_error": 1e-7, "params": 90, "epochs": 3, "best_epoch": 1, "diverged": True,
     "wall_s": 1.5, "extra": "x,y"},
]


def test_csv_columns_contract_then_meta(tmp_path):
    assert list(COLUMNS) == CONTRACT
    write_results(str(tmp_path), ROWS, flags_text="--epochs=3\n")
    with open(tmp_path / "results.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == CONTRACT + ["lr", "extra"]
    first = dict(zip(table[0], table[1]))
    assert first["test_acc"] == "" and first["sym_error"] == "" and first["extra"] == ""
    second = dict(zip(table[0], table[2]))
    assert second["setting"] == "" and second["diverged"] == "True" and second["extra"] == "x,y"
    assert (tmp_path / "flags.txt").read_text() == "--epochs=3\n"
    assert sorted(os.listdir(tmp_path)) == ["flags.txt", "results.csv", "results.jsonl"]


def test_read_back_csv_and_jsonl(tmp_path):
    write_results(str(tmp_path), ROWS)
    for rows in (read_results(str(tmp_path / "results.jsonl")), read_results(str(tmp_path)),
                 read_results(str(tmp_path / "results.csv"))):
        assert [r["seed"] for r in rows] == [0, 1]
        assert rows[0]["test_acc"] is None and rows[1]["diverged"] is True
        assert rows[1]["test_loss"] == 0.25 and rows[0]["train_size"] == 40
    jsonl = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert jsonl[1]["extra"] == "x,y" and "extra" not in jsonl[0]


def test_rewrite_replaces_full_set(tmp_path):
    write_results(str(tmp_path), ROWS)
    write_results(str(tmp_path), ROWS[:1])
    assert len(read_results(str(tmp_path / "results.csv"))) == 1
    assert len(read_results(str(tmp_path / "results.jsonl"))) == 1


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    write_results(str(tmp_path), ROWS)
    before = (tmp_path / "results.csv").read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_results(str(tmp_path), ROWS[:1])
    assert (tmp_path / "results.csv").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["results.csv", "results.jsonl"]

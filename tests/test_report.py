"""Tests of symjax.report: reference transcription, aggregation, tables, claims, figures, report."""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path

import pytest

from symjax.report import (
    aggregate,
    check_claims,
    fmt_loss,
    fmt_params,
    fmt_sci,
    load_results,
    make_table,
    reference_rows,
    reference_source,
    reference_value,
    write_report,
)
from symjax.report.rows import normalize_row
from symjax.report.tables import rollout_median_table

THESIS_TXT = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "000_a5cb1518543a7505.txt"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------- builders
def lane(task, model, setting, size, seed, loss, sym, params, acc=None, diverged=False, **extra):
    """One synthetic results row (as an experiment script would write it)."""
    row = {
        "task": task, "model": model, "setting": setting, "train_size": size if task == 1 else size // 2,
        "seed": seed, "test_loss": loss, "test_acc": acc, "sym_error": sym, "params": params,
        "epochs": 10 + seed, "best_epoch": 5, "diverged": diverged, "wall_s": 1.0,
    }
    if task != 1:
        row["data_size"] = size
    row.update(extra)
    return row


def task1_rows():
    """Task 1: n_blocks 1, 5, 10 × train sizes 40, 400 × three models × two seeds.

    Per condition (n_blocks, size) the two seeds' losses are base ± 0.1, so the
    mean is the base.  Hand-set facts the tests rely on:
      * shared beats vanilla (lower mean loss) for n_blocks ≥ 5 in 3 of 4 conditions
        (fails at (10, 400)); for n_blocks < 5 in 1 of 2 (wins at (1, 400));
      * shared sym error is 0 or 1e-12 except one lane at 1e-6 (so 11 of 12 lanes < 1e-9);
      * vanilla sym error > 1e-4 for n_blocks ≥ 2 in 7 of 8 lanes (one lane at 1e-5);
      * vanilla_aug sym error mean below vanilla's for n_blocks ≥ 2 in 3 of 4 conditions;
      * params: shared 100 everywhere; vanilla 50, 500, 2000 for n_blocks 1, 5, 10;
      * one extra diverged vanilla lane at (5, 40) with a huge loss (must be excluded).
    """
    base = {  # (n_blocks, size): (shared loss, vanilla loss)
        (1, 40): (2.0, 1.0), (1, 400): (0.5, 1.0),
        (5, 40): (1.0, 3.0), (5, 400): (0.5, 2.0),
        (10, 40): (1.0, 4.0), (10, 400): (3.0, 2.0),
    }
    vparams = {1: 50, 5: 500, 10: 2000}
    rows = []
    for (nb, size), (s_loss, v_loss) in base.items():
        for seed, delta in ((0, -0.1), (1, 0.1)):
            s_sym = 0.0 if nb == 1 else 1e-12
            if (nb, size, seed) == (10, 40, 1):
                s_sym = 1e-6
            v_sym = 0.0 if nb == 1 else 0.5
            if (nb, size, seed) == (5, 400, 0):
                v_sym = 1e-5
            a_sym = 0.0 if nb == 1 else (0.9 if (nb, size) == (10, 400) else 0.05)
            rows.append(lane(1, "shared", nb, size, seed, s_loss + delta, s_sym, 100))
            rows.append(lane(1, "vanilla", nb, size, seed, v_loss + delta, v_sym, vparams[nb]))
            rows.append(lane(1, "vanilla_aug", nb, size, seed, v_loss + delta, a_sym, vparams[nb]))
    rows.append(lane(1, "vanilla", 5, 40, 7, 1e6, 9.0, 500, diverged=True))
    return rows


def task2_rows():
    """Task 2: hidden 3 × sizes 500, 1500 × four models × two seeds (+ shared_sparse).

    Mean accuracies: shared 0.7, 0.6; vanilla 0.5, 0.5; vanilla_aug 0.6, 0.7.
    So shared > vanilla in 2 of 2, shared > vanilla_aug in 1 of 2.
    """
    acc = {"shared": (0.7, 0.6), "shared_aug": (0.7, 0.7), "shared_sparse": (0.65, 0.65),
           "vanilla": (0.5, 0.5), "vanilla_aug": (0.6, 0.7)}
    sym = {"shared": 1e-15, "shared_aug": 2e-15, "shared_sparse": 0.0, "vanilla": 3.0, "vanilla_aug": 0.02}
    rows = []
    for model, accs in acc.items():
        for size, a in zip((500, 1500), accs):
            for seed, delta in ((0, -0.02), (1, 0.02)):
                rows.append(lane(2, model, 3, size, seed, 1.0 - a, sym[model], 40, acc=a + delta))
    return rows


def task3_rows():
    """Task 3: small/large × sizes 1000, 5000 × four models × two seeds, with rollout columns.

    vanilla's mean loss is below shared's in 3 of 4 conditions (not at (large, 5000)).
    """
    loss = {
        ("small", 1000): {"shared": 0.8, "shared_aug": 0.85, "vanilla": 0.7, "vanilla_aug": 0.75},
        ("small", 5000): {"shared": 0.6, "shared_aug": 0.65, "vanilla": 0.4, "vanilla_aug": 0.5},
        ("large", 1000): {"shared": 0.7, "shared_aug": 0.75, "vanilla": 0.6, "vanilla_aug": 0.65},
        ("large", 5000): {"shared": 0.2, "shared_aug": 0.25, "vanilla": 0.3, "vanilla_aug": 0.35},
    }
    params = {"small": {"shared": 30, "vanilla": 60}, "large": {"shared": 90, "vanilla": 120}}
    rows = []
    for (setting, size), per_model in loss.items():
        for model, base in per_model.items():
            family = "shared" if model.startswith("shared") else "vanilla"
            sym = 1e-12 if family == "shared" else (2.0 if model == "vanilla" else 0.1)
            for seed, delta in ((0, -0.01), (1, 0.01)):
                rows.append(lane(3, model, setting, size, seed, base + delta, sym, params[setting][family],
                                 rollout_mse=0.1, energy_drift=0.01, momentum_drift=1e-6))
    return rows


def find(aggregates, **keys):
    """The single aggregate matching ``keys``."""
    hits = [a for a in aggregates if all(a.get(k) == v for k, v in keys.items())]
    assert len(hits) == 1, (keys, hits)
    return hits[0]


def claim_with(claims, *fragments, exact=False):
    """The single claim whose text contains every fragment (or equals it, with ``exact``)."""
    if exact:
        hits = [c for c in claims if c["text"] == fragments[0]]
    else:
        hits = [c for c in claims if all(f in c["text"] for f in fragments)]
    assert len(hits) == 1, (fragments, [c["text"] for c in claims])
    return hits[0]


# ------------------------------------------------------------- aggregation
def test_aggregate_mean_std_and_diverged_exclusion():
    aggs = aggregate(task1_rows())
    cell = find(aggs, setting=5, train_size=40, model="vanilla")
    # seeds 0, 1 have losses 2.9, 3.1 (mean 3.0, sample std sqrt(0.02)); the diverged lane is dropped
    assert cell["n"] == 2 and cell["n_diverged"] == 1 and cell["n_lanes"] == 3
    assert cell["test_loss_mean"] == pytest.approx(3.0)
    assert cell["test_loss_std"] == pytest.approx(math.sqrt(0.02))
    assert cell["sym_error_mean"] == pytest.approx(0.5) and cell["sym_error_std"] == pytest.approx(0.0)
    assert cell["params_mean"] == 500 and cell["epochs_mean"] == pytest.approx(10.5)
    assert cell["test_acc_mean"] is None  # regression: no accuracy


def test_aggregate_single_seed_std_zero_and_nonfinite_loss_counts_as_diverged():
    rows = [lane(1, "shared", 2, 40, 0, 0.25, 0.0, 100), lane(1, "shared", 2, 40, 1, float("nan"), 0.0, 100)]
    (cell,) = aggregate(rows)
    assert cell["n"] == 1 and cell["n_diverged"] == 1
    assert cell["test_loss_mean"] == 0.25 and cell["test_loss_std"] == 0.0


def test_aggregate_custom_keys():
    by_model = aggregate(task2_rows(), keys=("model",))
    shared = find(by_model, model="shared")
    assert shared["n"] == 4 and shared["test_acc_mean"] == pytest.approx(0.65)


def test_load_results_from_csv_matches_python_rows(tmp_path):
    rows = task1_rows()
    path = tmp_path / "results.csv"
    columns = list(rows[0])
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row[k] is None else row[k] for k in columns})
    loaded = load_results(path)
    assert loaded[0]["setting"] == 1 and loaded[-1]["diverged"] is True
    assert aggregate(loaded) == aggregate(rows)


# -------------------------------------------------------------- formatting
def test_number_formats():
    assert fmt_loss(1.23456) == "1.235"
    assert fmt_loss(0.000123456) == "0.000123"
    assert fmt_loss(0.0) == "0.000"
    assert fmt_sci(0.0) == "0.00e+00" and fmt_sci(3.456e-12) == "3.46e-12"
    assert fmt_params(123.4) == "123"


# ------------------------------------------------------------------- tables
def _table_line(table, *prefix):
    """The markdown row starting with the given leading cells."""
    head = "| " + " | ".join(str(p) for p in prefix) + " |"
    hits = [line for line in table.splitlines() if line.startswith(head)]
    assert len(hits) == 1, (head, table)
    return hits[0]


def test_task1_table_has_run_and_thesis_values():
    table = make_table(1, aggregate(task1_rows()))
    line = _table_line(table, 5, 40)
    cells = [c.strip() for c in line.strip("|").split("|")]
    header = [c.strip() for c in table.splitlines()[2].strip("|").split("|")]
    row = dict(zip(header, cells))
    assert row["vanilla loss"] == "3.000 ± 0.141"
    assert row["vanilla loss *(thesis)*"] == reference_value(1, 5, 40, "vanilla", "test_loss", as_text=True)
    assert row["shared sym *(thesis)*"] == reference_value(1, 5, 40, "shared", "sym_error", as_text=True)
    assert row["vanilla params *(thesis)*"] == reference_value(1, 5, 40, "vanilla", "params", as_text=True)
    assert row["vanilla_aug sym"] == "5.00e-02 ± 0.00e+00"
    assert row["shared params"] == "100"
    assert row["div"] == "1"


def test_task2_and_task3_tables():
    t2 = make_table(2, aggregate(task2_rows()))
    line = _table_line(t2, 3, 500, "shared")
    assert "0.700 ± 0.028" in line
    assert reference_value(2, 3, 500, "shared", "test_acc", as_text=True) in line
    sparse = _table_line(t2, 3, 500, "shared_sparse")
    assert sparse.count("—") == 3  # no thesis loss / accuracy / sym error
    t3 = make_table(3, aggregate(task3_rows()))
    assert "rollout mse" in t3 and "energy drift" in t3
    line = _table_line(t3, "large", 1000, "vanilla")
    assert reference_value(3, "large", 1000, "vanilla", "params", as_text=True) in line


def test_rollout_median_table():
    rows = [normalize_row(r) for r in task3_rows()]
    small_shared = [r for r in rows if (r["setting"], r["model"]) == ("small", "shared")]
    for r, value in zip(small_shared, (1.0, 3.0, 1000.0, 2.0)):  # median of 1, 2, 3, 1000 = 2.5
        r["rollout_mse"] = value
    small_shared[0]["diverged"] = True  # left out: median of 2, 3, 1000 = 3
    table = rollout_median_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| model size | variant | lanes | median rollout mse")
    assert len(lines) == 2 + 2 * 4  # small and large x four variants
    assert lines[2] == "| small | shared | 3 | 3.00e+00 | 1.00e-02 | 1.00e-06 |"
    assert "| small | vanilla | 4 | 1.00e-01 | 1.00e-02 | 1.00e-06 |" in lines
    assert lines[-1].startswith("| large | vanilla_aug |")  # sizes small -> large, models in report order
    assert rollout_median_table([normalize_row(r) for r in task2_rows()]) == ""


# ------------------------------------------------------------------- claims
def test_task1_claim_counts():
    claims = check_claims(1, task1_rows())
    big = claim_with(claims, "lower mean test loss than vanilla", "≥ 5")
    assert (big["holds"], big["total"], big["thesis_made"]) == (3, 4, True)
    assert big["thesis_count"] is not None  # Table 5 has the inputs
    small = claim_with(claims, "lower mean test loss than vanilla", "< 5")
    assert (small["holds"], small["total"]) == (1, 2)
    exact = claim_with(claims, "shared symmetry error below 1e-9")
    assert (exact["holds"], exact["total"]) == (11, 12) and "1.00e-06" in exact["detail"]
    violated = claim_with(claims, "vanilla symmetry error above 1e-4")
    assert (violated["holds"], violated["total"]) == (7, 8)
    aug = claim_with(claims, "vanilla_aug has lower mean symmetry error than vanilla")
    assert (aug["holds"], aug["total"], aug["thesis_made"], aug["thesis_count"]) == (3, 4, False, None)
    params = claim_with(claims, "fewer parameters")
    assert (params["holds"], params["total"]) == (2, 3)  # 100/50 > 1 at n_blocks = 1
    assert "n_blocks=5: 0.2" in params["detail"]
    const = claim_with(claims, "same parameter count")
    assert (const["holds"], const["total"]) == (3, 3)


def test_task2_and_task3_claim_counts():
    c2 = check_claims(2, task2_rows())
    acc = claim_with(c2, "shared has higher mean accuracy than vanilla", exact=True)
    assert (acc["holds"], acc["total"]) == (2, 2)
    vs_aug = claim_with(c2, "shared has higher mean accuracy than vanilla_aug")
    assert (vs_aug["holds"], vs_aug["total"]) == (1, 2)
    exact = claim_with(c2, "shared / shared_aug / shared_sparse symmetry error below")
    assert (exact["holds"], exact["total"]) == (12, 12)
    c3 = check_claims(3, task3_rows())
    van = claim_with(c3, "vanilla has lower mean test loss than shared")
    assert (van["holds"], van["total"], van["thesis_made"]) == (3, 4, True)
    ratio = claim_with(c3, "fewer parameters")
    assert (ratio["holds"], ratio["total"]) == (2, 2) and "model size=small: 0.5" in ratio["detail"]
    assert claim_with(c3, "rollout MSE")["thesis_made"] is False


def test_claims_need_their_inputs():
    only_vanilla = [r for r in task1_rows() if r["model"] == "vanilla"]
    texts = [c["text"] for c in check_claims(1, only_vanilla)]
    assert texts == ["vanilla symmetry error above 1e-4 for n_blocks ≥ 2"]
    assert check_claims(3, []) == []


# ----------------------------------------------------------- report files
@pytest.mark.parametrize("task,builder,figures", [
    (1, task1_rows, 2),
    (2, task2_rows, 2),
    (3, task3_rows, 1),
])
def test_write_report(tmp_path, task, builder, figures):
    out = tmp_path / f"task{task}"
    paths = write_report(task, builder(), str(out), extra_md="Command: `python run.py --seeds 2`; wall time 1 s.")
    pngs = [p for p in paths if p.endswith(".png")]
    assert len(pngs) == figures
    for path in pngs:
        data = Path(path).read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    report = Path(paths[-1])
    assert report.name == "report.md"
    text = report.read_text()
    assert "python run.py --seeds 2" in text and "## Claims checked" in text
    assert reference_source()["title"] in text
    for path in pngs:
        assert f"]({os.path.basename(path)})" in text
    assert not [p for p in os.listdir(out) if p.startswith(".tmp-")]


# ------------------------------------------------------ reference transcription
def test_reference_internal_consistency():
    counts = {1: 60, 2: 36, 3: 48}  # Table 5 is split into vanilla + shared rows
    for task, count in counts.items():
        rows = reference_rows(task)
        assert len(rows) == count
        keys = {(r["setting"], r["train_size" if task == 1 else "data_size"], r["model"]) for r in rows}
        assert len(keys) == count
    assert {r["model"] for r in reference_rows(2)} == {"shared", "shared_aug", "vanilla", "vanilla_aug"}
    assert all("params" not in r for r in reference_rows(2))
    assert all(isinstance(r["params"], int) for r in reference_rows(3))


def _thesis_lines():
    if not THESIS_TXT.exists():
        pytest.skip(f"thesis text not found at {THESIS_TXT}")
    return THESIS_TXT.read_text(encoding="utf-8").splitlines()


NUM = r"([0-9][0-9.e+\-]*)"


def test_reference_matches_thesis_text():
    """Parse Tables 5-7 from the thesis text independently and compare every cell."""
    lines = _thesis_lines()
    model = {"Share": "shared", "Share + Aug": "shared_aug", "Vanilla": "vanilla", "Vanilla + Aug": "vanilla_aug"}
    # Table 5: "n  size  v.loss  s.loss  v.sym  s.sym  v.param  s.param" (8 tab-separated fields)
    t5 = re.compile(r"^(\d+)\t(\d+)\t" + r"\t".join([NUM] * 6) + r"$")
    parsed = {}
    for line in lines:
        match = t5.match(line.strip())
        if match:
            nb, size, vl, sl, vs, ss, vp, sp = match.groups()
            parsed[(int(nb), int(size), "vanilla")] = {"test_loss": vl, "sym_error": vs, "params": vp}
            parsed[(int(nb), int(size), "shared")] = {"test_loss": sl, "sym_error": ss, "params": sp}
    ours = {(r["setting"], r["train_size"], r["model"]): r for r in reference_rows(1, as_text=True)}
    assert len(parsed) == 60 and set(parsed) == set(ours)
    for key, cells in parsed.items():
        for field, text in cells.items():
            assert ours[key][field] == text, (key, field)
    # Table 6: "hidden  size  Model  loss  acc  sym"
    t6 = re.compile(r"^([357])\t(\d+)\t(Share|Share \+ Aug|Vanilla|Vanilla \+ Aug)\t" + r"\t".join([NUM] * 3) + r"$")
    # Table 7: "Size  data  Model  loss  sym  params"
    t7 = re.compile(r"^(Small|Medium|Large)\t(\d+)\t(Share|Share \+ Aug|Vanilla|Vanilla \+ Aug)\t"
                    + r"\t".join([NUM] * 3) + r"$")
    for task, pattern, fields in ((2, t6, ("test_loss", "test_acc", "sym_error")),
                                  (3, t7, ("test_loss", "sym_error", "params"))):
        parsed = {}
        for line in lines:
            match = pattern.match(line.strip())
            if match:
                setting, size, name, *values = match.groups()
                setting = int(setting) if setting.isdigit() else setting.lower()
                parsed[(setting, int(size), model[name])] = dict(zip(fields, values))
        ours = {(r["setting"], r["data_size"], r["model"]): r for r in reference_rows(task, as_text=True)}
        assert len(parsed) == len(ours) and set(parsed) == set(ours), task
        for key, cells in parsed.items():
            for field, text in cells.items():
                assert ours[key][field] == text, (task, key, field)
                assert float(ours[key][field]) == float(text)


def test_reference_cites_its_source():
    source = reference_source()
    assert "Parameter Sharing as an Inductive Bias in Neural Networks" in source["title"]
    assert "Tables 5, 6 and 7" in source["location"]
    if THESIS_TXT.exists():
        assert source["title"] in THESIS_TXT.read_text(encoding="utf-8")

"""The discovery experiments on the driver: options, lanes, bad input, report rows, and the --quick runs."""

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from symjax.report import discovery as rd
from symjax.report import discovery_report as report
from symjax.tasks import discovery_task as dt
from symjax.tasks import driver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _opts(name, tmp_path, **changes):
    return dataclasses.replace(dt.TASKS[name].options(), out_dir=str(tmp_path / name), **changes)


# -- options and lanes (no training) ------------------------------------------------------------------

def test_each_experiment_defaults_to_the_reference_settings():
    set_sum, mnist, degree = (dt.TASKS[e].options() for e in ("set_sum", "mnist", "degree"))
    assert set_sum.lr == 0.1 and set_sum.sizes == (8000, 1000, 1000) and len(set_sum.train_sizes) >= 3
    assert set(dt.REFERENCE_LAMS) <= set(set_sum.lams) and set(dt.REFERENCE_LAMS) <= set(degree.lams)
    assert mnist.offsets == ("0:0", "16:4", "8:4", "16:2") and mnist.canvas == 56
    assert degree.degree_splits == ("random", "by_graph") and len(degree.train_sizes) >= 3
    for experiment, task in dt.TASKS.items():
        assert task.options().models == dt.dm.VARIANTS[experiment]


def test_report_choices_follow_the_run_options():
    t2d = dt.TASKS["translation_2d"].options()
    choices = dt.run_choices(t2d)
    assert "N(0, 1^2)" in choices["generic weights"] and "loss" not in choices and "DeepSets" not in choices
    assert "learning rate 0.1 (the reference gives none for this experiment)" in choices["training"]
    lecun = dt.run_choices(dataclasses.replace(t2d, init_std=0.0))["generic weights"]
    assert "1 / fan_in" in lecun and "N(0, 1^2)" not in lecun
    set_sum = dt.TASKS["set_sum"].options()
    assert dt.run_choices(set_sum)["loss"].startswith("mean absolute error, the reference's")
    assert "learning rate 0.1 (the reference's)" in dt.run_choices(set_sum)["training"]
    mse = dt.run_choices(dataclasses.replace(set_sum, regression_loss="mse"))
    assert mse["loss"].startswith("mean squared error") and "GCN" not in mse
    t1d = dataclasses.replace(dt.TASKS["translation_1d"].options(), lr=0.05)
    assert "learning rate 0.05 (the reference gives 0.01)" in dt.run_choices(t1d)["training"]
    assert "baselines picked on validation from the lanes [0.001, 0.01, 0.1];" in dt.run_choices(t1d)["training"]


def test_every_baseline_trains_a_learning_rate_grid_and_the_report_says_why_it_reaches_0_1():
    defaults = {e: dt.TASKS[e].options().baseline_lr for e in dt.EXPERIMENTS}
    assert set(defaults.values()) == {(1e-3, 1e-2, 0.1)}
    mnist = dt.TASKS["mnist"].options()
    assert dt.BASELINE_LR_NOTES["mnist"] in dt.run_choices(mnist)["training"]
    assert "cnn_baseline.md" in dt.BASELINE_LR_NOTES["mnist"]
    with pytest.raises(ValueError, match=r"--baseline_lr: expected distinct finite numbers > 0, got \[0.1, 0.1\]"):
        dataclasses.replace(mnist, baseline_lr=(0.1, 0.1)).validate()


def test_lams_flag_parses_floats():
    values = flags.FlagValues()
    driver.define_flags(dt.Options, values)
    values(["discovery.py", "--experiment=degree", "--lams=1e-3,2,0", "--seeds=2"])
    opts = driver.options_from_flags(dt.TASKS["degree"], values)
    assert opts.lams == (1e-3, 2.0, 0.0) and opts.seeds == (0, 1) and opts.lr == 0.01


def test_mnist_has_one_generic_sweep_per_offset_pair(tmp_path):
    plans = dt.plan_sweeps(_opts("mnist", tmp_path))
    assert [p.name for p in plans] == ["generic_o0_0", "generic_o16_4", "generic_o8_4", "generic_o16_2", "soft",
                                       "hard", "cnn"]
    assert plans[1].setting == (16, 4) and plans[4].setting is None


def test_lanes_are_lams_times_seeds_times_sizes_for_penalised_models_only(tmp_path):
    opts = _opts("set_sum", tmp_path, sizes=(40, 10, 10), train_sizes=(10, 40), lams=(1.0, 0.5, 0.0), seeds=(0, 3))
    data = dt.load_data(opts)
    plans = {p.name: p for p in dt.plan_sweeps(opts)}
    pool = dt.build_pool(opts, plans["generic"], data)
    generic = dt.build_lanes(opts, plans["generic"], data, pool)
    assert len(generic) == 3 * 2 * 2
    assert {(lane.meta["lam"], lane.seed, lane.train_idx.size) for lane in generic} == {
        (lam, seed, size) for lam in (1.0, 0.5, 0.0) for seed in (0, 3) for size in (10, 40)}
    assert all(lane.hyper == {"lam": lane.meta["lam"]} and lane.learning_rate == 0.1 for lane in generic)
    baseline = dt.build_lanes(opts, plans["deepsets"], data, pool)
    assert len(baseline) == 2 * 3 * 2 and all(lane.meta["lam"] is None for lane in baseline)
    assert {(lane.learning_rate, lane.meta["lr"]) for lane in baseline} == {(r, r) for r in (1e-3, 1e-2, 0.1)}


def test_degree_lanes_cover_both_splits_and_by_graph_keeps_copies_together(tmp_path):
    opts = _opts("degree", tmp_path, sizes=(60, 30, 30), train_sizes=(60,), seeds=(0,), baseline_lr=(1e-3,))
    data = dt.load_data(opts)
    plan = [p for p in dt.plan_sweeps(opts) if p.name == "gcn"][0]
    pool = dt.build_pool(opts, plan, data)
    lanes = dt.build_lanes(opts, plan, data, pool)
    assert sorted(lane.meta["split"] for lane in lanes) == ["by_graph", "random"]
    by_graph = [lane for lane in lanes if lane.meta["split"] == "by_graph"][0]
    offset = data["random"].x.shape[0]
    source = data["by_graph"].info["source"]
    train = set(source[by_graph.train_idx - offset])
    assert not train & set(source[by_graph.test_idx - offset])
    np.testing.assert_array_equal(pool[0][by_graph.test_idx], data["by_graph"].x[data["by_graph"].test_idx])


def test_regression_loss_reaches_the_engine_for_set_sum_and_degree_only(tmp_path):
    for experiment in dt.TASKS:
        task = dt.TASKS[experiment]
        for choice in ("mse", "l1"):
            opts = _opts(experiment, tmp_path, regression_loss=choice)
            config = driver.train_config(task, opts, task.plan_sweeps(opts)[0])
            want = choice if experiment in ("set_sum", "degree") else "cross_entropy"
            assert config.loss == want, (experiment, choice)


# -- bad input: one line, before anything is compiled -------------------------------------------------

@pytest.mark.parametrize("experiment, changes, message", [
    ("set_sum", dict(lams=(1.0, -0.1)), "--lams: expected distinct finite numbers >= 0"),
    ("translation_1d", dict(offsets=("10:1",)), "--offsets=10:1: offsets (b, b') must satisfy"),
    ("translation_2d", dict(offsets=("1:10",)), "--offsets=1:10"),
    ("mnist", dict(offsets=("16:56",)), "--offsets=16:56"),
    ("set_sum", dict(train_sizes=(500, 9000)), "--train_sizes: expected sizes <= the training split (8000"),
    ("degree", dict(sizes=(100, 60, 60), train_sizes=(60,)), "--sizes: degree expects multiples of 6"),
    ("set_sum", dict(experiment="degree"), "--experiment=degree given to the options of set_sum"),
    ("degree", dict(regression_loss="huber"), "--regression_loss: expected 'mse' or 'l1'"),
    ("translation_2d", dict(init_std=-1.0), "--init_std: expected a finite number >= 0"),
])
def test_bad_options_are_one_line_errors_before_training(tmp_path, experiment, changes, message):
    with pytest.raises(driver.BadInput) as error:
        dt.run(experiment, _opts(experiment, tmp_path, **changes))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not os.path.exists(tmp_path / experiment)


def test_missing_or_corrupt_mnist_files_are_named(tmp_path):
    from symjax.data import mnist

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(driver.BadInput, match=f"--data_dir: .*{mnist.TEST_FILES[0]}") as error:
        dt.run("mnist", _opts("mnist", tmp_path, data_dir=str(empty)))
    assert "\n" not in str(error.value)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in mnist.TEST_FILES:
        (corrupt / name).write_bytes(b"not an MNIST file")
    with pytest.raises(driver.BadInput, match=f"{corrupt / mnist.TEST_FILES[0]}: expected SHA-256") as error:
        dt.run("mnist", _opts("mnist", tmp_path, data_dir=str(corrupt)))
    assert not os.path.exists(tmp_path / "mnist")


@pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "..", "shared", "data", "MNIST", "t10k-labels-idx1-ubyte.gz")),
                    reason="MNIST test files not present")
def test_mnist_training_size_larger_than_the_digits_is_refused(tmp_path):
    with pytest.raises(driver.BadInput, match=r"--train_sizes: expected sizes <= the training split \(6000"):
        dt.run("mnist", _opts("mnist", tmp_path, train_sizes=(7000,)))


def test_unknown_experiment_exits_2_with_one_line():
    done = subprocess.run([sys.executable, "experiments/discovery.py", "--experiment=rotation"], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == driver.USAGE_EXIT
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--experiment" in lines[0] and "set_sum" in lines[0]


# -- report helpers (hand-built rows) -----------------------------------------------------------------

def _row(model, lam, size, value, split="random", seed=0):
    return {"model": model, "lam": lam, "train_size": size, "split": split, "seed": seed, "test_l1": value}


def test_reference_setting_rows_take_the_largest_size_the_reference_lam_and_the_random_split():
    rows = [_row("generic", 0.01, 100, 1.0), _row("generic", 1.0, 100, 2.0), _row("generic", 0.01, 50, 3.0),
            _row("deepsets", None, 100, 4.0), _row("generic", 0.01, 100, 5.0, split="by_graph")]
    assert [r["test_l1"] for r in report.reference_setting_rows("set_sum", rows)] == [1.0, 4.0]
    # without the reference's λ = 0.01, the nearest on a log scale (0.1, not 1e-5) stands in
    rows = [_row("generic", 1e-5, 10, 1.0), _row("generic", 0.1, 10, 2.0)]
    assert [r["test_l1"] for r in report.reference_setting_rows("set_sum", rows)] == [2.0]


def test_score_table_averages_each_candidate_per_model_and_lam_with_the_true_group_in_bold():
    def row(model, lam, seed, true_score, decoy, size=100):
        return {**_row(model, lam, size, 0.0, seed=seed), "true_symmetry": "C_10 x C_10",
                "score_C_10_x_C_10": true_score, "score_S_100": decoy}
    rows = [row("generic", 1e-4, 0, 0.2, 0.9), row("generic", 1e-4, 1, 0.4, 0.7), row("generic", 1.0, 0, 0.5, 0.5),
            row("generic", 1e-4, 2, 9.0, 9.0, size=50), {**_row("cnn", None, 100, 0.0)}]
    lines = report.scores_table(rows).splitlines()
    assert lines[0] == "| model | lam | n | C_10_x_C_10 | S_100 |"
    # mean and sample std of (0.2, 0.4) and of (0.9, 0.7); the smaller training set is left out; no cnn line
    assert lines[2] == "| generic | 0.0001 | 2 | **0.3 ± 0.14** | 0.8 ± 0.14 |"
    assert lines[3] == "| generic | 1.0 | 1 | **0.5 ± 0** | 0.5 ± 0 |" and len(lines) == 4
    assert report.scores_table([_row("generic", 1e-4, 100, 0.0)]) == ""


def test_comparison_table_puts_mean_and_std_beside_the_reference():
    rows = [_row("deepsets", None, 10, v, seed=s) for s, v in enumerate((0.01, 0.02, 0.03))]
    table = report.comparison_markdown("set_sum", rows)
    line = [x for x in table.splitlines() if "| deepsets |" in x][0]
    assert "| 0.015 |" in line and "0.02 ± 0.01 (n=3)" in line and "| yes |" in line
    assert "| generic | test_l1 | 0.032 | not run |" in table


# -- the --quick runs of all five experiments, in one process -----------------------------------------

def _check_rows(experiment, rows):
    metric = report.METRIC[experiment]
    assert rows and all(0.0 <= r[metric] < math.inf for r in rows)
    for r in rows:
        if experiment == "set_sum":  # the report's L1 from predictions = the engine's l1 test loss
            assert r["test_l1"] == pytest.approx(r["test_loss"], rel=1e-4, abs=1e-7)
        if r["model"].startswith("generic") or r["model"] == "soft":
            assert 0.0 <= r["sharing_score"] and r["top_symmetry"] and r["true_symmetry"]
            assert r[rd.score_column(r["true_symmetry"])] == r["sharing_score"]
            assert 0.0 <= r["aligned_score"] and r["top_aligned"] and r["label_symmetry"]
            assert r[rd.ALIGNED_PREFIX + rd.score_column(r["true_symmetry"])] == r["aligned_score"]
        assert r["val_metric"] is not None


@pytest.mark.slow
def test_quick_runs_of_all_five_experiments(tmp_path):
    for experiment, task in dt.TASKS.items():
        if experiment == "mnist" and not os.path.isfile(
                os.path.join(ROOT, "..", "shared", "data", "MNIST", "t10k-images-idx3-ubyte.gz")):
            continue
        opts = dataclasses.replace(task.options(**{k: v for k, v in task.quick.items()}),
                                   out_dir=str(tmp_path / experiment), quiet=True, quick=True)
        rows = driver.run(task, opts)
        _check_rows(experiment, rows)
        out = tmp_path / experiment
        md = (out / "report.md").read_text()
        for ref in dt.dm.VARIANTS[experiment]:
            assert ref in md or ref not in opts.models
        claims = md.split("## The reference's claims")[1].split("##")[0]
        assert "## Sharing score of every candidate symmetry" in md
        assert f"| {rd.NOT_JUDGED} |" in claims  # a --quick run judges nothing
        assert not any(verdict in claims for verdict in ("| reproduced |", "| contradicted |", "| untested |"))
        figures = sorted(os.listdir(out / "figures"))
        assert any(name.startswith("weights_generic") for name in figures)
        assert ("lambda.png" in figures) == any(r["lam"] is not None for r in rows)
        with open(out / "results.jsonl") as f:
            assert len([json.loads(line) for line in f]) == len(rows)
        if experiment == "degree":
            assert {r["split"] for r in rows} == {"random", "by_graph"}
            assert {r["train_size"] for r in rows} == {60, 120}
    # --resume reuses the finished sweeps: the same rows, nothing trained
    task = dt.TASKS["set_sum"]
    opts = dataclasses.replace(task.options(**task.quick), out_dir=str(tmp_path / "set_sum"), quiet=True, resume=True,
                               quick=True)
    again = driver.run(task, opts)
    first = [json.loads(line) for line in open(tmp_path / "set_sum" / "results.jsonl")]
    assert [r["test_l1"] for r in again] == [r["test_l1"] for r in first]
    # Another baseline rate retrains the baseline only: the generic sweep does not read it, even from a
    # record written when its settings still held --baseline_lr.
    record = tmp_path / "set_sum" / "checkpoints" / "generic" / driver.RECORD_FILE
    saved = json.loads(record.read_text())
    saved["settings"]["options"]["baseline_lr"] = opts.baseline_lr
    record.write_text(json.dumps(saved))
    rates = tuple(10 * r for r in opts.baseline_lr)
    with pytest.raises(driver.BadInput, match=r"sweep deepsets \(baseline_lr: saved .*, now .*\).*remove "
                                              r".*checkpoints/deepsets to retrain that sweep alone"):
        driver.run(task, dataclasses.replace(opts, baseline_lr=rates))
    shutil.rmtree(tmp_path / "set_sum" / "checkpoints" / "deepsets")
    changed = driver.run(task, dataclasses.replace(opts, baseline_lr=rates))
    by_model = lambda rows, m: [r["test_l1"] for r in rows if r["model"] == m]  # noqa: E731
    assert by_model(changed, "generic") == by_model(first, "generic")
    assert by_model(changed, "deepsets") != by_model(first, "deepsets")


def test_offset_pairs_are_judged_against_the_datas_translations():
    # The penalty ties W[t, p] to W[t + b, p + b']; a translation by b steps moves pixels by stride * b.
    # None of the reference's MNIST pairs agrees with that (stride 2 on the 56-pixel canvas).
    line = dt.offset_agreement([(0, 0), (16, 4), (8, 4), (16, 2), (2, 4), (30, 4)], 2, 56, 28)
    assert "(0, 0) ties nothing" in line and "(2, 4) agrees" in line and "(30, 4) agrees" in line
    assert "(16, 4) does not (2 b = 32 mod 56)" in line and "(8, 4) does not" in line and "(16, 2) does not" in line
    assert "(1, 1) agrees" in dt.offset_agreement([(1, 1)], 1, 10, 10)
    assert "(0, 3) does not" in dt.offset_agreement([(0, 3)], 1, 10, 10)


def test_a_sweep_settings_hold_only_the_options_it_reads():
    opts = dt.TASKS["mnist"].options()
    plans = {p.architecture: p for p in dt.plan_sweeps(opts)}
    cnn = driver.sweep_settings(dt.TASKS["mnist"], opts, plans["cnn"])["options"]
    soft = driver.sweep_settings(dt.TASKS["mnist"], opts, plans["soft"])["options"]
    assert "baseline_lr" in cnn and not {"lr", "init_std", "lams", "l1"} & set(cnn)
    assert "baseline_lr" not in soft and {"lr", "init_std", "lams"} <= set(soft)


def test_the_report_prints_changes_md_under_the_claims(tmp_path):
    opts = _opts("set_sum", tmp_path)
    rows = [{"model": "deepsets", "train_size": 10, "seed": 0, "test_l1": 0.01, "lam": None, "split": "random"}]
    (tmp_path / dt.CHANGES_FILE).write_text("The baseline's rate moved to 0.01.\n")
    dt.write_report(dataclasses.replace(opts, out_dir=str(tmp_path)), rows, "")
    text = (tmp_path / "report.md").read_text()
    changes = text.split("### What changed from the previous recording, and why")[1].split("##")[0]
    assert "The baseline's rate moved to 0.01." in changes

"""The departure flags reach the data, the model and the engine; the report labels contradictions from ablations.

(--settings=study and the engine's augment_per are tested in test_driver.py and test_engine.py.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from symjax.data import three_body as tb
from symjax.data import tu
from symjax.report.departures import (changed_flags, compare_markdown, contradicts, departure_index_markdown,
                                     departures_markdown, load_ablation_set, study_claims)
from symjax.report.summary import check_claims
from symjax.report.write import significance_section
from symjax.tasks import graph_task as t2
from symjax.tasks import three_body_task as t3


# ---------------------------------------------------------------- task 3
def test_normalize_none_and_plain_centring_reach_the_pool():
    pool = t3.make_pool(quick=True, normalize="none", velocity_centring="plain")
    np.testing.assert_array_equal(pool["mean"], np.zeros(12))
    np.testing.assert_array_equal(pool["std"], np.ones(12))
    # Raw states: the first pair of each trajectory starts at its initial state, whose velocities have plain
    # mean 0 (the study's centring) and a mass-weighted mean that is not 0 (the project's would be).
    per = pool["pairs_per_trajectory"]
    initial = pool["pool_x"][: pool["num_train_pairs"]: per].astype(np.float64).reshape(-1, 3, 4)
    velocities = initial[:, :, 2:]
    assert np.max(np.abs(velocities.mean(axis=1))) < 1e-5
    weighted = (tb.MASSES[None, :, None] * velocities).sum(axis=1) / tb.MASSES.sum()
    assert np.max(np.abs(weighted)) > 1e-2
    assert pool["num_train_trajectories"] == t3.QUICK_DATA["num_train_trajectories"] and per == 99


def test_load_data_passes_the_flags(monkeypatch):
    seen = {}
    monkeypatch.setattr(t3, "make_pool", lambda **kw: seen.update(kw) or {"num_train_pairs": 1188,
                                                                           "test_idx": np.arange(1188, 1683)})
    t3.load_data(t3.Options(quick=True, data_sizes=(1000,), normalize="none", velocity_centring="plain",
                            val_split="trajectory"))
    assert (seen["normalize"], seen["velocity_centring"], seen["num_train_trajectories"]) == ("none", "plain", 12)


def test_trajectory_split_sizes_the_pool_and_gives_disjoint_trajectories():
    # 40000 pairs split 8:2 by trajectory need ceil(32000/499) + ceil(8000/499) = 65 + 17 = 82 trajectories.
    assert t3.train_trajectories(t3.Options(val_split="trajectory")) == 82
    assert t3.train_trajectories(t3.Options(val_split="trajectory", data_sizes=(1000,))) == 81
    assert t3.train_trajectories(t3.Options()) == 81
    assert t3.train_trajectories(t3.Options(quick=True, data_sizes=(1000,), val_split="trajectory")) == 12
    per, count = 99, 12
    data = {"num_train_pairs": per * count, "num_train_trajectories": count, "pairs_per_trajectory": per,
            "test_idx": np.arange(per * count, per * count + 10),
            "pool_x": np.zeros((per * count + 10, 12)), "pool_y": np.ones((per * count + 10, 12))}
    opts = t3.Options(quick=True, data_sizes=(1000,), seeds=(0, 1), val_split="trajectory")
    plan = t3.plan_sweeps(opts)[0]
    lanes = t3.build_lanes(opts, plan, data)
    for lane in lanes:
        assert (lane.train_idx.size, lane.val_idx.size) == (800, 200)
        assert not set(lane.train_idx // per) & set(lane.val_idx // per)
    pairs = t3.build_lanes(dataclasses.replace(opts, val_split="pairs"), plan, data)
    assert any(set(lane.train_idx // per) & set(lane.val_idx // per) for lane in pairs)  # the default shares


def test_task3_flag_values_are_checked():
    for name in ("normalize", "velocity_centring", "val_split"):
        with pytest.raises(ValueError, match=rf"--{name}: expected one of"):
            t3.Options(**{name: "other"}).validate()


# ---------------------------------------------------------------- task 2
@pytest.fixture(scope="module")
def nci1():
    try:
        return tu.load_tu_dataset(tu.find_dataset_dir("NCI1"))
    except tu.DatasetNotFoundError as e:  # pragma: no cover - depends on the machine
        pytest.skip(f"NCI1 not available: {e}")


def flat_params(max_nodes: int, hidden=(64, 64, 16), features=37) -> int:
    """(D + 1) h_1 + sum (h_l + 1) h_{l+1} + (h_L + 1) h_L + (h_L + 1) 2 with D = M^2 + 37 M."""
    widths = (max_nodes * max_nodes + features * max_nodes, *hidden)
    mlp = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    return mlp + (hidden[-1] + 1) * hidden[-1] + (hidden[-1] + 1) * 2


def test_max_nodes_all_pads_to_the_largest_graph(nci1):
    largest = int(np.max(nci1.node_counts))
    assert largest == 111
    opts = t2.Options(max_nodes="all", data_sizes=(500, 4110), models=("vanilla_flat",))
    data = t2.load_data(opts)
    assert data["max_nodes"] == largest and data["kept"].size == nci1.num_graphs and data["dropped"] == 0
    plan = t2.plan_sweeps(opts)[0]
    assert plan.architecture == "vanilla_flat"
    import jax  # noqa: PLC0415

    params = t2.lane_fns(opts, plan, data).init(jax.random.key(0))
    assert sum(int(np.size(a)) for a in jax.tree.leaves(params)) == flat_params(largest)
    assert t2.load_data(t2.Options())["max_nodes"] == 50
    for bad in ("0", "fifty", 0, True):
        with pytest.raises(ValueError, match=r"--max_nodes: expected an integer >= 1 or 'all'"):
            t2.Options(max_nodes=bad).validate()


@pytest.mark.slow
def test_vanilla_flat_quick_run(nci1, tmp_path):
    # In-process run: float32 (the quick grid's x64 would switch jax_enable_x64 on for the rest of the session).
    opts = t2.Options(**{**t2.QUICK, "max_epochs": 2, "x64": False}, quick=True, models=("vanilla_flat", "vanilla_flat_aug"),
                      augment_per="batch", out_dir=str(tmp_path), quiet=True)
    rows = t2.run(opts)
    assert sorted(r["model"] for r in rows) == ["vanilla_flat", "vanilla_flat_aug"]
    assert all(r["params"] == flat_params(50) and np.isfinite(r["test_loss"]) for r in rows)
    report = (tmp_path / "report.md").read_text()
    assert "## Departures and their effect" in report and "--augment_per=batch" in report


# ---------------------------------------------------------------- reports
def task3_rows(vanilla_lower: bool, sizes=(1000, 5000)):
    """Large-model rows of 2 seeds; vanilla's loss below shared's in every condition iff vanilla_lower."""
    rows = []
    for n in sizes:
        for seed in (0, 1):
            for model, loss in (("vanilla", 0.1 if vanilla_lower else 0.3), ("shared", 0.2)):
                rows.append(dict(task=3, model=model, setting="large", data_size=n, seed=seed,
                                 test_loss=loss + 0.01 * seed, sym_error=0.0, params=100, diverged=False))
    return rows


def test_contradiction_labels_from_ablations():
    defaults = {d.flag: getattr(t3.Options(), d.flag) for d in t3.DEPARTURES}
    project = {d.flag: str(v) for d, v in zip(t3.DEPARTURES, defaults.values())}
    base = ("base", task3_rows(False), project)
    text = "vanilla has lower mean test loss than shared"
    claim = next(c for c in check_claims(3, base[1]) if c["text"] == text)
    # Table 7, large model: vanilla 0.753 < shared 0.801 at 1000, 0.141 < 0.566 at 5000: 2 of 2 on these conditions.
    study = study_claims(3, base[1])[text]
    assert (claim["holds"], claim["total"], study["holds"], study["total"]) == (0, 2, 2, 2)
    assert contradicts(claim, study) and not contradicts(study, study)
    fixed = ("normalize_none", task3_rows(True), dict(project, normalize="none"))
    study = ("study", task3_rows(False), dict(project, settings="study", normalize="none", augment_per="batch"))
    assert changed_flags(project, fixed[2], t3.DEPARTURES, defaults) == ["normalize"]
    assert changed_flags({}, project, t3.DEPARTURES, defaults) == []  # a run recorded before the flags existed
    text = departures_markdown(3, t3.DEPARTURES, defaults, base, [fixed])
    assert "explained by departure normalize (ablation normalize_none)" in text
    assert "0 of 2 → 2 of 2" in text  # the effect column of --normalize
    text = departures_markdown(3, t3.DEPARTURES, defaults, base, [study])
    assert ("persists under the study's known settings (ablation study; open readings: val_split, test_split, "
            "integrator, pair_draw)") in text
    # A base already at the study's settings has no --settings=study ablation to label with.
    at_study = ("base", base[1], dict(project, settings="study"))
    assert "| untested |" in departures_markdown(3, t3.DEPARTURES, defaults, at_study, [study])
    settled = tuple(d for d in t3.DEPARTURES if d.study is not None)
    assert "persists under the study's settings (a finding; ablation study)" in departures_markdown(
        3, settled, defaults, base, [study])
    assert "| untested |" in departures_markdown(3, t3.DEPARTURES, defaults, base, [])
    # The other way round: the base reproduces the claim (2 of 2), one departure's study setting breaks it.
    text = departures_markdown(3, t3.DEPARTURES, defaults, fixed[:2] + (project,),
                               [("normalize_none", task3_rows(False), dict(project, normalize="none"))])
    assert "### Claims the base run reproduces that an ablation contradicts" in text
    assert ("| vanilla has lower mean test loss than shared | 2 of 2 | 2 of 2 | 0 of 2 | broken by the study's "
            "setting of normalize (ablation normalize_none) |") in text
    assert "reproduces that an ablation" not in departures_markdown(3, t3.DEPARTURES, defaults, base, [fixed])
    # Older runs wrote --seeds=3 for the seeds 0,1,2: the same grid. Other seeds are a different grid.
    same = ("study", task3_rows(False), dict(project, settings="study", seeds="0,1,2"))
    assert "Caution" not in departures_markdown(3, t3.DEPARTURES, defaults, ("base", base[1], dict(project, seeds="3")),
                                                [same])
    other_seeds = ("other_seeds", task3_rows(False), dict(project, seeds="1,2,3"))
    assert "differ from the base in seeds" in departures_markdown(
        3, t3.DEPARTURES, defaults, ("base", base[1], dict(project, seeds="3")), [other_seeds])


def test_departure_index_gathers_each_effect_from_the_set_that_measures_it(tmp_path):
    defaults = {d.flag: getattr(t3.Options(), d.flag) for d in t3.DEPARTURES}
    project = {d.flag: str(v) for d, v in zip(t3.DEPARTURES, defaults.values())}
    base = ("base", task3_rows(False), project)
    first = ("one", base, [("normalize_none", task3_rows(True), dict(project, normalize="none"))])
    second = ("two", base, [("euler", task3_rows(False), dict(project, integrator="euler"))])
    rows = {line.split(" | ")[0].strip("| "): line for line in
            departure_index_markdown(3, t3.DEPARTURES, defaults, [first, second]).splitlines()}
    assert "one (base `base`): normalize_none: " in rows["state standardisation"]
    assert "0 of 2 → 2 of 2" in rows["state standardisation"] and "two (" not in rows["state standardisation"]
    assert "two (base `base`): euler: " in rows["simulator time stepping"]
    assert rows["test set"].endswith("| untested |")
    _write_run(tmp_path / "base", task3_rows(False), project)
    _write_run(tmp_path / "normalize_none", task3_rows(True), dict(project, normalize="none"))
    (tmp_path / "notes").mkdir()  # a folder without results.csv is not a run
    name, loaded_base, ablations = load_ablation_set("set", str(tmp_path), "base")
    assert (name, loaded_base[0], [a[0] for a in ablations]) == ("set", "base", ["normalize_none"])
    with pytest.raises(ValueError, match="expected the base run folder"):
        load_ablation_set("set", str(tmp_path), "study")


def test_task1_significance_hand_computed():
    rows = []
    # train size 40: differences -1, -0.95, -1.1 (t interval [-1.21, -0.83]: significant);
    # train size 80: differences -0.5, +1.0, -0.2 (interval contains 0).
    for size, shared, vanilla in ((40, (1.0, 1.1, 1.2), (2.0, 2.05, 2.3)), (80, (1.0, 2.0, 3.0), (1.5, 1.0, 3.2))):
        for seed in range(3):
            for model, loss in (("shared", shared[seed]), ("vanilla", vanilla[seed])):
                rows.append(dict(task=1, model=model, setting=5, train_size=size, seed=seed, test_loss=loss,
                                 sym_error=0.0, params=10, diverged=False))
    text = significance_section(rows)
    assert "Shared significantly lower in 1 of 2 conditions, vanilla significantly lower in 0" in text
    claim = next(c for c in check_claims(1, rows) if c["text"].endswith("for n_blocks ≥ 5"))
    assert (claim["holds"], claim["total"]) == (1, 2)  # means: 40 shared lower; 80: 2.0 vs 1.9, vanilla lower
    assert "significantly lower (95% paired t over seeds) in 1 of 2" in claim["detail"]


def _write_run(folder, rows, flags):
    import csv  # noqa: PLC0415

    folder.mkdir()
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "flags.txt").write_text("# command\n" + "".join(f"--{k}={v}\n" for k, v in flags.items()))


@pytest.mark.slow
def test_compare_runs_script_puts_the_section_into_a_report(tmp_path):
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    repo = Path(__file__).resolve().parents[1]
    _write_run(tmp_path / "base", task3_rows(False), {"normalize": "standard"})
    _write_run(tmp_path / "fixed", task3_rows(True), {"normalize": "none"})
    report = tmp_path / "report.md"
    report.write_text("# R\n\n## Claims\n\nx\n\n## Figures\n\nf\n")
    command = [sys.executable, str(repo / "experiments/compare_runs.py"), "--task=3", f"--base={tmp_path / 'base'}",
               f"--ablation=normalize_none:{tmp_path / 'fixed'}", f"--report={report}", "--note=reduced budget"]
    env = dict(os.environ, PYTHONPATH=str(repo), JAX_PLATFORMS="cpu")
    for _ in range(2):  # a second pass replaces the section
        subprocess.run(command, check=True, env=env, capture_output=True, timeout=120)
    text = report.read_text()
    assert text.count("## Departures and their effect") == 1 and text.index("## Departures") < text.index("## Figures")
    assert "reduced budget" in text and "explained by departure normalize (ablation normalize_none)" in text
    bad = subprocess.run(command[:4] + ["--ablation=nocolon"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--ablation: expected name:folder, got 'nocolon'" in bad.stderr

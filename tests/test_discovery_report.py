"""Tests for the discovery experiments' analysis (symjax.report.discovery, discovery_figures).

Expected values: weights built shared by hand (circulants, a I + b 11^T),
hand-computed metrics and claims judged on hand-made rows.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symjax import discovery
from symjax.models import discovery_models as dm
from symjax.report import discovery as rd
from symjax.report import discovery_figures as rf
from symjax.report import discovery_report as dr

KEY = jax.random.key(0)


def _stack(params, lanes=2):
    return jax.tree.map(lambda leaf: np.stack([np.asarray(leaf)] * lanes), params)


def test_circulant_class_weights_rank_the_cyclic_group_first_with_score_zero():
    model = dm.TranslationModel(5, (10,))
    base = np.random.default_rng(0).normal(size=(5, 10))
    w = np.stack([[np.roll(base[k], t) for t in range(10)] for k in range(5)])  # W[k, t, p] = f_k(p - t)
    summary = rd.sharing_summary(model, {"w": jnp.asarray(w, jnp.float32)})
    assert summary["true_symmetry"] == "C_10" and summary["top_symmetry"] == "C_10"
    assert summary["top_is_true"] == 1.0 and summary["sharing_score"] < 1e-10
    assert summary["scores"]["trivial"] == 1.0 and summary["scores"]["S_10"] > 0.5


def test_identity_plus_constant_ranks_s10_first_and_random_weights_score_near_chance():
    model = dm.DegreeMLP()
    shared = rd.sharing_summary(model, {"w": jnp.asarray(0.7 * np.eye(10) + 0.2, jnp.float32)})
    # every subgroup shares it too: a tie, the largest group first
    assert shared["top_symmetry"] == "tie: S_10 = D_10 = C_10 = mirror_10" and shared["sharing_score"] < 1e-10
    assert shared["top_is_true"] == 1.0
    noise = rd.sharing_summary(model, {"w": jnp.asarray(np.random.default_rng(1).normal(size=(10, 10)), jnp.float32)})
    assert 0.6 < noise["sharing_score"] < 1.4


def test_lane_sharing_and_pattern_measures_per_lane():
    model = dm.SetSumLinear()
    w = np.stack([np.full((10, 10), 0.1), np.eye(10) * 0.5])  # column sums 1 and 0.5
    rows = rd.lane_sharing("set_sum", model, {"w": w})
    assert [round(r["colsum_deviation"], 6) for r in rows] == [0.0, 0.5]
    assert rows[0]["top_symmetry"].startswith("tie: S_10 =")
    assert rd.lane_sharing("set_sum", dm.DeepSets(), _stack(dm.DeepSets().init(KEY))) == [{}, {}]
    # columns summing to 1 make y = sum(x) whatever W looks like: the pooled map is S_10-shared (score 0)
    w = np.random.default_rng(3).random((10, 10))
    row = rd.lane_sharing("set_sum", model, {"w": (w / w.sum(axis=0))[None]})[0]
    assert row["sharing_score"] < 1e-10 and row["top_is_true"] == 1.0 and row["colsum_deviation"] < 1e-6
    row = rd.lane_sharing("degree", dm.DegreeMLP(), {"w": np.eye(10)[None] * 2})[0]
    assert row["colsum_deviation"] == pytest.approx(1.0) and row["top_symmetry"].startswith("tie: S_10 =")
    assert row["colsum_deviation_sum"] == pytest.approx(10.0)
    model = dm.TranslationModel(2, (6,))
    circulant = np.stack([[np.roll(np.arange(6.0) * (k + 1), t) for t in range(6)] for k in range(2)])
    row = rd.lane_sharing("translation_1d", model, {"w": circulant[None]})[0]
    assert row["translation_correlation"] == pytest.approx(1.0)


def test_lane_predictions_and_task_metrics_by_hand():
    model = dm.DegreeMLP()
    params = {"w": np.stack([np.eye(10), 2 * np.eye(10)]).astype(np.float32)}
    x = np.zeros((3, 10, 10), np.float32)
    x[:, 0, 1] = x[:, 1, 0] = 1.0
    pred = rd.lane_predictions(model, params, x, chunk=2)
    assert pred.shape == (2, 3, 10)
    y = x.sum(-1)
    assert rd.task_metrics("degree", pred[0], y) == {"test_node_acc": 1.0, "test_l1": 0.0}
    assert rd.task_metrics("degree", pred[1], y)["test_node_acc"] == pytest.approx(0.8)  # nodes 0, 1 predict 2
    assert rd.task_metrics("set_sum", np.array([[1.0], [3.0]]), np.array([[1.5], [2.0]])) == {"test_l1": 0.75}
    assert rd.task_metrics("mnist", np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])) == {"test_acc": 0.5}


def test_claims_are_judged_from_rows():
    rows = [{"model": "generic", "test_node_acc": 1.0}, {"model": "generic", "test_node_acc": 0.99},
            {"model": "gcn", "test_node_acc": 0.6}]
    verdicts = {c["id"]: c["verdict"] for c in rd.check_claims("degree", rows)}
    assert verdicts == {"degree.mlp_beats_gcn": "reproduced", "degree.mlp_perfect": "contradicted"}
    verdicts = {c["id"]: c["verdict"] for c in rd.check_claims("degree", rows[2:])}
    assert verdicts == {"degree.mlp_beats_gcn": "untested", "degree.mlp_perfect": "untested"}
    lanes = [{"model": "generic_elu", "top_symmetry": "C_10", "true_symmetry": "C_10", "sharing_score": 0.2,
              "top_is_true": 1.0},
             {"model": "generic_elu", "top_symmetry": "C_10", "true_symmetry": "C_10", "sharing_score": 0.9,
              "top_is_true": 1.0},
             {"model": "generic_elu", "top_symmetry": "mirror_10", "true_symmetry": "C_10", "sharing_score": 0.1,
              "top_is_true": 0.0}]
    claim = {c["id"]: c for c in rd.check_claims("translation_1d", lanes)}["translation_1d.cyclic_pattern"]
    assert claim["verdict"] == "contradicted" and "in 1 of 3 lanes" in claim["detail"]
    # a top-ranked S_10 contains C_10 (top_is_true 1): the lane counts for the cyclic claim
    lanes[2].update(top_symmetry="S_10", top_is_true=1.0)
    claim = {c["id"]: c for c in rd.check_claims("translation_1d", lanes)}["translation_1d.cyclic_pattern"]
    assert claim["verdict"] == "reproduced" and "in 2 of 3 lanes" in claim["detail"]
    quick = rd.check_claims("translation_1d", lanes, not_judged="a --quick run")
    assert {c["verdict"] for c in quick} == {rd.NOT_JUDGED} and all("a --quick run" in c["detail"] for c in quick)
    assert "|" in rd.claims_markdown(rd.check_claims("degree", rows))


def test_value_comparison_puts_reference_numbers_beside_ours():
    rows = [{"model": "generic", "offsets": "16,4", "test_acc": a} for a in (0.83, 0.85)]
    table = {(r["model"], r.get("offsets")): r for r in rd.value_comparison("mnist", rows)}
    hit = table[("generic", "16,4")]
    assert hit["reference"] == 0.8368 and hit["mean"] == pytest.approx(0.84) and hit["n"] == 2
    assert hit["within_tolerance"] is True
    assert table[("cnn", None)]["n"] == 0 and table[("cnn", None)]["within_tolerance"] is None


def test_reference_file_is_consistent_with_the_models_and_metrics():
    ref = rd.load_reference_001()
    for result in ref["results"]:
        assert result["model"] in dm.VARIANTS[result["experiment"]] and result["metric"] in ref["metrics"]
    for claim in ref["claims"]:
        assert claim["experiment"] in dm.EXPERIMENTS and claim["kind"] in ("order", "threshold", "symmetry")
        for side in ("better", "worse", "where"):
            if side in claim:
                assert claim[side]["model"] in dm.VARIANTS[claim["experiment"]]
    assert rd.reference_settings("set_sum")["lambda_grid"] == [100, 10, 1, 0.01, 0.001, 0.0001, 1e-05]
    with pytest.raises(ValueError, match="experiment must be one of"):
        rd.reference_results("rotation")


def test_tile_templates_places_translation_ij_at_block_ij():
    w = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    tiled = rf.tile_templates(w)
    assert tiled.shape == (4, 6)
    for i in range(2):
        for j in range(3):
            assert np.array_equal(tiled[2 * i:2 * i + 2, 2 * j:2 * j + 2], w[i, j])
    assert rf.tile_templates(np.zeros((6, 6, 3, 3)), step=4).shape == (6, 6)


def test_figures_are_written_as_png(tmp_path):
    model = dm.TranslationModel(3, (4, 4))
    panels = rf.weight_panels("translation_2d", model, model.init(KEY))
    assert list(panels) == ["class 0", "class 1", "class 2"] and panels["class 0"].shape == (16, 16)
    path = rf.heatmap_figure(panels, str(tmp_path / "w.png"), "weights")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    rows = [{"model": m, "lam": lam, "test_acc": 0.5, "sharing_score": 0.1} for m in ("soft", "generic")
            for lam in (1e-3, 1.0)]
    assert open(rf.lambda_figure(rows, str(tmp_path / "l.png"), "test_acc"), "rb").read(4) == b"\x89PNG"
    assert rf.lambda_figure([{"model": "hard", "lam": None}], str(tmp_path / "n.png"), "test_acc") is None


def test_choices_list_the_data_and_model_choices():
    text = rd.choices_markdown("degree")
    assert "probability 0.5" in text and "GCN" in text and text.count("\n- ") >= 8


def test_every_candidate_score_is_a_column_and_the_true_groups_equals_sharing_score():
    model = dm.TranslationModel(2, (4, 4))
    rng = np.random.default_rng(4)
    base = rng.normal(size=(2, 4, 4))
    shared = np.stack([[[np.roll(base[k], (a, b), (0, 1)) for b in range(4)] for a in range(4)] for k in range(2)])
    lanes = {"w": np.stack([shared, rng.normal(size=shared.shape)]).astype(np.float32)}  # (2 lanes, 2, 4, 4, 4, 4)
    rows = rd.lane_sharing("translation_2d", model, lanes)
    names = list(rd.candidates(model))
    for row, params in zip(rows, ({"w": lanes["w"][0]}, {"w": lanes["w"][1]})):
        columns = [k for k in row if k.startswith("score_")]
        assert len(columns) == len(names) == len(set(columns))
        assert row[rd.score_column("C_4 x C_4")] == row["sharing_score"]
        # the true group's score by the public one-candidate function, averaged over the two classes
        translations = dm.torus_action(model.group, (4, 4), (1, 1))  # one class's (t, p) matrix: out = t
        matrices = np.asarray(model.weight(params)).reshape(2, 16, 16)
        direct = np.mean([float(discovery.sharing_score(m, translations, model.action_in, layout="out_in"))
                          for m in matrices])
        assert row["sharing_score"] == pytest.approx(direct, rel=1e-5, abs=1e-9)
        assert row["score_trivial"] == pytest.approx(1.0)
    assert rows[0]["sharing_score"] < 1e-10 and rows[1]["sharing_score"] > 0.5


def test_score_columns_are_column_safe_and_distinct():
    assert rd.score_column("C_10 x C_10") == "score_C_10_x_C_10"
    assert rd.score_column("C_10 (vertical)") == "score_C_10_vertical"
    assert rd.score_columns({"S_10": 0.5, "trivial": 1.0}) == {"score_S_10": 0.5, "score_trivial": 1.0}
    with pytest.raises(ValueError, match="share the result column 'score_a_b'"):
        rd.score_columns({"a b": 0.1, "a-b": 0.2})
    with pytest.raises(ValueError, match="no letter or digit"):
        rd.score_column(" () ")


def test_a_relabelled_exact_degree_model_has_learned_s10_but_not_in_the_layout():
    # y = A 1: exact degrees through relabelled hidden units (a derangement outside D_10, so no candidate's layout)
    derangement = np.eye(10)[[3, 7, 0, 9, 1, 6, 2, 8, 5, 4]]
    row = rd.lane_sharing("degree", dm.DegreeMLP(), {"w": derangement[None]})[0]
    assert row["sharing_score"] > 0.5 and row["aligned_score"] < 1e-10
    assert row["top_symmetry"].startswith("none") and row["top_aligned"].startswith("tie: S_10")
    assert row["label_symmetry"] == "S_10" and row["aligned_top_is_true"] == 1.0
    lanes = [{**row, "model": "generic", "sym_error_rel": 0.0, "test_node_acc": 1.0}] * 3
    learned = {c["id"]: c for c in rd.check_claims("degree", lanes)}["degree.generic.learned"]
    assert learned["verdict"] == "reproduced" and "in 3 of 3 lanes" in learned["detail"]
    lanes = [{**lanes[0], "sym_error_rel": 0.5}] * 3  # the function is not symmetric: not learned
    assert {c["id"]: c for c in rd.check_claims("degree", lanes)}["degree.generic.learned"]["verdict"] == \
        "contradicted"


def test_contains_candidate_orders_nested_groups():
    found = rd.candidates(dm.DegreeMLP())
    assert rd.contains_candidate(found["S_10"], found["C_10"]) and rd.contains_candidate(found["D_10"], found["C_10"])
    assert not rd.contains_candidate(found["C_10"], found["S_10"])
    assert not rd.contains_candidate(found["C_10"], found["mirror_10"])
    assert rd.containing(found, "C_10") == {"C_10", "D_10", "S_10"}


def test_report_helpers_pick_one_lambda_the_validated_rate_and_find_identical_lambdas():
    assert dr.claim_lambda("set_sum", [1.0, 0.01]) == (0.01, "the reference's λ = 0.01")
    lam, text = dr.claim_lambda("mnist", [1.0, 1e-3])
    assert lam == 1e-3 and "not in this run" in text
    assert dr.claim_lambda("degree", [1e-4, 0.0])[1].startswith("the reference gives no λ")
    rows = [{"model": "cnn", "split": "random", "train_size": 10, "lr": lr, "seed": s, "val_metric": v}
            for lr, v in ((1e-3, 0.5), (0.1, 0.9)) for s in (0, 1)]
    assert {r["lr"] for r in dr.select_baseline_lr(rows)} == {0.1}
    assert {r["lr"] for r in dr.select_baseline_lr(rows, higher=False)} == {1e-3}
    same = [{"model": "soft", "lam": lam, "seed": 0, "train_size": 5, "test_acc": 0.4, "sharing_score": 0.2}
            for lam in (1.0, 10.0)] + [{"model": "soft", "lam": 1e-4, "seed": 0, "train_size": 5, "test_acc": 0.7,
                                        "sharing_score": 0.9}]
    lines = dr.identical_lambdas(same, "test_acc")
    assert len(lines) == 1 and "λ = 1, 10 give the same lanes" in lines[0]
    same[1]["test_acc"] = 0.405  # within 2%: still the same
    assert len(dr.identical_lambdas(same, "test_acc")) == 1
    same[1]["test_acc"] = 0.5
    assert dr.identical_lambdas(same, "test_acc") == []
    assert dr.convergence([{"best_epoch": 30}, {"best_epoch": 12}], 30) == "did not converge (1/2 at the cap 30)"
    assert rd.format_value("test_acc", 0.8804) == "88.04%" and rd.format_value("test_l1", 0.015) == "0.015"

"""Analysis of the discovery experiments (reference 001 §3.1–3.3): metrics, sharing scores, claims.

From a sweep's evaluated params (``SweepResult.params``, a pytree of (L, ...)
arrays in lane order) and the experiment's data:

* ``lane_predictions`` / ``task_metrics``: the reference's test metric per lane
  (set_sum: mean L1; degree: fraction of nodes exactly right after clamping
  and rounding; images: accuracy);
* ``candidates`` / ``lane_sharing``: how shared each lane's generic weights
  are under every candidate group (``symjax.discovery.rank_symmetries`` on
  the weight of every class, on set_sum's pooled map; scores: 0 = exactly
  shared, 1 = chance), in the reference's layout (fixed) and up to a
  relabelling of the hidden units (aligned). Two of the candidates are named:
  the group the reference expects the weights to show (``true_symmetry``, its
  penalty's layout) and the largest group the labels are invariant under
  (``label_symmetry``, from the data; 1-D translations: S_10, 2-D: D_10 x
  D_10, which are label symmetries, not decoys);
  plus the reference's own pattern measures (column-sum deviation, mean and
  sum over the columns, translation correlation);
* ``check_claims`` / ``claims_markdown``: reference 001's claims, one by one,
  as reproduced / contradicted / untested, computed from result rows and the
  numbers in ``reference_001.json`` (the only place they appear).

Result rows are dicts with at least ``model`` and the metric columns
(``test_acc``, ``test_l1``, ``test_node_acc``, ``colsum_deviation``,
``top_symmetry``, ``true_symmetry``); MNIST rows carry ``offsets`` as "b,b'".
"""

from __future__ import annotations

import collections
import functools
import json
import math
import os
import re
from typing import Iterable, Mapping, Sequence

import jax
import numpy as np

from symjax import discovery
from symjax.data.discovery import CHOICES, LABEL_SYMMETRY
from symjax.discovery import presets
from symjax.models.discovery_models import EXPERIMENTS, SetSumLinear, degree_accuracy, model_choices

from .aggregate import mean_std
from .tables import markdown_table

REFERENCE_001_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_001.json")
VERDICTS = ("reproduced", "contradicted", "untested")


@functools.lru_cache(maxsize=1)
def load_reference_001() -> dict:
    """Parsed ``reference_001.json`` (cached; treat as read-only)."""
    with open(REFERENCE_001_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def _check_experiment(experiment: str) -> None:
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {EXPERIMENTS}; got {experiment!r}")


def reference_results(experiment: str) -> list[dict]:
    """Reference 001's numbers for ``experiment`` (model, metric, value, printed, section[, offsets])."""
    _check_experiment(experiment)
    return [dict(r) for r in load_reference_001()["results"] if r["experiment"] == experiment]


def reference_settings(experiment: str) -> dict:
    """Reference 001's training settings for ``experiment`` (sizes, learning rate, λ, ...)."""
    _check_experiment(experiment)
    return dict(load_reference_001()["settings"][experiment])


# -- per-lane metrics ---------------------------------------------------------------------------------

def lane_params(params, lane: int):
    """One lane's params out of a stacked (L, ...) pytree."""
    return jax.tree.map(lambda leaf: leaf[lane], params)


def num_lanes(params) -> int:
    return int(jax.tree.leaves(params)[0].shape[0])


def lane_predictions(model, params, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Predictions of every lane on x: (L, N, ...) numpy, evaluated in chunks of ``chunk`` examples."""
    apply = jax.jit(jax.vmap(model.apply, in_axes=(0, None)))
    parts = [np.asarray(apply(params, x[i:i + chunk])) for i in range(0, x.shape[0], chunk)]
    return np.concatenate(parts, axis=1)


def task_metrics(experiment: str, predictions: np.ndarray, y: np.ndarray) -> dict:
    """The reference's test metric of one lane's predictions (N, ...) against targets y.

    set_sum: {'test_l1': mean |pred - y|}; degree: {'test_node_acc': ...,
    'test_l1'}; image experiments: {'test_acc': fraction of argmax == label}.
    """
    _check_experiment(experiment)
    if experiment == "set_sum":
        return {"test_l1": float(np.mean(np.abs(predictions - y)))}
    if experiment == "degree":
        return {"test_node_acc": float(degree_accuracy(predictions, y)),
                "test_l1": float(np.mean(np.abs(predictions - y)))}
    return {"test_acc": float(np.mean(np.argmax(predictions, axis=-1) == y))}


# -- sharing scores -----------------------------------------------------------------------------------

def candidates(model) -> dict:
    """Candidate symmetries of what ``analysed_matrices`` returns (name -> (action_out, action_in)).

    set_sum (the pooled map u, 1 x n): trivial, S_n, C_n, D_n, mirror_n acting
    on the inputs with the output fixed (``presets.candidates_1d`` invariant).
    degree (W n x n) and 1-D translations (one class's W[t, p], stride 1): the
    same groups acting alike on outputs and inputs. 2-D translations:
    ``presets.candidates_2d`` on the translation grid (both axes, one axis,
    the diagonal that the reference's penalty ties, with flips, S_hw at stride 1).
    """
    shape = tuple(getattr(model, "image_shape", ()))
    if isinstance(model, SetSumLinear):
        return presets.candidates_1d(1, model.n, output="invariant")
    if not shape:
        return presets.candidates_1d(model.n, model.n)
    if len(shape) == 1:
        if model.stride != 1:
            raise ValueError(f"1-D translation candidates need stride 1; got stride {model.stride}")
        return presets.candidates_1d(shape[0], shape[0])
    return presets.candidates_2d(*shape, grid=model.translations)


def analysed_matrices(model, params) -> np.ndarray:
    """The matrices whose sharing is scored: (C, |T|, |P|) class weights, (1, n, n) for degree.

    set_sum: the pooled linear map u = 1^T W, (1, 1, n): the model computes
    y = u . x, so it is permutation invariant iff u is constant, whatever W's
    own pattern (the reference's column-sum criterion, read as a sharing score).
    """
    w = np.asarray(model.weight(params))
    if isinstance(model, SetSumLinear):
        return w.sum(axis=0)[None, None, :]
    if not getattr(model, "image_shape", ()):
        return w[None]
    return w.reshape(model.num_classes, model.num_translations, model.num_pixels)


def true_symmetry(model) -> str:
    """The group the reference expects the weights to show (its penalty's layout), e.g. 'S_10', 'C_10 x C_10'.

    The hard-shared model and the eq.-8 error use it. It is not always the
    largest group that keeps the labels (``label_symmetry``).
    """
    return model.group.name


def label_symmetry(experiment: str) -> str:
    """The largest candidate group under which the data's labels are invariant (``data.discovery.LABEL_SYMMETRY``)."""
    _check_experiment(experiment)
    return LABEL_SYMMETRY[experiment]


def contains_candidate(big: tuple, small: tuple) -> bool:
    """Whether candidate ``big`` contains ``small``: every element of small is one of big, acting alike.

    Both (action_out, action_in) of one size. Each generator g of small's
    group must lie in big's group (``PermutationGroup.contains``), and big's
    actions must move the indices as small's do (``Action.permutation(g)``).
    A weight shared under big is then shared under small.
    """
    (big_out, big_in), (small_out, small_in) = big, small
    if (big_out.size, big_in.size) != (small_out.size, small_in.size):
        return False
    if big_out.group.degree != small_out.group.degree:
        return False
    for k, g in enumerate(small_out.group.generators):
        if not big_out.group.contains(g):
            return False
        if not (np.array_equal(big_out.permutation(g), small_out.generators[k])
                and np.array_equal(big_in.permutation(g), small_in.generators[k])):
            return False
    return True


@functools.lru_cache(maxsize=16)
def _containing(found_key: tuple, names: tuple, target: str) -> frozenset:
    found = dict(zip(names, found_key))
    if target not in found:
        return frozenset()
    return frozenset(n for n, pair in found.items() if n == target or contains_candidate(pair, found[target]))


def containing(found: dict, target: str) -> frozenset:
    """Names of the candidates of ``found`` that contain candidate ``target`` (itself included; cached)."""
    return _containing(tuple(found.values()), tuple(found), target)


HIDDEN_MODES = discovery.checks.HIDDEN


def sharing_summary(model, params, experiment: str | None = None) -> dict:
    """Rank the candidates on every analysed matrix (``analysed_matrices``) of one lane, fixed and aligned.

    For each class's matrix, ``rank_symmetries`` with hidden='fixed' (the
    layout as it is) and hidden='align' (after the best relabelling of the
    hidden index t, or of the hidden units of degree); ``top_symmetry`` gates
    the first at 0.5 and names ties.

    Returns:
      true_symmetry (the reference's group), label_symmetry (the data's, when
      ``experiment`` is given), sharing_score / aligned_score (mean over
      classes of the true group's fixed / aligned score), label_score /
      label_aligned_score (the same for the label group, when a candidate),
      top_symmetry / top_aligned (the gated top label most often first, ties
      named), top_is_true / aligned_top_is_true (fraction of classes whose
      called top contains the true group: a group that contains it shares
      what it shares), scores / aligned_scores {candidate: mean score}.
    """
    found = candidates(model)
    true = true_symmetry(model)
    label = label_symmetry(experiment) if experiment is not None else None
    matrices = analysed_matrices(model, params)
    out = {"true_symmetry": true}
    if label is not None:
        out["label_symmetry"] = label
    has_true = containing(found, true)
    names = {"fixed": ("top_symmetry", "top_is_true", "sharing_score", "label_score", "scores"),
             "align": ("top_aligned", "aligned_top_is_true", "aligned_score", "label_aligned_score", "aligned_scores")}
    for hidden, (top_key, hit_key, score_key, label_key, scores_key) in names.items():
        firsts, hits, scores = [], 0, collections.defaultdict(list)
        for w in matrices:
            rows = discovery.rank_symmetries(w, found, layout="out_in", hidden=hidden)
            top = discovery.top_symmetry(rows)
            firsts.append(top["label"])
            hits += bool(has_true & set(top["names"]))
            for row in rows:
                for name in row["names"]:
                    scores[name].append(row["score"])
        counts = collections.Counter(firsts)
        out[top_key] = max(counts, key=lambda name: (counts[name], -firsts.index(name)))
        out[hit_key] = hits / len(firsts)
        out[score_key] = float(np.mean(scores[true]))
        if label in scores:
            out[label_key] = float(np.mean(scores[label]))
        out[scores_key] = {n: float(np.mean(scores[n])) for n in found}
    return out


def pattern_measures(experiment: str, model, params) -> dict:
    """Reference 001's own measures: colsum_deviation (set_sum, degree), translation_correlation (images).

    colsum_deviation is the mean over the n columns of |column sum - 1|;
    colsum_deviation_sum the sum (n times the mean): the reference's 0.1145
    does not say which it is, so both are kept (the claim uses the mean).

    For degree, sum_k relu(sum_j A_ij W_kj) equals the degree sum_j A_ij for
    every graph when W >= 0 and every column of W sums to 1, so the column-sum
    deviation is reported there too.
    """
    if experiment in ("set_sum", "degree"):
        matrix = model.matrix(params)
        mean = float(discovery.column_sum_deviation(matrix, layout="out_in"))
        return {"colsum_deviation": mean, "colsum_deviation_sum": mean * int(np.shape(matrix)[1])}
    if getattr(model, "image_shape", ()):
        return {"translation_correlation": float(discovery.translation_correlation(
            model.weight(params), stride=model.stride))}
    return {}


SCORE_PREFIX = "score_"
ALIGNED_PREFIX = "aligned_"
"""Aligned scores' columns: ALIGNED_PREFIX + score_column(candidate), e.g. 'aligned_score_C_10'."""


def score_column(candidate: str) -> str:
    """The result column of a candidate's score: 'C_10 x C_10' -> 'score_C_10_x_C_10'.

    Every run of characters other than letters, digits and '_' becomes one '_'
    (CSV-, pandas- and shell-safe), leading and trailing '_' dropped.
    """
    safe = re.sub(r"[^0-9A-Za-z_]+", "_", candidate).strip("_")
    if not safe:
        raise ValueError(f"candidate name {candidate!r} has no letter or digit to name a column with")
    return SCORE_PREFIX + safe


def score_columns(scores: dict) -> dict:
    """{candidate: score} -> {score_column(candidate): score}; two names sharing a column is an error."""
    out = {}
    for name, value in scores.items():
        column = score_column(name)
        if column in out:
            raise ValueError(f"candidates {sorted(n for n in scores if score_column(n) == column)} share the "
                             f"result column {column!r}; rename one")
        out[column] = value
    return out


def lane_sharing(experiment: str, model, params) -> list[dict]:
    """``sharing_summary`` and ``pattern_measures`` of every lane, one flat row each.

    The per-candidate scores become one column per candidate (``score_column``:
    ``score_<candidate>``, the mean over classes as ``sharing_score``), so the
    true group's column equals ``sharing_score``; the aligned ones
    ``aligned_score_<candidate>``. Models without a generic weight
    (baselines) give empty dicts.
    """
    _check_experiment(experiment)
    if not hasattr(model, "weight"):
        return [{} for _ in range(num_lanes(params))]
    out = []
    for lane in range(num_lanes(params)):
        one = lane_params(params, lane)
        summary = sharing_summary(model, one, experiment)
        scores = score_columns(summary.pop("scores"))
        aligned = {ALIGNED_PREFIX + k: v for k, v in score_columns(summary.pop("aligned_scores")).items()}
        out.append({**summary, **scores, **aligned, **pattern_measures(experiment, model, one)})
    return out


# -- claims -------------------------------------------------------------------------------------------

def _matches(row: dict, where: dict) -> bool:
    for key, wanted in where.items():
        value = row.get(key)
        if isinstance(wanted, float) and value is not None:
            if not math.isclose(float(value), wanted, rel_tol=1e-6):
                return False
        elif value != wanted:
            return False
    return True


def _values(rows: Sequence[dict], where: dict, metric: str) -> list[float]:
    return [float(r[metric]) for r in rows if _matches(r, where) and r.get(metric) is not None
            and math.isfinite(float(r[metric]))]


PERCENT_METRICS = ("test_acc", "test_node_acc")
"""Accuracies: stored as fractions, printed as percentages everywhere (reference and ours)."""
SCORE_GATE = 0.5
"""A score at most this calls a group shared (halfway from exactly shared, 0, to chance, 1)."""
SYM_ERROR_GATE = 0.01
"""A relative eq.-8 error (sym_error_rel) at most this calls the function symmetric (1% of the output's energy)."""


def format_value(metric: str, value: float | None, digits: int = 4) -> str:
    """A metric's value as printed: accuracies as percentages (2 decimals), others with ``digits`` significant."""
    if value is None:
        return "—"
    return f"{100 * value:.2f}%" if metric in PERCENT_METRICS else f"{value:.{digits}g}"


def _fmt(mean: float, std: float, n: int, metric: str = "") -> str:
    if metric in PERCENT_METRICS:
        return f"{100 * mean:.2f}% ± {100 * std:.2g} (n={n})"
    return f"{mean:.4g} ± {std:.2g} (n={n})"


def _bound(claim: dict) -> str:
    key = "at_least" if "at_least" in claim else "at_most"
    return (">= " if key == "at_least" else "<= ") + format_value(claim["metric"], claim[key])


def _symmetry_detail(hits: Sequence[dict], agree: int, what: str, top_key: str, score_key: str) -> str:
    tops = collections.Counter(r.get(top_key) for r in hits).most_common()
    return (f"{what} in {agree} of {len(hits)} lanes (tops: " + ", ".join(f"{name} x{count}" for name, count in tops)
            + f"; score {_fmt(*mean_std([float(r[score_key]) for r in hits]), len(hits))})")


def _judge(claim: dict, rows: Sequence[dict]) -> tuple[str, str]:
    kind = claim["kind"]
    if kind == "order":
        better = _values(rows, claim["better"], claim["metric"])
        worse = _values(rows, claim["worse"], claim["metric"])
        if not better or not worse:
            return "untested", "no rows for " + ("both sides" if not (better or worse) else
                                                 ("the better side" if not better else "the worse side"))
        mb, sb = mean_std(better)
        mw, sw = mean_std(worse)
        higher = load_reference_001()["metrics"][claim["metric"]]["better"] == "higher"
        holds = mb > mw if higher else mb < mw
        metric = claim["metric"]
        return (("reproduced" if holds else "contradicted"),
                f"{_fmt(mb, sb, len(better), metric)} vs {_fmt(mw, sw, len(worse), metric)}")
    if kind == "threshold":
        values = _values(rows, claim["where"], claim["metric"])
        if not values:
            return "untested", "no rows"
        mean, std = mean_std(values)
        holds = mean >= claim["at_least"] if "at_least" in claim else mean <= claim["at_most"]
        return (("reproduced" if holds else "contradicted"),
                f"{_fmt(mean, std, len(values), claim['metric'])}, needed {_bound(claim)}")
    if kind == "symmetry":
        # the reference reads its heat maps in its own layout: the fixed score, against the group it expects
        hits = [r for r in rows if _matches(r, claim["where"]) and r.get("top_symmetry") not in (None, "")]
        if not hits:
            return "untested", "no rows with a ranked symmetry"
        agree = sum(float(r.get("top_is_true") or 0) > 0.5 and float(r["sharing_score"]) <= claim["max_score"]
                    for r in hits)
        detail = _symmetry_detail(hits, agree, f"in the reference's layout (fixed score), the top-ranked group "
                                  f"contains {hits[0]['true_symmetry']} with score <= {claim['max_score']}",
                                  "top_symmetry", "sharing_score")
        return ("reproduced" if 2 * agree > len(hits) else "contradicted"), detail
    if kind == "learned":
        hits = [r for r in rows if _matches(r, claim["where"]) and r.get("aligned_score") not in (None, "")
                and r.get("sym_error_rel") not in (None, "")]
        if not hits:
            return "untested", "no rows with an aligned score and a relative eq.-8 error"
        agree = sum(float(r["sym_error_rel"]) <= SYM_ERROR_GATE and float(r["aligned_score"]) <= SCORE_GATE
                    for r in hits)
        errors = [float(r["sym_error_rel"]) for r in hits]
        detail = (_symmetry_detail(hits, agree, f"eq.-8 relative error <= {SYM_ERROR_GATE} and aligned score <= "
                                   f"{SCORE_GATE}", "top_aligned", "aligned_score")
                  + f"; relative eq.-8 error {_fmt(*mean_std(errors), len(errors))}")
        return ("reproduced" if 2 * agree > len(hits) else "contradicted"), detail
    raise ValueError(f"claim {claim['id']}: unknown kind {kind!r}")


def learned_claims(experiment: str, rows: Sequence[dict]) -> list[dict]:
    """One 'learned' claim per model with a weight in ``rows``: has it learned the group, function and weights?

    'has learned G' needs both a symmetric function (relative eq.-8 error <=
    SYM_ERROR_GATE under G) and weights shared under G up to relabelling the
    hidden units (aligned score <= SCORE_GATE), in a majority of lanes. G is
    the group the eq.-8 error is measured under: the reference's
    (``true_symmetry``). Not a claim of the reference: our test of what its
    symmetry claims mean for the function.
    """
    models = list(dict.fromkeys(r["model"] for r in rows if r.get("aligned_score") not in (None, "")))
    out = []
    for model in models:
        group = next(r["true_symmetry"] for r in rows if r["model"] == model and r.get("true_symmetry"))
        out.append({"id": f"{experiment}.{model}.learned", "experiment": experiment, "section": "—",
                    "kind": "learned", "where": {"model": model},
                    "text": f"{model} has learned {group}: a symmetric function and weights shared up to a "
                            "relabelling of the hidden units (our test, not the reference's)"})
    return out


NOT_JUDGED = "not judged at this budget"


def check_claims(experiment: str, rows: Iterable[dict], not_judged: str | None = None) -> list[dict]:
    """Reference 001's claims for ``experiment``, each judged on ``rows``, then ``learned_claims``.

    Kinds: 'order' (mean metric of the 'better' rows beats the 'worse' rows'),
    'threshold' (mean metric at least / at most a bound), 'symmetry' (in the
    reference's layout: in a majority of lanes the called top-ranked
    candidate, ``discovery.top_symmetry`` gated at 0.5 with ties, contains the
    reference's group and that group's fixed score is at most the claim's
    max_score), 'learned' (``learned_claims``). No matching rows: 'untested'.
    ``not_judged`` (a reason, e.g. a --quick run's budget): every verdict is
    NOT_JUDGED and the detail gives the reason and the numbers.

    Returns:
      [{'id', 'section', 'text', 'verdict', 'detail'}] in the data file's order.
    """
    _check_experiment(experiment)
    rows = list(rows)
    out = []
    claims = [c for c in load_reference_001()["claims"] if c["experiment"] == experiment]
    for claim in claims + learned_claims(experiment, rows):
        verdict, detail = _judge(claim, rows)
        if not_judged is not None:
            verdict, detail = NOT_JUDGED, f"{not_judged}; the numbers: {detail}"
        out.append({"id": claim["id"], "section": claim["section"], "text": claim["text"], "verdict": verdict,
                    "detail": detail})
    return out


def value_comparison(experiment: str, rows: Iterable[dict]) -> list[dict]:
    """Each reference number beside ours: model, metric, reference, ours (mean ± std), difference, within tolerance."""
    rows = list(rows)
    tolerance = load_reference_001()["metrics"]
    out = []
    for ref in reference_results(experiment):
        where = {"model": ref["model"], **({"offsets": ref["offsets"]} if "offsets" in ref else {})}
        values = _values(rows, where, ref["metric"])
        mean, std = mean_std(values)
        out.append({**where, "metric": ref["metric"], "reference": ref["value"], "printed": ref["printed"],
                    "section": ref["section"], "mean": mean, "std": std, "n": len(values),
                    "within_tolerance": None if mean is None else abs(mean - ref["value"]) <= tolerance[ref["metric"]]
                    ["tolerance"]})
    return out


def claims_markdown(claims: Sequence[dict]) -> str:
    """The judged claims as a markdown table (section, claim, verdict, numbers)."""
    return markdown_table(["§", "claim", "verdict", "ours"],
                          [(c["section"], c["text"], c["verdict"], c["detail"]) for c in claims])


def choices_markdown(experiment: str, run_choices: Mapping[str, str] | None = None) -> str:
    """The data and model choices made where reference 001 is silent, as a bullet list.

    ``run_choices`` ({topic: text}, e.g. ``discovery_task.run_choices(opts)``)
    replaces the default text of a topic and adds topics; without it the list
    describes the experiment's defaults.
    """
    _check_experiment(experiment)
    items = {**CHOICES[experiment], **model_choices(experiment), **dict(run_choices or {})}
    return "\n".join(f"- {key}: {text}" for key, text in items.items())

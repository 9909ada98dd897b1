"""Analysis of the discovery experiments (reference 001 §3.1–3.3): metrics, sharing scores, claims.

From a sweep's evaluated params (``SweepResult.params``, a pytree of (L, ...)
arrays in lane order) and the experiment's data:

* ``lane_predictions`` / ``task_metrics``: the reference's test metric per lane
  (set_sum: mean L1; degree: fraction of nodes exactly right after clamping
  and rounding; images: accuracy);
* ``candidates`` / ``lane_sharing``: how shared each lane's generic weights
  are under the true symmetry and decoys (``symjax.discovery.rank_symmetries``
  on the weight of every class, on set_sum's pooled map; scores: 0 = exactly
  shared, 1 = chance),
  plus the reference's own pattern measures (column-sum deviation,
  translation correlation);
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
from symjax.data.discovery import CHOICES
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
    """Name of the data's symmetry group among ``candidates(model)`` (e.g. 'S_10', 'C_10 x C_10')."""
    return model.group.name


def sharing_summary(model, params) -> dict:
    """Rank the candidates on every analysed matrix (``analysed_matrices``) of one lane.

    Returns:
      true_symmetry, sharing_score (mean over classes of the true group's
      score), top_symmetry (the candidate ranked first most often),
      top_is_true (fraction of classes whose first is the true group),
      scores {candidate: mean score over classes}, in the candidates' order.
    """
    found = candidates(model)
    true = true_symmetry(model)
    firsts, scores = [], collections.defaultdict(list)
    for w in analysed_matrices(model, params):
        rows = discovery.rank_symmetries(w, found, layout="out_in")
        firsts.append(rows[0]["name"])
        for row in rows:
            scores[row["name"]].append(row["score"])
    counts = collections.Counter(firsts)
    top = max(counts, key=lambda name: (counts[name], -float(np.mean(scores[name]))))
    return {"true_symmetry": true, "sharing_score": float(np.mean(scores[true])), "top_symmetry": top,
            "top_is_true": counts[true] / len(firsts),
            "scores": {name: float(np.mean(scores[name])) for name in found}}


def pattern_measures(experiment: str, model, params) -> dict:
    """Reference 001's own measures: colsum_deviation (set_sum, degree), translation_correlation (images).

    For degree, sum_k relu(sum_j A_ij W_kj) equals the degree sum_j A_ij for
    every graph when W >= 0 and every column of W sums to 1, so the column-sum
    deviation is reported there too.
    """
    if experiment in ("set_sum", "degree"):
        return {"colsum_deviation": float(discovery.column_sum_deviation(model.matrix(params), layout="out_in"))}
    if getattr(model, "image_shape", ()):
        return {"translation_correlation": float(discovery.translation_correlation(
            model.weight(params), stride=model.stride))}
    return {}


SCORE_PREFIX = "score_"


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
    true group's column equals ``sharing_score``. Models without a generic
    weight (baselines) give empty dicts.
    """
    _check_experiment(experiment)
    if not hasattr(model, "weight"):
        return [{} for _ in range(num_lanes(params))]
    out = []
    for lane in range(num_lanes(params)):
        one = lane_params(params, lane)
        summary = sharing_summary(model, one)
        scores = score_columns(summary.pop("scores"))
        out.append({**summary, **scores, **pattern_measures(experiment, model, one)})
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


def _fmt(mean: float, std: float, n: int) -> str:
    return f"{mean:.4g} ± {std:.2g} (n={n})"


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
        return ("reproduced" if holds else "contradicted"), f"{_fmt(mb, sb, len(better))} vs {_fmt(mw, sw, len(worse))}"
    if kind == "threshold":
        values = _values(rows, claim["where"], claim["metric"])
        if not values:
            return "untested", "no rows"
        mean, std = mean_std(values)
        holds = mean >= claim["at_least"] if "at_least" in claim else mean <= claim["at_most"]
        bound = f">= {claim['at_least']}" if "at_least" in claim else f"<= {claim['at_most']}"
        return ("reproduced" if holds else "contradicted"), f"{_fmt(mean, std, len(values))}, needed {bound}"
    if kind == "symmetry":
        hits = [r for r in rows if _matches(r, claim["where"]) and r.get("top_symmetry") is not None]
        if not hits:
            return "untested", "no rows with a ranked symmetry"
        agree = sum(r["top_symmetry"] == r["true_symmetry"] and r["sharing_score"] <= claim["max_score"]
                    for r in hits)
        tops = collections.Counter(r["top_symmetry"] for r in hits).most_common()
        detail = (f"top-ranked = true group with score <= {claim['max_score']} in {agree} of {len(hits)} lanes "
                  "(tops: " + ", ".join(f"{name} x{count}" for name, count in tops) +
                  f"; true-group score {_fmt(*mean_std([r['sharing_score'] for r in hits]), len(hits))})")
        return ("reproduced" if 2 * agree > len(hits) else "contradicted"), detail
    raise ValueError(f"claim {claim['id']}: unknown kind {kind!r}")


def check_claims(experiment: str, rows: Iterable[dict]) -> list[dict]:
    """Reference 001's claims for ``experiment``, each judged on ``rows``.

    Kinds: 'order' (mean metric of the 'better' rows beats the 'worse' rows'),
    'threshold' (mean metric at least / at most a bound), 'symmetry' (in a
    majority of lanes the top-ranked candidate is the true group and its
    sharing score is at most the claim's max_score, so that weights no more
    shared than chance never count). No matching rows: 'untested'.

    Returns:
      [{'id', 'section', 'text', 'verdict', 'detail'}] in the data file's order.
    """
    _check_experiment(experiment)
    rows = list(rows)
    out = []
    for claim in load_reference_001()["claims"]:
        if claim["experiment"] != experiment:
            continue
        verdict, detail = _judge(claim, rows)
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

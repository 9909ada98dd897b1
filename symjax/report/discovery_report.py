"""report.md of one discovery experiment (reference 001 §3.1-3.3) from its result rows.

Sections: the reference's numbers beside ours (mean ± std over seeds, at the
reference's setting: the largest training set, the reference's λ, the random
split), every reference claim judged from the rows, the full table over
model x λ x training-set size (x split, offsets), the heat maps of learned
weights and the metric / sharing score vs λ figure, the choices made where the
reference is silent, and the driver's run section (``extra_md``).
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

from symjax.io import atomic_write_text

from . import discovery as rd
from .aggregate import group_rows, mean_std
from .discovery_figures import FIGURES_001, lambda_figure
from .tables import markdown_table

METRIC = {"set_sum": "test_l1", "translation_1d": "test_acc", "translation_2d": "test_acc", "mnist": "test_acc",
          "degree": "test_node_acc"}
"""The reference's test metric of each experiment."""
TABLE_COLUMNS = ("sym_error", "sym_error_rel", "sharing_score", "aligned_score", "label_aligned_score",
                 "colsum_deviation", "colsum_deviation_sum", "translation_correlation")
GROUP_KEYS = ("model", "offsets", "split", "train_size", "lam", "lr")
DEFAULT_LAM = 1e-4
"""The λ standing in for the reference's where it gives none (degree): the one it gives for the other experiments."""


def _lam_matches(value, wanted: float) -> bool:
    return value is None or value == "" or math.isclose(float(value), wanted, rel_tol=1e-6)


def claim_lambda(experiment: str, lams) -> tuple[float, str]:
    """(λ, sentence): the one λ every claim, the comparison table and the heat maps use.

    The reference's λ when the run has it; else the run's λ nearest to it on a
    log scale; degree, where the reference gives none, DEFAULT_LAM (or nearest).
    """
    given = rd.reference_settings(experiment).get("lam")
    ref = DEFAULT_LAM if given is None else float(given)
    lams = sorted({float(v) for v in lams if v not in (None, "")})
    chosen = ref
    if lams and not any(math.isclose(v, ref, rel_tol=1e-6) for v in lams):
        chosen = min(lams, key=lambda v: abs(math.log10(max(v, 1e-12)) - math.log10(ref)))
    if given is None:
        why = f"the reference gives no λ for this experiment; λ = {chosen:g} is used"
    elif math.isclose(chosen, ref, rel_tol=1e-6):
        why = f"the reference's λ = {ref:g}"
    else:
        why = f"the reference's λ = {ref:g} is not in this run; the nearest, λ = {chosen:g}, is used instead"
    return chosen, why


def select_baseline_lr(rows: Sequence[dict], higher: bool = True) -> list[dict]:
    """Rows with each baseline's learning rate picked on validation; other models' rows unchanged.

    Baseline lanes carry ``lr`` (a lane value, one lane per rate in
    ``--baseline_lr``) and ``val_metric`` (the test metric on the validation
    split). Per (model, split, train size) the rate with the best mean
    val_metric over seeds is kept (``higher``: higher is better; ties: the
    first rate); rows without val_metric or with one rate pass unchanged.
    """
    rows = list(rows)
    keep = []
    groups = group_rows(rows, ("model", "split", "train_size"))
    for key, group in groups.items():
        rates = list(dict.fromkeys(r.get("lr") for r in group))
        if len(rates) < 2 or any(r.get("val_metric") in (None, "") for r in group):
            keep += group
            continue
        means = {lr: mean_std([float(r["val_metric"]) for r in group if r.get("lr") == lr])[0] for lr in rates}
        best = (max if higher else min)(rates, key=lambda lr: means[lr])
        keep += [r for r in group if r.get("lr") == best]
    return keep


def reference_setting_rows(experiment: str, rows: Sequence[dict]) -> list[dict]:
    """Rows at the reference's setting: split 'random', the largest training set, ``claim_lambda``'s λ (or no λ).

    Baselines: the learning rate picked on validation (``select_baseline_lr``).
    """
    higher = rd.load_reference_001()["metrics"][METRIC[experiment]]["better"] == "higher"
    rows = [r for r in select_baseline_lr(rows, higher) if r.get("split", "random") == "random"]
    if not rows:
        return []
    largest = max(int(r["train_size"]) for r in rows)
    rows = [r for r in rows if int(r["train_size"]) == largest]
    lam, _ = claim_lambda(experiment, [r.get("lam") for r in rows])
    return [r for r in rows if _lam_matches(r.get("lam"), lam)]


def _cell(values: list[float]) -> str:
    mean, std = mean_std(values)
    return "—" if mean is None else f"{mean:.4g} ± {std:.2g}"


def _finite(rows: Sequence[dict], column: str) -> list[float]:
    out = []
    for r in rows:
        value = r.get(column)
        if value is not None and value != "" and math.isfinite(float(value)):
            out.append(float(value))
    return out


def comparison_markdown(experiment: str, rows: Sequence[dict]) -> str:
    """The reference's numbers and ours beside them (``value_comparison`` on the reference-setting rows).

    Accuracies in percent. The column-sum deviation appears twice: as the mean
    over the columns (ours, what the claim uses) and as their sum, since the
    reference's 0.1145 may be either.
    """
    body = []
    chosen = reference_setting_rows(experiment, rows)
    for c in rd.value_comparison(experiment, chosen):
        ours = "not run" if c["mean"] is None else rd._fmt(c["mean"], c["std"], c["n"], c["metric"])
        within = {None: "—", True: "yes", False: "no"}[c["within_tolerance"]]
        label = c["model"] + (f" (b, b') = ({c['offsets']})" if "offsets" in c else "")
        metric = c["metric"]
        if metric == "colsum_deviation":
            metric = "colsum_deviation (mean over the columns; the claim's reading)"
        body.append((c["section"], label, metric, c["printed"], ours, within))
        if c["metric"] == "colsum_deviation":
            values = [float(r["colsum_deviation_sum"]) for r in chosen if r.get("model") == c["model"]
                      and r.get("colsum_deviation_sum") not in (None, "")]
            mean, std = mean_std(values)
            tolerance = rd.load_reference_001()["metrics"]["colsum_deviation"]["tolerance"]
            body.append((c["section"], label, "colsum_deviation_sum (sum over the columns)", c["printed"],
                         "not recorded" if mean is None else rd._fmt(mean, std, len(values)),
                         "—" if mean is None else ("yes" if abs(mean - c["reference"]) <= tolerance else "no")))
    return markdown_table(["§", "model", "metric", "reference", "ours (mean ± std over seeds)",
                           "within tolerance"], body)


def _majority(values: list) -> str:
    values = [v for v in values if v not in (None, "")]
    if not values:
        return "—"
    top = max(dict.fromkeys(values), key=values.count)  # a tie goes to the value seen first, in every process
    return f"{top} ({values.count(top)}/{len(values)})"


def _metric_cell(metric: str, values: list[float]) -> str:
    mean, std = mean_std(values)
    if mean is None:
        return "—"
    return f"{100 * mean:.2f}% ± {100 * std:.2g}" if metric in rd.PERCENT_METRICS else f"{mean:.4g} ± {std:.2g}"


def convergence(group: Sequence[dict], max_epochs: int | None) -> str:
    """'yes' when every lane's best epoch is below the cap; 'did not converge (k/n at the cap N)' otherwise."""
    if not max_epochs:
        return "—"
    best = [int(float(r["best_epoch"])) for r in group if r.get("best_epoch") not in (None, "")]
    at_cap = sum(b >= int(max_epochs) for b in best)
    return "yes" if not at_cap else f"did not converge ({at_cap}/{len(best)} at the cap {max_epochs})"


def full_table(experiment: str, rows: Sequence[dict], max_epochs: int | None = None) -> str:
    """Every (model, offsets, split, train size, λ, lr) group: n, test metric, eq.-8 errors, scores, tops.

    ``max_epochs``: the run's epoch cap; a group whose best epoch reached it
    is marked "did not converge" (still improving when stopped).
    """
    metric = METRIC[experiment]
    columns = [c for c in TABLE_COLUMNS if any(r.get(c) not in (None, "") for r in rows)]
    keys = [k for k in GROUP_KEYS if len({str(r.get(k)) for r in rows}) > 1 or k in ("model", "lam")]
    tops = [c for c in ("top_symmetry", "top_aligned") if any(r.get(c) not in (None, "") for r in rows)]
    body = []
    for key, group in group_rows(rows, keys).items():
        cells = ["—" if v in (None, "") else str(v) for v in key]
        body.append((*cells, len(group), _metric_cell(metric, _finite(group, metric)),
                     *(_cell(_finite(group, c)) for c in columns),
                     *(_majority([r.get(c) for r in group]) for c in tops), convergence(group, max_epochs)))
    names = {"top_symmetry": "top-ranked, fixed (lanes)", "top_aligned": "top-ranked, aligned (lanes)"}
    return markdown_table([*keys, "n", metric, *columns, *(names[c] for c in tops), "converged"], body)


def _largest_random(rows: Sequence[dict]) -> list[dict]:
    """Rows of the random split at the largest training set (the λ figure's and the score table's rows)."""
    rows = [r for r in rows if r.get("split", "random") == "random"]
    largest = max((int(r["train_size"]) for r in rows), default=None)
    return [r for r in rows if int(r["train_size"]) == largest]


def scores_table(rows: Sequence[dict], prefix: str = rd.SCORE_PREFIX) -> str:
    """Mean score of every candidate symmetry per model x λ (x offsets), the true group's cell in bold.

    Columns are the rows' ``<prefix><candidate>`` columns (``rd.score_column``;
    prefix 'score_' for the fixed scores, 'aligned_score_' for the aligned) in
    first-seen order; rows are the random split at the largest training set.
    Empty string when no row carries such a score (runs recorded before the
    scores were kept, baselines only). The function's eq.-8 errors (sym_error,
    sym_error_rel) stand beside the scores.
    """
    rows = [r for r in _largest_random(rows) if any(k.startswith(prefix) and r[k] not in (None, "") for k in r)]
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for r in rows for k in r if k.startswith(prefix)))
    keys = [k for k in ("model", "offsets", "lam") if k != "offsets" or len({str(r.get(k)) for r in rows}) > 1]
    function_columns = [c for c in ("sym_error", "sym_error_rel") if any(r.get(c) not in (None, "") for r in rows)]
    body = []
    for key, group in group_rows(rows, keys).items():
        true_columns = {prefix + rd.score_column(r["true_symmetry"])[len(rd.SCORE_PREFIX):]
                        for r in group if r.get("true_symmetry")}
        cells = [f"**{_cell(_finite(group, c))}**" if c in true_columns else _cell(_finite(group, c))
                 for c in columns]
        errors = [_cell(_finite(group, c)) for c in ("sym_error", "sym_error_rel") if c in function_columns]
        body.append((*("—" if v is None else str(v) for v in key), len(group), *errors, *cells))
    return markdown_table([*keys, "n", *function_columns, *(c[len(prefix):] for c in columns)], body)


def _same_lanes(a: Sequence[dict], b: Sequence[dict], metric: str, rel: float, score_tol: float) -> bool:
    """Every seed's metric within ``rel`` (relative) and sharing score within ``score_tol`` of the other λ's."""
    first = {r.get("seed"): r for r in a}
    if set(first) != {r.get("seed") for r in b}:
        return False
    for r in b:
        x, y = first[r.get("seed")].get(metric), r.get(metric)
        if x in (None, "") or y in (None, "") or abs(float(x) - float(y)) > rel * max(abs(float(x)), 1e-12):
            return False
        u, v = first[r.get("seed")].get("sharing_score"), r.get("sharing_score")
        if (u in (None, "")) != (v in (None, "")) or (u not in (None, "") and abs(float(u) - float(v)) > score_tol):
            return False
    return True


def identical_lambdas(rows: Sequence[dict], metric: str, rel: float = 0.02, score_tol: float = 1e-3) -> list[str]:
    """Sentences naming the λ values whose lanes came out the same (metric and score for every seed).

    "The same": every seed's test metric within ``rel`` of each other (relative) and its sharing score
    within ``score_tol``, comparing each λ with the smallest λ of its run of such λ values (sorted). With
    Adam the update is m / sqrt(v): scaling the whole loss by c leaves it unchanged, so once λ · penalty
    dominates the loss, λ = 1, 10 and 100 train the same lanes up to rounding. Found from the rows, not
    assumed.
    """
    out = []
    keys = ("model", "offsets", "split", "train_size")
    for key, group in group_rows([r for r in rows if r.get("lam") not in (None, "")], keys).items():
        by_lam = sorted(group_rows(group, ("lam",)).items(), key=lambda item: float(item[0][0]))
        runs: list[list] = []
        for (lam,), lanes in by_lam:
            if runs and _same_lanes(runs[-1][0][1], lanes, metric, rel, score_tol):
                runs[-1].append((lam, lanes))
            else:
                runs.append([(lam, lanes)])
        for members in runs:
            if len(members) > 1:
                lams = ", ".join(f"{float(lam):g}" for lam, _ in members)
                out.append(f"{key[0]}" + (f" (offsets {key[1]})" if key[1] not in (None, "") else "") +
                           f", train size {key[3]}: λ = {lams} give the same lanes (every seed's test metric "
                           f"within {rel:.0%} and score within {score_tol:g}). Adam divides each step by the "
                           "gradient's running scale, so once λ times the penalty dominates the loss the steps no "
                           "longer depend on λ: these λ values are one setting, not several.")
    return out


def write_discovery_report(experiment: str, rows: Sequence[dict], out_dir: str, extra_md: str = "",
                           run_choices: Mapping[str, str] | None = None, *, not_judged: str | None = None,
                           max_epochs: int | None = None, changes: str = "") -> list[str]:
    """report.md and figures/lambda.png of one experiment into out_dir; returns the paths written.

    ``run_choices``: the choices this run's options made ({topic: text}, ``rd.choices_markdown``).
    ``not_judged``: the reason no verdict is given (a --quick run); ``max_epochs``: the epoch cap
    (groups whose best epoch reached it are marked "did not converge"); ``changes``: what changed
    from the previous recording and why (markdown, printed under the claims).
    """
    rows = [dict(r) for r in rows]
    paths = []
    metric = METRIC[experiment]
    figure = lambda_figure(_largest_random(rows), os.path.join(out_dir, "figures", "lambda.png"), metric,
                           title=f"{experiment}: test metric and every candidate's score vs λ (largest training set)")
    if figure:
        paths.append(figure)
    heatmaps = sorted(n for n in os.listdir(os.path.join(out_dir, "figures"))
                      if n.startswith("weights_")) if os.path.isdir(os.path.join(out_dir, "figures")) else []
    section = rd.reference_settings(experiment)["section"]
    lam, lam_text = claim_lambda(experiment, [r.get("lam") for r in rows])
    expected = next((r["true_symmetry"] for r in rows if r.get("true_symmetry")), None)
    text = [f"# Discovery experiment `{experiment}` (reference 001 §{section})", "",
            "Scores (0 = exactly shared, 1 = chance; `symjax.discovery.rank_symmetries`): sharing_score is the "
            "fixed score, the weight in the reference's layout; aligned_score the score after the best "
            "relabelling of the hidden index (hidden='align'), which a network's function does not see. "
            "sym_error is eq. 8 under the reference's group, sym_error_rel the same divided by the mean squared "
            "output. Top-ranked: `discovery.top_symmetry`, called only at score <= 0.5, ties named "
            "(majority over lanes). Accuracies in percent.", "",
            f"Groups: the labels are invariant under **{rd.label_symmetry(experiment)}** (the data; "
            f"`symjax.data.discovery.LABEL_SYMMETRY`); the reference expects the weights to show "
            f"**{expected or '—'}** (its penalty's layout, also the hard-shared model's and eq. 8's group). "
            "The claims about weight patterns are judged against the reference's group in its layout (fixed "
            "score); \"has learned\" needs a symmetric function and a low aligned score; a top-ranked group "
            "that contains the expected one counts for it.", "",
            "## The reference's numbers beside ours", "",
            f"Our rows at the reference's setting: largest training set, one λ for every claim and the heat maps "
            f"({lam_text}; models without a λ: all their lanes), the random split; baselines at the learning rate "
            "picked on validation.", "", comparison_markdown(experiment, rows), "",
            "## The reference's claims", ""]
    if not_judged:
        text += [f"**{rd.NOT_JUDGED}**: {not_judged}.", ""]
    text += [rd.claims_markdown(rd.check_claims(experiment, reference_setting_rows(experiment, rows), not_judged)),
             ""]
    if changes:
        text += ["### What changed from the previous recording, and why", "", changes, ""]
    text += ["## All models, λ and training-set sizes", "", full_table(experiment, rows, max_epochs), ""]
    text += [f"- {line}" for line in identical_lambdas(rows, metric)]
    text += ["", "## Sharing score of every candidate symmetry", ""]
    for prefix, what in ((rd.SCORE_PREFIX, "fixed (the reference's layout)"),
                         (rd.ALIGNED_PREFIX + rd.SCORE_PREFIX, "aligned (after the best relabelling of the "
                                                                "hidden index)")):
        scores = scores_table(rows, prefix)
        text += ([f"{what[0].upper() + what[1:]}: each candidate's score of the learned weight, mean over classes "
                  "and then over lanes (seeds); random split, largest training set; the reference's group in bold.",
                  "", scores, ""] if scores else
                 [f"{what[0].upper() + what[1:]}: not recorded in this run's results.", ""])
    text += ["## Figures", ""]
    if figure:
        text.append("![metric and every candidate's score vs λ](figures/lambda.png)")
    text += [f"![{name}](figures/{name})" for name in heatmaps]
    text += ["", f"Heat maps: the learned weights as reference 001 draws them ({FIGURES_001[experiment]}), of the "
             f"lane the claims use (λ = {lam:g} for the penalised models).", "",
             "## Choices where the reference is silent, and deviations", "",
             rd.choices_markdown(experiment, run_choices), "",
             "## How this run was produced", "", extra_md, ""]
    path = os.path.join(out_dir, "report.md")
    atomic_write_text(path, "\n".join(text))
    return [path, *paths]

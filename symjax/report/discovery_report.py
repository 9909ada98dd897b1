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
TABLE_COLUMNS = ("sym_error", "sharing_score", "colsum_deviation", "translation_correlation")
GROUP_KEYS = ("model", "offsets", "split", "train_size", "lam")


def _lam_matches(value, wanted: float) -> bool:
    return value is None or math.isclose(float(value), wanted, rel_tol=1e-6)


def reference_setting_rows(experiment: str, rows: Sequence[dict]) -> list[dict]:
    """Rows at the reference's setting: split 'random', the largest training set, λ the reference's (or no λ).

    When the run has no lane at the reference's λ, the λ nearest to it (log scale) stands in.
    """
    rows = [r for r in rows if r.get("split", "random") == "random"]
    if not rows:
        return []
    largest = max(int(r["train_size"]) for r in rows)
    rows = [r for r in rows if int(r["train_size"]) == largest]
    ref = rd.reference_settings(experiment).get("lam", 1e-4)
    lams = sorted({float(r["lam"]) for r in rows if r.get("lam") is not None})
    if lams and not any(math.isclose(v, ref, rel_tol=1e-6) for v in lams):
        ref = min(lams, key=lambda v: abs(math.log10(max(v, 1e-12)) - math.log10(ref)))
    return [r for r in rows if _lam_matches(r.get("lam"), ref)]


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
    """The reference's numbers and ours beside them (``value_comparison`` on the reference-setting rows)."""
    body = []
    for c in rd.value_comparison(experiment, reference_setting_rows(experiment, rows)):
        ours = "not run" if c["mean"] is None else f"{c['mean']:.4g} ± {c['std']:.2g} (n={c['n']})"
        within = {None: "—", True: "yes", False: "no"}[c["within_tolerance"]]
        label = c["model"] + (f" (b, b') = ({c['offsets']})" if "offsets" in c else "")
        body.append((c["section"], label, c["metric"], c["printed"], ours, within))
    return markdown_table(["§", "model", "metric", "reference", "ours (mean ± std over seeds)",
                           "within tolerance"], body)


def _majority(values: list) -> str:
    values = [v for v in values if v not in (None, "")]
    if not values:
        return "—"
    top = max(dict.fromkeys(values), key=values.count)  # a tie goes to the value seen first, in every process
    return f"{top} ({values.count(top)}/{len(values)})"


def full_table(experiment: str, rows: Sequence[dict]) -> str:
    """Every (model, offsets, split, train size, λ) group: n, test metric, eq.-8 error, sharing, top symmetry."""
    metric = METRIC[experiment]
    columns = [c for c in TABLE_COLUMNS if any(r.get(c) not in (None, "") for r in rows)]
    keys = [k for k in GROUP_KEYS if len({str(r.get(k)) for r in rows}) > 1 or k in ("model", "lam")]
    body = []
    for key, group in group_rows(rows, keys).items():
        cells = ["—" if v is None else str(v) for v in key]
        body.append((*cells, len(group), _cell(_finite(group, metric)), *(_cell(_finite(group, c)) for c in columns),
                     _majority([r.get("top_symmetry") for r in group])))
    return markdown_table([*keys, "n", metric, *columns, "top-ranked symmetry (lanes)"], body)


def _largest_random(rows: Sequence[dict]) -> list[dict]:
    """Rows of the random split at the largest training set (the λ figure's and the score table's rows)."""
    rows = [r for r in rows if r.get("split", "random") == "random"]
    largest = max((int(r["train_size"]) for r in rows), default=None)
    return [r for r in rows if int(r["train_size"]) == largest]


def scores_table(rows: Sequence[dict]) -> str:
    """Mean score of every candidate symmetry per model x λ (x offsets), the true group's cell in bold.

    Columns are the rows' ``score_<candidate>`` columns (``rd.score_column``) in
    first-seen order; rows are the random split at the largest training set.
    Empty string when no row carries a candidate score (runs recorded before
    the scores were kept, baselines only).
    """
    rows = [r for r in _largest_random(rows) if any(k.startswith(rd.SCORE_PREFIX) for k in r)]
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for r in rows for k in r if k.startswith(rd.SCORE_PREFIX)))
    keys = [k for k in ("model", "offsets", "lam") if k != "offsets" or len({str(r.get(k)) for r in rows}) > 1]
    body = []
    for key, group in group_rows(rows, keys).items():
        true_columns = {rd.score_column(r["true_symmetry"]) for r in group if r.get("true_symmetry")}
        cells = [f"**{_cell(_finite(group, c))}**" if c in true_columns else _cell(_finite(group, c))
                 for c in columns]
        body.append((*("—" if v is None else str(v) for v in key), len(group), *cells))
    return markdown_table([*keys, "n", *(c[len(rd.SCORE_PREFIX):] for c in columns)], body)


def write_discovery_report(experiment: str, rows: Sequence[dict], out_dir: str, extra_md: str = "",
                           run_choices: Mapping[str, str] | None = None) -> list[str]:
    """report.md and figures/lambda.png of one experiment into out_dir; returns the paths written.

    ``run_choices``: the choices this run's options made ({topic: text}, ``rd.choices_markdown``).
    """
    rows = [dict(r) for r in rows]
    paths = []
    figure = lambda_figure(_largest_random(rows), os.path.join(out_dir, "figures", "lambda.png"), METRIC[experiment],
                           title=f"{experiment}: test metric and sharing score vs λ (largest training set)")
    if figure:
        paths.append(figure)
    heatmaps = sorted(n for n in os.listdir(os.path.join(out_dir, "figures"))
                      if n.startswith("weights_")) if os.path.isdir(os.path.join(out_dir, "figures")) else []
    section = rd.reference_settings(experiment)["section"]
    text = [f"# Discovery experiment `{experiment}` (reference 001 §{section})", "",
            "Scores: sharing_score is the true group's score of the learned weight (0 = exactly shared, "
            "1 = chance; `symjax.discovery.rank_symmetries` against the decoys); sym_error is eq. 8 under the "
            "task's group; top-ranked symmetry is the candidate ranked first (majority over lanes).", "",
            "## The reference's numbers beside ours", "",
            "Our rows at the reference's setting: largest training set, the reference's λ (models without a λ: "
            "all their lanes), the random split.", "", comparison_markdown(experiment, rows), "",
            "## The reference's claims", "",
            rd.claims_markdown(rd.check_claims(experiment, reference_setting_rows(experiment, rows))), "",
            "## All models, λ and training-set sizes", "", full_table(experiment, rows), "",
            "## Sharing score of every candidate symmetry", ""]
    scores = scores_table(rows)
    text += (["Each candidate's score of the learned weight (0 = exactly shared, 1 = chance), mean over classes "
              "and then over lanes (seeds); random split, largest training set; the true group in bold. "
              "`rank_symmetries` ranks the lowest score first (within 1e-3, the candidate with fewer orbits).",
              "", scores, ""] if scores else
             ["Not recorded: this run's results keep only the true group's score (sharing_score) and the "
              "top-ranked candidate.", ""])
    text += ["## Figures", ""]
    if figure:
        text.append("![metric and sharing score vs λ](figures/lambda.png)")
    text += [f"![{name}](figures/{name})" for name in heatmaps]
    text += ["", f"Heat maps: the learned weights as reference 001 draws them ({FIGURES_001[experiment]}).", "",
             "## Choices where the reference is silent, and deviations", "",
             rd.choices_markdown(experiment, run_choices), "",
             "## How this run was produced", "", extra_md, ""]
    path = os.path.join(out_dir, "report.md")
    atomic_write_text(path, "\n".join(text))
    return [path, *paths]

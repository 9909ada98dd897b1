"""Is "shared beats vanilla" more than a coin toss? Paired differences over seeds, with intervals and p-values.

For one condition c (a setting and a data size), lanes of the two models with
the same seed see the same data split, so the comparison is paired by seed.
With s = 1..n the seeds present for both models:

    d_s = L_shared(c, s) - L_vanilla(c, s)            (test loss; < 0: shared lower)
    d_bar = (1 / n) sum_s d_s,   sd = sqrt(sum_s (d_s - d_bar)^2 / (n - 1))

Two 95% intervals for the mean difference E[d], both from ``scipy.stats``:

* paired t (``ttest_rel(...).confidence_interval``):
  d_bar -/+ t_{1 - alpha/2, n - 1} sd / sqrt(n)   (alpha = 1 - confidence);
* bootstrap over seeds (``bootstrap``, method 'percentile'): the alpha/2 and
  1 - alpha/2 quantiles (linear interpolation) of the means of
  ``num_resamples`` resamples of the n differences with replacement, drawn
  with ``np.random.default_rng(bootstrap_seed)``.

With few seeds the percentile bootstrap is too narrow (n = 3 seeds give only
10 distinct resample means, and none wider than the observed extremes), so the
verdict defaults to the t interval; the bootstrap is reported beside it.

p-value: the two-sided paired t test of E[d] = 0, p = 2 P(T_{n-1} >= |t|) with
t = d_bar / (sd / sqrt(n)); p = 0 when sd = 0 and d_bar != 0, p = 1 when every
d_s = 0. A table tests many conditions at once (15-30 at 95% each, so about
one false "significant" in 20 by chance alone), so each condition also gets
its Benjamini-Hochberg q-value over the conditions of the table
(``scipy.stats.false_discovery_control``): with p_(1) <= ... <= p_(m),
q_(i) = min_{j >= i} min(1, p_(j) m / j). Calling significant the conditions
with q < alpha keeps the expected share of false discoveries among them at
most alpha.

Verdict from the interval named by ``decide_by`` ('t', 'bootstrap' or 'both',
the last needing both intervals to agree): 'shared lower' when the interval
lies below 0, 'vanilla lower' when it lies above 0, 'not significant' otherwise.

Lanes flagged diverged (or with a non-finite loss) are left out, as in
``symjax.report.aggregate``, and so is their partner of the same seed; the
number of pairs dropped so is reported. Rows with a ``task`` column go through
``symjax.report.rows.normalize_row`` first, so rows read from results.csv (all
strings) work as they are.
"""

from __future__ import annotations

import math
import warnings
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

from .rows import normalize_row, setting_rank
from .tables import markdown_table

VERDICTS = ("shared lower", "vanilla lower", "not significant")
DECIDE_BY = ("t", "bootstrap", "both")
_REQUIRED = ("model", "setting", "seed")


def _check_options(confidence: float, num_resamples: int, decide_by: str, models: Sequence[str]) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    if not isinstance(num_resamples, int) or num_resamples < 1:
        raise ValueError(f"num_resamples must be a positive integer; got {num_resamples!r}")
    if decide_by not in DECIDE_BY:
        raise ValueError(f"decide_by must be one of {DECIDE_BY}; got {decide_by!r}")
    if len(models) != 2 or models[0] == models[1]:
        raise ValueError(f"models must be two different model names (a, b) for a - b; got {models!r}")


def _condition_table(rows: Iterable[dict], models: Sequence[str], size: str, metric: str) -> dict:
    """{(setting, size): {model: {seed: row}}} for the two models; refuses duplicate lanes."""
    table: dict = {}
    for k, row in enumerate(rows):
        missing = [c for c in (*_REQUIRED, size, metric) if c not in row]
        if missing:
            raise ValueError(f"row {k}: expected columns {[*_REQUIRED, size, metric]}; missing {missing}")
        if "task" in row:  # a results row, possibly all strings (csv.DictReader)
            row = normalize_row(row)
        if row["model"] not in models:
            continue
        cond = (row["setting"], int(row[size]))
        lanes = table.setdefault(cond, {m: {} for m in models})[row["model"]]
        seed = int(row["seed"])
        if seed in lanes:
            raise ValueError(f"condition setting={cond[0]}, {size}={cond[1]}: model {row['model']!r} has "
                             f"seed {seed} twice; expected one lane per (model, seed)")
        lanes[seed] = row
    return table


def _lane_value(row: dict, metric: str) -> float | None:
    """The metric of a lane; None for a lane flagged diverged or a missing or non-finite value."""
    value = row.get(metric)
    if value is None or value == "" or row.get("diverged", False):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def paired_t(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[tuple[float, float], float]:
    """The paired t test of E[a - b] = 0 over n >= 2 pairs: (its ``confidence`` interval of E[a - b], two-sided p).

    a, b: (n,) values of the two models, paired by position. The interval is
    d_bar -/+ t_{1 - alpha/2, n-1} sd / sqrt(n) of d = a - b; when sd = 0 it is
    [d_bar, d_bar] and p is 0 (d_bar != 0) or 1 (every d = 0).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_t: expected two (n,) arrays of the same shape; got {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError(f"a t interval needs at least 2 differences; got {a.size}")
    with warnings.catch_warnings():  # sd = 0 (identical differences) is handled below, not a precision problem
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        test = stats.ttest_rel(a, b)
        ci = test.confidence_interval(confidence)
    p_value = float(test.pvalue)
    if math.isnan(p_value):  # every difference is 0: t = 0 / 0, and no evidence of a difference
        p_value = 1.0
    return (float(ci.low), float(ci.high)), p_value


def bootstrap_interval(diffs: np.ndarray, confidence: float = 0.95, num_resamples: int = 10_000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs`` ((n,), n >= 2; resampling with replacement)."""
    diffs = np.asarray(diffs, np.float64)
    if diffs.ndim != 1 or diffs.size < 2:
        raise ValueError(f"a bootstrap interval needs an (n,) array of at least 2 differences; got shape {diffs.shape}")
    result = stats.bootstrap((diffs,), np.mean, vectorized=True, confidence_level=confidence,
                             n_resamples=num_resamples, method="percentile", rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def fdr_q_values(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg q-values of m p-values (``scipy.stats.false_discovery_control``, method 'bh')."""
    if len(p_values) == 0:
        return []
    return [float(q) for q in stats.false_discovery_control(np.asarray(p_values, np.float64), method="bh")]


def _verdict(interval: tuple[float, float], names: Sequence[str]) -> str:
    low, high = interval
    if high < 0.0:
        return f"{names[0]} lower"
    if low > 0.0:
        return f"{names[1]} lower"
    return "not significant"


def paired_differences(
    rows: Iterable[dict],
    models: Sequence[str] = ("shared", "vanilla"),
    metric: str = "test_loss",
    size: str = "train_size",
    confidence: float = 0.95,
    num_resamples: int = 10_000,
    bootstrap_seed: int = 0,
    decide_by: str = "t",
) -> list[dict]:
    """Per condition, the seed-paired difference models[0] - models[1] of ``metric``, its intervals and verdict.

    Args:
      rows: result rows (dicts) with at least model, setting, seed, ``size`` and
        ``metric``; rows of other models are ignored.
      models: (a, b): the difference is a - b (default shared - vanilla).
      metric: column compared (lower is better for the verdict's wording).
      size: the data-size column: 'train_size' (task 1) or 'data_size' (tasks 2, 3).
      confidence: level of both intervals (0.95).
      num_resamples, bootstrap_seed: the bootstrap's resamples and generator seed.
      decide_by: which interval gives the verdict: 't', 'bootstrap', or 'both'
        (significant only when both exclude 0 on the same side).

    Returns:
      One dict per condition, in the study's order of settings and sizes:
      setting, <size>, n_pairs, n_dropped (pairs left out for a diverged lane),
      mean_diff, sd_diff, t_low, t_high, boot_low, boot_high, p_value (paired t,
      two-sided), q_value (Benjamini-Hochberg over the returned conditions), verdict.

    Raises:
      ValueError: a condition whose two models do not have the same seeds (the
        message names them), a duplicate (model, seed) in a condition, fewer
        than 2 valid pairs in a condition, a missing column, or bad options.
    """
    models = tuple(models)
    _check_options(confidence, num_resamples, decide_by, models)
    table = _condition_table(rows, models, size, metric)
    out = []
    for cond in sorted(table, key=lambda c: (setting_rank(c[0]), c[1])):
        lanes = table[cond]
        seeds_a, seeds_b = set(lanes[models[0]]), set(lanes[models[1]])
        if seeds_a != seeds_b:
            raise ValueError(
                f"condition setting={cond[0]}, {size}={cond[1]}: seeds are not paired; "
                f"{models[0]} has {sorted(seeds_a)}, {models[1]} has {sorted(seeds_b)} "
                f"(unmatched: {sorted(seeds_a ^ seeds_b)})")
        pairs, dropped = [], 0
        for seed in sorted(seeds_a):
            a = _lane_value(lanes[models[0]][seed], metric)
            b = _lane_value(lanes[models[1]][seed], metric)
            if a is None or b is None:
                dropped += 1
            else:
                pairs.append((a, b))
        if len(pairs) < 2:
            raise ValueError(f"condition setting={cond[0]}, {size}={cond[1]}: {len(pairs)} valid seed pairs "
                             f"({dropped} dropped as diverged); expected at least 2")
        values_a, values_b = np.asarray(pairs, dtype=np.float64).T
        diffs = values_a - values_b
        t_ci, p_value = paired_t(values_a, values_b, confidence)
        boot_ci = bootstrap_interval(diffs, confidence, num_resamples, bootstrap_seed)
        by_t, by_boot = _verdict(t_ci, models), _verdict(boot_ci, models)
        if decide_by == "t":
            verdict = by_t
        elif decide_by == "bootstrap":
            verdict = by_boot
        else:
            verdict = by_t if by_t == by_boot else "not significant"
        out.append({
            "setting": cond[0], size: cond[1], "n_pairs": int(diffs.size), "n_dropped": dropped,
            "mean_diff": float(np.mean(diffs)), "sd_diff": float(np.std(diffs, ddof=1)),
            "t_low": t_ci[0], "t_high": t_ci[1], "boot_low": boot_ci[0], "boot_high": boot_ci[1],
            "p_value": p_value, "verdict": verdict,
        })
    for row, q in zip(out, fdr_q_values([r["p_value"] for r in out])):
        row["q_value"] = q
    return out


def significance_markdown(results: Sequence[dict], size: str = "train_size",
                          models: Sequence[str] = ("shared", "vanilla"), confidence: float = 0.95) -> str:
    """The rows of ``paired_differences`` as a markdown table (differences and p, q with 3 significant digits)."""
    level = f"{round(100 * confidence)}%"
    header = ["setting", size, "seed pairs", f"mean {models[0]} - {models[1]}", f"{level} paired t",
              f"{level} bootstrap", "p (paired t)", "q (BH FDR)", "verdict"]
    sig = lambda x: f"{x:+.3g}"
    body = [[str(r["setting"]), str(r[size]),
             f"{r['n_pairs']}" + (f" ({r['n_dropped']} dropped)" if r["n_dropped"] else ""),
             sig(r["mean_diff"]), f"[{sig(r['t_low'])}, {sig(r['t_high'])}]",
             f"[{sig(r['boot_low'])}, {sig(r['boot_high'])}]", f"{r['p_value']:.3g}", f"{r['q_value']:.3g}",
             r["verdict"]] for r in results]
    return markdown_table(header, body)

"""Figures of the discovery experiments: learned-weight heat maps and metric / sharing score vs λ.

* ``weight_panels(experiment, model, params)``: the 2-D pictures reference 001
  draws of one lane's generic weight (§3.1 Figure 2: the 10 x 10 matrix;
  §3.2 Figures 4 and 12-15: per class the 10 x 10 translation x pixel matrix;
  Figure 5: per class the 10 x 10 grid of 10 x 10 pixel templates; Figures 7,
  17-18: per class the grid of 56 x 56 templates, every ``step``-th
  translation; §3.3 Figure 21: the 10 x 10 degree matrix).
* ``heatmap_figure(panels, path)``: those panels side by side, PNG.
* ``lambda_figure(rows, path, metric)``: test metric and every candidate's
  fixed and aligned score against λ (log axis), mean ± std over seeds.

PNGs are written atomically (``symjax.report.figures.save_figure``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .aggregate import group_rows, mean_std
from .discovery import PERCENT_METRICS
from .figures import new_figure, save_figure

FIGURES_001 = {"set_sum": "Figure 2", "translation_1d": "Figures 4, 12-15", "translation_2d": "Figure 5",
               "mnist": "Figures 7, 17-18", "degree": "Figure 21"}
"""Reference 001's figures of learned weights, per experiment."""
AXIS_LABELS = {"set_sum": ("output i", "input j"), "degree": ("hidden unit k", "input j"),
               "translation_1d": ("translation t", "pixel p"),
               "translation_2d": ("translation t1, then pixel p1", "translation t2, then pixel p2"),
               "mnist": ("translation t1 (every 4th), then pixel p1", "translation t2 (every 4th), then pixel p2")}
"""The heat maps' (row, column) axis names, per experiment (2-D: blocks of templates, ``tile_templates``)."""


def tile_templates(w: np.ndarray, step: int = 1) -> np.ndarray:
    """One class weight (T_1, T_2, P_1, P_2) as a 2-D mosaic: block (i, j) is the template of translation (i, j).

    Every ``step``-th translation along each axis; returns (ceil(T_1/step) P_1, ceil(T_2/step) P_2).
    """
    if w.ndim != 4:
        raise ValueError(f"expected a class weight (T1, T2, P1, P2); got shape {w.shape}")
    w = w[::step, ::step]
    t1, t2, p1, p2 = w.shape
    return w.transpose(0, 2, 1, 3).reshape(t1 * p1, t2 * p2)


def weight_panels(experiment: str, model, params, classes: Sequence[int] | None = None,
                  step: int = 1) -> dict[str, np.ndarray]:
    """Title -> 2-D array of one lane's generic weight, as reference 001 draws it."""
    w = np.asarray(model.weight(params))
    if experiment in ("set_sum", "degree"):
        return {"W (out x in)": w}
    classes = range(w.shape[0]) if classes is None else classes
    if experiment == "translation_1d":
        return {f"class {k} (translation x pixel)": w[k] for k in classes}
    return {f"class {k}": tile_templates(w[k], step) for k in classes}


def _ticks(size: int, most: int = 6) -> list[int]:
    """At most ``most`` evenly spaced tick positions over ``size`` cells, always 0 and size - 1."""
    if size <= most:
        return list(range(size))
    return sorted(set(np.linspace(0, size - 1, most).round().astype(int).tolist()))


def heatmap_figure(panels: dict[str, np.ndarray], path: str, title: str = "", columns: int = 5,
                   axis_labels: tuple[str, str] = ("row", "column")) -> str:
    """Panels side by side (``columns`` per row), a symmetric colour scale per panel; returns the path.

    Each panel has tick labels (indices of its rows and columns, named by
    ``axis_labels``) and its own colour bar, laid out by matplotlib's
    constrained layout so that no colour bar runs into the next panel.
    """
    if not panels:
        raise ValueError("heatmap_figure needs at least one panel")
    n = len(panels)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = new_figure(rows, cols, figsize=(3.9 * cols, 3.4 * rows + (0.6 if title else 0)), squeeze=False,
                             layout="constrained")
    for ax, (name, grid) in zip(axes.flat, panels.items()):
        bound = float(np.max(np.abs(grid))) or 1.0
        image = ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(_ticks(grid.shape[1]))
        ax.set_yticks(_ticks(grid.shape[0]))
        ax.tick_params(labelsize=7)
        ax.set_xlabel(axis_labels[1], fontsize=8)
        ax.set_ylabel(axis_labels[0], fontsize=8)
        bar = fig.colorbar(image, ax=ax, shrink=0.85)
        bar.ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def lambda_figure(rows: Sequence[dict], path: str, metric: str, score: str = "sharing_score",
                  lam_key: str = "lam", title: str = "") -> str | None:
    """Test ``metric``, then every candidate's fixed and aligned score, against λ: mean ± std over seeds.

    Left: the metric (accuracies in percent), one line per model. Middle: the fixed scores
    (``score_<candidate>`` columns, or ``score`` alone when a run kept no
    per-candidate column); right: the aligned scores (``aligned_score_<candidate>``).
    In the score panels the colour is the candidate and the line style the
    model. Rows without a positive finite λ are left out (λ is drawn on a log
    axis); returns None when no row has one.
    """
    keep = [r for r in rows if r.get(lam_key) not in (None, "") and float(r[lam_key]) > 0]
    if not keep:
        return None
    fixed = list(dict.fromkeys(k for r in keep for k in r if k.startswith("score_"))) or [score]
    aligned = list(dict.fromkeys(k for r in keep for k in r if k.startswith("aligned_score_")))
    percent = metric in PERCENT_METRICS
    panels = [(f"{metric} (%)" if percent else metric, [metric]), ("fixed score (0 = shared, 1 = chance)", fixed)]
    if aligned:
        panels.append(("aligned score (0 = shared, 1 = chance)", aligned))
    fig, axes = new_figure(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False, layout="constrained")
    styles = ("-", "--", ":", "-.")
    for index, (model, model_rows) in enumerate(group_rows(keep, ("model",)).items()):
        by_lam = group_rows(model_rows, (lam_key,))
        lams = sorted(float(k[0]) for k in by_lam)
        for ax, (_, columns) in zip(axes[0], panels):
            for slot, column in enumerate(columns):
                scale = 100.0 if percent and column == metric else 1.0
                stats = [mean_std([scale * float(r[column]) for r in by_lam[(lam,)]
                                   if r.get(column) not in (None, "")]) for lam in lams]
                pts = [(lam, m, s) for lam, (m, s) in zip(lams, stats) if m is not None]
                if not pts:
                    continue
                x, m, s = map(np.array, zip(*pts))
                one = len(columns) == 1
                label = model[0] if one else f"{model[0]}: {column.split('score_', 1)[-1]}"
                ax.errorbar(x, m, yerr=s, marker="o", markersize=3, capsize=2, label=label,
                            color=f"C{(index if one else slot) % 10}", linestyle="-" if one else
                            styles[index % len(styles)])
    for ax, (label, _) in zip(axes[0], panels):
        ax.set_xscale("log")
        ax.set_xlabel("λ")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)

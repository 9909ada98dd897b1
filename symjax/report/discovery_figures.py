"""Figures of the discovery experiments: learned-weight heat maps and metric / sharing score vs λ.

* ``weight_panels(experiment, model, params)``: the 2-D pictures reference 001
  draws of one lane's generic weight (§3.1 Figure 2: the 10 x 10 matrix;
  §3.2 Figures 4 and 12-15: per class the 10 x 10 translation x pixel matrix;
  Figure 5: per class the 10 x 10 grid of 10 x 10 pixel templates; Figures 7,
  17-18: per class the grid of 56 x 56 templates, every ``step``-th
  translation; §3.3 Figure 21: the 10 x 10 degree matrix).
* ``heatmap_figure(panels, path)``: those panels side by side, PNG.
* ``lambda_figure(rows, path, metric)``: test metric and sharing score against
  λ (log axis), mean ± std over seeds, one line per model.

PNGs are written atomically (``symjax.report.figures.save_figure``).
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .aggregate import group_rows, mean_std  # noqa: E402
from .figures import save_figure  # noqa: E402

FIGURES_001 = {"set_sum": "Figure 2", "translation_1d": "Figures 4, 12-15", "translation_2d": "Figure 5",
               "mnist": "Figures 7, 17-18", "degree": "Figure 21"}
"""Reference 001's figures of learned weights, per experiment."""


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


def heatmap_figure(panels: dict[str, np.ndarray], path: str, title: str = "", columns: int = 5) -> str:
    """Panels side by side (``columns`` per row), a symmetric colour scale per panel; returns the path."""
    if not panels:
        raise ValueError("heatmap_figure needs at least one panel")
    n = len(panels)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (name, grid) in zip(axes.flat, panels.items()):
        bound = float(np.max(np.abs(grid))) or 1.0
        image = ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def lambda_figure(rows: Sequence[dict], path: str, metric: str, score: str = "sharing_score",
                  lam_key: str = "lam", title: str = "") -> str | None:
    """Test ``metric`` (left) and sharing ``score`` (right) against λ, mean ± std over seeds, per model.

    Rows without a positive finite λ are left out (λ is drawn on a log axis);
    returns None when no row has one.
    """
    keep = [r for r in rows if r.get(lam_key) is not None and float(r[lam_key]) > 0]
    if not keep:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for index, (model, model_rows) in enumerate(group_rows(keep, ("model",)).items()):
        by_lam = group_rows(model_rows, (lam_key,))
        lams = sorted(float(k[0]) for k in by_lam)
        for ax, column in zip(axes, (metric, score)):
            stats = [mean_std([float(r[column]) for r in by_lam[(lam,)] if r.get(column) is not None])
                     for lam in lams]
            pts = [(lam, m, s) for lam, (m, s) in zip(lams, stats) if m is not None]
            if pts:
                x, m, s = map(np.array, zip(*pts))
                ax.errorbar(x, m, yerr=s, marker="o", capsize=3, label=model[0], color=f"C{index % 10}")
    for ax, column in zip(axes, (metric, score)):
        ax.set_xscale("log")
        ax.set_xlabel("λ")
        ax.set_ylabel(column)
        ax.grid(alpha=0.3)
    axes[1].set_ylabel(f"{score} (0 = shared, 1 = chance)")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)

"""Figures 4-8 of the study, drawn from a run's aggregates.

* Task 1: Figure 4 (test loss and symmetry error vs train size, one curve per
  n_blocks, one panel per model) and Figure 5 (parameter count vs n_blocks).
* Task 2: Figure 6 (accuracy by hidden setting and data size, grouped bars)
  and Figure 7 (heatmaps of test loss and symmetry error per model).
* Task 3: Figure 8 (test loss and symmetry error vs data size, one panel per
  model size, one curve per model) and Figure 9 (rollouts: predicted vs true
  paths of the three particles, one panel per model; from trained params, so
  the task-3 run draws it with :func:`figure9_rollouts`).

Points are means over seeds; error bars are ± one sample std (clipped at the
axis floor on log axes).  Symmetry errors may be exactly zero: on log axes
and log colour scales they are drawn at :data:`SYM_FLOOR`, which every axis
label concerned says.  PNGs are written atomically.
"""

from __future__ import annotations

import io
import math
import os
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from symjax.io import atomic_write_bytes

from .aggregate import index_aggregates
from .rows import model_rank, setting_rank, size_key

#: Symmetry errors (and any other value) below this are drawn at this value on log scales.
SYM_FLOOR = 1e-16
#: Floor for losses on log axes (only reached by a loss of exactly 0).
LOSS_FLOOR = 1e-12

SYM_LABEL = f"symmetry error (values < {SYM_FLOOR:.0e} drawn at {SYM_FLOOR:.0e})"

FIGURE_FILES = {
    1: ("fig4_task1_loss_sym.png", "fig5_task1_params.png"),
    2: ("fig6_task2_accuracy.png", "fig7_task2_heatmaps.png"),
    3: ("fig8_task3_loss_sym.png",),
}


# ------------------------------------------------------------------ helpers
def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], layout: str | None = None,
               **subplots):
    """A ``matplotlib.figure.Figure`` and its (nrows, ncols) axes, as ``pyplot.subplots`` returns them.

    The figure is not registered with pyplot and renders through its own canvas, so drawing never
    switches (or needs) matplotlib's global backend; ``layout`` goes to ``Figure`` ('constrained', ...),
    ``subplots`` to ``Figure.subplots`` (``squeeze``, ``sharex``, ``sharey``, ...).
    """
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **subplots)


def save_figure(fig: Figure, path: str) -> str:
    """Render ``fig`` to PNG (120 dpi) and write it atomically to ``path``.

    A figure with a layout engine (``new_figure(..., layout='constrained')``) is saved as laid out; one
    without is cropped to its contents (``bbox_inches='tight'``, which draws the figure twice). A figure
    that pyplot made (it has a canvas manager) is also closed, so pyplot lets it go.
    """
    buffer = io.BytesIO()
    tight = {} if fig.get_layout_engine() is not None else {"bbox_inches": "tight"}
    fig.savefig(buffer, format="png", dpi=120, **tight)
    if fig.canvas.manager is not None:
        import matplotlib.pyplot as plt  # noqa: PLC0415  (already loaded: pyplot made this figure)

        plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def model_color(model: str) -> str:
    """Fixed colour per model, the same in every figure."""
    return f"C{model_rank(model)[0] % 10}"


def _models(aggregates: Sequence[dict]) -> list[str]:
    return sorted({a["model"] for a in aggregates}, key=model_rank)


def _settings(aggregates: Sequence[dict]) -> list:
    return sorted({a["setting"] for a in aggregates}, key=setting_rank)


def _sizes(aggregates: Sequence[dict], task: int) -> list[int]:
    return sorted({a[size_key(task)] for a in aggregates})


def _stat(agg: dict | None, metric: str) -> tuple[float, float]:
    """(mean, std) of a metric, NaN when missing or when every lane diverged."""
    if agg is None or not agg.get("n") or agg.get(f"{metric}_mean") is None:
        return math.nan, math.nan
    return agg[f"{metric}_mean"], agg.get(f"{metric}_std") or 0.0


def _log_errorbar(ax, xs, means, stds, floor: float, **style) -> None:
    """Plot mean ± std on a log y axis.

    Values below ``floor`` are drawn at the floor. Where mean - std <= 0 (seeds
    spread over decades) a symmetric bar has no lower end on a log axis; the
    lower bar then stops one decade below the mean instead of plunging to the
    floor.
    """
    xs, means, stds = np.asarray(xs, float), np.asarray(means, float), np.asarray(stds, float)
    keep = np.isfinite(means)
    if not keep.any():
        return
    xs, means, stds = xs[keep], means[keep], np.nan_to_num(stds[keep])
    ys = np.maximum(means, floor)
    low = ys - np.maximum(np.maximum(means - stds, ys / 10.0), floor)
    high = np.maximum(means + stds, floor) - ys
    ax.errorbar(xs, ys, yerr=[np.maximum(low, 0), np.maximum(high, 0)], capsize=2, marker="o", ms=3, **style)


def _series(index: dict, setting, model: str, sizes: Sequence[int], metric: str):
    """Means and stds of ``metric`` along ``sizes`` for one (setting, model)."""
    stats = [_stat(index.get((setting, size, model)), metric) for size in sizes]
    return [s[0] for s in stats], [s[1] for s in stats]


# ------------------------------------------------------ shared layout
def _loss_sym_grid(index: dict, columns: Sequence[tuple], sizes: Sequence[int], xlabel: str, title: str,
                   path: str, column_width: float) -> str:
    """Two rows (test loss, symmetry error) of log-log panels, one column per entry of ``columns``.

    columns: [(column title, [(setting, model, color, label), ...]), ...]; each
    (setting, model) curve is mean ± std over seeds along ``sizes``.
    """
    fig, axes = new_figure(2, len(columns), figsize=(column_width * len(columns) + 1, 6.4), squeeze=False,
                           sharex=True, sharey="row", layout="constrained")
    for col, (column_title, curves) in enumerate(columns):
        for setting, model, color, label in curves:
            for row, (metric, floor) in enumerate((("test_loss", LOSS_FLOOR), ("sym_error", SYM_FLOOR))):
                means, stds = _series(index, setting, model, sizes, metric)
                _log_errorbar(axes[row, col], sizes, means, stds, floor, color=color, label=label)
        axes[0, col].set_title(column_title)
        axes[1, col].set_xlabel(xlabel)
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    axes[0, 0].set_ylabel("test loss (MSE)")
    axes[1, 0].set_ylabel(SYM_LABEL, fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


# ------------------------------------------------------------------- task 1
def figure4_task1(aggregates: Sequence[dict], path: str) -> str | None:
    """Figure 4: test loss (top) and symmetry error (bottom) vs train size, per model."""
    if not aggregates:
        return None
    index = index_aggregates(aggregates, 1)
    models, blocks, sizes = _models(aggregates), _settings(aggregates), _sizes(aggregates, 1)
    colors = colormaps["viridis"](np.linspace(0, 0.9, len(blocks)))
    columns = [(model, [(n_blocks, model, color, f"n_blocks={n_blocks}") for color, n_blocks in zip(colors, blocks)])
               for model in models]
    return _loss_sym_grid(index, columns, sizes, "train size",
                          "Task 1: test loss and symmetry error vs train size (mean ± std over seeds)", path,
                          column_width=3.6)


def figure5_task1(aggregates: Sequence[dict], path: str) -> str | None:
    """Figure 5: parameter count vs n_blocks, one line per model (log y)."""
    points = {}
    for agg in aggregates:
        if agg.get("params_mean") is not None:
            points.setdefault(agg["model"], {}).setdefault(agg["setting"], agg["params_mean"])
    if not points:
        return None
    fig, ax = new_figure(figsize=(5.5, 4), layout="constrained")
    for model in sorted(points, key=model_rank):
        xs = sorted(points[model])
        aug = model.endswith("_aug")
        ax.plot(xs, [points[model][x] for x in xs], marker="s" if aug else "o", mfc="none" if aug else None,
                ms=8 if aug else 5, linestyle="--" if aug else "-", color=model_color(model), label=model)
    blocks = sorted({x for p in points.values() for x in p})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(blocks)
    ax.set_xticklabels([str(b) for b in blocks])
    ax.minorticks_off()
    ax.set_xlabel("n_blocks")
    ax.set_ylabel("parameters")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("Task 1: parameter count vs n_blocks")
    return save_figure(fig, path)


# ------------------------------------------------------------------- task 2
def figure6_task2(aggregates: Sequence[dict], path: str) -> str | None:
    """Figure 6: accuracy as grouped bars (models) per data size, one panel per hidden setting."""
    aggs = [a for a in aggregates if a.get("test_acc_mean") is not None]
    if not aggs:
        return None
    index = index_aggregates(aggs, 2)
    models, settings, sizes = _models(aggs), _settings(aggs), _sizes(aggs, 2)
    fig, axes = new_figure(1, len(settings), figsize=(4.2 * len(settings), 3.8), squeeze=False, sharey=True,
                           layout="constrained")
    width = 0.8 / len(models)
    for ax, setting in zip(axes[0], settings):
        for i, model in enumerate(models):
            means, stds = _series(index, setting, model, sizes, "test_acc")
            xs = np.arange(len(sizes)) + (i - (len(models) - 1) / 2) * width
            ax.bar(xs, np.nan_to_num(means), width, yerr=np.nan_to_num(stds), capsize=2,
                   color=model_color(model), label=model)
        ax.set_xticks(np.arange(len(sizes)))
        ax.set_xticklabels([str(s) for s in sizes])
        ax.set_xlabel("data size")
        ax.set_title(f"hidden setting {setting}")
        ax.set_ylim(0, 1)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy (mean ± std)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(models), fontsize=8)
    fig.suptitle("Task 2: accuracy by hidden setting and data size")
    return save_figure(fig, path)


def _heatmap(ax, grid: np.ndarray, norm, fmt, rows: Sequence, cols: Sequence):
    """Draw one annotated heatmap (NaN cells blank, annotated '—')."""
    image = ax.imshow(np.ma.masked_invalid(grid), norm=norm, cmap="viridis", aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            value = grid[i, j]
            text = "—" if not np.isfinite(value) else fmt(value)
            shade = norm(value) if np.isfinite(value) else 1.0
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if shade < 0.5 else "black")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([str(c) for c in cols])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([str(r) for r in rows])
    return image


def figure7_task2(aggregates: Sequence[dict], path: str) -> str | None:
    """Figure 7: heatmaps (hidden setting × data size) of test loss and symmetry error per model."""
    if not aggregates:
        return None
    index = index_aggregates(aggregates, 2)
    models, settings, sizes = _models(aggregates), _settings(aggregates), _sizes(aggregates, 2)
    grids = {}
    for metric in ("test_loss", "sym_error"):
        for model in models:
            grids[metric, model] = np.array([_series(index, s, model, sizes, metric)[0] for s in settings], float)
    losses = np.concatenate([grids["test_loss", m].ravel() for m in models])
    syms = np.concatenate([np.maximum(grids["sym_error", m].ravel(), SYM_FLOOR) for m in models])
    loss_norm = Normalize(np.nanmin(losses), np.nanmax(losses)) if np.isfinite(losses).any() else Normalize(0, 1)
    top = np.nanmax(syms) if np.isfinite(syms).any() else 1.0
    sym_norm = LogNorm(SYM_FLOOR, max(top, SYM_FLOOR * 10))
    fig, axes = new_figure(2, len(models), figsize=(3.2 * len(models) + 1.5, 5.8), squeeze=False)
    for col, model in enumerate(models):
        loss_image = _heatmap(axes[0, col], grids["test_loss", model], loss_norm, lambda v: f"{v:.3f}", settings, sizes)
        sym_grid = np.where(np.isfinite(grids["sym_error", model]), np.maximum(grids["sym_error", model], SYM_FLOOR), np.nan)
        sym_image = _heatmap(axes[1, col], sym_grid, sym_norm, lambda v: f"{v:.1e}", settings, sizes)
        axes[0, col].set_title(model)
        axes[1, col].set_xlabel("data size")
    axes[0, 0].set_ylabel("hidden setting")
    axes[1, 0].set_ylabel("hidden setting")
    fig.colorbar(loss_image, ax=axes[0, :].tolist(), label="test loss (mean)")
    fig.colorbar(sym_image, ax=axes[1, :].tolist(), label=f"sym. error (log; < {SYM_FLOOR:.0e} shown at {SYM_FLOOR:.0e})")
    fig.suptitle("Task 2: test loss and symmetry error (means over seeds)")
    return save_figure(fig, path)


# ------------------------------------------------------------------- task 3
def figure8_task3(aggregates: Sequence[dict], path: str) -> str | None:
    """Figure 8: test loss (top) and symmetry error (bottom) vs data size, per model size."""
    if not aggregates:
        return None
    index = index_aggregates(aggregates, 3)
    models, settings, sizes = _models(aggregates), _settings(aggregates), _sizes(aggregates, 3)
    columns = [(f"{setting} model", [(setting, model, model_color(model), model) for model in models])
               for setting in settings]
    return _loss_sym_grid(index, columns, sizes, "data size (train + validation)",
                          "Task 3: test loss and symmetry error vs data size (mean ± std over seeds)", path,
                          column_width=3.8)


def figure9_rollouts(panels: Sequence[dict], path: str) -> str:
    """Figure 9 layout: one panel per model, predicted (dashed) vs true (solid) paths in the plane.

    panels: dicts with 'title', 'pred' (K + 1, 12) and 'true' (K + 1, 12), states
    of the three particles in physical units (``symjax.data.three_body`` layout).
    """
    from symjax.data import three_body as tb  # noqa: PLC0415

    fig, axes = new_figure(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False, layout="constrained")
    for ax, panel in zip(axes[0], panels):
        true = tb.positions(panel["true"])  # (K + 1, 3, 2)
        pred = tb.positions(panel["pred"])
        for i in range(tb.NUM_PARTICLES):
            color = f"C{i}"
            ax.plot(true[:, i, 0], true[:, i, 1], "-", color=color, lw=1.5, label=f"particle {i + 1} true")
            ax.plot(pred[:, i, 0], pred[:, i, 1], "--", color=color, lw=1.2, label=f"particle {i + 1} predicted")
            ax.plot(true[0, i, 0], true[0, i, 1], "o", color=color, ms=5)
        ax.set_title(panel["title"], fontsize=8)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        # Square limits around the true paths, so that diverging predictions cannot hide them.
        lo, hi = true.reshape(-1, 2).min(0), true.reshape(-1, 2).max(0)
        centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo).max() * 1.5 + 0.5
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal", adjustable="box")
    axes[0, 0].legend(fontsize=6, loc="best")
    fig.suptitle("Task 3 rollouts (circles: start; solid: simulator; dashed: model)")
    return save_figure(fig, path)


# ---------------------------------------------------------------------- API
def make_figures(task: int, aggregates: Sequence[dict], out_dir: str) -> list[str]:
    """Draw the task's figures into ``out_dir``; return the paths written (figures without data are skipped)."""
    builders = {
        1: (figure4_task1, figure5_task1),
        2: (figure6_task2, figure7_task2),
        3: (figure8_task3,),
    }
    written = []
    for builder, name in zip(builders[int(task)], FIGURE_FILES[int(task)]):
        path = builder(list(aggregates), os.path.join(out_dir, name))
        if path is not None:
            written.append(path)
    return written

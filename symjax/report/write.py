"""``write_report``: report.md, aggregate.csv and figures for one task's run."""

from __future__ import annotations

import csv
import glob
import io
import os
from typing import Iterable, Sequence

from .aggregate import aggregate
from .figures import make_figures
from .reference import load_reference, reference_source, reference_table_name
from symjax.io import atomic_write_text

from .rows import is_diverged, normalize_row
from .significance import paired_differences, significance_markdown
from .summary import summary_markdown
from .tables import make_table, rollout_median_table

_FIGURE_CAPTIONS = {
    "fig4_task1_loss_sym.png": "Figure 4 layout: test loss and symmetry error vs train size, one curve per n_blocks.",
    "fig5_task1_params.png": "Figure 5 layout: parameter count vs n_blocks.",
    "fig6_task2_accuracy.png": "Figure 6 layout: accuracy by hidden setting and data size.",
    "fig7_task2_heatmaps.png": "Figure 7 layout: test loss and symmetry error heatmaps per model.",
    "fig8_task3_loss_sym.png": "Figure 8 layout: test loss and symmetry error vs data size per model size.",
}


def aggregate_csv(aggregates: list[dict]) -> str:
    """The aggregates as CSV text (one line per group, empty cells for missing values)."""
    if not aggregates:
        return ""
    columns = list(aggregates[0])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in aggregates:
        writer.writerow({k: "" if record.get(k) is None else record[k] for k in columns})
    return buffer.getvalue()


def _run_line(rows: list[dict]) -> str:
    """One sentence on what the rows hold."""
    seeds = sorted({row.get("seed") for row in rows if row.get("seed") is not None})
    diverged = sum(is_diverged(row) for row in rows)
    models = sorted({row["model"] for row in rows})
    return (f"{len(rows)} training lanes ({len(seeds)} seeds; models: {', '.join(models)}); "
            f"{diverged} diverged lane(s) excluded from all means.")


def _source_line(task: int) -> str:
    """Citation of the thesis table the run is compared with."""
    src = reference_source()
    return (f"Thesis numbers: {reference_table_name(task)} of {src['author']}, \"{src['title']}\" "
            f"({src['institution']}, {src['date']}), transcribed in `symjax/report/reference.json`.")


def _figure_section(task: int, figure_paths: list[str], out_dir: str) -> str:
    """Markdown image links (relative to out_dir), plus the Figure-9 rollout PNGs of a task-3 run
    (``figure9_rollouts``, drawn from trained params during the run, one per model size)."""
    lines = []
    for path in figure_paths:
        name = os.path.basename(path)
        lines.append(f"![{_FIGURE_CAPTIONS.get(name, name)}]({name})\n\n*{_FIGURE_CAPTIONS.get(name, name)}*\n")
    if int(task) == 3:
        ours = {os.path.basename(p) for p in figure_paths}
        found = glob.glob(os.path.join(out_dir, "*rollout*.png")) + glob.glob(os.path.join(out_dir, "fig9*.png"))
        for name in sorted({os.path.basename(p) for p in found} - ours):
            lines.append(f"![Figure 9: rollouts]({name})\n\n*Figure 9 layout: rollouts of the best lane of each "
                         "model (predicted dashed, simulator solid).*\n")
    return "\n".join(lines) if lines else "No figures: the rows lack the data they need."


def significance_section(rows: list[dict]) -> str:
    """Task 1: per condition, is shared - vanilla (test loss, paired by seed) significant? (``significance``)."""
    try:
        results = paired_differences(rows, ("shared", "vanilla"), "test_loss", "train_size")
    except ValueError as error:
        return f"Not computed: {error}."
    lower = sum(r["verdict"] == "shared lower" for r in results)
    higher = sum(r["verdict"] == "vanilla lower" for r in results)
    fdr_lower = sum(r["q_value"] < 0.05 and r["mean_diff"] < 0 for r in results)
    fdr_higher = sum(r["q_value"] < 0.05 and r["mean_diff"] > 0 for r in results)
    return "\n".join([
        "Test loss of shared minus vanilla, paired by seed (same data split); 95% paired t interval (the verdict) "
        "and percentile bootstrap over seeds; p of the paired t test and its Benjamini-Hochberg q over the "
        f"{len(results)} conditions (the false-discovery-rate correction for testing them all).", "",
        significance_markdown(results), "",
        f"Shared significantly lower in {lower} of {len(results)} conditions, vanilla significantly lower in "
        f"{higher}, not significant in {len(results) - lower - higher}. With the false discovery rate held at 5% "
        f"(q < 0.05): shared lower in {fdr_lower}, vanilla lower in {fdr_higher}."])


def report_markdown(task: int, rows: list[dict], aggregates: list[dict], figure_paths: list[str],
                    out_dir: str, extra_md: str = "", sections: Sequence[tuple[str, str]] = ()) -> str:
    """Text of report.md; ``sections``: (title, markdown) pairs placed after the claims."""
    table = load_reference()["tables"][str(int(task))]
    parts = [
        f"# {table['task']}: results compared with the thesis's {reference_table_name(task)}",
        "",
        f"Produced by `symjax.report.write_report` from the run's results.csv: {_run_line(rows)}",
        _source_line(task),
        "",
    ]
    if extra_md.strip():
        parts += ["## How this run was produced", "", extra_md.strip(), ""]
    parts += ["## Results", "", make_table(task, aggregates), "",
              "Aggregates (all metrics, including epochs) are also in `aggregate.csv`.", ""]
    medians = rollout_median_table(rows) if int(task) == 3 else ""
    if medians:
        parts += ["### Rollout metrics: medians over all data sizes and seeds", "",
                  "Means of the rollout metrics are dominated by single runaway rollouts; the medians "
                  "below summarise the same lanes robustly.", "", medians, ""]
    parts += [
              "## Claims checked on this run", "",
              "Counts over conditions use the means above; counts over lanes use every non-diverged lane. "
              "Comparisons are strict (ties do not count).", "",
              summary_markdown(task, rows), ""]
    if int(task) == 1:
        parts += ["## Significance per condition", "", significance_section(rows), ""]
    if int(task) == 3:
        from .controls import no_change_markdown, table7_consistency_markdown  # noqa: PLC0415
        from .reference import reference_rows  # noqa: PLC0415

        parts += ["## Control: the no-change predictor", "", no_change_markdown(rows), "",
                  "## Control: is Table 7 consistent with itself?", "",
                  table7_consistency_markdown(reference_rows(3), rows), ""]
    for title, markdown in sections:
        parts += [f"## {title}", "", markdown.strip(), ""]
    parts += ["## Figures", "", _figure_section(task, figure_paths, out_dir)]
    return "\n".join(parts).rstrip() + "\n"


def write_report(task: int, rows: Iterable[dict], out_dir: str, extra_md: str = "",
                 sections: Sequence[tuple[str, str]] = ()) -> list[str]:
    """Write figures, ``aggregate.csv`` and ``report.md`` for ``task`` into ``out_dir``.

    ``rows`` are the run's per-lane results (dicts as read from results.csv or
    built in Python; rows of other tasks are ignored).  ``extra_md`` is
    markdown the caller supplies about how the run was produced (command line,
    flags, machine, wall time); ``sections`` (title, markdown) pairs follow the
    claims (e.g. the "Departures and their effect" section).  Every file is written atomically.  Returns the
    written paths (figures first, report.md last).
    """
    rows = [normalize_row(row) for row in rows]
    rows = [row for row in rows if row["task"] == int(task)]
    os.makedirs(out_dir, exist_ok=True)
    aggregates = aggregate(rows)
    written = make_figures(task, aggregates, out_dir)
    written.append(atomic_write_text(os.path.join(out_dir, "aggregate.csv"), aggregate_csv(aggregates)))
    text = report_markdown(task, rows, aggregates, written[:-1], out_dir, extra_md, sections)
    written.append(atomic_write_text(os.path.join(out_dir, "report.md"), text))
    return written

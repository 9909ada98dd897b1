"""Reports of the experiments: the study's reference numbers, aggregation over
seeds, markdown tables in the thesis's layouts, checked claims and figures.

Typical use after an experiment::

    from symjax.report import load_results, write_report
    rows = load_results("runs/task1/results.csv")
    write_report(1, rows, "runs/task1", extra_md="`python -m ... --seeds 3` on 1×H100, 412 s")
"""

from .aggregate import aggregate, default_keys, mean_std
from .figures import figure9_rollouts, make_figures
from .reference import (
    reference_index,
    reference_lookup,
    reference_rows,
    reference_source,
    reference_table_name,
    reference_value,
)
from .rows import is_diverged, load_results, normalize_row, size_key
from .summary import check_claims, summary_markdown
from .tables import fmt_acc, fmt_loss, fmt_params, fmt_sci, make_table
from .write import write_report

__all__ = [
    "aggregate",
    "check_claims",
    "default_keys",
    "fmt_acc",
    "fmt_loss",
    "fmt_params",
    "fmt_sci",
    "is_diverged",
    "load_results",
    "figure9_rollouts",
    "make_figures",
    "make_table",
    "mean_std",
    "normalize_row",
    "reference_index",
    "reference_lookup",
    "reference_rows",
    "reference_source",
    "reference_table_name",
    "reference_value",
    "size_key",
    "summary_markdown",
    "write_report",
]

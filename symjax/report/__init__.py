"""Reports of the experiments: the study's reference numbers, aggregation over
seeds, markdown tables in the thesis's layouts, checked claims and figures.

Typical use after an experiment::

    from symjax.report import load_results, write_report
    rows = load_results("runs/task1/results.csv")
    write_report(1, rows, "runs/task1", extra_md="`python -m ... --seeds 3` on 1×H100, 412 s")
"""

import importlib

# The submodule `aggregate` has a function of its name: imported now, so that importing the submodule
# (which binds `symjax.report.aggregate` to it) cannot hide the function. It needs numpy alone.
from .aggregate import aggregate, default_keys, mean_std

# Each other name's submodule, imported on first use (PEP 562): importing one light submodule, such as
# symjax.report.departures, does not load matplotlib (figures) or scipy.stats (significance).
_SUBMODULE = {
    "figure9_rollouts": "figures", "make_figures": "figures",
    "reference_index": "reference", "reference_lookup": "reference", "reference_rows": "reference",
    "reference_source": "reference", "reference_table_name": "reference", "reference_value": "reference",
    "is_diverged": "rows", "load_results": "rows", "normalize_row": "rows", "size_key": "rows",
    "check_claims": "summary", "summary_markdown": "summary",
    "fmt_acc": "tables", "fmt_loss": "tables", "fmt_params": "tables", "fmt_sci": "tables", "make_table": "tables",
    "write_report": "write",
}


def __getattr__(name: str):
    if name not in _SUBMODULE:
        raise AttributeError(f"module 'symjax.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_SUBMODULE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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

"""The "Departures and their effect" section of a task from a base run and ablation runs.

    python experiments/compare_runs.py --task=3 --base=runs/ablations/task3_large/base \
        --ablation=study:runs/ablations/task3_large/study \
        --ablation=normalize_none:runs/ablations/task3_large/normalize_none --out=section.md

Task 3 only: --split_run and --budget_run (name:folder) label the base run's contradictions "explained by the
test split", "explained by the budget", "persists under both" or "untested" (``symjax.report.split_budget``):
the base is then the ``--settings=study`` run, --split_run the same grid with --test_split=pool, --budget_run a
--test_split=pool run trained to convergence.

    python experiments/compare_runs.py --task=3 --base=docs/results/ablations/task3_study \
        --split_run=pool:runs/ablations/task3_test_split/pool \
        --budget_run=converged:runs/ablations/task3_test_split/converged --out=section.md

--ablation_set (name:folder:base, repeatable) instead writes one table of every departure with its measured
effect in each set (a folder of runs at one budget: the base subfolder and one subfolder per ablation):

    python experiments/compare_runs.py --task=3 \
        --ablation_set=large:docs/results/ablations/task3_large_reduced:base \
        --ablation_set=simulator:docs/results/ablations/task3_simulator:study --out=index.md

Each folder is a run of experiments/taskN.py (results.csv and flags.txt). The
base run has the project's settings; an ablation changes one departure flag
(its effect is that departure's) or several (``--settings=study``). Runs must
share their grid and budget for the counts to compare (the section warns
otherwise). Writes markdown to --out (default: stdout) or into a report
(--report). See ``symjax.report.departures``.
"""

from absl import flags

from symjax.tasks import driver

flags.DEFINE_integer("task", None, "Task number (1, 2 or 3).")
flags.DEFINE_string("base", None, "Run folder at the project's settings.")
flags.DEFINE_multi_string("ablation", [], "name:folder of an ablation run (repeatable).")
flags.DEFINE_string("split_run", None, "Task 3: name:folder of the base grid with --test_split=pool.")
flags.DEFINE_string("budget_run", None, "Task 3: name:folder of a --test_split=pool run trained to convergence.")
flags.DEFINE_multi_string("ablation_set", [], "name:folder:base of a folder of runs (its base subfolder and one "
                          "subfolder per ablation); with it, the section is the index of every departure's effect.")
flags.DEFINE_string("out", None, "Markdown file to write (default: stdout).")
flags.DEFINE_string("report", None, "A report.md to put the section into, as '## <--title>' (replacing a section "
                    "of that title, else before '## Figures', else at the end).")
flags.DEFINE_string("title", "Departures and their effect", "Section title with --report.")
flags.DEFINE_string("note", "", "Markdown put before the section's text (e.g. the runs' budget).")
FLAGS = flags.FLAGS
SCRIPT = "experiments/compare_runs.py"


def main(argv):
    from symjax.io import atomic_write_text  # noqa: PLC0415
    from symjax.report.departures import compare_markdown, index_markdown, load_ablation_set, load_run  # noqa: PLC0415

    with driver.exit_on_bad_input(SCRIPT):
        if len(argv) > 1:
            raise driver.BadInput(f"unexpected positional arguments {argv[1:]}; every setting is a --flag")
        if FLAGS.task not in (1, 2, 3) or not (FLAGS.base or FLAGS.ablation_set):
            raise driver.BadInput(f"--task and --base: expected a task in 1, 2, 3 and a run folder (or "
                                  f"--ablation_set), got --task={FLAGS.task} --base={FLAGS.base}")
        try:
            if FLAGS.ablation_set:
                if FLAGS.base or FLAGS.ablation or FLAGS.split_run or FLAGS.budget_run:
                    raise ValueError("--ablation_set: expected no --base, --ablation, --split_run or --budget_run "
                                     "beside it (each set names its own base)")
                sets = []
                for item in FLAGS.ablation_set:
                    parts = item.split(":")
                    if len(parts) != 3 or not all(parts):
                        raise ValueError(f"--ablation_set: expected name:folder:base, got {item!r}")
                    sets.append(load_ablation_set(*parts))
            base = load_run("base", FLAGS.base) if FLAGS.base else None
            ablations = []
            for item in FLAGS.ablation:
                name, sep, folder = item.partition(":")
                if not sep or not name or not folder:
                    raise ValueError(f"--ablation: expected name:folder, got {item!r}")
                ablations.append(load_run(name, folder))
            split, budget = (_named_run(flag, getattr(FLAGS, flag)) for flag in ("split_run", "budget_run"))
            if (split or budget) and FLAGS.task != 3:
                raise ValueError(f"--split_run and --budget_run: expected --task=3, got --task={FLAGS.task}")
        except ValueError as error:
            raise driver.BadInput(str(error)) from None
        if FLAGS.ablation_set:
            text = index_markdown(FLAGS.task, sets)
        elif split or budget:
            text = split_budget_markdown(base, split, budget)
        else:
            text = compare_markdown(FLAGS.task, base, ablations)
        if FLAGS.note:
            text = FLAGS.note.strip() + "\n\n" + text
    if FLAGS.report:
        with open(FLAGS.report) as f:
            report = f.read()
        atomic_write_text(FLAGS.report, with_section(report, FLAGS.title, text))
    elif FLAGS.out:
        atomic_write_text(FLAGS.out, text.rstrip() + "\n")
    else:
        print(text)


def _named_run(flag: str, value: str | None):
    """load_run of a name:folder flag value (None when the flag is not given)."""
    from symjax.report.departures import load_run  # noqa: PLC0415

    if not value:
        return None
    name, sep, folder = value.partition(":")
    if not sep or not name or not folder:
        raise ValueError(f"--{flag}: expected name:folder, got {value!r}")
    return load_run(name, folder)


def split_budget_markdown(base, split, budget) -> str:
    """Task 3: the base run's contradictions labelled by the test split and the budget, the vanilla/shared
    order before and after convergence, and each run's test loss as a multiple of Table 7's."""
    from symjax.report import split_budget  # noqa: PLC0415

    parts = ["### Contradictions of Table 7: the test split or the budget?", "",
             split_budget.labels_markdown(3, base, split, budget)]
    if split and budget:
        parts += ["", f"### Does the order of vanilla and shared change at convergence? (`{split[0]}` vs "
                      f"`{budget[0]}`)", "", split_budget.order_markdown(3, split, budget)]
    for run in (base, split, budget):
        if run:
            parts += ["", f"### Test loss of `{run[0]}` as a multiple of Table 7's (mean over seeds / Table 7)", "",
                      split_budget.ratio_markdown(3, run)]
    return "\n".join(parts)


def with_section(report: str, title: str, text: str) -> str:
    """``report`` with '## title' + text: replacing that section, else before '## Figures', else appended."""
    heading = f"## {title}\n"
    section = f"{heading}\n{text.strip()}\n\n"
    if heading in report:
        start = report.index(heading)
        end = report.find("\n## ", start + len(heading))
        return report[:start] + section + (report[end + 1:] if end >= 0 else "")
    if "\n## Figures\n" in report:
        at = report.index("\n## Figures\n") + 1
        return report[:at] + section + report[at:]
    return report.rstrip() + "\n\n" + section


if __name__ == "__main__":
    driver.run_script(main)

"""The "Departures and their effect" section of a task from a base run and ablation runs.

    python experiments/compare_runs.py --task=3 --base=runs/ablations/task3_large/base \
        --ablation=study:runs/ablations/task3_large/study \
        --ablation=normalize_none:runs/ablations/task3_large/normalize_none --out=section.md

Each folder is a run of experiments/taskN.py (results.csv and flags.txt). The
base run has the project's settings; an ablation changes one departure flag
(its effect is that departure's) or several (``--settings=study``). Runs must
share their grid and budget for the counts to compare (the section warns
otherwise). Writes markdown to --out (default: stdout) or into a report
(--report). See ``symjax.report.departures``.
"""

from absl import app, flags

from symjax.tasks import driver

flags.DEFINE_integer("task", None, "Task number (1, 2 or 3).")
flags.DEFINE_string("base", None, "Run folder at the project's settings.")
flags.DEFINE_multi_string("ablation", [], "name:folder of an ablation run (repeatable).")
flags.DEFINE_string("out", None, "Markdown file to write (default: stdout).")
flags.DEFINE_string("report", None, "A report.md to put the section into, as '## <--title>' (replacing a section "
                    "of that title, else before '## Figures', else at the end).")
flags.DEFINE_string("title", "Departures and their effect", "Section title with --report.")
flags.DEFINE_string("note", "", "Markdown put before the section's text (e.g. the runs' budget).")
FLAGS = flags.FLAGS
SCRIPT = "experiments/compare_runs.py"


def main(argv):
    from symjax.io import atomic_write_text  # noqa: PLC0415
    from symjax.report.departures import compare_markdown, load_run  # noqa: PLC0415

    with driver.exit_on_bad_input(SCRIPT):
        if len(argv) > 1:
            raise driver.BadInput(f"unexpected positional arguments {argv[1:]}; every setting is a --flag")
        if FLAGS.task not in (1, 2, 3) or not FLAGS.base:
            raise driver.BadInput(f"--task and --base: expected a task in 1, 2, 3 and a run folder, got "
                                  f"--task={FLAGS.task} --base={FLAGS.base}")
        try:
            base = load_run("base", FLAGS.base)
            ablations = []
            for item in FLAGS.ablation:
                name, sep, folder = item.partition(":")
                if not sep or not name or not folder:
                    raise ValueError(f"--ablation: expected name:folder, got {item!r}")
                ablations.append(load_run(name, folder))
        except ValueError as error:
            raise driver.BadInput(str(error)) from None
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
    app.run(main, flags_parser=driver.parse_flags_or_exit)
